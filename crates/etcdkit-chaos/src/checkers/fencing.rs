//! The mutex held by one guard at a time, and fenced writes only from the holder.
//!
//! etcd's own history is the judge: after healing, the runner reads the lock's queue
//! (every key under the mutex prefix, with its creation revision) at the revision of each
//! grant and of each accepted fenced write. The lock belongs to the oldest key. So:
//! - a guard is legitimate only if its key was the oldest at the revision it was granted
//!   at (otherwise two guards were live at once);
//! - no two grants share a fencing token (one key handed out twice: the two-guards bug
//!   of issue 13);
//! - a fenced write accepted at revision R must come from the guard whose key was the
//!   oldest at R (a write by a holder that had lost the lock was accepted otherwise).
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
    pub accepted_writes: usize,
    pub refused_writes: usize,
    /// Grants whose local holding overlapped another's (expected under faults).
    pub local_overlaps: usize,
    pub anomalies: Vec<Anomaly>,
}

/// The revisions the runner must read the queue at.
pub fn revisions_needed(log: &MutexLog) -> Vec<i64> {
    let mut revs: Vec<i64> = log
        .holdings
        .iter()
        .map(|h| h.acquired_at)
        .chain(log.writes.iter().filter_map(|w| match w.outcome {
            Outcome::Ok { revision } => Some(revision),
            _ => None,
        }))
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

pub fn check(log: &MutexLog, queues: &Queues) -> FencingReport {
    let mut report = FencingReport {
        grants: log.holdings.len(),
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

    for w in &log.writes {
        if w.refused {
            report.refused_writes += 1;
        }
        let Outcome::Ok { revision } = w.outcome else {
            continue;
        };
        report.accepted_writes += 1;
        match oldest(queues, revision) {
            Some((_, created)) if *created == w.token => {}
            found => report.anomalies.push(Anomaly::new(
                NAME,
                format!(
                    "fenced write of holder {} (key {}, token {}, invoked {:?}, completed \
                     {:?}) accepted at revision {} while the lock was {found:?}: a holder \
                     that had lost the lock wrote",
                    w.holder, w.lock_key, w.token, w.invoke, w.complete, revision
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
        }
    }

    fn write(holder: usize, token: i64, revision: i64) -> FencedWrite {
        FencedWrite {
            holder,
            token,
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

    #[test]
    fn one_holder_after_another_with_their_writes_passes() {
        let log = MutexLog {
            holdings: vec![holding(0, 10, 11, (0, 5)), holding(1, 12, 14, (6, 9))],
            writes: vec![write(0, 10, 13), write(1, 12, 15)],
            lock_failures: Vec::new(),
        };
        let q = queues(&[
            (11, &[(0, 10)]),
            (13, &[(0, 10), (1, 12)]),
            (14, &[(1, 12)]),
            (15, &[(1, 12)]),
        ]);
        let r = check(&log, &q);
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
        assert_eq!(revisions_needed(&log), vec![11, 13, 14, 15]);
    }

    #[test]
    fn a_write_accepted_from_a_lost_holder_is_found() {
        let log = MutexLog {
            holdings: vec![holding(0, 10, 11, (0, 5)), holding(1, 12, 14, (1, 9))],
            writes: vec![write(0, 10, 15)],
            lock_failures: Vec::new(),
        };
        let q = queues(&[(11, &[(0, 10)]), (14, &[(1, 12)]), (15, &[(1, 12)])]);
        let r = check(&log, &q);
        assert_eq!(r.anomalies.len(), 1, "{:?}", r.anomalies);
        assert_eq!(r.local_overlaps, 1);
    }

    #[test]
    fn a_grant_while_an_older_key_is_there_is_found() {
        let log = MutexLog {
            holdings: vec![holding(0, 10, 11, (0, 5)), holding(1, 12, 13, (1, 9))],
            writes: Vec::new(),
            lock_failures: Vec::new(),
        };
        let q = queues(&[(11, &[(0, 10)]), (13, &[(0, 10), (1, 12)])]);
        assert_eq!(check(&log, &q).anomalies.len(), 1);
    }

    #[test]
    fn the_same_token_granted_twice_is_found() {
        let log = MutexLog {
            holdings: vec![holding(0, 10, 11, (0, 5)), holding(0, 10, 11, (6, 9))],
            writes: Vec::new(),
            lock_failures: Vec::new(),
        };
        let q = queues(&[(11, &[(0, 10)])]);
        assert_eq!(check(&log, &q).anomalies.len(), 1);
    }
}
