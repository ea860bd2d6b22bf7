//! The registry instance never missing from a discoverer for longer than its TTL.
//!
//! Even when its lease is lost (which the lease checker judges), the registration must
//! put the instance back, and discoverers must see it back, within the TTL.

use std::time::Duration;

use super::Anomaly;
use crate::history::RegistryLog;

const NAME: &str = "registry";

/// The longest time each discoverer went without the instance, after it was joined.
pub fn longest_absences(log: &RegistryLog, end: Duration) -> Vec<(usize, Duration, Duration)> {
    let Some(joined) = log.joined else {
        return Vec::new();
    };
    log.discoverers
        .iter()
        .map(|d| {
            // Absent from the join until first seen, and from each disappearance on.
            let mut absent_since = Some(joined);
            let mut longest = (Duration::ZERO, joined);
            for &(at, present) in &d.changes {
                match (present, absent_since) {
                    (true, Some(since)) => {
                        let gap = at.saturating_sub(since);
                        if gap > longest.0 {
                            longest = (gap, since);
                        }
                        absent_since = None;
                    }
                    (false, None) => absent_since = Some(at.max(joined)),
                    _ => {}
                }
            }
            if let Some(since) = absent_since {
                let gap = end.saturating_sub(since);
                if gap > longest.0 {
                    longest = (gap, since);
                }
            }
            (d.discoverer, longest.0, longest.1)
        })
        .collect()
}

pub fn check(log: &RegistryLog, end: Duration) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    if log.joined.is_none() {
        anomalies.push(Anomaly::new(NAME, "the instance was never joined"));
    }
    for (d, gap, since) in longest_absences(log, end) {
        if gap > log.ttl {
            anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "discoverer {d} went {gap:?} without the instance from {since:?} \
                     (TTL {:?}); registration events: {:?}",
                    log.ttl, log.events
                ),
            ));
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::DiscoveryLog;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn log(changes: Vec<(u64, bool)>) -> RegistryLog {
        RegistryLog {
            ttl: s(5),
            joined: Some(s(1)),
            discoverers: vec![DiscoveryLog {
                discoverer: 0,
                changes: changes.into_iter().map(|(t, p)| (s(t), p)).collect(),
            }],
            events: Vec::new(),
        }
    }

    #[test]
    fn short_absences_pass() {
        assert!(check(&log(vec![(2, true), (10, false), (13, true)]), s(30)).is_empty());
    }

    #[test]
    fn an_absence_longer_than_the_ttl_is_found() {
        assert_eq!(
            check(&log(vec![(2, true), (10, false), (16, true)]), s(30)).len(),
            1
        );
    }

    #[test]
    fn an_instance_missing_until_the_end_is_found() {
        assert_eq!(check(&log(vec![(2, true), (10, false)]), s(30)).len(), 1);
        assert_eq!(check(&log(vec![]), s(30)).len(), 1);
    }

    #[test]
    fn a_discoverer_slow_to_see_the_join_is_found() {
        assert_eq!(check(&log(vec![(8, true)]), s(30)).len(), 1);
    }
}
