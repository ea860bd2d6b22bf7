//! The one backoff schedule of the client and its recipes.

use std::time::Duration;

/// Capped exponential backoff with full jitter: the wait before retry `n` (1-based) is
/// drawn uniformly between zero and `first × 2^(n-1)`, capped at `max`.
///
/// Full jitter spreads many clients that failed at the same moment (a member restart)
/// over the whole window, so they do not come back in lock step. Every retry of a
/// request, every stream re-open, every endpoint probe and every recipe's wait uses
/// this type.
///
/// ```
/// use std::time::Duration;
/// let backoff = etcdkit::Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
/// assert!(backoff.delay(3) <= Duration::from_millis(80));
/// assert_eq!(backoff.ceiling(10), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// A schedule whose first ceiling is `first` and whose waits never exceed `max`
    /// (raised to `first` when smaller).
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        let max = if max.as_nanos() < first.as_nanos() {
            first
        } else {
            max
        };
        Backoff { first, max }
    }

    /// The longest wait before retry `n` (1-based): `first × 2^(n-1)`, capped at the
    /// maximum. Zero for `n == 0` (the first attempt does not wait).
    pub fn ceiling(&self, n: u32) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        self.first
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max)
    }

    /// The wait before retry `n` (1-based): uniform in `[0, ceiling(n)]`.
    /// (A ceiling beyond 584 years is drawn from within 584 years.)
    pub fn delay(&self, n: u32) -> Duration {
        // In whole nanoseconds: float arithmetic on a huge Duration could panic.
        let ceiling = u64::try_from(self.ceiling(n).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_then_cap_and_delays_stay_below_them() {
        let b = Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
        assert_eq!(b.ceiling(0), Duration::ZERO);
        assert_eq!(b.ceiling(1), Duration::from_millis(20));
        assert_eq!(b.ceiling(2), Duration::from_millis(40));
        assert_eq!(b.ceiling(6), Duration::from_millis(640));
        assert_eq!(b.ceiling(7), Duration::from_secs(1));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
        for n in 0..20 {
            assert!(b.delay(n) <= b.ceiling(n));
        }
        assert_eq!(b.delay(0), Duration::ZERO);
    }

    #[test]
    fn a_cap_below_the_first_wait_is_raised_to_it() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(b.ceiling(5), Duration::from_secs(2));
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.ceiling(30), Duration::MAX);
        let _ = b.delay(30);
    }
}
