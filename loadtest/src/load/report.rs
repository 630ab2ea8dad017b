//! The result of a run: per-target summaries, the latency each target adds over the first
//! one, and their rendering as a human table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::rss::own_peak_kb;
use super::runner::Run;
use super::stats::{fmt_delta_us, fmt_us, Percentiles};
use super::{LoadConfig, Mode};

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// `"open"`, `"closed"` or `"streams"`.
    pub mode: &'static str,
    /// Open loop: scheduled requests per second to each target.
    pub rate_per_target: Option<f64>,
    /// Open loop: in-flight cap per target.
    pub connections: Option<usize>,
    /// Closed loop: request loops per target.
    pub concurrency: Option<usize>,
    /// Streams mode: concurrent streams per target.
    pub streams: Option<usize>,
    /// Streams mode: time over which each target's streams were started.
    pub ramp_s: Option<f64>,
    /// Measured time; in streams mode, the wall time of all targets' runs together.
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Frames every streamed answer had to have (`--expect-chunks`).
    pub expect_chunks: Option<u64>,
    /// The generator's own peak RSS (VmHWM) at the end of the run, in kB.
    pub generator_rss_peak_kb: Option<u64>,
    /// Generator threads actually used (never more than the in-flight cap).
    pub threads: usize,
    pub models: Vec<String>,
    pub targets: Vec<TargetReport>,
    /// For each target after the first: its percentiles minus the first target's.
    pub added: Vec<AddedLatency>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub target: String,
    /// Requests scheduled (open) or started (closed) inside the measured window.
    pub sent: u64,
    pub ok: u64,
    /// Failed requests by kind: `connect`, `timeout`, `status NNN`, `incomplete stream`,
    /// `chunk count`, …
    pub errors: BTreeMap<String, u64>,
    /// The same by model, then kind; models without failures are left out.
    pub errors_by_model: BTreeMap<String, BTreeMap<String, u64>>,
    /// Most requests in flight at once (send to end of answer); in streams mode, the
    /// streams actually open together.
    pub peak_in_flight: u64,
    /// Wall time of the run that measured this target, from the first scheduled send to
    /// the last answer (warm-up included).
    pub elapsed_s: f64,
    /// The process whose memory was watched (`--pid`).
    pub pid: Option<u32>,
    /// Its RSS before the first request, highest during the run, and after the last
    /// answer, in kB; `None` where it could not be read (see `pid_note`).
    pub rss_start_kb: Option<u64>,
    pub rss_peak_kb: Option<u64>,
    pub rss_end_kb: Option<u64>,
    /// Why RSS figures are missing: process not found, exited during the run, unreadable.
    pub pid_note: Option<String>,
    /// Answered (ok or not) requests per second of measured time.
    pub achieved_rps: f64,
    /// Successful requests per second of measured time.
    pub ok_rps: f64,
    /// From scheduled send to the end of the answer, successful requests only.
    pub latency_us: Percentiles,
    /// From actual send to the end of the answer.
    pub service_us: Percentiles,
    /// How late sends started against their schedule.
    pub schedule_lag_us: Percentiles,
    pub stream: Option<StreamReport>,
}

#[derive(Debug, Serialize)]
pub struct StreamReport {
    /// Time to first frame, from the scheduled send.
    pub ttft_us: Percentiles,
    /// Gaps between consecutive frames.
    pub gap_us: Percentiles,
    /// Frames per answer (not microseconds); answers with the wrong count included.
    pub chunks: Percentiles,
    /// Frames missing from, and in excess of, answers with a wrong count (`chunk count`
    /// errors; only with `--expect-chunks`).
    pub lost_chunks: u64,
    pub extra_chunks: u64,
    /// Body reads that completed at least one frame.
    pub frame_reads: u64,
    /// Body reads that completed more than one frame: frames merged on the way.
    pub coalesced_reads: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Deltas {
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub p999: i64,
    pub max: i64,
}

impl Deltas {
    /// `None` when either side has no samples: a difference to nothing means nothing.
    fn between(base: &Percentiles, other: &Percentiles) -> Option<Deltas> {
        if base.count == 0 || other.count == 0 {
            return None;
        }
        let d = |a: u64, b: u64| {
            i64::try_from(b).unwrap_or(i64::MAX) - i64::try_from(a).unwrap_or(i64::MAX)
        };
        Some(Deltas {
            p50: d(base.p50, other.p50),
            p90: d(base.p90, other.p90),
            p99: d(base.p99, other.p99),
            p999: d(base.p999, other.p999),
            max: d(base.max, other.max),
        })
    }

    fn columns(&self) -> [i64; 5] {
        [self.p50, self.p90, self.p99, self.p999, self.max]
    }
}

#[derive(Debug, Serialize)]
pub struct AddedLatency {
    pub target: String,
    pub baseline: String,
    /// `None` when either target has no successful answer.
    pub latency_us: Option<Deltas>,
    pub service_us: Option<Deltas>,
    /// `None` also for non-streamed scenarios.
    pub ttft_us: Option<Deltas>,
}

impl Report {
    pub(crate) fn build(cfg: &LoadConfig, run: Run) -> Report {
        let stream = cfg.scenario.is_stream();
        let streams_mode = matches!(cfg.mode, Mode::Streams { .. });
        let secs = if streams_mode {
            run.targets.iter().map(|t| t.elapsed.as_secs_f64()).sum()
        } else {
            cfg.duration.as_secs_f64()
        };
        let model_name = |i: &usize| cfg.models.get(*i).cloned().unwrap_or_else(|| i.to_string());
        let targets: Vec<TargetReport> = cfg
            .targets
            .iter()
            .zip(&run.targets)
            .map(|(target, t)| {
                let r = &t.rec;
                let answered = r.ok + r.errors_total();
                // Rates over the target's own run in streams mode (they run in turn).
                let window = if streams_mode {
                    t.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
                } else {
                    secs
                };
                let mut errors_by_model: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
                for (model, kinds) in &r.errors_by_model {
                    let mine = errors_by_model.entry(model_name(model)).or_default();
                    for (k, v) in kinds {
                        *mine.entry(k.to_string()).or_insert(0) += v;
                    }
                }
                let rss = t.rss.as_ref();
                TargetReport {
                    target: target.clone(),
                    sent: r.sent,
                    ok: r.ok,
                    errors: r.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                    errors_by_model,
                    peak_in_flight: t.peak_in_flight,
                    elapsed_s: t.elapsed.as_secs_f64(),
                    pid: rss.map(|x| x.pid),
                    rss_start_kb: rss.and_then(|x| x.start_kb),
                    rss_peak_kb: rss.and_then(|x| x.peak_kb),
                    rss_end_kb: rss.and_then(|x| x.end_kb),
                    pid_note: rss.and_then(|x| x.note.clone()),
                    achieved_rps: answered as f64 / window,
                    ok_rps: r.ok as f64 / window,
                    latency_us: Percentiles::of(&r.latency),
                    service_us: Percentiles::of(&r.service),
                    schedule_lag_us: Percentiles::of(&r.lag),
                    stream: stream.then(|| StreamReport {
                        ttft_us: Percentiles::of(&r.ttft),
                        gap_us: Percentiles::of(&r.gap),
                        chunks: Percentiles::of(&r.chunks),
                        lost_chunks: r.lost_chunks,
                        extra_chunks: r.extra_chunks,
                        frame_reads: r.frame_reads,
                        coalesced_reads: r.coalesced_reads,
                    }),
                }
            })
            .collect();
        let added = match targets.split_first() {
            Some((base, rest)) => rest
                .iter()
                .map(|t| AddedLatency {
                    target: t.target.clone(),
                    baseline: base.target.clone(),
                    latency_us: Deltas::between(&base.latency_us, &t.latency_us),
                    service_us: Deltas::between(&base.service_us, &t.service_us),
                    ttft_us: match (&base.stream, &t.stream) {
                        (Some(b), Some(o)) => Deltas::between(&b.ttft_us, &o.ttft_us),
                        _ => None,
                    },
                })
                .collect(),
            None => Vec::new(),
        };
        let (mode, rate_per_target, connections, concurrency) = match cfg.mode {
            Mode::Open { rate, connections } => ("open", Some(rate), Some(connections), None),
            Mode::Closed { concurrency } => ("closed", None, None, Some(concurrency)),
            Mode::Streams { .. } => ("streams", None, None, None),
        };
        let (streams, ramp_s) = match cfg.mode {
            Mode::Streams { streams, ramp } => (Some(streams), Some(ramp.as_secs_f64())),
            Mode::Open { .. } | Mode::Closed { .. } => (None, None),
        };
        Report {
            scenario: cfg.scenario.name(),
            mode,
            rate_per_target,
            connections,
            concurrency,
            streams,
            ramp_s,
            duration_s: secs,
            warmup_s: if streams_mode {
                0.0
            } else {
                cfg.warmup.as_secs_f64()
            },
            expect_chunks: cfg.expect_chunks,
            generator_rss_peak_kb: own_peak_kb(),
            threads: run.threads,
            models: cfg.models.clone(),
            targets,
            added,
        }
    }

    /// Whether every measured request succeeded.
    pub fn all_ok(&self) -> bool {
        self.targets
            .iter()
            .all(|t| t.errors.is_empty() && t.ok == t.sent)
    }

    /// The human-readable table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let pace = match (self.rate_per_target, self.connections, self.concurrency) {
            (Some(rate), Some(conns), _) => {
                format!("open loop, {rate} req/s per target, max {conns} in flight per target")
            }
            (_, _, Some(c)) => format!("closed loop, {c} concurrent per target"),
            _ => String::new(),
        };
        let streams_mode = self.streams.is_some();
        if let (Some(n), Some(ramp)) = (self.streams, self.ramp_s) {
            let _ = writeln!(
                out,
                "scenario {}: {n} concurrent streams per target, ramped over {ramp:.1}s, \
                 targets one after another, {:.1}s in all, {} thread(s), models {}",
                self.scenario,
                self.duration_s,
                self.threads,
                self.models.join(",")
            );
        } else {
            let _ = writeln!(
                out,
                "scenario {}: {pace}, {:.1}s measured after {:.1}s warm-up, {} thread(s), \
                 models {}",
                self.scenario,
                self.duration_s,
                self.warmup_s,
                self.threads,
                self.models.join(",")
            );
        }
        let width = self
            .targets
            .iter()
            .map(|t| t.target.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let head = |out: &mut String, title: &str| {
            let _ = writeln!(
                out,
                "\n{title:<width$}  {:>9} {:>9} {:>9} {:>9} {:>9}",
                "p50", "p90", "p99", "p99.9", "max"
            );
        };
        let row = |out: &mut String, name: &str, cols: [String; 5]| {
            let _ = writeln!(
                out,
                "{name:<width$}  {:>9} {:>9} {:>9} {:>9} {:>9}",
                cols[0], cols[1], cols[2], cols[3], cols[4]
            );
        };
        let us = |p: &Percentiles| p.columns().map(fmt_us);

        let (sent, ok) = if streams_mode {
            ("streams", "complete")
        } else {
            ("sent", "ok")
        };
        let _ = writeln!(
            out,
            "\n{:<width$}  {:>8} {:>8} {:>7} {:>10} {:>10} {:>9}",
            "target", sent, ok, "errors", "rate/s", "ok/s", "peak open"
        );
        for t in &self.targets {
            let errors: u64 = t.errors.values().sum();
            let _ = writeln!(
                out,
                "{:<width$}  {:>8} {:>8} {:>7} {:>10.1} {:>10.1} {:>9}",
                t.target, t.sent, t.ok, errors, t.achieved_rps, t.ok_rps, t.peak_in_flight
            );
        }
        head(&mut out, "latency (from schedule)");
        for t in &self.targets {
            row(&mut out, &t.target, us(&t.latency_us));
        }
        head(&mut out, "service time (from send)");
        for t in &self.targets {
            row(&mut out, &t.target, us(&t.service_us));
        }
        if self.targets.iter().any(|t| t.stream.is_some()) {
            head(&mut out, "time to first chunk");
            for t in &self.targets {
                if let Some(s) = &t.stream {
                    row(&mut out, &t.target, us(&s.ttft_us));
                }
            }
            head(&mut out, "inter-chunk gap");
            for t in &self.targets {
                if let Some(s) = &t.stream {
                    row(&mut out, &t.target, us(&s.gap_us));
                }
            }
            let _ = writeln!(
                out,
                "\n{:<width$}  {:>9} {:>9} {:>9} {:>12} {:>12} {:>15}",
                "chunks per answer", "min", "mean", "max", "answers", "reads", "coalesced reads"
            );
            for t in &self.targets {
                if let Some(s) = &t.stream {
                    let _ = writeln!(
                        out,
                        "{:<width$}  {:>9} {:>9.2} {:>9} {:>12} {:>12} {:>15}",
                        t.target,
                        s.chunks.min,
                        s.chunks.mean,
                        s.chunks.max,
                        s.chunks.count,
                        s.frame_reads,
                        s.coalesced_reads
                    );
                }
            }
            if let Some(want) = self.expect_chunks {
                let _ = writeln!(out, "\nlost or extra chunks (expected {want} per answer):");
                for t in &self.targets {
                    if let Some(s) = &t.stream {
                        let bad = t.errors.get("chunk count").copied().unwrap_or(0);
                        let _ = writeln!(
                            out,
                            "{:<width$}  {bad} answers, {} chunks lost, {} extra",
                            t.target, s.lost_chunks, s.extra_chunks
                        );
                    }
                }
            }
        }
        if self.targets.iter().any(|t| t.pid.is_some()) {
            let _ = writeln!(
                out,
                "\n{:<width$}  {:>8} {:>10} {:>10} {:>10}",
                "memory (RSS)", "pid", "start", "peak", "end"
            );
            let kb = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), fmt_kb);
            for t in &self.targets {
                if let Some(pid) = t.pid {
                    let _ = writeln!(
                        out,
                        "{:<width$}  {pid:>8} {:>10} {:>10} {:>10}",
                        t.target,
                        kb(t.rss_start_kb),
                        kb(t.rss_peak_kb),
                        kb(t.rss_end_kb)
                    );
                }
            }
            for t in &self.targets {
                if let Some(note) = &t.pid_note {
                    let _ = writeln!(out, "note {}: {note}", t.target);
                }
            }
        }
        if !self.added.is_empty() {
            let first = self.targets.first().map_or("", |t| t.target.as_str());
            let delta = |d: &Option<Deltas>| match d {
                Some(d) => d.columns().map(fmt_delta_us),
                None => std::array::from_fn(|_| "n/a".to_owned()),
            };
            let _ = writeln!(out, "\nadded over baseline {first}:");
            head(&mut out, "added latency");
            for a in &self.added {
                row(&mut out, &a.target, delta(&a.latency_us));
            }
            head(&mut out, "added service time");
            for a in &self.added {
                row(&mut out, &a.target, delta(&a.service_us));
            }
            if self.targets.iter().any(|t| t.stream.is_some()) {
                head(&mut out, "added time to first chunk");
                for a in &self.added {
                    row(&mut out, &a.target, delta(&a.ttft_us));
                }
            }
        }
        let lag_p99 = self
            .targets
            .iter()
            .map(|t| t.schedule_lag_us.p99)
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "\nschedule lag p99 {}", fmt_us(lag_p99));
        if let Some(kb) = self.generator_rss_peak_kb {
            let _ = writeln!(out, "generator peak RSS {}", fmt_kb(kb));
        }
        for t in &self.targets {
            for (kind, n) in &t.errors {
                let _ = writeln!(out, "error {}: {kind} x{n}", t.target);
            }
            // With one model the split says nothing new.
            if self.models.len() > 1 {
                for (model, kinds) in &t.errors_by_model {
                    for (kind, n) in kinds {
                        let _ = writeln!(out, "  model {model}: {kind} x{n}");
                    }
                }
            }
        }
        out
    }
}

/// Human form of a kilobyte count.
fn fmt_kb(kb: u64) -> String {
    if kb < 10 * 1024 {
        format!("{kb}kB")
    } else {
        format!("{:.1}MB", kb as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_signed() {
        let a = Percentiles {
            count: 1,
            p50: 100,
            p90: 200,
            p99: 300,
            p999: 400,
            max: 500,
            ..Percentiles::default()
        };
        let b = Percentiles {
            count: 1,
            p50: 150,
            p90: 180,
            p99: 300,
            p999: 1400,
            max: 501,
            ..Percentiles::default()
        };
        assert_eq!(
            Deltas::between(&a, &b),
            Some(Deltas {
                p50: 50,
                p90: -20,
                p99: 0,
                p999: 1000,
                max: 1
            })
        );
        assert_eq!(Deltas::between(&a, &Percentiles::default()), None);
    }
}
