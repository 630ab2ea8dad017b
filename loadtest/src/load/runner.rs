//! The generator proper: threads, pacing, one request's exchange and its bookkeeping.
//!
//! Every thread owns an actix `System` (a current-thread runtime), an `awc` client and one
//! [`Recorder`] per target, so the hot path has no locks; the only cross-thread traffic is
//! one atomic in-flight counter per target. Rounds (one request to each target) are dealt
//! to threads round-robin; in streams mode, streams are.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::CONTENT_TYPE;
use anyhow::Context;
use awc::error::SendRequestError;
use awc::http::Uri;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify, Semaphore};

use super::rss::{RssTrack, RssWatch};
use super::scenario::{contains, Scenario, StreamScanner};
use super::stats::{micros, ErrorKind, Recorder};
use super::{LoadConfig, Mode};

/// Gives the threads time to build their runtimes before the first scheduled send.
const START_DELAY: Duration = Duration::from_millis(100);

/// Everything the threads share: read-only but for the in-flight counters.
struct Plan {
    uris: Vec<Uri>,
    bodies: Vec<Bytes>,
    scenario: Scenario,
    mode: Mode,
    threads: usize,
    timeout: Duration,
    expect_chunks: Option<u64>,
    /// First scheduled send.
    start: Instant,
    /// Results of requests scheduled before this are discarded (warm-up).
    measure_from: Instant,
    /// End of the schedule (of the ramp, in streams mode).
    end: Instant,
    /// Requests between send and end of answer, per target, all threads together.
    in_flight: Vec<AtomicU64>,
    /// The most of them at once: in streams mode, the evidence that the streams really
    /// were open together rather than one after another.
    peak_in_flight: Vec<AtomicU64>,
}

/// What a complete streamed answer looked like (gaps went straight to the histogram).
struct StreamSeen {
    ttft: Duration,
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

/// One target's results.
pub(crate) struct TargetRun {
    pub rec: Recorder,
    pub peak_in_flight: u64,
    /// From the first scheduled send to the last answer of the run that measured it.
    pub elapsed: Duration,
    /// Memory of the target's process, when one was given.
    pub rss: Option<RssTrack>,
}

/// The results of a whole run.
pub(crate) struct Run {
    pub targets: Vec<TargetRun>,
    /// Generator threads actually used.
    pub threads: usize,
}

/// What one batch of targets measured together came to.
struct Phase {
    recorders: Vec<Recorder>,
    peaks: Vec<u64>,
    threads: usize,
    elapsed: Duration,
}

impl Phase {
    fn into_targets(self, rss: Vec<Option<RssTrack>>) -> Vec<TargetRun> {
        let elapsed = self.elapsed;
        let mut rss = rss.into_iter();
        self.recorders
            .into_iter()
            .zip(self.peaks)
            .map(|(rec, peak_in_flight)| TargetRun {
                rec,
                peak_in_flight,
                elapsed,
                rss: rss.next().flatten(),
            })
            .collect()
    }
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

/// Runs the load and returns each target's results, in target order.
pub(crate) fn execute(cfg: &LoadConfig) -> anyhow::Result<Run> {
    let uris = cfg
        .targets
        .iter()
        .map(|t| endpoint(t, cfg.scenario.path()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bodies: Vec<Bytes> = cfg
        .models
        .iter()
        .map(|m| cfg.scenario.body(m, &cfg.prompt))
        .collect();
    if let Mode::Streams { .. } = cfg.mode {
        // One target at a time, each with its own sampler, so a target's start and end
        // RSS frame its own streams only.
        let mut targets = Vec::with_capacity(uris.len());
        let mut threads = 1;
        for (i, uri) in uris.into_iter().enumerate() {
            let watch = RssWatch::start(&[cfg.pid(i)])?;
            let phase = phase(cfg, vec![uri], bodies.clone())?;
            threads = phase.threads;
            targets.extend(phase.into_targets(watch.finish()));
        }
        return Ok(Run { targets, threads });
    }
    let pids: Vec<Option<u32>> = (0..uris.len()).map(|i| cfg.pid(i)).collect();
    let watch = RssWatch::start(&pids)?;
    let phase = phase(cfg, uris, bodies)?;
    Ok(Run {
        threads: phase.threads,
        targets: phase.into_targets(watch.finish()),
    })
}

/// What a generator thread does besides answering.
enum Work {
    /// Start the jobs the pacing thread hands over.
    Paced(mpsc::UnboundedReceiver<Job>),
    /// Run request loops until the end.
    Closed,
    /// Open this thread's share of the streams along the ramp.
    Streams,
}

/// Measures `uris` together: spawns the threads, paces them, merges their recorders.
fn phase(cfg: &LoadConfig, uris: Vec<Uri>, bodies: Vec<Bytes>) -> anyhow::Result<Phase> {
    // More threads than allowed in-flight requests would only sit idle.
    let cap = match cfg.mode {
        Mode::Open { connections, .. } => connections,
        Mode::Closed { concurrency } => concurrency,
        Mode::Streams { streams, .. } => streams,
    };
    let threads = cfg.threads.clamp(1, cap.max(1));
    let start = Instant::now() + START_DELAY;
    let (measure_from, end) = match cfg.mode {
        Mode::Streams { ramp, .. } => (start, start + ramp),
        Mode::Open { .. } | Mode::Closed { .. } => {
            let from = start + cfg.warmup;
            (from, from + cfg.duration)
        }
    };
    let targets = uris.len();
    let plan = Arc::new(Plan {
        uris,
        bodies,
        scenario: cfg.scenario,
        mode: cfg.mode,
        threads,
        timeout: cfg.timeout,
        expect_chunks: cfg.expect_chunks,
        start,
        measure_from,
        end,
        in_flight: (0..targets).map(|_| AtomicU64::new(0)).collect(),
        peak_in_flight: (0..targets).map(|_| AtomicU64::new(0)).collect(),
    });
    // Open loop: this thread paces the schedule and deals jobs to the generator threads.
    let mut senders = Vec::new();
    let mut works = Vec::new();
    for _ in 0..threads {
        works.push(match cfg.mode {
            Mode::Open { .. } => {
                let (tx, rx) = mpsc::unbounded_channel();
                senders.push(tx);
                Work::Paced(rx)
            }
            Mode::Closed { .. } => Work::Closed,
            Mode::Streams { .. } => Work::Streams,
        });
    }
    let handles = works
        .into_iter()
        .enumerate()
        .map(|(idx, work)| {
            let plan = Arc::clone(&plan);
            std::thread::Builder::new()
                .name(format!("load-{idx}"))
                .spawn(move || actix_rt::System::new().block_on(thread_main(plan, idx, work)))
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
    Ok(Phase {
        recorders: merged.context("no generator thread ran")?,
        peaks: plan
            .peak_in_flight
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .collect(),
        threads,
        elapsed: Instant::now().saturating_duration_since(start),
    })
}

async fn thread_main(plan: Arc<Plan>, idx: usize, work: Work) -> anyhow::Result<Vec<Recorder>> {
    let per_target = match plan.mode {
        Mode::Open { connections, .. } => share(connections, plan.threads, idx),
        Mode::Closed { concurrency } => share(concurrency, plan.threads, idx),
        Mode::Streams { streams, .. } => share(streams, plan.threads, idx),
    }
    .max(1);
    let targets = plan.uris.len();
    // Streams mode holds every stream on its own connection at once: no pool cap (0 is
    // "unlimited" to awc), the descriptor limit is the only bound.
    let limit = match plan.mode {
        Mode::Streams { .. } => 0,
        Mode::Open { .. } | Mode::Closed { .. } => per_target * targets,
    };
    let client = awc::Client::builder()
        .connector(
            awc::Connector::new()
                .limit(limit)
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
    match work {
        Work::Paced(jobs) => open_loop(&ctx, jobs).await,
        Work::Closed => closed_loop(&ctx, per_target).await,
        Work::Streams => ramp(&ctx, idx).await,
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
            Some((started, outcome)) => {
                let expect = ctx.plan.expect_chunks;
                record(&mut rec, model, at, started, done, outcome, expect);
            }
            None => {
                rec.sent += 1;
                rec.error(model, Cow::Borrowed("internal"));
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
                model,
                started,
                started,
                done,
                outcome,
                ctx.plan.expect_chunks,
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

/// Streams mode: opens stream `k` of the target's `streams` at `start + ramp * k /
/// streams`, this thread taking every `threads`-th one. Streams are spawned as they fall
/// due rather than all up front, so a long ramp holds no idle tasks.
async fn ramp(ctx: &Rc<Ctx>, idx: usize) {
    let plan = &ctx.plan;
    let Mode::Streams { streams, ramp } = plan.mode else {
        return;
    };
    let models = plan.bodies.len();
    for k in (idx..streams).step_by(plan.threads.max(1)) {
        let at = plan.start + ramp.mul_f64(k as f64 / streams as f64);
        sleep_until(at).await;
        begin(ctx);
        actix_rt::spawn(long_stream(Rc::clone(ctx), k % models, at));
    }
}

/// One stream of streams mode, against the phase's only target.
async fn long_stream(ctx: Rc<Ctx>, model: usize, at: Instant) {
    let started = Instant::now();
    let outcome = exchange(&ctx, 0, model, at).await;
    let done = Instant::now();
    let expect = ctx.plan.expect_chunks;
    record(
        &mut ctx.recorders[0].borrow_mut(),
        model,
        at,
        started,
        done,
        outcome,
        expect,
    );
    finish(&ctx);
}

/// Books one answered request. A complete stream whose frame count is not `expect` is a
/// `chunk count` error: the gateway lost or invented frames while still closing the
/// stream properly, which no other check would notice.
fn record(
    rec: &mut Recorder,
    model: usize,
    at: Instant,
    started: Instant,
    done: Instant,
    outcome: Outcome,
    expect: Option<u64>,
) {
    rec.sent += 1;
    rec.lag
        .saturating_record(micros(started.saturating_duration_since(at)));
    if let (Ok(Some(seen)), Some(want)) = (&outcome, expect) {
        if seen.chunks != want {
            if seen.chunks < want {
                rec.lost_chunks += want - seen.chunks;
            } else {
                rec.extra_chunks += seen.chunks - want;
            }
            rec.chunks.saturating_record(seen.chunks);
            rec.error(model, Cow::Borrowed("chunk count"));
            return;
        }
    }
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
            }
        }
        Err(kind) => rec.error(model, kind),
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
    let plan = &ctx.plan;
    let now = plan.in_flight[target].fetch_add(1, Ordering::Relaxed) + 1;
    plan.peak_in_flight[target].fetch_max(now, Ordering::Relaxed);
    let outcome = match tokio::time::timeout(
        plan.timeout,
        exchange_inner(ctx, target, model, origin),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(Cow::Borrowed("timeout")),
    };
    plan.in_flight[target].fetch_sub(1, Ordering::Relaxed);
    outcome
}

async fn exchange_inner(ctx: &Ctx, target: usize, model: usize, origin: Instant) -> Outcome {
    let plan = &ctx.plan;
    let mut request = ctx
        .client
        .post(plan.uris[target].clone())
        .insert_header((CONTENT_TYPE, "application/json"));
    if matches!(
        plan.scenario,
        Scenario::AnthropicChat | Scenario::AnthropicChatStream
    ) {
        // Anthropic's API requires it.
        request = request.insert_header(("anthropic-version", "2023-06-01"));
    }
    let mut res = request
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
    // Warm-up answers are read like the others but leave no trace.
    let measured = origin >= plan.measure_from;
    let mut scanner = StreamScanner::new(plan.scenario);
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    while let Some(item) = res.next().await {
        let data = item.map_err(|_| Cow::Borrowed("incomplete stream"))?;
        let frames = scanner.feed(&data);
        if frames == 0 {
            continue;
        }
        let now = Instant::now();
        if measured {
            let mut rec = ctx.recorders[target].borrow_mut();
            rec.frame_reads += 1;
            if let Some(prev) = last {
                rec.gap
                    .saturating_record(micros(now.saturating_duration_since(prev)));
            }
            if frames > 1 {
                // Several whole frames in one read: sent apart, they would have arrived
                // apart, so something on the way buffered them. They count as gaps of 0.
                rec.coalesced_reads += 1;
                rec.gap.saturating_record_n(0, frames - 1);
            }
        }
        first.get_or_insert(now);
        last = Some(now);
    }
    match first {
        Some(first) if scanner.complete() => Ok(Some(StreamSeen {
            ttft: first.saturating_duration_since(origin),
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
