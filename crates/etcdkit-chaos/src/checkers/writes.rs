//! Acknowledged writes are durable, definitely failed writes never applied.
//!
//! Every writer key is written once and never again, so after healing the key's current
//! `mod_revision` must be the revision its put was acknowledged at, and its value the one
//! written. A definite failure must have left no key. A put of unknown outcome may have
//! gone either way: both are counted.

use std::collections::HashMap;

use super::Anomaly;
use crate::history::{Outcome, WriteOp};

const NAME: &str = "writes";

/// What the read after healing found at a writer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub mod_revision: i64,
    pub value: String,
}

/// The checker's findings.
#[derive(Debug, Default)]
pub struct WritesReport {
    pub acknowledged: usize,
    pub failed: usize,
    pub unknown_applied: usize,
    pub unknown_not_applied: usize,
    pub anomalies: Vec<Anomaly>,
}

/// Compares the writes with what etcd holds after healing (`stored`: key -> current).
pub fn check(writes: &[WriteOp], stored: &HashMap<String, Stored>) -> WritesReport {
    let mut report = WritesReport::default();
    for w in writes {
        let found = stored.get(&w.key);
        match w.outcome {
            Outcome::Ok { revision } => {
                report.acknowledged += 1;
                match found {
                    None => report.anomalies.push(Anomaly::new(
                        NAME,
                        format!(
                            "acknowledged write lost: {} (acknowledged at revision {revision}, \
                             invoked {:?}, completed {:?}) is missing",
                            w.key, w.invoke, w.complete
                        ),
                    )),
                    Some(s) if s.mod_revision != revision || s.value != w.value => {
                        report.anomalies.push(Anomaly::new(
                            NAME,
                            format!(
                                "acknowledged write not at its revision: {} acknowledged at \
                                 {revision} with {:?}, found at {} with {:?}",
                                w.key, w.value, s.mod_revision, s.value
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
            Outcome::Failed { kind } => {
                report.failed += 1;
                if let Some(s) = found {
                    report.anomalies.push(Anomaly::new(
                        NAME,
                        format!(
                            "definitely failed write applied: {} failed with {kind:?} \
                             (completed {:?}) but exists at revision {}",
                            w.key, w.complete, s.mod_revision
                        ),
                    ));
                }
            }
            Outcome::Unknown { .. } => {
                if found.is_some() {
                    report.unknown_applied += 1;
                } else {
                    report.unknown_not_applied += 1;
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use etcdkit::ErrorKind;

    use super::*;

    fn op(key: &str, outcome: Outcome) -> WriteOp {
        WriteOp {
            key: key.into(),
            value: format!("v-{key}"),
            invoke: Duration::ZERO,
            complete: Duration::from_millis(1),
            outcome,
        }
    }

    fn stored(entries: &[(&str, i64)]) -> HashMap<String, Stored> {
        entries
            .iter()
            .map(|(k, r)| {
                (
                    (*k).to_owned(),
                    Stored {
                        mod_revision: *r,
                        value: format!("v-{k}"),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_clean_history_has_no_anomaly_and_counts_unknowns_both_ways() {
        let writes = [
            op("a", Outcome::Ok { revision: 5 }),
            op(
                "b",
                Outcome::Failed {
                    kind: ErrorKind::Unavailable,
                },
            ),
            op(
                "c",
                Outcome::Unknown {
                    kind: ErrorKind::Timeout,
                },
            ),
            op(
                "d",
                Outcome::Unknown {
                    kind: ErrorKind::OutcomeUnknown,
                },
            ),
        ];
        let report = check(&writes, &stored(&[("a", 5), ("c", 7)]));
        assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
        assert_eq!(report.acknowledged, 1);
        assert_eq!(report.failed, 1);
        assert_eq!(report.unknown_applied, 1);
        assert_eq!(report.unknown_not_applied, 1);
    }

    #[test]
    fn a_lost_write_a_moved_write_and_an_applied_failure_are_anomalies() {
        let writes = [
            op("lost", Outcome::Ok { revision: 5 }),
            op("moved", Outcome::Ok { revision: 6 }),
            op(
                "failed",
                Outcome::Failed {
                    kind: ErrorKind::NoLeader,
                },
            ),
        ];
        let report = check(&writes, &stored(&[("moved", 9), ("failed", 7)]));
        assert_eq!(report.anomalies.len(), 3, "{:?}", report.anomalies);
    }

    #[test]
    fn a_wrong_value_at_the_right_revision_is_an_anomaly() {
        let writes = [op("a", Outcome::Ok { revision: 5 })];
        let mut s = stored(&[("a", 5)]);
        if let Some(entry) = s.get_mut("a") {
            entry.value = "other".into();
        }
        assert_eq!(check(&writes, &s).anomalies.len(), 1);
    }
}
