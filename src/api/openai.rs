//! OpenAI's API, served by the nodes' own OpenAI-compatible endpoints.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{error::ApiError, infer, ClientAuth};
use crate::{
    catalog,
    dispatch::Gateway,
    error::GatewayError,
    inbound::{Operation, Surface},
};

pub async fn chat(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OpenAiChat, gw, req, p).await
}

pub async fn completions(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OpenAiCompletions, gw, req, p).await
}

pub async fn embeddings(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OpenAiEmbeddings, gw, req, p).await
}

pub async fn responses(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OpenAiResponses, gw, req, p).await
}

/// `GET /v1/models` serves OpenAI and Anthropic clients alike: Anthropic's always send an
/// `anthropic-version` header, and get Anthropic's shape.
fn asked_by_anthropic(req: &HttpRequest) -> bool {
    req.headers().contains_key("anthropic-version")
}

pub async fn models(
    _: ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let anthropic = asked_by_anthropic(&req);
    let surface = if anthropic {
        Surface::Anthropic
    } else {
        Surface::OpenAi
    };
    let pool = gw.pool().await.map_err(|e| ApiError::new(surface, e))?;
    let aliases = gw.router.aliases();
    Ok(HttpResponse::Ok().json(if anthropic {
        catalog::anthropic_models(&pool, &aliases)
    } else {
        catalog::openai_models(&pool, &aliases)
    }))
}

pub async fn model(
    _: ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let anthropic = asked_by_anthropic(&req);
    let surface = if anthropic {
        Surface::Anthropic
    } else {
        Surface::OpenAi
    };
    let fail = |e| ApiError::new(surface, e);
    let pool = gw.pool().await.map_err(fail)?;
    catalog::model(&pool, &gw.router.aliases(), &id, anthropic)
        .map(|model| HttpResponse::Ok().json(model))
        .ok_or_else(|| fail(GatewayError::ModelNotFound(id.into_inner())))
}
