//! Per-target measurements. Each generator thread fills its own [`Recorder`] (no sharing on
//! the hot path); they are merged once at the end.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms resolve: one hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_US, 3).context("cannot create histogram")
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Why a request did not succeed; the keys of the error table.
pub type ErrorKind = Cow<'static, str>;

pub struct Recorder {
    /// From the scheduled send time to the end of the answer (coordinated-omission safe).
    pub latency: Histogram<u64>,
    /// From the actual send to the end of the answer.
    pub service: Histogram<u64>,
    /// How late requests actually started versus their schedule (generator health, and
    /// queueing behind the connection cap).
    pub lag: Histogram<u64>,
    /// Time to first streamed frame, from the scheduled time.
    pub ttft: Histogram<u64>,
    /// Gaps between consecutive streamed frames, recorded as they arrive (failed streams
    /// included) so no per-stream list is kept: thousands of long streams stay cheap.
    pub gap: Histogram<u64>,
    /// Frames per streamed answer.
    pub chunks: Histogram<u64>,
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// The same failures split by model index, so a routing mistake (say a 404 for one
    /// model only) points at the model.
    pub errors_by_model: BTreeMap<usize, BTreeMap<ErrorKind, u64>>,
    /// Frames missing from, or in excess of, answers whose count was not the expected one.
    pub lost_chunks: u64,
    pub extra_chunks: u64,
    /// Body reads that completed at least one frame, and those that completed several.
    pub frame_reads: u64,
    pub coalesced_reads: u64,
}

impl Recorder {
    pub fn new() -> anyhow::Result<Recorder> {
        Ok(Recorder {
            latency: histogram()?,
            service: histogram()?,
            lag: histogram()?,
            ttft: histogram()?,
            gap: histogram()?,
            chunks: histogram()?,
            sent: 0,
            ok: 0,
            errors: BTreeMap::new(),
            errors_by_model: BTreeMap::new(),
            lost_chunks: 0,
            extra_chunks: 0,
            frame_reads: 0,
            coalesced_reads: 0,
        })
    }

    /// Counts a failed request for `model` (an index into the run's models).
    pub fn error(&mut self, model: usize, kind: ErrorKind) {
        *self
            .errors_by_model
            .entry(model)
            .or_default()
            .entry(kind.clone())
            .or_insert(0) += 1;
        *self.errors.entry(kind).or_insert(0) += 1;
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        for (mine, theirs) in [
            (&mut self.latency, &other.latency),
            (&mut self.service, &other.service),
            (&mut self.lag, &other.lag),
            (&mut self.ttft, &other.ttft),
            (&mut self.gap, &other.gap),
            (&mut self.chunks, &other.chunks),
        ] {
            mine.add(theirs).context("cannot merge histograms")?;
        }
        self.sent += other.sent;
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
        for (model, kinds) in &other.errors_by_model {
            let mine = self.errors_by_model.entry(*model).or_default();
            for (k, v) in kinds {
                *mine.entry(k.clone()).or_insert(0) += v;
            }
        }
        self.lost_chunks += other.lost_chunks;
        self.extra_chunks += other.extra_chunks;
        self.frame_reads += other.frame_reads;
        self.coalesced_reads += other.coalesced_reads;
        Ok(())
    }
}

/// A histogram summary, in microseconds (or plain counts for chunk histograms).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// The percentile columns of the tables, in order.
    pub fn columns(&self) -> [u64; 5] {
        [self.p50, self.p90, self.p99, self.p999, self.max]
    }
}

/// Human form of a microsecond count.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// Human form of a signed microsecond difference.
pub fn fmt_delta_us(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "+" };
    format!("{sign}{}", fmt_us(us.unsigned_abs()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_merge() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        for v in 1..=100 {
            a.latency.record(v).unwrap();
        }
        b.latency.record(1_000_000).unwrap();
        a.error(0, "timeout".into());
        b.error(1, "timeout".into());
        b.error(1, Cow::Owned("status 503".to_owned()));
        b.sent = 3;
        b.coalesced_reads = 2;
        a.merge(&b).unwrap();
        let p = Percentiles::of(&a.latency);
        assert_eq!(p.count, 101);
        assert_eq!(p.p50, 51);
        assert!(p.max >= 999_000);
        assert_eq!(a.errors["timeout"], 2);
        assert_eq!(a.errors_total(), 3);
        assert_eq!(a.sent, 3);
        assert_eq!(a.coalesced_reads, 2);
        assert_eq!(a.errors_by_model[&0]["timeout"], 1);
        assert_eq!(a.errors_by_model[&1]["timeout"], 1);
        assert_eq!(a.errors_by_model[&1]["status 503"], 1);
        assert_eq!(Percentiles::of(&a.gap), Percentiles::default());
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_us(850), "850µs");
        assert_eq!(fmt_us(1_234), "1.23ms");
        assert_eq!(fmt_us(2_500_000), "2.50s");
        assert_eq!(fmt_delta_us(-120), "-120µs");
        assert_eq!(fmt_delta_us(1500), "+1.50ms");
    }
}
