//! Each watcher delivered exactly the history: the events of every revision from its
//! start revision to the end marker, once each, in order, each revision in one response.
//!
//! The reference is read after healing, from a healthy cluster, by a watch that never
//! reconnects (see `main`), and cross-checked against the acknowledged writes, so a fault
//! in the resume path of the watchers under test cannot hide in it.

use std::collections::HashMap;

use super::Anomaly;
use crate::history::{WatchEvent, WatchLog, WriteOp};

const NAME: &str = "watch";

/// Compares each watcher's events with `reference` (all events with revisions in
/// `start..=end`, in order).
pub fn check(logs: &[WatchLog], reference: &[WatchEvent], end: i64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for log in logs {
        anomalies.extend(check_one(log, reference, end));
    }
    anomalies
}

fn check_one(log: &WatchLog, reference: &[WatchEvent], end: i64) -> Vec<Anomaly> {
    let w = log.watcher;
    let mut anomalies = Vec::new();

    // A revision's events come in one response.
    let mut delivery_of: HashMap<i64, usize> = HashMap::new();
    for (i, d) in log.deliveries.iter().enumerate() {
        for e in &d.events {
            if let Some(&first) = delivery_of.get(&e.revision)
                && first != i
            {
                anomalies.push(Anomaly::new(
                    NAME,
                    format!(
                        "watcher {w}: revision {} split over responses #{first} and #{i} \
                         (received {:?})",
                        e.revision, d.received
                    ),
                ));
                break;
            }
            delivery_of.insert(e.revision, i);
        }
    }

    let got: Vec<&WatchEvent> = log
        .deliveries
        .iter()
        .flat_map(|d| d.events.iter())
        .filter(|e| e.revision <= end)
        .collect();
    let want: Vec<&WatchEvent> = reference.iter().filter(|e| e.revision <= end).collect();
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        let detail = match (got.get(i), want.get(i)) {
            (Some(g), Some(r)) if g.revision > r.revision => format!(
                "gap: expected revision {} ({} {}), got revision {} next",
                r.revision,
                kind(r),
                r.key,
                g.revision
            ),
            (Some(g), Some(r)) if i > 0 && g.revision < got[i - 1].revision => format!(
                "reordering: revision {} delivered after {} (expected {})",
                g.revision,
                got[i - 1].revision,
                r.revision
            ),
            (Some(g), Some(r)) if got[..i].contains(g) => format!(
                "duplicate: revision {} {} {} delivered twice (expected revision {})",
                g.revision,
                kind(g),
                g.key,
                r.revision
            ),
            (Some(g), Some(r)) => format!(
                "different event at revision {}: got {} {}={:?}, expected {} {}={:?} \
                 (revision {})",
                g.revision,
                kind(g),
                g.key,
                g.value,
                kind(r),
                r.key,
                r.value,
                r.revision
            ),
            (Some(g), None) => format!(
                "extra event after the history: revision {} {} {}",
                g.revision,
                kind(g),
                g.key
            ),
            (None, Some(r)) => format!(
                "stopped short: nothing from revision {} on ({} of {} events delivered, \
                 errors: {:?})",
                r.revision,
                got.len(),
                want.len(),
                log.errors
            ),
            (None, None) => String::from("mismatch"),
        };
        anomalies.push(Anomaly::new(
            NAME,
            format!("watcher {w}: {detail} (event #{i})"),
        ));
    }
    anomalies
}

fn kind(e: &WatchEvent) -> &'static str {
    if e.put { "put" } else { "delete" }
}

/// The acknowledged writes missing from the reference read: a reference that lacks them
/// proves nothing, so they are anomalies of the reference itself.
pub fn check_reference(reference: &[WatchEvent], writes: &[WriteOp], start: i64) -> Vec<Anomaly> {
    let by_revision: HashMap<i64, Vec<&WatchEvent>> =
        reference.iter().fold(HashMap::new(), |mut m, e| {
            m.entry(e.revision).or_default().push(e);
            m
        });
    writes
        .iter()
        .filter_map(|w| match w.outcome {
            crate::history::Outcome::Ok { revision } if revision >= start => {
                let found = by_revision
                    .get(&revision)
                    .is_some_and(|es| es.iter().any(|e| e.put && e.key == w.key));
                (!found).then(|| {
                    Anomaly::new(
                        NAME,
                        format!(
                            "reference watch lacks the acknowledged put of {} at revision \
                             {revision}",
                            w.key
                        ),
                    )
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::history::{Outcome, WatchDelivery};

    fn ev(revision: i64, key: &str) -> WatchEvent {
        WatchEvent {
            revision,
            put: true,
            key: key.into(),
            value: "v".into(),
        }
    }

    fn log(deliveries: Vec<Vec<WatchEvent>>) -> WatchLog {
        WatchLog {
            watcher: 0,
            deliveries: deliveries
                .into_iter()
                .enumerate()
                .map(|(i, events)| WatchDelivery {
                    received: Duration::from_millis(i as u64),
                    endpoint: None,
                    events,
                })
                .collect(),
            errors: Vec::new(),
        }
    }

    fn reference() -> Vec<WatchEvent> {
        vec![ev(2, "a"), ev(3, "b"), ev(3, "c"), ev(4, "d")]
    }

    #[test]
    fn the_same_events_in_any_grouping_of_whole_revisions_pass() {
        let l = log(vec![
            vec![ev(2, "a"), ev(3, "b"), ev(3, "c")],
            vec![ev(4, "d")],
        ]);
        assert!(check(&[l], &reference(), 4).is_empty());
    }

    #[test]
    fn events_after_the_end_marker_are_ignored() {
        let l = log(vec![
            vec![ev(2, "a"), ev(3, "b"), ev(3, "c"), ev(4, "d")],
            vec![ev(9, "z")],
        ]);
        assert!(check(&[l], &reference(), 4).is_empty());
    }

    #[test]
    fn a_gap_is_found() {
        let l = log(vec![vec![ev(2, "a")], vec![ev(4, "d")]]);
        let a = check(&[l], &reference(), 4);
        assert_eq!(a.len(), 1);
        assert!(a[0].detail.contains("gap"), "{}", a[0].detail);
    }

    #[test]
    fn a_duplicate_is_found() {
        let l = log(vec![
            vec![ev(2, "a"), ev(3, "b"), ev(3, "c")],
            vec![ev(3, "b"), ev(3, "c"), ev(4, "d")],
        ]);
        let a = check(&[l], &reference(), 4);
        assert!(a.iter().any(|a| a.detail.contains("split")), "{a:?}");
        assert!(
            a.iter()
                .any(|a| a.detail.contains("duplicate") || a.detail.contains("reorder"))
        );
    }

    #[test]
    fn a_reordering_is_found() {
        let l = log(vec![
            vec![ev(3, "b"), ev(3, "c")],
            vec![ev(2, "a")],
            vec![ev(4, "d")],
        ]);
        assert!(!check(&[l], &reference(), 4).is_empty());
    }

    #[test]
    fn a_split_revision_is_found() {
        let l = log(vec![
            vec![ev(2, "a"), ev(3, "b")],
            vec![ev(3, "c"), ev(4, "d")],
        ]);
        let a = check(&[l], &reference(), 4);
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].detail.contains("split"));
    }

    #[test]
    fn a_watcher_that_stops_short_is_found() {
        let l = log(vec![vec![ev(2, "a"), ev(3, "b"), ev(3, "c")]]);
        let a = check(&[l], &reference(), 4);
        assert!(a[0].detail.contains("stopped short"), "{a:?}");
    }

    #[test]
    fn the_reference_must_hold_every_acknowledged_write() {
        let w = |key: &str, revision| WriteOp {
            key: key.into(),
            value: "v".into(),
            invoke: Duration::ZERO,
            complete: Duration::ZERO,
            outcome: Outcome::Ok { revision },
        };
        assert!(check_reference(&reference(), &[w("a", 2), w("c", 3)], 2).is_empty());
        assert_eq!(check_reference(&reference(), &[w("x", 3)], 2).len(), 1);
        // Writes before the watched range are not expected in it.
        assert!(check_reference(&reference(), &[w("x", 1)], 2).is_empty());
    }
}
