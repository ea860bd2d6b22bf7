//! The pause between attempts of the recipes' background retries (the mutex's releaser,
//! a registration's writes): capped exponential with jitter, the same shape as the
//! client's own retry backoff, so that many instances failing together do not retry in
//! step.

use std::time::Duration;

/// Capped exponential backoff with equal jitter: the `n`th pause is somewhere between
/// half and all of `first * 2^(n-1)`, capped at `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            attempt: 0,
        }
    }

    /// The pause before the next attempt.
    pub fn next_pause(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let exp = self
            .first
            .saturating_mul(1u32 << self.attempt.saturating_sub(1).min(16))
            .min(self.max);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Starts again from the first pause (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_then_cap_with_jitter_within_half_and_all() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let bounds = [100u64, 200, 400, 800, 1600, 2000, 2000, 2000];
        for ms in bounds {
            let d = b.next_pause();
            let full = Duration::from_millis(ms);
            assert!(d >= full / 2 && d <= full, "{d:?} for {full:?}");
        }
        for _ in 0..100 {
            let d = b.next_pause();
            assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
        }
        b.reset();
        assert!(b.next_pause() <= Duration::from_millis(100));
    }
}
