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

pub async fn models(_: ClientAuth, gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw
        .pool()
        .await
        .map_err(|e| ApiError::new(Surface::OpenAi, e))?;
    Ok(HttpResponse::Ok().json(catalog::openai_models(&pool)))
}

pub async fn model(
    _: ClientAuth,
    gw: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let fail = |e| ApiError::new(Surface::OpenAi, e);
    let pool = gw.pool().await.map_err(fail)?;
    catalog::openai_model(&pool, &id)
        .map(|model| HttpResponse::Ok().json(model))
        .ok_or_else(|| fail(GatewayError::ModelNotFound(id.into_inner())))
}
