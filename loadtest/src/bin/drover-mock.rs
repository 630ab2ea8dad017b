//! `drover-mock`: the mock LLM upstream as a standalone server, so benchmarks can put a
//! fast, predictable Ollama, OpenAI or Anthropic node behind the gateway (or measure it
//! directly).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use drover_loadtest::mock::{Failure, MockConfig, MockKind, MockUpstream};

/// A fast mock LLM upstream: Ollama (+ its OpenAI-compatible API), OpenAI or Anthropic.
#[derive(Parser, Debug)]
#[command(name = "drover-mock", version)]
struct Args {
    /// API the node speaks: ollama, openai or anthropic (the last two validate strictly).
    #[arg(long, default_value = "ollama")]
    kind: MockKind,
    /// Key clients must send (Authorization: Bearer KEY, or x-api-key for anthropic).
    #[arg(long)]
    api_key: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:11434")]
    listen: SocketAddr,
    /// Node name, sent in `x-mock-node` and inside generated text.
    #[arg(long, default_value = "mock")]
    name: String,
    /// Models served, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "llama3:latest")]
    models: Vec<String>,
    /// Models reported as loaded by /api/ps, comma separated.
    #[arg(long, value_delimiter = ',')]
    loaded: Vec<String>,
    /// Chunks per streamed answer.
    #[arg(long, default_value_t = 5)]
    tokens: usize,
    /// Gap between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    token_delay_ms: u64,
    /// Delay before inference response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Length of generated embedding vectors.
    #[arg(long, default_value_t = 8)]
    embedding_dims: usize,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Answer every inference request with this status (probes stay healthy); a 429 carries
    /// `Retry-After: 7`.
    #[arg(long)]
    fail_status: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = MockConfig {
        kind: args.kind,
        api_key: args.api_key,
        name: args.name,
        models: args.models,
        loaded: args.loaded,
        tokens: args.tokens,
        token_delay: Duration::from_millis(args.token_delay_ms),
        latency: Duration::from_millis(args.latency_ms),
        embedding_dims: args.embedding_dims,
    };
    let summary = format!(
        "drover-mock {} ({}) serving {:?} ({} tokens, {} ms gap, {} ms latency)",
        config.name,
        config.kind,
        config.models,
        config.tokens,
        args.token_delay_ms,
        args.latency_ms
    );
    let mock = MockUpstream::start_on(config, args.listen, args.workers)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some(status) = args.fail_status {
        mock.set_failure(Failure::Status(status));
    }
    println!("{summary} on {}", mock.url());

    // The server runs on its own threads; this runtime only waits for a signal.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot build signal runtime")?;
    rt.block_on(wait_for_signal())?;
    mock.stop();
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C only off Unix).
async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}
