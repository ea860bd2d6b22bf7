//! No lease lost while a majority of members was reachable.
//!
//! A lease is lost when no renewal reached the leader for a whole TTL. If at every moment
//! of the TTL before the loss a majority was up (not killed, not frozen), the keeper
//! could have renewed through it: the loss is an anomaly.

use std::time::Duration;

use super::Anomaly;
use crate::history::LeaseLog;

const NAME: &str = "lease";

/// A time a member was unreachable (killed, frozen, restarting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Down {
    pub member: usize,
    pub start: Duration,
    pub end: Duration,
}

/// Whether more than a minority of `members` was down at any moment of `from..=to`.
pub fn majority_lost_during(downs: &[Down], members: usize, from: Duration, to: Duration) -> bool {
    let minority = (members - 1) / 2;
    // The number of members down only rises at a start: look at each start in the window
    // (and at `from`, for spans already under way).
    let mut moments: Vec<Duration> = downs
        .iter()
        .map(|d| d.start)
        .filter(|s| *s >= from && *s <= to)
        .collect();
    moments.push(from);
    moments.iter().any(|&t| {
        let down = downs.iter().filter(|d| d.start <= t && t < d.end).count();
        down > minority
    })
}

pub fn check(log: &LeaseLog, downs: &[Down], members: usize) -> Vec<Anomaly> {
    log.losses
        .iter()
        .filter(|loss| {
            let from = loss.at.saturating_sub(log.ttl);
            !majority_lost_during(downs, members, from, loss.at)
        })
        .map(|loss| {
            let nearby: Vec<&Down> = downs
                .iter()
                .filter(|d| d.end + log.ttl >= loss.at && d.start <= loss.at)
                .collect();
            let events: Vec<&(Duration, String)> = log
                .events
                .iter()
                .filter(|(at, _)| *at + log.ttl >= loss.at && *at <= loss.at)
                .collect();
            Anomaly::new(
                NAME,
                format!(
                    "lease (TTL {:?}) lost at {:?} ({}) while a majority was reachable; \
                     members down in the TTL before: {nearby:?}; keeper events in the TTL \
                     before: {events:?}",
                    log.ttl, loss.at, loss.reason
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::LeaseLoss;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn down(member: usize, a: f64, b: f64) -> Down {
        Down {
            member,
            start: s(a),
            end: s(b),
        }
    }

    fn log(losses: &[f64]) -> LeaseLog {
        LeaseLog {
            ttl: s(5.0),
            renewed_at: Vec::new(),
            carried_by: Vec::new(),
            losses: losses
                .iter()
                .map(|&at| LeaseLoss {
                    at: s(at),
                    reason: "expired".into(),
                })
                .collect(),
            renewals: 0,
            events: Vec::new(),
        }
    }

    #[test]
    fn no_loss_no_anomaly() {
        assert!(check(&log(&[]), &[down(0, 1.0, 3.0)], 3).is_empty());
    }

    #[test]
    fn a_loss_with_one_member_down_is_an_anomaly() {
        assert_eq!(check(&log(&[10.0]), &[down(0, 4.0, 9.0)], 3).len(), 1);
    }

    #[test]
    fn a_loss_after_the_majority_was_lost_is_not() {
        let downs = [down(0, 4.0, 20.0), down(1, 6.0, 20.0)];
        assert!(check(&log(&[10.0]), &downs, 3).is_empty());
        // Majority lost earlier than the TTL before the loss: it does count.
        let downs = [down(0, 1.0, 3.0), down(1, 2.0, 3.0)];
        assert_eq!(check(&log(&[10.0]), &downs, 3).len(), 1);
    }

    #[test]
    fn spans_under_way_at_the_window_start_count() {
        let downs = [down(0, 1.0, 20.0), down(1, 2.0, 20.0)];
        assert!(majority_lost_during(&downs, 3, s(5.0), s(10.0)));
        assert!(!majority_lost_during(&downs[..1], 3, s(5.0), s(10.0)));
    }
}
