//! Runs the mock's HTTP server on a dedicated OS thread with its own actix `System`, so the
//! caller can live on any runtime (or none) and stopping never waits on the caller's executor.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use socket2::{Domain, Protocol, Socket, Type};

use super::errors::path_not_found;
use super::state::Shared;
use super::{anthropic, common, ollama, ollama_manage, openai, responses, MockKind};

/// Largest request body accepted; generous so big prompts from load tests never bounce.
const MAX_BODY: usize = 64 << 20;

/// A live server: dropping `stop_tx` or sending on it shuts the server down.
pub(crate) struct Running {
    stop_tx: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// Binds with `SO_REUSEADDR` so a restarted node gets its old port back even while
/// connections from its previous life sit in `TIME_WAIT`.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// [`bind`], retried for a short while: right after a stop the kernel may still hold the
/// port for a moment.
pub(crate) fn bind_retrying(addr: SocketAddr) -> io::Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn node_header(name: &str) -> HeaderValue {
    HeaderValue::from_str(name).unwrap_or_else(|_| HeaderValue::from_static("mock"))
}

async fn not_found(st: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    st.hit_other(req.path());
    path_not_found(st.kind, req.method().as_str(), req.path())
}

/// The route table of each kind: paths a kind does not serve fall to a 404 in its shape.
fn routes(kind: MockKind, cfg: &mut web::ServiceConfig) {
    match kind {
        MockKind::Ollama => ollama_routes(cfg),
        MockKind::OpenAi => openai_routes(cfg),
        MockKind::Anthropic => anthropic_routes(cfg),
    }
    cfg.service(web::resource("/_mock/log").route(web::get().to(common::mock_log)));
    cfg.default_service(web::to(not_found));
}

fn openai_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/models").route(web::get().to(openai::models)))
        .service(web::resource("/v1/chat/completions").route(web::post().to(openai::chat)))
        .service(web::resource("/v1/completions").route(web::post().to(openai::completions)))
        .service(web::resource("/v1/embeddings").route(web::post().to(openai::embeddings)))
        .service(web::resource("/v1/responses").route(web::post().to(responses::responses)));
}

fn anthropic_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/models").route(web::get().to(anthropic::models)))
        .service(web::resource("/v1/messages").route(web::post().to(anthropic::messages)))
        .service(
            web::resource("/v1/messages/count_tokens")
                .route(web::post().to(anthropic::count_tokens)),
        );
}

/// Ollama serves its own API and the OpenAI-compatible one.
fn ollama_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(ollama::root_get))
            .route(web::head().to(ollama::root_head)),
    )
    .service(web::resource("/api/version").route(web::get().to(ollama::version)))
    .service(web::resource("/api/tags").route(web::get().to(ollama::tags)))
    .service(web::resource("/api/ps").route(web::get().to(ollama::ps)))
    .service(web::resource("/api/show").route(web::post().to(ollama::show)))
    .service(web::resource("/api/pull").route(web::post().to(ollama::pull)))
    .service(web::resource("/api/push").route(web::post().to(ollama_manage::push)))
    .service(web::resource("/api/create").route(web::post().to(ollama_manage::create)))
    .service(web::resource("/api/copy").route(web::post().to(ollama_manage::copy)))
    .service(web::resource("/api/delete").route(web::delete().to(ollama_manage::delete)))
    .service(
        web::resource("/api/blobs/{digest}")
            .route(web::head().to(ollama_manage::blob_head))
            .route(web::post().to(ollama_manage::blob_post)),
    )
    .service(web::resource("/api/chat").route(web::post().to(ollama::chat)))
    .service(web::resource("/api/generate").route(web::post().to(ollama::generate)))
    .service(web::resource("/api/embed").route(web::post().to(ollama::embed)))
    .service(web::resource("/api/embeddings").route(web::post().to(ollama::embeddings)));
    openai_routes(cfg);
}

/// Starts serving `listener` and returns once the server accepts connections.
pub(crate) fn launch(
    state: Arc<Shared>,
    listener: TcpListener,
    workers: usize,
) -> io::Result<Running> {
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("mock-{}", state.name))
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let data = web::Data::from(Arc::clone(&state));
                let header = (
                    HeaderName::from_static("x-mock-node"),
                    node_header(&state.name),
                );
                let conn_state = Arc::clone(&state);
                let kind = state.kind;
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(MAX_BODY))
                        .wrap(DefaultHeaders::new().add(header.clone()))
                        .configure(|cfg| routes(kind, cfg))
                })
                .workers(workers.max(1))
                .disable_signals()
                .shutdown_timeout(0)
                .backlog(4096)
                .tcp_nodelay(true)
                .on_connect(move |_, ext| {
                    ext.insert(conn_state.connect());
                })
                .listen(listener);
                let server = match server {
                    Ok(s) => s.run(),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let handle = server.handle();
                let task = actix_rt::spawn(server);
                let _ = ready_tx.send(Ok(()));
                // Either an explicit stop or the owner vanished: both mean shut down.
                let _ = stop_rx.await;
                // Non-graceful: workers drop their open connections at once, like a node
                // that lost power.
                handle.stop(false).await;
                let _ = task.await;
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Running { stop_tx, thread }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(io::Error::other(
                "mock server thread exited during start-up",
            ))
        }
    }
}

impl Running {
    /// Stops the server and blocks until its thread is gone and every connection it held
    /// is closed. Safe from async code: nothing here needs the caller's executor.
    pub(crate) fn shutdown(self, state: &Shared) {
        let _ = self.stop_tx.send(());
        let _ = self.thread.join();
        // Worker threads drop connections as they wind down; wait for them (bounded).
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.open_connections() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
