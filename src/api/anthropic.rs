//! Anthropic's Messages API and its `count_tokens`, served by any node kind (translated where the node speaks
//! another API). `GET /v1/models` is shared with OpenAI (see `openai::models`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::{error::ApiError, infer};
use crate::{dispatch::Gateway, inbound::Operation};

pub async fn messages(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::AnthropicMessages, gw, req, p).await
}

pub async fn count_tokens(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::AnthropicCountTokens, gw, req, p).await
}
