//! The arithmetic of renewals: when a lease is confirmed until, when to renew it next,
//! and how long a stream may stay silent. Pure functions, so they are tested alone.

use std::time::Duration;

use tokio::time::Instant;

/// The shortest renewal interval, so a tiny TTL cannot turn into a busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The renewal interval of a lease of `ttl`: `requested` (or a third of the TTL), but
/// never more than half the TTL, so a renewal always has time to arrive.
pub(crate) fn interval(ttl: Duration, requested: Option<Duration>) -> Duration {
    requested
        .unwrap_or(ttl / 3)
        .min(ttl / 2)
        .max(MIN_INTERVAL.min(ttl / 2))
}

/// The expiry the server confirmed: it renewed the lease for `ttl` at some moment after
/// the renewal was sent, so `sent + ttl` is the latest time the lease is certainly alive.
pub(crate) fn confirmed_deadline(sent: Instant, ttl: Duration) -> Instant {
    sent.checked_add(ttl).unwrap_or(sent)
}

/// When to renew next: `interval` into the period the server confirmed, counted back from
/// the confirmed expiry (not from when anything was sent).
pub(crate) fn next_renewal(deadline: Instant, ttl: Duration, interval: Duration) -> Instant {
    let before_expiry = ttl.saturating_sub(interval);
    deadline.checked_sub(before_expiry).unwrap_or(deadline)
}

/// How long a stream may stay silent with renewals outstanding before it is taken for
/// stuck and re-opened elsewhere: a quarter of the shortest TTL it carries, within
/// half a second and five seconds (two seconds while no TTL is known).
pub(crate) fn stall_after(min_ttl: Option<Duration>) -> Duration {
    match min_ttl {
        Some(ttl) => (ttl / 4).clamp(Duration::from_millis(500), Duration::from_secs(5)),
        None => Duration::from_secs(2),
    }
}

/// The TTL a server answered, as a duration; `None` for zero or less (the lease is gone).
pub(crate) fn server_ttl(ttl: i64) -> Option<Duration> {
    u64::try_from(ttl)
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_come_a_third_into_the_confirmed_period() {
        let ttl = Duration::from_secs(9);
        let i = interval(ttl, None);
        assert_eq!(i, Duration::from_secs(3));
        let sent = Instant::now();
        let deadline = confirmed_deadline(sent, ttl);
        assert_eq!(deadline - sent, ttl);
        assert_eq!(
            next_renewal(deadline, ttl, i),
            sent + Duration::from_secs(3)
        );
    }

    #[test]
    fn intervals_stay_within_half_the_ttl() {
        let ttl = Duration::from_secs(10);
        assert_eq!(interval(ttl, Some(Duration::from_secs(60))), ttl / 2);
        assert_eq!(interval(ttl, Some(Duration::ZERO)), MIN_INTERVAL);
        assert_eq!(
            interval(Duration::from_secs(1), None),
            Duration::from_secs(1) / 3
        );
    }

    #[test]
    fn stalls_scale_with_the_ttl() {
        assert_eq!(stall_after(None), Duration::from_secs(2));
        assert_eq!(
            stall_after(Some(Duration::from_secs(1))),
            Duration::from_millis(500)
        );
        assert_eq!(
            stall_after(Some(Duration::from_secs(8))),
            Duration::from_secs(2)
        );
        assert_eq!(
            stall_after(Some(Duration::from_secs(600))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn server_ttls_of_zero_or_less_mean_gone() {
        assert_eq!(server_ttl(0), None);
        assert_eq!(server_ttl(-1), None);
        assert_eq!(server_ttl(5), Some(Duration::from_secs(5)));
    }
}
