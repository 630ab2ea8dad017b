//! The generator proper: threads, pacing, one request's exchange and its bookkeeping.
//!
//! Every thread owns an actix `System` (a current-thread runtime), an `awc` client and one
//! [`Recorder`] per target, so the hot path has no locks and no cross-thread traffic.
//! Rounds (one request to each target) are dealt to threads round-robin.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::CONTENT_TYPE;
use anyhow::Context;
use awc::error::SendRequestError;
use awc::http::Uri;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify, Semaphore};

use super::scenario::{contains, Scenario, StreamScanner};
use super::stats::{micros, ErrorKind, Recorder};
use super::{LoadConfig, Mode};

/// Gives the threads time to build their runtimes before the first scheduled send.
const START_DELAY: Duration = Duration::from_millis(100);

/// Everything the threads share, read-only.
struct Plan {
    uris: Vec<Uri>,
    bodies: Vec<Bytes>,
    scenario: Scenario,
    mode: Mode,
    threads: usize,
    timeout: Duration,
    /// First scheduled send.
    start: Instant,
    /// Results of requests scheduled before this are discarded (warm-up).
    measure_from: Instant,
    /// End of the schedule.
    end: Instant,
}

/// What a successful streamed answer looked like.
struct StreamSeen {
    ttft: Duration,
    gaps: Vec<u64>,
    chunks: u64,
}

type Outcome = Result<Option<StreamSeen>, ErrorKind>;

/// Per-thread state.
struct Ctx {
    plan: Arc<Plan>,
    client: awc::Client,
    recorders: Vec<RefCell<Recorder>>,
    /// Per-target cap on requests in flight from this thread.
    permits: Vec<Semaphore>,
    pending: Cell<u64>,
    idle: Notify,
}

/// This thread's share of `total`, spreading the remainder over the first threads.
fn share(total: usize, threads: usize, idx: usize) -> usize {
    total / threads + usize::from(idx < total % threads)
}

fn endpoint(base: &str, path: &str) -> anyhow::Result<Uri> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    url.parse::<Uri>()
        .with_context(|| format!("invalid target URL {base:?}"))
}

/// Runs the load; returns one merged recorder per target and the threads actually used.
pub(crate) fn execute(cfg: &LoadConfig) -> anyhow::Result<(Vec<Recorder>, usize)> {
    let uris = cfg
        .targets
        .iter()
        .map(|t| endpoint(t, cfg.scenario.path()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bodies = cfg
        .models
        .iter()
        .map(|m| cfg.scenario.body(m, &cfg.prompt))
        .collect();
    // More threads than allowed in-flight requests would only sit idle.
    let cap = match cfg.mode {
        Mode::Open { connections, .. } => connections,
        Mode::Closed { concurrency } => concurrency,
    };
    let threads = cfg.threads.clamp(1, cap.max(1));
    let start = Instant::now() + START_DELAY;
    let measure_from = start + cfg.warmup;
    let plan = Arc::new(Plan {
        uris,
        bodies,
        scenario: cfg.scenario,
        mode: cfg.mode,
        threads,
        timeout: cfg.timeout,
        start,
        measure_from,
        end: measure_from + cfg.duration,
    });
    // Open loop: this thread paces the schedule and deals jobs to the generator threads.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..threads {
        let (tx, rx) = match cfg.mode {
            Mode::Open { .. } => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            Mode::Closed { .. } => (None, None),
        };
        senders.extend(tx);
        receivers.push(rx);
    }
    let handles = receivers
        .into_iter()
        .enumerate()
        .map(|(idx, jobs)| {
            let plan = Arc::clone(&plan);
            std::thread::Builder::new()
                .name(format!("load-{idx}"))
                .spawn(move || actix_rt::System::new().block_on(thread_main(plan, idx, jobs)))
                .context("cannot spawn generator thread")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Mode::Open { rate, .. } = cfg.mode {
        pace(&plan, rate, &senders);
    }
    // Closing the channels tells the threads the schedule is over.
    drop(senders);
    let mut merged: Option<Vec<Recorder>> = None;
    for h in handles {
        let recs = h
            .join()
            .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
        match merged.as_mut() {
            None => merged = Some(recs),
            Some(all) => {
                for (a, r) in all.iter_mut().zip(&recs) {
                    a.merge(r)?;
                }
            }
        }
    }
    Ok((merged.context("no generator thread ran")?, threads))
}

async fn thread_main(
    plan: Arc<Plan>,
    idx: usize,
    jobs: Option<mpsc::UnboundedReceiver<Job>>,
) -> anyhow::Result<Vec<Recorder>> {
    let per_target = match plan.mode {
        Mode::Open { connections, .. } => share(connections, plan.threads, idx),
        Mode::Closed { concurrency } => share(concurrency, plan.threads, idx),
    }
    .max(1);
    let targets = plan.uris.len();
    let client = awc::Client::builder()
        .connector(
            awc::Connector::new()
                .limit(per_target * targets)
                .timeout(Duration::from_secs(5)),
        )
        // Our own deadline (below) fires first and is classified uniformly.
        .timeout(plan.timeout + Duration::from_secs(1))
        .disable_redirects()
        .finish();
    let recorders = (0..targets)
        .map(|_| Recorder::new().map(RefCell::new))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ctx = Rc::new(Ctx {
        client,
        recorders,
        permits: (0..targets).map(|_| Semaphore::new(per_target)).collect(),
        pending: Cell::new(0),
        idle: Notify::new(),
        plan,
    });
    match jobs {
        Some(jobs) => open_loop(&ctx, jobs).await,
        None => closed_loop(&ctx, per_target).await,
    }
    while ctx.pending.get() > 0 {
        ctx.idle.notified().await;
    }
    // Swap the recorders out rather than unwrapping the Rc: finished tasks may not have
    // released their handles yet.
    ctx.recorders
        .iter()
        .map(|r| Recorder::new().map(|fresh| r.replace(fresh)))
        .collect()
}

fn begin(ctx: &Ctx) {
    ctx.pending.set(ctx.pending.get() + 1);
}

fn finish(ctx: &Ctx) {
    let left = ctx.pending.get().saturating_sub(1);
    ctx.pending.set(left);
    if left == 0 {
        ctx.idle.notify_one();
    }
}

async fn sleep_until(at: Instant) {
    if at > Instant::now() {
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
    }
}

/// An open-loop request due at `at`.
struct Job {
    target: usize,
    model: usize,
    at: Instant,
}

/// Walks the open-loop schedule on a plain OS thread and hands each request to a generator
/// thread when it is due. Round `r` starts at `start + r / rate`; its requests to the
/// targets are spread evenly across the round, and rounds are dealt to threads in turn.
/// A blocking sleep wakes within tens of microseconds, where the runtimes' timers tick
/// in whole milliseconds and would bias every latency by up to one.
fn pace(plan: &Plan, rate: f64, senders: &[mpsc::UnboundedSender<Job>]) {
    let targets = plan.uris.len();
    let round_ns = 1e9 / rate;
    let rounds = (plan.end.duration_since(plan.start).as_secs_f64() * rate).round() as u64;
    let models = plan.bodies.len() as u64;
    for round in 0..rounds {
        let Some(tx) = senders.get((round % senders.len().max(1) as u64) as usize) else {
            return;
        };
        for target in 0..targets {
            let offset = (round as f64 + target as f64 / targets as f64) * round_ns;
            let at = plan.start + Duration::from_nanos(offset as u64);
            loop {
                let now = Instant::now();
                if now >= at {
                    break;
                }
                std::thread::sleep(at - now);
            }
            let job = Job {
                target,
                model: (round % models) as usize,
                at,
            };
            if tx.send(job).is_err() {
                return; // that thread failed; its error surfaces when it is joined
            }
        }
    }
}

/// Starts every job handed over by [`pace`] the moment it arrives.
async fn open_loop(ctx: &Rc<Ctx>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        begin(ctx);
        actix_rt::spawn(scheduled(Rc::clone(ctx), job.target, job.model, job.at));
    }
}

/// One open-loop request: waits for a connection slot if needed (the wait counts), sends,
/// records.
async fn scheduled(ctx: Rc<Ctx>, target: usize, model: usize, at: Instant) {
    let outcome = match ctx.permits[target].acquire().await {
        Ok(_permit) => {
            let started = Instant::now();
            let outcome = exchange(&ctx, target, model, at).await;
            Some((started, outcome))
        }
        Err(_) => None,
    };
    let done = Instant::now();
    if at >= ctx.plan.measure_from {
        let mut rec = ctx.recorders[target].borrow_mut();
        match outcome {
            Some((started, outcome)) => record(&mut rec, at, started, done, outcome),
            None => {
                rec.sent += 1;
                rec.error(Cow::Borrowed("internal"));
            }
        }
    }
    finish(&ctx);
}

/// `concurrency` loops per target, each sending back to back until the end.
async fn closed_loop(ctx: &Rc<Ctx>, loops: usize) {
    sleep_until(ctx.plan.start).await;
    for t in 0..ctx.plan.uris.len() {
        for k in 0..loops {
            begin(ctx);
            actix_rt::spawn(closed_worker(Rc::clone(ctx), t, k));
        }
    }
}

async fn closed_worker(ctx: Rc<Ctx>, target: usize, first_model: usize) {
    let models = ctx.plan.bodies.len();
    let mut model = first_model % models;
    loop {
        let started = Instant::now();
        if started >= ctx.plan.end {
            break;
        }
        let outcome = exchange(&ctx, target, model, started).await;
        let done = Instant::now();
        let refused = matches!(&outcome, Err(k) if k == "connect");
        if started >= ctx.plan.measure_from {
            record(
                &mut ctx.recorders[target].borrow_mut(),
                started,
                started,
                done,
                outcome,
            );
        }
        if refused {
            // A dead target would otherwise turn this loop into a busy spin.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        model = (model + 1) % models;
    }
    finish(&ctx);
}

fn record(rec: &mut Recorder, at: Instant, started: Instant, done: Instant, outcome: Outcome) {
    rec.sent += 1;
    rec.lag
        .saturating_record(micros(started.saturating_duration_since(at)));
    match outcome {
        Ok(stream) => {
            rec.ok += 1;
            rec.latency
                .saturating_record(micros(done.saturating_duration_since(at)));
            rec.service
                .saturating_record(micros(done.saturating_duration_since(started)));
            if let Some(s) = stream {
                rec.ttft.saturating_record(micros(s.ttft));
                rec.chunks.saturating_record(s.chunks);
                for g in s.gaps {
                    rec.gap.saturating_record(g);
                }
            }
        }
        Err(kind) => rec.error(kind),
    }
}

fn classify(e: &SendRequestError) -> ErrorKind {
    Cow::Borrowed(match e {
        SendRequestError::Connect(_) => "connect",
        SendRequestError::Timeout => "timeout",
        SendRequestError::Response(_) => "bad response",
        SendRequestError::Url(_) => "url",
        _ => "send",
    })
}

/// One request/response under the deadline. `origin` is when the request was due; the
/// time to first frame is measured from it.
async fn exchange(ctx: &Ctx, target: usize, model: usize, origin: Instant) -> Outcome {
    match tokio::time::timeout(ctx.plan.timeout, exchange_inner(ctx, target, model, origin)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Cow::Borrowed("timeout")),
    }
}

async fn exchange_inner(ctx: &Ctx, target: usize, model: usize, origin: Instant) -> Outcome {
    let plan = &ctx.plan;
    let mut res = ctx
        .client
        .post(plan.uris[target].clone())
        .insert_header((CONTENT_TYPE, "application/json"))
        .send_body(plan.bodies[model].clone())
        .await
        .map_err(|e| classify(&e))?;
    let status = res.status();
    if !status.is_success() {
        // Read the error body so the connection can go back to the pool.
        while let Some(Ok(_)) = res.next().await {}
        return Err(Cow::Owned(format!("status {}", status.as_u16())));
    }
    if !plan.scenario.is_stream() {
        let mut body = BytesMut::new();
        while let Some(item) = res.next().await {
            let data = item.map_err(|_| Cow::Borrowed("incomplete body"))?;
            body.extend_from_slice(&data);
        }
        if !contains(&body, plan.scenario.marker()) {
            return Err(Cow::Borrowed("unexpected body"));
        }
        return Ok(None);
    }
    let mut scanner = StreamScanner::new(plan.scenario);
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut gaps = Vec::new();
    while let Some(item) = res.next().await {
        let data = item.map_err(|_| Cow::Borrowed("incomplete stream"))?;
        let frames = scanner.feed(&data);
        if frames == 0 {
            continue;
        }
        let now = Instant::now();
        match last {
            None => first = Some(now),
            Some(prev) => gaps.push(micros(now.saturating_duration_since(prev))),
        }
        // Frames that arrived in the same read came together.
        gaps.extend(std::iter::repeat_n(0, (frames - 1) as usize));
        last = Some(now);
    }
    match first {
        Some(first) if scanner.complete() => Ok(Some(StreamSeen {
            ttft: first.saturating_duration_since(origin),
            gaps,
            chunks: scanner.chunks,
        })),
        _ => Err(Cow::Borrowed("incomplete stream")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [1, 2, 3, 7, 64] {
            for threads in [1, 2, 3] {
                let sum: usize = (0..threads).map(|i| share(total, threads, i)).sum();
                assert_eq!(sum, total);
            }
        }
    }

    #[test]
    fn endpoints() {
        assert!(
            endpoint("http://127.0.0.1:8080/", "/api/chat").is_ok_and(|u| u.path() == "/api/chat")
        );
        assert!(endpoint("not a url", "/x").is_err());
    }
}
