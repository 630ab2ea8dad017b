//! An open-loop HTTP load generator for LLM gateways.
//!
//! Open loop means requests leave on a fixed schedule whatever happens to earlier ones, and
//! latency is measured from the *scheduled* send time: a stalled server cannot slow the
//! generator down and hide its own latency (coordinated omission). Several targets (say the
//! mock directly and the gateway in front of it) are measured in the same run, interleaved
//! request by request, so they share the same machine state and can be compared fairly.
//!
//! Each generator thread runs its own actix runtime and `awc` client and records into its
//! own histograms; nothing is shared on the hot path.
//!
//! A third mode, [`Mode::Streams`], holds thousands of long streams open at once against
//! one target at a time, to see what a gateway does with many slow clients (memory per
//! stream, frames lost or merged) rather than how fast it answers.

mod report;
mod rss;
mod runner;
mod scenario;
mod stats;

use std::time::Duration;

use anyhow::{bail, Context};

pub use report::{AddedLatency, Deltas, Report, StreamReport, TargetReport};
pub use scenario::{Scenario, StreamScanner};
pub use stats::{fmt_delta_us, fmt_us, Percentiles};

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// `rate` requests per second to *each* target on a fixed schedule, with at most
    /// `connections` in flight per target (late starts still count from their schedule).
    Open { rate: f64, connections: usize },
    /// As fast as possible: `concurrency` request loops per target, each sending its next
    /// request when the previous one is answered (latency is then service time).
    Closed { concurrency: usize },
    /// `streams` concurrent streamed requests per target, started evenly over `ramp`, and
    /// then the wait until every one has ended (or hit the per-request timeout). Targets
    /// run one after another, each alone on the machine: thousands of streams against
    /// two targets at once would mostly measure the two fighting for the cores.
    Streams { streams: usize, ramp: Duration },
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Base URLs (`http://host:port`); the first is the baseline for added latency.
    pub targets: Vec<String>,
    pub scenario: Scenario,
    /// Models to rotate over, one per round.
    pub models: Vec<String>,
    pub mode: Mode,
    /// Measured time.
    pub duration: Duration,
    /// Load sent before measuring starts, to warm connection pools and caches.
    pub warmup: Duration,
    /// Generator threads (each with its own runtime and client).
    pub threads: usize,
    /// Per-request deadline, streamed body included.
    pub timeout: Duration,
    /// User message / embedding input.
    pub prompt: String,
    /// Process to watch the memory of, per target (same order; missing or `None`: none).
    pub pids: Vec<Option<u32>>,
    /// Streamed scenarios: the exact frame count every answer must have (as the
    /// [`StreamScanner`] counts them); another count is a `chunk count` error.
    pub expect_chunks: Option<u64>,
}

impl LoadConfig {
    /// Defaults for the given targets: chat, `llama3:latest`, 100 req/s for 10 s.
    pub fn new(targets: Vec<String>) -> LoadConfig {
        LoadConfig {
            targets,
            scenario: Scenario::Chat,
            models: vec!["llama3:latest".to_owned()],
            mode: Mode::Open {
                rate: 100.0,
                connections: 256,
            },
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            threads: 2,
            timeout: Duration::from_secs(30),
            prompt: "Why is the sky blue?".to_owned(),
            pids: Vec::new(),
            expect_chunks: None,
        }
    }

    /// The process watched for target `i`, if any.
    pub(crate) fn pid(&self, i: usize) -> Option<u32> {
        self.pids.get(i).copied().flatten()
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.targets.is_empty() {
            bail!("at least one target is needed");
        }
        if self.models.is_empty() {
            bail!("at least one model is needed");
        }
        if self.pids.len() > self.targets.len() {
            bail!(
                "{} pids for {} targets: give at most one per target, in target order",
                self.pids.len(),
                self.targets.len()
            );
        }
        if self.expect_chunks.is_some() && !self.scenario.is_stream() {
            bail!("expected chunk counts need a streamed scenario");
        }
        if self.duration.is_zero() && !matches!(self.mode, Mode::Streams { .. }) {
            bail!("duration must be positive");
        }
        match self.mode {
            Mode::Open { rate, connections } => {
                if !(rate.is_finite() && rate > 0.0) {
                    bail!("rate must be a positive number");
                }
                if connections == 0 {
                    bail!("connections must be at least 1");
                }
            }
            Mode::Closed { concurrency } => {
                if concurrency == 0 {
                    bail!("concurrency must be at least 1");
                }
            }
            Mode::Streams { streams, .. } => {
                if streams == 0 {
                    bail!("streams must be at least 1");
                }
                if !self.scenario.is_stream() {
                    bail!(
                        "streams mode needs a streamed scenario (chat-stream, openai-chat-stream)"
                    );
                }
            }
        }
        Ok(())
    }
}

/// Descriptors kept for everything that is not a stream's socket: stdio, the runtimes'
/// epoll and wake-up descriptors, an in-process mock's listener.
const SPARE_FDS: u64 = 64;

/// Raises the soft limit on open files to the hard one and returns the limit now in force
/// (`None` if it cannot be read). Every connection is a descriptor and the usual soft
/// limit of 1024 is far below thousands of concurrent streams; raising it only affects
/// this process.
fn raise_nofile_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::Resource::NOFILE.get().map(|(soft, _)| soft))
        .ok()
}

/// Runs the load and blocks until every request is answered or timed out. Callable from
/// any thread, runtime or not: the generator brings its own threads. Raises this process's
/// open-file soft limit to its hard limit.
pub fn run(config: &LoadConfig) -> anyhow::Result<Report> {
    config.validate()?;
    let limit = raise_nofile_limit();
    if let (Mode::Streams { streams, .. }, Some(limit)) = (config.mode, limit) {
        // Better a clear refusal than thousands of `connect` errors.
        let needed = streams as u64 + SPARE_FDS;
        if needed > limit {
            bail!(
                "{streams} streams need about {needed} open files but the limit is {limit}; \
                 raise the hard limit (ulimit -Hn) first"
            );
        }
    }
    let run = runner::execute(config)?;
    Ok(Report::build(config, run))
}

/// Parses `10`, `10s`, `1.5s`, `500ms`, `250us`, `2m` into a duration (bare numbers are
/// seconds).
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => bail!("unknown duration unit {other:?} in {s:?}"),
    };
    Duration::try_from_secs_f64(secs).with_context(|| format!("invalid duration {s:?}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn validation() {
        let mut c = LoadConfig::new(vec!["http://127.0.0.1:1".into()]);
        assert!(c.validate().is_ok());
        c.mode = Mode::Open {
            rate: 0.0,
            connections: 1,
        };
        assert!(c.validate().is_err());
        c.mode = Mode::Closed { concurrency: 0 };
        assert!(c.validate().is_err());
        c.mode = Mode::Closed { concurrency: 1 };
        c.pids = vec![Some(1), None];
        assert!(c.validate().is_err(), "more pids than targets");
        c.pids = vec![Some(1)];
        assert!(c.validate().is_ok());
        c.expect_chunks = Some(3);
        assert!(c.validate().is_err(), "chunk counts without a stream");
        c.scenario = Scenario::ChatStream;
        assert!(c.validate().is_ok());
        c.mode = Mode::Streams {
            streams: 10,
            ramp: Duration::ZERO,
        };
        c.duration = Duration::ZERO;
        assert!(c.validate().is_ok(), "streams mode has no duration");
        c.scenario = Scenario::Chat;
        c.expect_chunks = None;
        assert!(c.validate().is_err(), "streams mode needs a stream");
        c.scenario = Scenario::ChatStream;
        c.targets.clear();
        assert!(c.validate().is_err());
    }
}
