//! The mutex held by one guard at a time, and fenced writes only from the holder.
//!
//! etcd's own history is the judge: after healing, the runner reads the lock's queue
//! (every key under the mutex prefix, with its creation revision) at the revision of each
//! grant and of each accepted fenced write. The lock belongs to the oldest key. So:
//! - a guard is legitimate only if its key was the oldest at the revision it was granted
//!   at (otherwise two guards were live at once);
//! - no two grants share a fencing token (one key handed out twice: the two-guards bug
//!   of issue 13);
//! - every fenced write etcd applied (each put of the fenced key in the reference history,
//!   acknowledged or of unknown outcome alike) must come from the guard whose key was the
//!   oldest at its revision (a write by a holder that had lost the lock was accepted
//!   otherwise);
//! - an acknowledged fenced write is in that history at its revision, and a fenced write
//!   that failed definitely (or whose compare failed) is not in it at all.
//!
//! Guards overlapping in local time are normal under faults (a holder learns of a lost
//! lease only after etcd has acted on it); they are counted, not anomalies.

use std::collections::HashMap;

use super::Anomaly;
use crate::history::{MutexLog, Outcome};

const NAME: &str = "fencing";

/// The lock's queue at a revision: `(key, creation revision)`, in any order.
pub type Queues = HashMap<i64, Vec<(String, i64)>>;

/// The checker's findings.
#[derive(Debug, Default)]
pub struct FencingReport {
    pub grants: usize,
    /// Holders that stalled past their session's TTL on purpose.
    pub stalled: usize,
    pub accepted_writes: usize,
    pub refused_writes: usize,
    /// Grants whose local holding overlapped another's (expected under faults).
    pub local_overlaps: usize,
    pub anomalies: Vec<Anomaly>,
}

/// A put of the fenced key in etcd's history: `(revision, value)`.
pub type Applied = (i64, String);

/// The value a fenced write puts: who wrote it, under which token, which of its writes.
pub fn fenced_value(holder: usize, token: i64, n: usize) -> String {
    format!("{holder}-{token}-{n}")
}

fn token_of(value: &str) -> Option<i64> {
    value.split('-').nth(1)?.parse().ok()
}

/// The revisions the runner must read the queue at.
pub fn revisions_needed(log: &MutexLog, applied: &[Applied]) -> Vec<i64> {
    let mut revs: Vec<i64> = log
        .holdings
        .iter()
        .map(|h| h.acquired_at)
        .chain(applied.iter().map(|(rev, _)| *rev))
        .collect();
    revs.sort_unstable();
    revs.dedup();
    revs
}

fn oldest(queues: &Queues, revision: i64) -> Option<&(String, i64)> {
    queues
        .get(&revision)
        .and_then(|q| q.iter().min_by_key(|(_, created)| *created))
}

pub fn check(log: &MutexLog, applied: &[Applied], queues: &Queues) -> FencingReport {
    let mut report = FencingReport {
        grants: log.holdings.len(),
        stalled: log.holdings.iter().filter(|h| h.stalled).count(),
        ..FencingReport::default()
    };

    let mut by_token: HashMap<i64, usize> = HashMap::new();
    for (i, h) in log.holdings.iter().enumerate() {
        if let Some(&j) = by_token.get(&h.token) {
            let other = &log.holdings[j];
            report.anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "two grants with fencing token {}: holder {} at {:?}..{:?} and holder {} \
                     at {:?}..{:?}",
                    h.token,
                    other.holder,
                    other.acquired,
                    other.released,
                    h.holder,
                    h.acquired,
                    h.released
                ),
            ));
        }
        by_token.insert(h.token, i);
        match oldest(queues, h.acquired_at) {
            Some((key, created)) if *created == h.token => {}
            found => report.anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "holder {} granted the lock (key {}, token {}) at revision {} while the \
                     oldest key there was {found:?}: two guards live at once",
                    h.holder, h.key, h.token, h.acquired_at
                ),
            )),
        }
    }

    let mut sorted: Vec<_> = log.holdings.iter().collect();
    sorted.sort_by_key(|h| h.acquired);
    for pair in sorted.windows(2) {
        if pair[1].acquired < pair[0].released {
            report.local_overlaps += 1;
        }
    }

    let by_value: HashMap<&str, &crate::history::FencedWrite> =
        log.writes.iter().map(|w| (w.value.as_str(), w)).collect();
    let applied_at: HashMap<&str, i64> = applied.iter().map(|(r, v)| (v.as_str(), *r)).collect();
    for w in &log.writes {
        if w.refused {
            report.refused_writes += 1;
        }
        match (w.outcome, applied_at.get(w.value.as_str())) {
            (Outcome::Ok { revision }, Some(&at)) if at == revision => report.accepted_writes += 1,
            (Outcome::Ok { revision }, found) => report.anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "acknowledged fenced write {:?} of holder {} (token {}, revision \
                     {revision}) is in the history at {found:?}",
                    w.value, w.holder, w.token
                ),
            )),
            (Outcome::Failed { kind }, Some(at)) => report.anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "fenced write {:?} of holder {} failed definitely ({kind:?}{}) but was \
                     applied at revision {at}",
                    w.value,
                    w.holder,
                    if w.refused { ", compare failed" } else { "" }
                ),
            )),
            _ => {}
        }
    }
    for (revision, value) in applied {
        let writer = by_value.get(value.as_str());
        let token = token_of(value);
        match oldest(queues, *revision) {
            Some((_, created)) if Some(*created) == token => {}
            found => report.anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "fenced write {value:?} (token {token:?}, {}) applied at revision \
                     {revision} while the lock was {found:?}: a holder that had lost the \
                     lock wrote",
                    match writer {
                        Some(w) => format!(
                            "holder {} key {}, invoked {:?}, completed {:?}, {:?}",
                            w.holder, w.lock_key, w.invoke, w.complete, w.outcome
                        ),
                        None => String::from("written by nobody on record"),
                    }
                ),
            )),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::history::{FencedWrite, Holding};

    fn holding(holder: usize, token: i64, acquired_at: i64, t: (u64, u64)) -> Holding {
        Holding {
            holder,
            token,
            acquired_at,
            key: format!("m/{holder}"),
            acquired: Duration::from_millis(t.0),
            released: Duration::from_millis(t.1),
            stalled: false,
            stall_note: None,
        }
    }

    fn write(holder: usize, token: i64, revision: i64) -> FencedWrite {
        FencedWrite {
            holder,
            token,
            value: fenced_value(holder, token, revision as usize),
            lock_key: format!("m/{holder}"),
            invoke: Duration::ZERO,
            complete: Duration::ZERO,
            outcome: Outcome::Ok { revision },
            refused: false,
        }
    }

    fn queues(entries: &[(i64, &[(usize, i64)])]) -> Queues {
        entries
            .iter()
            .map(|(rev, q)| {
                (
                    *rev,
                    q.iter().map(|(h, c)| (format!("m/{h}"), *c)).collect(),
                )
            })
            .collect()
    }

    /// What etcd's history holds when exactly the acknowledged writes applied.
    fn applied_of(writes: &[FencedWrite]) -> Vec<Applied> {
        writes
            .iter()
            .filter_map(|w| match w.outcome {
                Outcome::Ok { revision } => Some((revision, w.value.clone())),
                _ => None,
            })
            .collect()
    }

    fn log(holdings: Vec<Holding>, writes: Vec<FencedWrite>) -> MutexLog {
        MutexLog {
            holdings,
            writes,
            lock_failures: Vec::new(),
        }
    }

    #[test]
    fn one_holder_after_another_with_their_writes_passes() {
        let log = log(
            vec![holding(0, 10, 11, (0, 5)), holding(1, 12, 14, (6, 9))],
            vec![write(0, 10, 13), write(1, 12, 15)],
        );
        let q = queues(&[
            (11, &[(0, 10)]),
            (13, &[(0, 10), (1, 12)]),
            (14, &[(1, 12)]),
            (15, &[(1, 12)]),
        ]);
        let applied = applied_of(&log.writes);
        let r = check(&log, &applied, &q);
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
        assert_eq!(r.accepted_writes, 2);
        assert_eq!(revisions_needed(&log, &applied), vec![11, 13, 14, 15]);
    }

    #[test]
    fn a_write_accepted_from_a_lost_holder_is_found() {
        let log = log(
            vec![holding(0, 10, 11, (0, 5)), holding(1, 12, 14, (1, 9))],
            vec![write(0, 10, 15)],
        );
        let q = queues(&[(11, &[(0, 10)]), (14, &[(1, 12)]), (15, &[(1, 12)])]);
        let r = check(&log, &applied_of(&log.writes), &q);
        assert_eq!(r.anomalies.len(), 1, "{:?}", r.anomalies);
        assert_eq!(r.local_overlaps, 1);
    }

    #[test]
    fn a_write_of_unknown_outcome_applied_for_a_lost_holder_is_found() {
        let mut w = write(0, 10, 15);
        w.outcome = Outcome::Unknown {
            kind: etcdkit::ErrorKind::OutcomeUnknown,
        };
        let applied = vec![(15, w.value.clone())];
        let log = log(vec![holding(0, 10, 11, (0, 5))], vec![w]);
        let q = queues(&[(11, &[(0, 10)]), (15, &[(1, 12)])]);
        assert_eq!(check(&log, &applied, &q).anomalies.len(), 1);
    }

    #[test]
    fn a_refused_write_that_applied_and_an_acknowledged_one_missing_are_found() {
        let mut refused = write(0, 10, 12);
        refused.outcome = Outcome::Failed {
            kind: etcdkit::ErrorKind::Locked,
        };
        refused.refused = true;
        let applied = vec![(12, refused.value.clone())];
        let acked = write(0, 10, 13);
        let log = log(vec![holding(0, 10, 11, (0, 5))], vec![refused, acked]);
        let q = queues(&[(11, &[(0, 10)]), (12, &[(0, 10)])]);
        let r = check(&log, &applied, &q);
        assert_eq!(r.anomalies.len(), 2, "{:?}", r.anomalies);
        assert_eq!(r.refused_writes, 1);
    }

    #[test]
    fn a_grant_while_an_older_key_is_there_is_found() {
        let log = log(
            vec![holding(0, 10, 11, (0, 5)), holding(1, 12, 13, (1, 9))],
            Vec::new(),
        );
        let q = queues(&[(11, &[(0, 10)]), (13, &[(0, 10), (1, 12)])]);
        assert_eq!(check(&log, &[], &q).anomalies.len(), 1);
    }

    #[test]
    fn the_same_token_granted_twice_is_found() {
        let log = log(
            vec![holding(0, 10, 11, (0, 5)), holding(0, 10, 11, (6, 9))],
            Vec::new(),
        );
        let q = queues(&[(11, &[(0, 10)])]);
        assert_eq!(check(&log, &[], &q).anomalies.len(), 1);
    }
}
