//! Anthropic's Messages API, served by any node kind (translated where the node speaks
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
