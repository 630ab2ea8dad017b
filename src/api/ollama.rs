//! Ollama's API: inference routed by model, pool-wide views merged over nodes.

use actix_web::{http::header::ContentType, web, HttpRequest, HttpResponse};

use super::{body, error::ApiError, infer, ClientAuth};
use crate::{
    catalog,
    dispatch::Gateway,
    inbound::{Operation, Surface},
    pull::{self, PullTarget},
};

fn fail(e: crate::error::GatewayError) -> ApiError {
    ApiError::new(Surface::Ollama, e)
}

/// Clients check liveness with `GET /` or `HEAD /`; Ollama answers this text.
pub async fn root() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body("Ollama is running")
}

pub async fn chat(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OllamaChat, gw, req, p).await
}

pub async fn generate(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OllamaGenerate, gw, req, p).await
}

pub async fn embed(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OllamaEmbed, gw, req, p).await
}

pub async fn embeddings(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OllamaEmbeddings, gw, req, p).await
}

pub async fn show(
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    infer(Operation::OllamaShow, gw, req, p).await
}

/// Which nodes to pull on: `?node=NAME` or header `X-Drover-Node: NAME` names one node;
/// without either, every routable Ollama node pulls.
pub async fn pull(
    _: ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = body::read(&req, p, gw.tuning.load().limits.max_body_bytes)
        .await
        .map_err(fail)?;
    let target = PullTarget::from_request(&req);
    pull::run(&gw, body, target).await.map_err(fail)
}

pub async fn tags(_: ClientAuth, gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw.pool().await.map_err(fail)?;
    Ok(HttpResponse::Ok().json(catalog::tags(&pool, &gw.router.aliases())))
}

pub async fn ps(_: ClientAuth, gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw.pool().await.map_err(fail)?;
    Ok(HttpResponse::Ok().json(catalog::ps(&pool)))
}

pub async fn version(gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw.pool().await.map_err(fail)?;
    let version = catalog::version(&pool).unwrap_or_else(|| "0.0.0".to_owned());
    Ok(HttpResponse::Ok().json(serde_json::json!({ "version": version })))
}
