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

/// The grid renewals are aligned to (at most a tenth of a lease's interval).
const BATCH_GRID: Duration = Duration::from_millis(100);

/// When to renew next: `interval` into the period the server confirmed, counted back from
/// the confirmed expiry (not from when anything was sent), then brought forward to the
/// start of its slot on a grid of 100 ms counted from `epoch`.
///
/// The grid is for batching: leases granted at scattered moments fall due at scattered
/// moments, and 10,000 of them would mean 10,000 wake-ups and writes a second; aligned,
/// the renewals due within a slot go out together in one write. Renewing up to a tenth
/// of an interval early costs nothing in safety.
pub(crate) fn next_renewal(
    deadline: Instant,
    ttl: Duration,
    interval: Duration,
    epoch: Instant,
) -> Instant {
    let before_expiry = ttl.saturating_sub(interval);
    let due = deadline.checked_sub(before_expiry).unwrap_or(deadline);
    let grid = BATCH_GRID.min(interval / 10).as_nanos();
    match due.checked_duration_since(epoch) {
        Some(offset) if grid > 0 => {
            let into_slot = u64::try_from(offset.as_nanos() % grid).unwrap_or(0);
            due.checked_sub(Duration::from_nanos(into_slot))
                .unwrap_or(due)
        }
        _ => due,
    }
}

/// The shortest a renewal may wait for its answer before its stream is given up.
const MIN_STALL: Duration = Duration::from_millis(250);

/// The longest a renewal waits for its answer before its stream is given up. Not less:
/// a member that answers tens of thousands of renewals on two busy cores can fall
/// silent for over a second without being stuck, and every needless move re-sends them all.
const MAX_STALL: Duration = Duration::from_secs(3);

/// How long a renewal may go unanswered before its stream is taken for stuck and
/// re-opened on another member: a third of the shortest TTL the stream carries, at most
/// 3 s (3 s while no TTL is known), at least 250 ms; and [`stall_limit`] shortens it to
/// half of what is left of the lease.
///
/// Why so short: a lease is confirmed only until its last answered renewal was sent
/// plus the TTL, and a renewal goes out a third into that period, so an unanswered
/// renewal has two thirds of the TTL (3.3 s for a TTL of 5 s) to be answered somewhere.
/// When the member the stream is on freezes, the renewal may need two moves: the first
/// member to take over may still forward it to the frozen leader (etcd forwards
/// renewals to the leader and waits up to its peer read timeout, 5 s, for it), and only
/// a member that has seen the new leader answers. See [`stall_limit`].
pub(crate) fn stall_after(min_ttl: Option<Duration>) -> Duration {
    match min_ttl {
        Some(ttl) => (ttl / 3).clamp(MIN_STALL.min(ttl / 3), MAX_STALL),
        None => MAX_STALL,
    }
}

/// How long a renewal sent now may go unanswered: [`stall_after`], but at most half of
/// what is left (`left`) before the earliest confirmed expiry among the renewals
/// waiting, and not under 250 ms. Each move to another member so leaves time for one
/// more before the lease runs out.
pub(crate) fn stall_limit(stall_after: Duration, left: Option<Duration>) -> Duration {
    match left {
        Some(left) => stall_after.min((left / 2).max(MIN_STALL)),
        None => stall_after,
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
        // With the grid starting at `sent`, the renewal is on the grid already.
        assert_eq!(
            next_renewal(deadline, ttl, i, sent),
            sent + Duration::from_secs(3)
        );
    }

    #[test]
    fn renewals_are_brought_forward_to_their_slot_never_later() {
        let ttl = Duration::from_secs(3);
        let i = interval(ttl, None);
        let epoch = Instant::now();
        // Leases confirmed at scattered moments within one 100 ms slot renew together,
        // at the slot's start: never later than due, and at most 100 ms earlier.
        let mut dues = Vec::new();
        for ms in [1_010u64, 1_033, 1_077, 1_099] {
            let sent = epoch + Duration::from_millis(ms);
            let due = next_renewal(confirmed_deadline(sent, ttl), ttl, i, epoch);
            let unaligned = sent + i;
            assert!(due <= unaligned && unaligned - due < Duration::from_millis(100));
            dues.push(due);
        }
        assert!(
            dues.iter()
                .all(|d| *d == epoch + Duration::from_millis(2_000))
        );
        // A short interval gets a finer grid: at most a tenth of it early.
        let short = Duration::from_millis(300);
        let sent = epoch + Duration::from_millis(17);
        let due = next_renewal(confirmed_deadline(sent, short * 3), short * 3, short, epoch);
        assert!(sent + short - due < Duration::from_millis(30));
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
        assert_eq!(stall_after(None), Duration::from_secs(3));
        // (TTL in seconds, stall bound): a third of the TTL, capped at 3 s.
        let cases = [
            (1, Duration::from_secs(1) / 3),
            (3, Duration::from_secs(1)),
            (5, Duration::from_secs(5) / 3),
            (600, Duration::from_secs(3)),
        ];
        for (ttl, expected) in cases {
            assert_eq!(
                stall_after(Some(Duration::from_secs(ttl))),
                expected,
                "ttl {ttl} s"
            );
        }
    }

    #[test]
    fn stalls_leave_time_for_another_move_before_the_lease_runs_out() {
        let after = Duration::from_millis(1500);
        assert_eq!(stall_limit(after, None), after);
        assert_eq!(stall_limit(after, Some(Duration::from_secs(10))), after);
        assert_eq!(
            stall_limit(after, Some(Duration::from_secs(2))),
            Duration::from_secs(1)
        );
        assert_eq!(
            stall_limit(after, Some(Duration::ZERO)),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn server_ttls_of_zero_or_less_mean_gone() {
        assert_eq!(server_ttl(0), None);
        assert_eq!(server_ttl(-1), None);
        assert_eq!(server_ttl(5), Some(Duration::from_secs(5)));
    }
}
