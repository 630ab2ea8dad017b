//! Request statistics over a time range: requests, errors, tokens and latency percentiles, in
//! time buckets, in total and per group. All counting happens in SQL: the rows fetched are
//! one per (bucket or group, latency bin) that holds records, however many records that is.
//!
//! Percentiles: PostgreSQL has `percentile_cont`, SQLite does not (nor `ln` or `floor`: the
//! bundled build leaves out its math functions). So both backends count records per latency
//! *bin* in the same SQL, and the percentiles are read off the bins here. Bins are log-linear
//! in whole microseconds, as in HDR histograms: one per microsecond below 64 µs, then 32 per
//! doubling (a bin's width is at most 1/32 of its lower bound), computed with integer
//! arithmetic only. A percentile is the nearest-rank value (the ⌈p·n/100⌉-th smallest); its
//! bin is found exactly from the counts, and the bin's midpoint is answered. **Error bound:**
//! the answer is within 1/64 (1.6 %) of the true nearest-rank value, plus 1 µs (latencies are
//! floored to whole microseconds). Bucket and group histograms merge exactly, so the totals
//! are summed from the buckets instead of being queried again.

use std::collections::{BTreeMap, HashMap};

use diesel::{
    sql_types::{BigInt, Integer, Nullable, Text},
    QueryableByName,
};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{db_run, Backend, Store, StoreError};

/// More buckets than this is refused: the answer would be larger than any chart needs.
pub const MAX_BUCKETS: i64 = 10_000;
/// Without `bucket`, the smallest round width that cuts the range into at most this many
/// buckets (one more when the range does not start on a bucket boundary).
const DEFAULT_BUCKETS: i64 = 100;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Round bucket widths for the default, in ms: 1s, 5s, 10s, 30s, 1m, 5m, 10m, 15m, 30m, 1h,
/// 3h, 6h, 12h, 1d; longer ranges get whole days.
const ROUND_BUCKETS: [i64; 14] = [
    1_000,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
];
/// Latencies are clamped to 10^15 µs (31 years) so the cast to an integer cannot overflow.
const MAX_MICROS: i64 = 1_000_000_000_000_000;
/// Bins below 2^(BIN_BITS + 1) µs are 1 µs wide; above, each doubling has 2^BIN_BITS bins.
const BIN_BITS: u32 = 5;
/// The widest bin: values up to `MAX_MICROS` < 2^50 have widths up to 2^(49 - BIN_BITS).
const WIDEST_BIN_SHIFT: u32 = 49 - BIN_BITS;
// The last rung must hold every clamped value, or its bins would grow too wide.
const _: () = assert!(MAX_MICROS < 1i64 << (WIDEST_BIN_SHIFT + BIN_BITS + 1));

/// What `by` groups records by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum GroupBy {
    /// The resolved model, else the requested one (a refused request has no resolved model).
    Model,
    Node,
    Key,
    Api,
    Status,
}

impl GroupBy {
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Model,
        GroupBy::Node,
        GroupBy::Key,
        GroupBy::Api,
        GroupBy::Status,
    ];

    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Node => "node",
            GroupBy::Key => "key",
            GroupBy::Api => "api",
            GroupBy::Status => "status",
        }
    }

    /// The group key as text (status too, so every grouping reads back the same row type).
    fn sql(self) -> &'static str {
        match self {
            GroupBy::Model => "COALESCE(model_resolved, model_requested)",
            GroupBy::Node => "node",
            GroupBy::Key => "key_id",
            GroupBy::Api => "api",
            GroupBy::Status => "CAST(status AS TEXT)",
        }
    }
}

/// A checked statistics query: the range `[since, until)` in epoch ms, cut into buckets of
/// `bucket_ms` aligned to multiples of `bucket_ms` since the epoch (so in UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub since: i64,
    pub until: i64,
    pub bucket_ms: i64,
    pub by: Option<GroupBy>,
}

impl StatsQuery {
    /// Fills in the defaults (the hour before `now_ms`, a round bucket making at most about
    /// 100 buckets) and checks every parameter; an error starts with the parameter's name.
    pub fn new(
        since: Option<i64>,
        until: Option<i64>,
        bucket: Option<&str>,
        by: Option<&str>,
        now_ms: i64,
    ) -> Result<StatsQuery, String> {
        if since.is_some_and(|s| s < 0) {
            return Err("since: must be epoch milliseconds, 0 or more".into());
        }
        let until = until.unwrap_or(now_ms);
        let since = since.unwrap_or_else(|| until.saturating_sub(HOUR_MS).max(0));
        if since >= until {
            return Err(format!("since: must be before until ({since} >= {until})"));
        }
        let by = by
            .map(|b| {
                GroupBy::parse(b)
                    .ok_or_else(|| format!("by: {b:?} is not one of model, node, key, api, status"))
            })
            .transpose()?;
        let bucket_ms = match bucket {
            Some(text) => {
                let ms = parse_bucket(text)?;
                let count = bucket_count(since, until, ms);
                if count > MAX_BUCKETS {
                    return Err(format!(
                        "bucket: {text} makes {count} buckets over the range, more than \
                         {MAX_BUCKETS}; choose a longer bucket or a shorter range"
                    ));
                }
                ms
            }
            None => default_bucket(since, until),
        };
        Ok(StatsQuery {
            since,
            until,
            bucket_ms,
            by,
        })
    }

    /// The start of every bucket of the range, oldest first.
    fn bucket_starts(&self) -> impl Iterator<Item = i64> {
        let first = self.since - self.since.rem_euclid(self.bucket_ms);
        let step = self.bucket_ms;
        (0..bucket_count(self.since, self.until, step)).map(move |i| first + i * step)
    }
}

fn parse_bucket(text: &str) -> Result<i64, String> {
    let d = humantime_serde::re::humantime::parse_duration(text)
        .map_err(|e| format!("bucket: {text:?}: {e}; expected a duration like 1m, 5m or 1h"))?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("bucket: {text:?} is not whole milliseconds"));
    }
    match i64::try_from(d.as_millis()) {
        Ok(ms) if ms >= 1 => Ok(ms),
        Ok(_) => Err("bucket: must be at least 1ms".into()),
        Err(_) => Err(format!("bucket: {text:?} is too long")),
    }
}

/// How many buckets of `bucket` ms, aligned to the epoch, `[since, until)` touches.
fn bucket_count(since: i64, until: i64, bucket: i64) -> i64 {
    let first = since - since.rem_euclid(bucket);
    let last = (until - 1) - (until - 1).rem_euclid(bucket);
    (last - first) / bucket + 1
}

/// By the range's length, not its alignment, so the same length always gets the same width
/// (an hour: 1m).
fn default_bucket(since: i64, until: i64) -> i64 {
    let range = until - since;
    let per_bucket = range / DEFAULT_BUCKETS + i64::from(range % DEFAULT_BUCKETS != 0);
    ROUND_BUCKETS
        .into_iter()
        .find(|&b| b >= per_bucket)
        .unwrap_or_else(|| (per_bucket / DAY_MS + i64::from(per_bucket % DAY_MS != 0)) * DAY_MS)
}

/// Nearest-rank percentiles of a set of durations, in ms; `None` when the set is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// The figures of a bucket, a group or the whole range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    pub requests: i64,
    /// Records with status 400 or above, or an error kind (a stream that broke off is a 200
    /// with an error kind).
    pub errors: i64,
    /// Sums; records without token counts add nothing.
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Over every record, refused ones included.
    pub latency_ms: Percentiles,
    /// Over the records that have a time to first byte (those that reached a node).
    pub ttft_ms: Percentiles,
}

/// One time bucket's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bucket {
    /// Epoch ms; the bucket covers `[start, start + bucket_ms)` within the range.
    pub start: i64,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One group's figures: the group's key (`{"model": "llama3"}`, `{"status": 404}`) with them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    /// One entry: the `by` parameter and the group's value (null for records without one,
    /// a number for `status`).
    #[serde(flatten)]
    pub key: serde_json::Map<String, Value>,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Statistics over `[since, until)`, epoch milliseconds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stats {
    pub since: i64,
    pub until: i64,
    pub bucket_ms: i64,
    #[schema(value_type = Option<GroupBy>)]
    pub by: Option<&'static str>,
    pub totals: Summary,
    /// Every bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<Bucket>,
    /// Most requests first; empty without `by`.
    pub groups: Vec<Group>,
}

/// One row of the histogram query: the records of one partition (bucket or group) in one
/// bin of one metric.
#[derive(Debug, QueryableByName)]
struct BinRow {
    /// 0: latency (this row also carries the counts and sums); 1: time to first byte.
    #[diesel(sql_type = Integer)]
    metric: i32,
    /// The bucket's start (0 when grouping).
    #[diesel(sql_type = BigInt)]
    b: i64,
    /// The group's key (NULL when bucketing, or when the record has no value).
    #[diesel(sql_type = Nullable<Text>)]
    g: Option<String>,
    /// The bin's lower bound in µs.
    #[diesel(sql_type = BigInt)]
    bin: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    errors: i64,
    #[diesel(sql_type = BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    completion_tokens: i64,
}

const LATENCY: i32 = 0;

/// What the histogram query partitions by.
#[derive(Clone, Copy)]
enum Part {
    Buckets(i64),
    Group(GroupBy),
}

/// A duration column as whole microseconds, floored and clamped to `[0, MAX_MICROS]`.
fn micros_sql(backend: Backend, column: &str) -> String {
    let floored = match backend {
        // CAST truncates toward zero, which floors a positive value.
        Backend::Sqlite => format!("CAST({column} * 1000 AS BIGINT)"),
        // CAST rounds here: floor first, so both backends put a value in the same bin.
        Backend::Postgres => format!("CAST(FLOOR({column} * 1000) AS BIGINT)"),
    };
    format!(
        "CASE WHEN {column} <= 0 THEN 0 WHEN {column} >= 1e12 THEN {MAX_MICROS} ELSE {floored} END"
    )
}

/// The lower bound of the bin of `u` (whole µs): `u` itself below 2^(BIN_BITS+1), else `u`
/// rounded down to a multiple of 2^(⌊log2 u⌋ - BIN_BITS). Comparisons stand in for the
/// logarithm, which the bundled SQLite lacks, nested as a binary search over the rungs: six
/// comparisons per row instead of up to 44 in a plain ladder. Mirrors `bin_of`.
fn bin_sql(u: &str) -> String {
    rungs_sql(u, 0, WIDEST_BIN_SHIFT)
}

/// Rungs `low..=high`: rung `shift` holds `u` in [2^(shift+BIN_BITS), 2^(shift+BIN_BITS+1))
/// (rung 0 everything below) and rounds it down to a multiple of 2^shift.
fn rungs_sql(u: &str, low: u32, high: u32) -> String {
    if low == high {
        return match low {
            0 => u.to_owned(),
            shift => format!("{u} - {u} % {}", 1i64 << shift),
        };
    }
    let mid = (low + high) / 2;
    format!(
        "CASE WHEN {u} < {} THEN {} ELSE {} END",
        1i64 << (mid + BIN_BITS + 1),
        rungs_sql(u, low, mid),
        rungs_sql(u, mid + 1, high)
    )
}

/// The width of the bin whose lower bound is `lo` (what `bin_sql` rounds to).
fn bin_width(lo: i64) -> i64 {
    if lo <= 0 {
        return 1;
    }
    let log2 = 63 - lo.leading_zeros();
    if log2 <= BIN_BITS {
        1
    } else {
        1i64 << (log2 - BIN_BITS).min(WIDEST_BIN_SHIFT)
    }
}

/// The histogram of both metrics per partition over the query's range. Numbers are written
/// into the SQL (they are `i64`s we checked, so nothing can be injected): placeholders differ
/// between the backends (`$1` against `?`), and this keeps one text for both.
fn histogram_sql(backend: Backend, q: &StatsQuery, part: Part) -> String {
    let (b, g) = match part {
        Part::Buckets(width) => (
            format!("ts_ms - ts_ms % {width}"),
            "CAST(NULL AS TEXT)".to_owned(),
        ),
        Part::Group(by) => ("CAST(0 AS BIGINT)".to_owned(), by.sql().to_owned()),
    };
    let range = format!("ts_ms >= {} AND ts_ms < {}", q.since, q.until);
    let latency = micros_sql(backend, "latency_ms");
    let ttft = micros_sql(backend, "ttft_ms");
    let bin = bin_sql("u");
    format!(
        "SELECT metric, b, g, bin, COUNT(*) AS n, CAST(SUM(err) AS BIGINT) AS errors, \
                CAST(SUM(pt) AS BIGINT) AS prompt_tokens, \
                CAST(SUM(ct) AS BIGINT) AS completion_tokens \
         FROM (SELECT metric, b, g, {bin} AS bin, err, pt, ct \
               FROM (SELECT {LATENCY} AS metric, {b} AS b, {g} AS g, {latency} AS u, \
                            CASE WHEN status >= 400 OR error_kind IS NOT NULL \
                                 THEN 1 ELSE 0 END AS err, \
                            COALESCE(prompt_tokens, 0) AS pt, \
                            COALESCE(completion_tokens, 0) AS ct \
                     FROM request_logs WHERE {range} \
                     UNION ALL \
                     SELECT 1, {b}, {g}, {ttft}, 0, 0, 0 \
                     FROM request_logs WHERE {range} AND ttft_ms IS NOT NULL) AS x) AS y \
         GROUP BY metric, b, g, bin"
    )
}

/// Counts per bin (lower bound in µs).
#[derive(Debug, Default)]
struct Histogram(BTreeMap<i64, i64>);

impl Histogram {
    fn add(&mut self, lo: i64, n: i64) {
        *self.0.entry(lo).or_default() += n;
    }

    /// The midpoint of the bin holding the nearest-rank `pct`-th percentile, in ms.
    fn percentile(&self, pct: u64, total: i64) -> Option<f64> {
        if total <= 0 {
            return None;
        }
        // ⌈pct·total/100⌉, the nearest rank; u128 so no count can overflow it.
        let rank = (u128::from(pct) * u128::from(total.unsigned_abs())).div_ceil(100);
        let mut seen = 0u128;
        for (&lo, &n) in &self.0 {
            seen += u128::from(n.unsigned_abs());
            if seen >= rank {
                let mid = lo as f64 + (bin_width(lo) - 1) as f64 / 2.0;
                return Some(mid / 1000.0);
            }
        }
        None
    }

    fn percentiles(&self) -> Percentiles {
        let total = self.0.values().sum();
        Percentiles {
            p50: self.percentile(50, total),
            p95: self.percentile(95, total),
            p99: self.percentile(99, total),
        }
    }
}

/// A partition's rows, summed.
#[derive(Debug, Default)]
struct Acc {
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    latency: Histogram,
    ttft: Histogram,
}

impl Acc {
    fn add(&mut self, row: &BinRow) {
        if row.metric == LATENCY {
            self.requests += row.n;
            self.errors += row.errors;
            self.prompt_tokens += row.prompt_tokens;
            self.completion_tokens += row.completion_tokens;
            self.latency.add(row.bin, row.n);
        } else {
            self.ttft.add(row.bin, row.n);
        }
    }

    fn summary(&self) -> Summary {
        Summary {
            requests: self.requests,
            errors: self.errors,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            latency_ms: self.latency.percentiles(),
            ttft_ms: self.ttft.percentiles(),
        }
    }
}

impl Store {
    /// Statistics over `q`'s range (see the module doc for how percentiles are computed).
    pub async fn stats(&self, q: &StatsQuery) -> Result<Stats, StoreError> {
        let bucket_rows = self.histogram(q, Part::Buckets(q.bucket_ms)).await?;
        let group_rows = match q.by {
            Some(by) => self.histogram(q, Part::Group(by)).await?,
            None => Vec::new(),
        };

        let mut totals = Acc::default();
        let mut per_bucket: HashMap<i64, Acc> = HashMap::new();
        for row in &bucket_rows {
            totals.add(row);
            per_bucket.entry(row.b).or_default().add(row);
        }
        let buckets = q
            .bucket_starts()
            .map(|start| Bucket {
                start,
                summary: per_bucket.get(&start).map(Acc::summary).unwrap_or_default(),
            })
            .collect();

        let mut per_group: HashMap<Option<String>, Acc> = HashMap::new();
        for row in &group_rows {
            per_group.entry(row.g.clone()).or_default().add(row);
        }
        let mut groups: Vec<(Option<String>, Summary)> = per_group
            .into_iter()
            .map(|(key, acc)| (key, acc.summary()))
            .collect();
        groups.sort_by(|(ka, a), (kb, b)| b.requests.cmp(&a.requests).then(ka.cmp(kb)));
        let groups = match q.by {
            Some(by) => groups
                .into_iter()
                .map(|(key, summary)| Group {
                    key: group_key(by, key),
                    summary,
                })
                .collect(),
            None => Vec::new(),
        };

        Ok(Stats {
            since: q.since,
            until: q.until,
            bucket_ms: q.bucket_ms,
            by: q.by.map(GroupBy::as_str),
            totals: totals.summary(),
            buckets,
            groups,
        })
    }

    async fn histogram(&self, q: &StatsQuery, part: Part) -> Result<Vec<BinRow>, StoreError> {
        let sql = histogram_sql(self.backend(), q, part);
        db_run!(self, |conn| diesel::sql_query(sql.as_str())
            .load::<BinRow>(conn)
            .await
            .map_err(StoreError::from))
    }
}

/// `{"<by>": value}`; status values are numbers again (they were grouped as text).
fn group_key(by: GroupBy, key: Option<String>) -> serde_json::Map<String, Value> {
    let value = match key {
        None => Value::Null,
        Some(k) if by == GroupBy::Status => k.parse::<i64>().map_or(Value::String(k), Value::from),
        Some(k) => Value::String(k),
    };
    let mut map = serde_json::Map::new();
    map.insert(by.as_str().to_owned(), value);
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bin_sql` in Rust: the same rungs, tried in order.
    fn bin_of(u: i64) -> i64 {
        if u < 1i64 << (BIN_BITS + 1) {
            return u;
        }
        let mut shift = 1;
        while shift < WIDEST_BIN_SHIFT && u >= 1i64 << (shift + BIN_BITS + 1) {
            shift += 1;
        }
        u - u % (1i64 << shift)
    }

    #[test]
    fn every_value_lies_in_its_bin_and_the_midpoint_is_within_one_64th() {
        let mut u = 0i64;
        while u <= MAX_MICROS {
            let lo = bin_of(u);
            let width = bin_width(lo);
            assert!(lo <= u && u < lo + width, "u={u} lo={lo} width={width}");
            let mid = lo as f64 + (width - 1) as f64 / 2.0;
            assert!((mid - u as f64).abs() <= u as f64 / 64.0, "u={u} mid={mid}");
            u = u * 9 / 8 + 1;
        }
    }

    /// The SQL, run by SQLite, bins like `bin_of` at every rung's edges and in between.
    #[test]
    fn the_sql_bins_like_the_rust() {
        use diesel::{sql_types::BigInt, Connection, SqliteConnection};
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let mut values = vec![0, 1, 63, 64, 65, 127, 128, MAX_MICROS];
        for bits in 6..50 {
            let edge = 1i64 << bits;
            values.extend([edge - 1, edge, edge + 1, edge + edge / 3]);
        }
        for u in values {
            let sql = bin_sql(&format!("CAST({u} AS BIGINT)"));
            let query = diesel::select(diesel::dsl::sql::<BigInt>(&sql));
            let got: i64 = diesel::RunQueryDsl::get_result(query, &mut conn).unwrap();
            assert_eq!(got, bin_of(u), "u={u}");
        }
    }

    #[test]
    fn the_sql_search_reaches_every_rung_once() {
        let sql = bin_sql("u");
        assert!(sql.starts_with("CASE WHEN u < 268435456 THEN CASE WHEN u < 131072 THEN"));
        assert!(sql.contains("THEN u ELSE u - u % 2 END"));
        for shift in 1..=WIDEST_BIN_SHIFT {
            let rung = format!("u - u % {} ", 1i64 << shift);
            assert_eq!(sql.matches(&rung).count(), 1, "{rung}");
        }
        assert_eq!(sql.matches("CASE").count(), WIDEST_BIN_SHIFT as usize);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.add(bin_of(ms * 1000), 1);
        }
        let p = h.percentiles();
        for (got, want) in [(p.p50, 50.0), (p.p95, 95.0), (p.p99, 99.0)] {
            let got = got.unwrap();
            assert!((got - want).abs() <= want / 64.0, "{got} vs {want}");
        }
        assert_eq!(Histogram::default().percentiles(), Percentiles::default());
    }

    #[test]
    fn defaults_and_checks() {
        let now = 10 * DAY_MS;
        let q = StatsQuery::new(None, None, None, None, now).unwrap();
        assert_eq!(
            (q.since, q.until, q.bucket_ms),
            (now - HOUR_MS, now, 60_000)
        );
        assert_eq!(q.bucket_starts().count(), 60);
        // A week: 3h buckets (56), not 1h (168).
        let q = StatsQuery::new(Some(0), Some(7 * DAY_MS), None, Some("node"), now).unwrap();
        assert_eq!((q.bucket_ms, q.by), (3 * HOUR_MS, Some(GroupBy::Node)));
        // Three years: whole days.
        let q = StatsQuery::new(Some(0), Some(1100 * DAY_MS), None, None, now).unwrap();
        assert_eq!(q.bucket_ms, 11 * DAY_MS);
        // An hour that does not start on a whole minute: still 1m, over 61 buckets.
        let q = StatsQuery::new(None, Some(now - 1), None, None, now).unwrap();
        assert_eq!((q.bucket_ms, q.bucket_starts().count()), (60_000, 61));
        // Unaligned ranges touch the partial buckets at both ends.
        let q = StatsQuery::new(Some(90_000), Some(210_000), Some("1m"), None, now).unwrap();
        assert_eq!(
            q.bucket_starts().collect::<Vec<_>>(),
            vec![60_000, 120_000, 180_000]
        );
        // 3,600 buckets of 1s are fine; 86,400 are not.
        let q = StatsQuery::new(None, None, Some("1s"), None, now).unwrap();
        assert_eq!(q.bucket_starts().count(), 3_600);
        for (since, until, bucket, by, param) in [
            (Some(5), Some(5), None, None, "since"),
            (Some(-1), None, None, None, "since"),
            (None, None, Some("soon"), None, "bucket"),
            (None, None, Some("0s"), None, "bucket"),
            (None, None, Some("1500us"), None, "bucket"),
            (Some(0), Some(DAY_MS), Some("1s"), None, "bucket"),
            (None, None, None, Some("colour"), "by"),
        ] {
            let e = StatsQuery::new(since, until, bucket, by, now).unwrap_err();
            assert!(e.starts_with(&format!("{param}:")), "{e}");
        }
    }
}
