//! Ollama's API: inference routed by model, pool-wide views merged over nodes.

use actix_web::{http::header::ContentType, web, HttpRequest, HttpResponse};
use bytes::Bytes;

use super::{body, error::ApiError, infer, ClientAuth};
use crate::{
    catalog,
    dispatch::Gateway,
    fleet,
    inbound::{Operation, Surface},
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

/// A management call's JSON body, read under the body limit.
async fn management_body(
    gw: &Gateway,
    req: &HttpRequest,
    p: web::Payload,
) -> Result<Bytes, ApiError> {
    body::read(req, p, gw.tuning.load().limits.max_body_bytes)
        .await
        .map_err(fail)
}

/// The management calls act fleet-wide (see `fleet`): on every up Ollama node concerned, or
/// on the one `?node=NAME` or `X-Drover-Node: NAME` names.
pub async fn pull(
    ClientAuth(key): ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = management_body(&gw, &req, p).await?;
    fleet::pull(&gw, &req, body, key.as_deref())
        .await
        .map_err(fail)
}

pub async fn push(
    ClientAuth(key): ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = management_body(&gw, &req, p).await?;
    fleet::push(&gw, &req, body, key.as_deref())
        .await
        .map_err(fail)
}

pub async fn create(
    ClientAuth(key): ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = management_body(&gw, &req, p).await?;
    fleet::create(&gw, &req, body, key.as_deref())
        .await
        .map_err(fail)
}

pub async fn copy(
    ClientAuth(key): ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = management_body(&gw, &req, p).await?;
    fleet::copy(&gw, &req, body, key.as_deref())
        .await
        .map_err(fail)
}

pub async fn delete(
    ClientAuth(key): ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = management_body(&gw, &req, p).await?;
    fleet::delete(&gw, &req, body, key.as_deref())
        .await
        .map_err(fail)
}

pub async fn blob_exists(
    _: ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    digest: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    fleet::blob_exists(&gw, &req, &digest).await.map_err(fail)
}

/// The blob is streamed through, never read whole: no body limit applies.
pub async fn blob_upload(
    _: ClientAuth,
    gw: web::Data<Gateway>,
    req: HttpRequest,
    digest: web::Path<String>,
    p: web::Payload,
) -> Result<HttpResponse, ApiError> {
    fleet::blob_upload(&gw, &req, &digest, p)
        .await
        .map_err(fail)
}

pub async fn tags(_: ClientAuth, gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw.pool().await.map_err(fail)?;
    Ok(HttpResponse::Ok().json(catalog::tags(&pool, &gw.router.aliases())))
}

pub async fn ps(_: ClientAuth, gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw.pool().await.map_err(fail)?;
    Ok(HttpResponse::Ok().json(catalog::ps(&pool)))
}

/// The Ollama API level Drover's own answers follow, reported when no Ollama node is up (a
/// pool of OpenAI or Anthropic nodes): clients gate features on it (Codex `--oss` wants
/// 0.13.4 or later), and "0.0.0" would turn them away from a pool that serves them.
const OWN_API_LEVEL: &str = "0.13.4";

pub async fn version(gw: web::Data<Gateway>) -> Result<HttpResponse, ApiError> {
    let pool = gw.pool().await.map_err(fail)?;
    let version = catalog::version(&pool).unwrap_or_else(|| OWN_API_LEVEL.to_owned());
    Ok(HttpResponse::Ok().json(serde_json::json!({ "version": version })))
}
