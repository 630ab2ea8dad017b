//! `drover-load`: open-loop load generator for Drover and its upstreams, with a long-streams
//! mode. See the crate README for how the numbers are measured.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use drover_loadtest::load::{self, parse_duration, LoadConfig, Mode, Scenario};

/// Open-loop HTTP load generator for LLM gateways (Ollama and OpenAI APIs).
#[derive(Parser, Debug)]
#[command(name = "drover-load", version)]
struct Args {
    /// Base URL to load; repeat to measure several targets in the same run (interleaved,
    /// the first one is the baseline for added latency).
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Request shape.
    #[arg(long, value_enum, default_value = "chat")]
    scenario: Scenario,
    /// Model to request; repeat (or comma-separate) to rotate over several.
    #[arg(long = "model", value_delimiter = ',', default_value = "llama3:latest")]
    models: Vec<String>,
    /// Open loop: requests per second sent to EACH target on a fixed schedule.
    #[arg(long, conflicts_with = "max")]
    rate: Option<f64>,
    /// Open loop: most requests in flight per target (late ones still count from their
    /// scheduled time).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Closed loop instead: send as fast as answers come back.
    #[arg(long)]
    max: bool,
    /// Closed loop: concurrent request loops per target.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Long-streams mode instead: hold this many streams open at once per target (streamed
    /// scenarios only), started over --ramp; targets run one after another, and each
    /// stream ends when its answer does (or at --timeout).
    #[arg(long, conflicts_with_all = ["rate", "max", "warmup", "duration"])]
    streams: Option<usize>,
    /// Streams mode: time over which the streams are started.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    ramp: Duration,
    /// Process id whose memory (RSS) to sample while the run lasts, one per --target in
    /// the same order (0: none for that target).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Streamed scenarios: the exact number of frames every answer must carry (NDJSON
    /// lines including the final `done:true` one; SSE `data:` events excluding `[DONE]`).
    /// Any other count is a `chunk count` error.
    #[arg(long)]
    expect_chunks: Option<u64>,
    /// Measured time (e.g. 10, 10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load sent before measuring starts.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    warmup: Duration,
    /// Per-request deadline, streamed body included.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Generator threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// User message (or embedding input) sent in every request.
    #[arg(long, default_value = "Why is the sky blue?")]
    prompt: String,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(all_ok) => {
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("drover-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the load; `Ok(false)` when some requests failed (exit code 3; clap uses 2 for
/// usage errors).
fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    let mode = match (args.streams, args.max, args.rate) {
        (Some(streams), _, _) => Mode::Streams {
            streams,
            ramp: args.ramp,
        },
        (None, true, _) => Mode::Closed {
            concurrency: args.concurrency,
        },
        (None, false, Some(rate)) => Mode::Open {
            rate,
            connections: args.connections,
        },
        (None, false, None) => anyhow::bail!(
            "give --rate N for open loop, --max for closed loop, or --streams N for long streams"
        ),
    };
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let config = LoadConfig {
        targets: args.targets,
        scenario: args.scenario,
        models: args.models,
        mode,
        duration: args.duration,
        warmup: args.warmup,
        threads,
        timeout: args.timeout,
        prompt: args.prompt,
        pids: args
            .pids
            .into_iter()
            .map(|p| (p != 0).then_some(p))
            .collect(),
        expect_chunks: args.expect_chunks,
    };
    let report = load::run(&config)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(report.all_ok())
}
