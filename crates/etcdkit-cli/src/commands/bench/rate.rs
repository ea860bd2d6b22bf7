//! The `--rate` cap: operation `i` (numbered over all tasks) may not start before
//! `start + i / rate`. Tasks claim numbers from one counter, so the cap holds over all of
//! them without a lock, and the whole run can never be faster than `(total - 1) / rate`.
//! A run that falls behind (slow responses) catches up at full speed, which keeps the
//! average from the start at the rate; etcd's tool smooths more (a token bucket of one).

use std::time::Duration;

use tokio::time::Instant;

/// Paces operations to at most `rate` per second; `rate` 0 does not pace.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    rate: u64,
}

impl Pacer {
    /// A pacer whose schedule starts now.
    pub fn new(rate: u64) -> Pacer {
        Pacer {
            start: Instant::now(),
            rate,
        }
    }

    /// When operation `op` may start, or `None` for no limit.
    pub fn slot(&self, op: u64) -> Option<Instant> {
        if self.rate == 0 {
            return None;
        }
        let offset = Duration::from_secs_f64(op as f64 / self.rate as f64);
        self.start.checked_add(offset)
    }

    /// Waits until operation `op` may start.
    pub async fn wait(&self, op: u64) {
        if let Some(at) = self.slot(op) {
            tokio::time::sleep_until(at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_one_over_the_rate() {
        let p = Pacer::new(100);
        let at = |op| p.slot(op).map(|t| t - p.start);
        assert_eq!(at(0), Some(Duration::ZERO));
        assert_eq!(at(1), Some(Duration::from_millis(10)));
        assert_eq!(at(250), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn rate_zero_does_not_pace() {
        assert_eq!(Pacer::new(0).slot(1_000_000), None);
    }
}
