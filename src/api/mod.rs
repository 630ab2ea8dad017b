//! The HTTP edge: one route table for every surface. Handlers extract, call one function of
//! the domain, and return its result; errors take the client API's shape in `error`.

pub mod admin;
mod anthropic;
pub(crate) mod body;
pub mod error;
mod ollama;
mod openai;
mod ops;
pub mod request_id;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse, Route};

use std::sync::Arc;

use crate::{
    auth::ClientKey,
    dispatch::{End, Gateway},
    error::GatewayError,
    inbound::{Inbound, Operation, Surface},
};
use error::ApiError;

/// Every path Drover serves.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(ollama::root))
            .route(web::head().to(ollama::root))
            .default_service(wrong_method("GET, HEAD")),
    );
    post(cfg, "/api/chat", ollama::chat);
    post(cfg, "/api/generate", ollama::generate);
    post(cfg, "/api/embed", ollama::embed);
    post(cfg, "/api/embeddings", ollama::embeddings);
    post(cfg, "/api/show", ollama::show);
    post(cfg, "/api/pull", ollama::pull);
    post(cfg, "/api/push", ollama::push);
    post(cfg, "/api/create", ollama::create);
    post(cfg, "/api/copy", ollama::copy);
    cfg.service(
        web::resource("/api/delete")
            .route(web::delete().to(ollama::delete))
            .default_service(wrong_method("DELETE")),
    );
    cfg.service(
        web::resource("/api/blobs/{digest}")
            .route(web::head().to(ollama::blob_exists))
            .route(web::post().to(ollama::blob_upload))
            .default_service(wrong_method("HEAD, POST")),
    );
    get(cfg, "/api/tags", ollama::tags);
    get(cfg, "/api/ps", ollama::ps);
    get(cfg, "/api/version", ollama::version);
    post(cfg, "/v1/chat/completions", openai::chat);
    post(cfg, "/v1/completions", openai::completions);
    post(cfg, "/v1/embeddings", openai::embeddings);
    post(cfg, "/v1/responses", openai::responses);
    post(cfg, "/v1/messages", anthropic::messages);
    post(cfg, "/v1/messages/count_tokens", anthropic::count_tokens);
    get(cfg, "/v1/models", openai::models);
    // Ollama model names may hold a namespace: `user/model:tag`.
    get(cfg, "/v1/models/{id:.+}", openai::model);
    get(cfg, "/healthz", ops::healthz);
    get(cfg, "/readyz", ops::readyz);
    get(cfg, "/version", ops::version);
    get(cfg, "/metrics", ops::metrics);
    admin::routes(cfg);
    cfg.default_service(web::to(not_found));
}

fn post<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    cfg.service(
        web::resource(path)
            .route(web::post().to(handler))
            .default_service(wrong_method("POST")),
    );
}

/// GET routes answer HEAD too, as HTTP requires.
fn get<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    cfg.service(
        web::resource(path)
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler))
            .default_service(wrong_method("GET, HEAD")),
    );
}

fn wrong_method(allow: &'static str) -> Route {
    web::to(move |req: HttpRequest| async move {
        let error = GatewayError::MethodNotAllowed {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            allow,
        };
        Err::<HttpResponse, _>(ApiError::for_path(req.path(), error))
    })
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::for_path(
        req.path(),
        GatewayError::NotFound(req.path().to_owned()),
    ))
}

/// Admission of a client to a non-inference endpoint (model lists, pull): in `keys` mode a
/// valid key is needed, as for inference; refused in the path's API shape. The key is kept
/// for calls about a model (management), which check the key may use it.
pub struct ClientAuth(pub Option<Arc<ClientKey>>);

impl FromRequest for ClientAuth {
    type Error = ApiError;
    type Future = std::future::Ready<Result<ClientAuth, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = match req.app_data::<web::Data<Gateway>>() {
            Some(gateway) => gateway.authorize(req.headers()).map(ClientAuth),
            None => Err(GatewayError::Internal("no gateway".into())),
        };
        std::future::ready(checked.map_err(|e| ApiError::for_path(req.path(), e)))
    }
}

/// The shared shape of every routed inference endpoint: read, validate, forward.
async fn infer(
    operation: Operation,
    gateway: web::Data<Gateway>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let surface = operation.surface();
    let request_id = request_id::of(&req);
    let client = req.peer_addr().map(|a| a.ip());
    // A request refused before routing is still counted, logged and recorded as such.
    let refuse = |error: GatewayError, key: Option<Arc<ClientKey>>, requested: Arc<str>| {
        let mut meter = gateway.meter(
            operation.path(),
            requested,
            request_id.clone(),
            false,
            client,
        );
        // The model a refused client named is never a metric label.
        let none: Arc<str> = Arc::from("-");
        meter.model = none.clone();
        meter.key = key;
        meter.error_kind = Some(error.kind());
        meter.finish(&none, End::Status(error.status().as_u16()), None, 0);
        ApiError::new(surface, error)
    };
    let unnamed = || Arc::from("-");
    let key = gateway
        .authorize(req.headers())
        .map_err(|e| refuse(e, None, unnamed()))?;
    let body = body::read(&req, payload, gateway.tuning.load().limits.max_body_bytes)
        .await
        .map_err(|e| refuse(e, key.clone(), unnamed()))?;
    let mut inbound = Inbound::parse(operation, body, request_id.clone(), client)
        .map_err(|e| refuse(e, key.clone(), unnamed()))?;
    if let Some(key) = &key {
        key.admit(&inbound.model)
            .map_err(|e| refuse(e.into(), Some(key.clone()), inbound.model.clone()))?;
    }
    inbound.key = key;
    // `keep_alive: 0` with nothing to answer unloads the model: on every node that has it.
    // A name no node lists (a route alias) is routed as before.
    if let Some(unload) = crate::fleet::Unload::of(operation, &inbound.model, &inbound.body) {
        match crate::fleet::unload(&gateway, &req, unload, inbound.body.clone()).await {
            Err(GatewayError::ModelNotFound(_)) => {}
            answer => return answer.map_err(|e| ApiError::new(surface, e)),
        }
    }
    if operation.surface() == Surface::Anthropic {
        inbound.anthropic_beta = req.headers().get("anthropic-beta").cloned();
    }
    if !req.query_string().is_empty() {
        inbound.query = Some(req.query_string().into());
    }
    gateway
        .forward(inbound)
        .await
        .map_err(|e| ApiError::new(surface, e))
}
