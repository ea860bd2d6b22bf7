//! The numbers etcdctl's `check perf` judges a run by, computed as etcd's `pkg/report`
//! computes them: over successful requests only, throughput over the whole run,
//! population standard deviation, and failures counted by their message.

use std::collections::BTreeMap;
use std::time::Duration;

/// What one run measured.
#[derive(Debug, Default)]
pub struct Stats {
    /// Successful requests per second over the run.
    pub rps: f64,
    /// The slowest successful request, in seconds.
    pub slowest: f64,
    /// The standard deviation of successful latencies, in seconds.
    pub stddev: f64,
    /// Failed requests by error message (sorted, for a stable print).
    pub errors: BTreeMap<String, u64>,
}

impl Stats {
    /// Summarises the results of a run that took `elapsed`.
    pub fn new(results: &[Result<Duration, String>], elapsed: Duration) -> Stats {
        let mut stats = Stats::default();
        let mut latencies = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(latency) => latencies.push(latency.as_secs_f64()),
                Err(message) => *stats.errors.entry(message.clone()).or_default() += 1,
            }
        }
        if latencies.is_empty() {
            return stats;
        }
        let n = latencies.len() as f64;
        let seconds = elapsed.as_secs_f64();
        if seconds > 0.0 {
            stats.rps = n / seconds;
        }
        let average = latencies.iter().sum::<f64>() / n;
        let variance = latencies.iter().map(|l| (l - average).powi(2)).sum::<f64>() / n;
        stats.stddev = variance.sqrt();
        stats.slowest = latencies.iter().copied().fold(0.0, f64::max);
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_spread_and_failures_are_reports() {
        let results = vec![
            Ok(Duration::from_millis(100)),
            Ok(Duration::from_millis(300)),
            Err("boom".to_owned()),
            Err("boom".to_owned()),
        ];
        let stats = Stats::new(&results, Duration::from_secs(2));
        assert!((stats.rps - 1.0).abs() < 1e-9);
        assert!((stats.slowest - 0.3).abs() < 1e-9);
        assert!((stats.stddev - 0.1).abs() < 1e-9);
        assert_eq!(stats.errors.get("boom"), Some(&2));
        let empty = Stats::new(&[], Duration::from_secs(1));
        assert_eq!((empty.rps, empty.slowest, empty.stddev), (0.0, 0.0, 0.0));
    }
}
