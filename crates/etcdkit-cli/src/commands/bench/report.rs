//! Latency recording and the report: percentiles, a histogram, and its text and JSON
//! renderings.
//!
//! Recording must cost next to nothing, so that the benchmark measures etcd and the client
//! rather than itself: each task appends a `u32` of microseconds to its own `Vec` (no lock,
//! no shared cache line), and the vectors are merged and sorted once at the end.
//!
//! JSON field names (latencies in **microseconds**, times in seconds):
//!
//! | field | meaning |
//! |---|---|
//! | `workload` | `put`, `get`, `txn-put`, `watch`, `lease-keepalive` |
//! | `config` | the flags the run used |
//! | `total` | operations the run was to do (watch: puts that succeeded × watchers) |
//! | `ok` | operations that succeeded (their latencies are the figures below) |
//! | `errors` | operations that failed |
//! | `errors_by_kind` | failures by kind (an etcdkit `ErrorKind` name or a bench-specific one) |
//! | `elapsed_seconds` | wall time of the measured phase |
//! | `ops_per_second` | `ok / elapsed_seconds` |
//! | `latency_us` | `min`, `avg`, `stddev`, `p50`, `p90`, `p99`, `p99_9`, `max`; `null` when `ok` is 0 |
//! | `histogram` | `[{"upper_us", "count"}]`: ten equal-width buckets from min to max |
//! | `stages` | (watch only) `watch_creation` and `put`, each with the fields above but `workload` and `config` |

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

/// Why one operation failed: a short name, such as an etcdkit `ErrorKind`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(Cow<'static, str>);

impl Failure {
    /// A failure the benchmark itself detects (a missing key, a missing event).
    pub const fn named(name: &'static str) -> Failure {
        Failure(Cow::Borrowed(name))
    }
}

impl From<etcdkit::Error> for Failure {
    fn from(e: etcdkit::Error) -> Self {
        // The kind, not the message: messages carry endpoints and ids, and would split one
        // cause over many lines of the report.
        Failure(Cow::Owned(format!("{:?}", e.kind())))
    }
}

/// The latencies and failures one task saw; merged into one at the end of a phase.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    latencies_us: Vec<u32>,
    errors: BTreeMap<Cow<'static, str>, u64>,
}

impl Recorder {
    /// A recorder with room for `n` latencies, so that recording does not reallocate.
    pub fn with_capacity(n: usize) -> Recorder {
        Recorder {
            latencies_us: Vec::with_capacity(n),
            errors: BTreeMap::new(),
        }
    }

    /// Records a success that took `d`.
    pub fn record(&mut self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records a success that took `us` microseconds (capped at `u32::MAX`, 71 minutes).
    pub fn record_us(&mut self, us: u64) {
        self.latencies_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
    }

    /// Records one failure.
    pub fn fail(&mut self, failure: Failure) {
        self.fail_n(failure, 1);
    }

    /// Records `n` failures of one kind.
    pub fn fail_n(&mut self, failure: Failure, n: u64) {
        if n > 0 {
            *self.errors.entry(failure.0).or_insert(0) += n;
        }
    }

    /// Successes so far.
    pub fn ok(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// Failures so far.
    pub fn errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds another task's records to these.
    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_insert(0) += n;
        }
    }
}

/// Latency statistics, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub min: u32,
    pub avg: f64,
    pub stddev: f64,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub p99_9: u32,
    pub max: u32,
}

/// One histogram bucket: latencies above the previous bucket's bound, up to `upper_us`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub upper_us: u32,
    pub count: u64,
}

/// How many buckets the histogram has (as in etcd's report).
const BUCKETS: usize = 10;
/// The longest bar of the histogram, in `∎`.
const BAR_WIDTH: u64 = 40;

/// The figures of one measured phase.
#[derive(Debug, Clone)]
pub struct Summary {
    pub total: u64,
    pub ok: u64,
    pub errors: BTreeMap<Cow<'static, str>, u64>,
    pub elapsed: Duration,
    pub latency: Option<Stats>,
    pub histogram: Vec<Bucket>,
}

impl Summary {
    /// Summarizes a phase that was to do `total` operations. Operations neither recorded
    /// as a success nor as a failure (a task that died) are counted as `NotRun` failures,
    /// so that `ok + errors = total` always holds unless more succeeded than expected.
    pub fn new(mut recorder: Recorder, total: u64, elapsed: Duration) -> Summary {
        let unaccounted = total.saturating_sub(recorder.ok() + recorder.errors());
        recorder.fail_n(Failure::named("NotRun"), unaccounted);
        let mut sorted = recorder.latencies_us;
        sorted.sort_unstable();
        Summary {
            total,
            ok: sorted.len() as u64,
            errors: recorder.errors,
            elapsed,
            latency: stats(&sorted),
            histogram: histogram(&sorted),
        }
    }

    /// Failures of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The failures as `Kind: n, Kind: n`, for an error message.
    pub fn error_kinds(&self) -> String {
        self.errors
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Successes per second of elapsed time.
    pub fn ops_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The summary as a JSON object (see the module docs for the fields).
    pub fn json(&self) -> Value {
        let latency = self.latency.as_ref().map(|s| {
            json!({
                "min": s.min,
                "avg": s.avg,
                "stddev": s.stddev,
                "p50": s.p50,
                "p90": s.p90,
                "p99": s.p99,
                "p99_9": s.p99_9,
                "max": s.max,
            })
        });
        let histogram: Vec<Value> = self
            .histogram
            .iter()
            .map(|b| json!({"upper_us": b.upper_us, "count": b.count}))
            .collect();
        json!({
            "total": self.total,
            "ok": self.ok,
            "errors": self.error_count(),
            "errors_by_kind": self.errors,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "ops_per_second": self.ops_per_second(),
            "latency_us": latency,
            "histogram": histogram,
        })
    }

    /// The summary as text, in the manner of etcd's benchmark report, under `title`.
    pub fn text(&self, title: &str, out: &mut String) {
        let _ = writeln!(out, "{title}:");
        let _ = writeln!(
            out,
            "  Total:\t{} ops ({} ok, {} errors)",
            self.total,
            self.ok,
            self.error_count()
        );
        let _ = writeln!(out, "  Elapsed:\t{:.4} secs.", self.elapsed.as_secs_f64());
        if let Some(s) = &self.latency {
            let _ = writeln!(out, "  Slowest:\t{} secs.", secs(s.max));
            let _ = writeln!(out, "  Fastest:\t{} secs.", secs(s.min));
            let _ = writeln!(out, "  Average:\t{:.4} secs.", s.avg / 1e6);
            let _ = writeln!(out, "  Stddev:\t{:.4} secs.", s.stddev / 1e6);
        }
        let _ = writeln!(out, "  Ops/sec:\t{:.4}", self.ops_per_second());
        if !self.errors.is_empty() {
            let _ = writeln!(out, "\nErrors:");
            for (kind, n) in &self.errors {
                let _ = writeln!(out, "  {kind}:\t{n}");
            }
        }
        if let Some(s) = &self.latency {
            let _ = writeln!(out, "\nResponse time histogram:");
            let most = self.histogram.iter().map(|b| b.count).max().unwrap_or(0);
            for b in &self.histogram {
                let bar = (b.count * BAR_WIDTH).checked_div(most).unwrap_or(0);
                let bar = "∎".repeat(usize::try_from(bar).unwrap_or(0));
                let _ = writeln!(out, "  {} [{}]\t|{bar}", secs(b.upper_us), b.count);
            }
            let _ = writeln!(out, "\nLatency distribution:");
            for (label, v) in [
                ("50%", s.p50),
                ("90%", s.p90),
                ("99%", s.p99),
                ("99.9%", s.p99_9),
            ] {
                let _ = writeln!(out, "  {label} in {} secs.", secs(v));
            }
        }
    }
}

/// Microseconds as seconds with four decimals, as etcd's report prints them.
fn secs(us: u32) -> String {
    format!("{:.4}", f64::from(us) / 1e6)
}

/// The nearest-rank percentile: the smallest latency that at least `per_100k / 100_000`
/// of all latencies are no greater than. `sorted` is ascending and not empty.
fn percentile(sorted: &[u32], per_100k: u64) -> u32 {
    let n = sorted.len() as u64;
    let rank = (n * per_100k).div_ceil(100_000).clamp(1, n.max(1));
    let index = usize::try_from(rank - 1).unwrap_or(0);
    sorted.get(index).copied().unwrap_or(0)
}

/// The statistics of ascending latencies; `None` when there are none.
fn stats(sorted: &[u32]) -> Option<Stats> {
    let (&min, &max) = (sorted.first()?, sorted.last()?);
    let n = sorted.len() as f64;
    let avg = sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = sorted
        .iter()
        .map(|&v| (f64::from(v) - avg).powi(2))
        .sum::<f64>()
        / n;
    Some(Stats {
        min,
        avg,
        stddev: var.sqrt(),
        p50: percentile(sorted, 50_000),
        p90: percentile(sorted, 90_000),
        p99: percentile(sorted, 99_000),
        p99_9: percentile(sorted, 99_900),
        max,
    })
}

/// Ten equal-width buckets from the fastest to the slowest latency; the last bucket's
/// bound is the maximum, so every latency falls in one. Empty for no latencies.
fn histogram(sorted: &[u32]) -> Vec<Bucket> {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let width = (f64::from(max) - f64::from(min)) / BUCKETS as f64;
    let mut buckets: Vec<Bucket> = (1..=BUCKETS)
        .map(|i| Bucket {
            upper_us: if i == BUCKETS {
                max
            } else {
                // Truncation keeps bounds within [min, max].
                (f64::from(min) + width * i as f64) as u32
            },
            count: 0,
        })
        .collect();
    // One pass over the sorted latencies, moving to the next bucket as they pass its bound.
    let mut b = 0;
    for &v in sorted {
        while buckets.get(b).is_some_and(|bucket| v > bucket.upper_us) {
            b += 1;
        }
        match buckets.get_mut(b) {
            Some(bucket) => bucket.count += 1,
            None => break,
        }
    }
    buckets
}

/// A whole run's report: the configuration, the main figures and (watch) the stages'.
#[derive(Debug, Clone)]
pub struct Report {
    pub workload: &'static str,
    pub config: Vec<(&'static str, Value)>,
    /// The main figures' title in the text report.
    pub title: &'static str,
    pub main: Summary,
    /// Named stages measured on the way (JSON key, text title, figures).
    pub stages: Vec<(&'static str, &'static str, Summary)>,
}

impl Report {
    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        let mut object = match self.main.json() {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let mut root = serde_json::Map::new();
        root.insert("workload".into(), Value::from(self.workload));
        root.insert(
            "config".into(),
            Value::Object(
                self.config
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
        );
        root.append(&mut object);
        if !self.stages.is_empty() {
            let stages = self
                .stages
                .iter()
                .map(|(key, _, summary)| ((*key).to_owned(), summary.json()))
                .collect();
            root.insert("stages".into(), Value::Object(stages));
        }
        let mut line = Value::Object(root).to_string();
        line.push('\n');
        line
    }

    /// The report as text: a configuration line, the stages, then the main summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let config: Vec<String> = self
            .config
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        let _ = writeln!(out, "Workload: {} ({})\n", self.workload, config.join(" "));
        for (_, title, summary) in &self.stages {
            summary.text(title, &mut out);
            out.push('\n');
        }
        self.main.text(self.title, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn recorder(latencies: &[u32]) -> Recorder {
        let mut r = Recorder::with_capacity(latencies.len());
        for &l in latencies {
            r.record_us(u64::from(l));
        }
        r
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 50_000), 500);
        assert_eq!(percentile(&sorted, 90_000), 900);
        assert_eq!(percentile(&sorted, 99_000), 990);
        assert_eq!(percentile(&sorted, 99_900), 999);
        assert_eq!(percentile(&sorted, 100_000), 1000);
        assert_eq!(percentile(&[7], 50_000), 7);
        assert_eq!(percentile(&[7], 99_900), 7);
        assert_eq!(percentile(&[1, 2], 50_000), 1);
        assert_eq!(percentile(&[1, 2], 50_001), 2);
    }

    #[test]
    fn stats_are_ordered_and_right() {
        let s = Summary::new(recorder(&[5, 1, 3, 2, 4]), 5, Duration::from_secs(1));
        let l = s.latency.clone().unwrap();
        assert_eq!((l.min, l.p50, l.max), (1, 3, 5));
        assert!((l.avg - 3.0).abs() < 1e-9);
        assert!((l.stddev - 2f64.sqrt()).abs() < 1e-9);
        assert!(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99);
        assert!(l.p99 <= l.p99_9 && l.p99_9 <= l.max);
        assert_eq!(s.ok, 5);
        assert!((s.ops_per_second() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn histogram_buckets_hold_every_latency_once() {
        let latencies: Vec<u32> = (0..=100).chain([100, 100]).collect();
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let h = histogram(&sorted);
        assert_eq!(h.len(), BUCKETS);
        assert_eq!(
            h.iter().map(|b| b.count).sum::<u64>(),
            latencies.len() as u64
        );
        assert_eq!(h.last().unwrap().upper_us, 100);
        assert_eq!(
            h.first().unwrap(),
            &Bucket {
                upper_us: 10,
                count: 11
            }
        );
        assert!(h.windows(2).all(|w| w[0].upper_us <= w[1].upper_us));
    }

    #[test]
    fn histogram_of_equal_latencies_puts_all_in_the_first_bucket() {
        let h = histogram(&[42, 42, 42]);
        assert_eq!(h.first().unwrap().count, 3);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 3);
        assert!(histogram(&[]).is_empty());
    }

    #[test]
    fn failures_are_counted_by_kind_and_missing_ops_as_not_run() {
        let mut a = recorder(&[1, 2]);
        a.fail(Failure::named("Timeout"));
        let mut b = recorder(&[3]);
        b.fail_n(Failure::named("Timeout"), 2);
        b.fail(Failure::named("Unavailable"));
        a.merge(b);
        let s = Summary::new(a, 10, Duration::from_secs(1));
        assert_eq!(s.ok, 3);
        assert_eq!(s.errors.get("Timeout"), Some(&3));
        assert_eq!(s.errors.get("Unavailable"), Some(&1));
        assert_eq!(s.errors.get("NotRun"), Some(&3));
        assert_eq!(s.ok + s.error_count(), s.total);
    }

    #[test]
    fn no_successes_means_no_latency_figures() {
        let mut r = Recorder::default();
        r.fail(Failure::named("Timeout"));
        let s = Summary::new(r, 1, Duration::from_millis(10));
        assert!(s.latency.is_none());
        assert!(s.histogram.is_empty());
        assert_eq!(s.json()["latency_us"], Value::Null);
        let mut text = String::new();
        s.text("Summary", &mut text);
        assert!(text.contains("Timeout:\t1"), "{text}");
        assert!(!text.contains("histogram"), "{text}");
    }

    fn sample_report() -> Report {
        let main = Summary::new(
            recorder(&[100, 110, 120, 400, 1000]),
            5,
            Duration::from_millis(500),
        );
        Report {
            workload: "put",
            config: vec![("clients", json!(2)), ("key_prefix", json!("bench/"))],
            title: "Summary",
            main: main.clone(),
            stages: vec![("watch_creation", "Watch creation", main)],
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: Value = serde_json::from_str(&sample_report().json()).unwrap();
        assert_eq!(v["workload"], "put");
        assert_eq!(v["config"]["clients"], 2);
        assert_eq!(v["total"], 5);
        assert_eq!(v["ok"], 5);
        assert_eq!(v["errors"], 0);
        assert_eq!(v["errors_by_kind"], json!({}));
        assert_eq!(v["elapsed_seconds"], 0.5);
        assert_eq!(v["ops_per_second"], 10.0);
        assert_eq!(v["latency_us"]["min"], 100);
        assert_eq!(v["latency_us"]["p50"], 120);
        assert_eq!(v["latency_us"]["p99_9"], 1000);
        assert_eq!(v["latency_us"]["max"], 1000);
        assert_eq!(v["latency_us"]["avg"], 346.0);
        assert_eq!(v["histogram"].as_array().unwrap().len(), BUCKETS);
        assert_eq!(v["histogram"][0], json!({"upper_us": 190, "count": 3}));
        assert_eq!(v["stages"]["watch_creation"]["ok"], 5);
    }

    #[test]
    fn text_has_summary_histogram_and_distribution() {
        let text = sample_report().text();
        assert!(
            text.starts_with("Workload: put (clients=2 key_prefix=bench/)\n"),
            "{text}"
        );
        assert!(text.contains("Watch creation:\n"), "{text}");
        assert!(
            text.contains("Summary:\n  Total:\t5 ops (5 ok, 0 errors)\n"),
            "{text}"
        );
        assert!(text.contains("  Slowest:\t0.0010 secs.\n"), "{text}");
        assert!(text.contains("  Fastest:\t0.0001 secs.\n"), "{text}");
        assert!(text.contains("  Ops/sec:\t10.0000\n"), "{text}");
        assert!(text.contains("Response time histogram:\n"), "{text}");
        // The fullest bucket (three latencies) gets the full-width bar.
        assert!(
            text.contains(&format!("  0.0002 [3]\t|{}\n", "∎".repeat(40))),
            "{text}"
        );
        assert!(text.contains("  0.0005 [1]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎\n"), "{text}");
        assert!(text.contains("  0.0006 [0]\t|\n"), "{text}");
        assert!(
            text.contains("Latency distribution:\n  50% in 0.0001 secs.\n"),
            "{text}"
        );
        assert!(text.contains("  99.9% in 0.0010 secs.\n"), "{text}");
    }
}
