//! The figures of a run: faults by kind, operations by outcome, write availability after
//! faults, watch delivery lag; and the summary line.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::history::{History, Outcome, WriteOp};
use crate::nemesis::FaultRecord;

/// p50, p90 and max of some durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub count: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub max: Duration,
}

pub fn spread(samples: &[Duration]) -> Option<Spread> {
    // Microseconds, up to an hour, 3 significant digits: plenty for these figures.
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
    for s in samples {
        let us = u64::try_from(s.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 3_600_000_000);
        h.record(us).ok()?;
    }
    if h.is_empty() {
        return None;
    }
    let us = Duration::from_micros;
    Some(Spread {
        count: h.len(),
        p50: us(h.value_at_quantile(0.5)),
        p90: us(h.value_at_quantile(0.9)),
        max: us(h.max()),
    })
}

/// For each fault, the time from its injection to the first acknowledged write invoked
/// after it (a write invoked before the fault proves nothing about recovery). Faults with
/// no such write before the end are counted apart.
pub fn availability(faults: &[FaultRecord], writes: &[WriteOp]) -> (Vec<Duration>, usize) {
    let (gaps, never) = availability_by_fault(faults, writes);
    (gaps.into_iter().map(|(_, gap)| gap).collect(), never)
}

/// [`availability`], each gap with the kind of fault it followed.
pub fn availability_by_fault(
    faults: &[FaultRecord],
    writes: &[WriteOp],
) -> (Vec<(&'static str, Duration)>, usize) {
    let mut acked: Vec<(Duration, Duration)> = writes
        .iter()
        .filter(|w| matches!(w.outcome, Outcome::Ok { .. }))
        .map(|w| (w.invoke, w.complete))
        .collect();
    acked.sort();
    let mut gaps = Vec::new();
    let mut never = 0;
    for f in faults {
        let first = acked.partition_point(|(invoke, _)| *invoke < f.start);
        match acked[first..].iter().map(|(_, complete)| *complete).min() {
            Some(done) => gaps.push((f.fault.kind(), done.saturating_sub(f.start))),
            None => never += 1,
        }
    }
    (gaps, never)
}

/// For each watched event of an acknowledged write, when the write was acknowledged and
/// the time from then to the delivery (zero when the watch was first).
pub fn watch_lag(history: &History) -> Vec<(Duration, Duration)> {
    let acked: HashMap<i64, Duration> = history
        .writes
        .iter()
        .filter_map(|w| match w.outcome {
            Outcome::Ok { revision } => Some((revision, w.complete)),
            _ => None,
        })
        .collect();
    history
        .watches
        .iter()
        .flat_map(|w| w.deliveries.iter())
        .flat_map(|d| d.events.iter().map(move |e| (d.received, e.revision)))
        .filter_map(|(received, rev)| {
            acked
                .get(&rev)
                .map(|ack| (*ack, received.saturating_sub(*ack)))
        })
        .collect()
}

/// The lags of writes acknowledged while a fault was under way.
pub fn during_faults(lags: &[(Duration, Duration)], faults: &[FaultRecord]) -> Vec<Duration> {
    lags.iter()
        .filter(|(ack, _)| faults.iter().any(|f| f.start <= *ack && *ack <= f.end))
        .map(|(_, lag)| *lag)
        .collect()
}

/// What a watch carried by a member that froze did next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchAfterFreeze {
    pub frozen_for: Duration,
    /// From the freeze to the watch's next delivery.
    pub next_delivery: Duration,
    /// Whether that delivery came through another member (else the watch waited for the
    /// thaw).
    pub moved: bool,
}

fn port(endpoint: &str) -> &str {
    endpoint.rsplit(':').next().unwrap_or(endpoint)
}

/// For each freeze, each watch whose last delivery before it came through the frozen
/// member: when and how it delivered next. `endpoints[i]` is member `i`'s client URL.
pub fn watches_after_freezes(
    history: &History,
    faults: &[FaultRecord],
    endpoints: &[String],
) -> Vec<WatchAfterFreeze> {
    let mut out = Vec::new();
    for f in faults {
        let (crate::nemesis::Fault::Freeze { frozen_for, .. }, Some(member)) = (f.fault, f.member)
        else {
            continue;
        };
        let Some(frozen) = endpoints.get(member).map(|e| port(e)) else {
            continue;
        };
        for w in &history.watches {
            let split = w.deliveries.partition_point(|d| d.received < f.start);
            let on_frozen = split
                .checked_sub(1)
                .and_then(|i| w.deliveries[i].endpoint.as_deref())
                .is_some_and(|e| port(e) == frozen);
            if let (true, Some(next)) = (on_frozen, w.deliveries.get(split)) {
                out.push(WatchAfterFreeze {
                    frozen_for,
                    next_delivery: next.received.saturating_sub(f.start),
                    moved: next.endpoint.as_deref().is_some_and(|e| port(e) != frozen),
                });
            }
        }
    }
    out
}

pub fn faults_by_kind(faults: &[FaultRecord]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for f in faults {
        *m.entry(f.fault.kind()).or_insert(0) += 1;
    }
    m
}

pub fn outcome_counts<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> String {
    let (mut ok, mut failed, mut unknown) = (0, 0, 0);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        match o {
            Outcome::Ok { .. } => ok += 1,
            Outcome::Failed { kind } => {
                failed += 1;
                *kinds.entry(format!("{kind:?}")).or_insert(0) += 1;
            }
            Outcome::Unknown { kind } => {
                unknown += 1;
                *kinds.entry(format!("unknown {kind:?}")).or_insert(0) += 1;
            }
        }
    }
    format!("{ok} acknowledged, {failed} failed, {unknown} outcome unknown {kinds:?}")
}

pub fn count_kinds(kinds: impl Iterator<Item = etcdkit::ErrorKind>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for k in kinds {
        *m.entry(format!("{k:?}")).or_insert(0) += 1;
    }
    m
}

pub fn format_spread(s: Option<Spread>) -> String {
    match s {
        Some(s) => format!(
            "p50 {:.3} s, p90 {:.3} s, max {:.3} s (n={})",
            s.p50.as_secs_f64(),
            s.p90.as_secs_f64(),
            s.max.as_secs_f64(),
            s.count
        ),
        None => String::from("no samples"),
    }
}

/// The run's last line, exactly.
pub fn summary(faults: usize, operations: usize, anomalies: usize) -> String {
    format!("chaos: {faults} faults, {operations} operations, {anomalies} anomalies")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::Fault;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn availability_counts_from_the_fault_to_the_first_write_invoked_after_it() {
        let w = |invoke, complete, ok: bool| WriteOp {
            key: String::new(),
            value: String::new(),
            invoke: ms(invoke),
            complete: ms(complete),
            outcome: if ok {
                Outcome::Ok { revision: 1 }
            } else {
                Outcome::Failed {
                    kind: etcdkit::ErrorKind::Unavailable,
                }
            },
        };
        let f = |start| FaultRecord {
            fault: Fault::Restart { member: 0 },
            member: Some(0),
            start: ms(start),
            end: ms(start),
            error: None,
            leader: None,
        };
        let writes = [
            w(0, 2000, true),
            w(1010, 1100, false),
            w(1200, 1500, true),
            w(1300, 1400, true),
        ];
        let (gaps, never) = availability(&[f(1000), f(5000)], &writes);
        assert_eq!(gaps, vec![ms(400)]);
        assert_eq!(never, 1);
    }

    #[test]
    fn a_watch_on_a_frozen_member_is_followed_to_its_next_delivery() {
        use crate::history::{WatchDelivery, WatchLog};
        let d = |t, port: &str| WatchDelivery {
            received: ms(t),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            events: Vec::new(),
        };
        let history = History {
            watches: vec![
                // On member 0 (port 1) when it froze at 1000 ms; next delivery via port 2.
                WatchLog {
                    watcher: 0,
                    deliveries: vec![d(900, "1"), d(1800, "2")],
                    errors: Vec::new(),
                },
                // On member 0 too, but waited for the thaw.
                WatchLog {
                    watcher: 1,
                    deliveries: vec![d(950, "1"), d(4000, "1")],
                    errors: Vec::new(),
                },
                // On another member: not counted.
                WatchLog {
                    watcher: 2,
                    deliveries: vec![d(950, "3"), d(1001, "3")],
                    errors: Vec::new(),
                },
            ],
            ..History::default()
        };
        let freeze = FaultRecord {
            fault: Fault::Freeze {
                member: 0,
                frozen_for: ms(3000),
            },
            member: Some(0),
            start: ms(1000),
            end: ms(4000),
            error: None,
            leader: None,
        };
        let endpoints = [
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        ]
        .map(String::from);
        let got = watches_after_freezes(&history, &[freeze], &endpoints);
        assert_eq!(
            got,
            vec![
                WatchAfterFreeze {
                    frozen_for: ms(3000),
                    next_delivery: ms(800),
                    moved: true
                },
                WatchAfterFreeze {
                    frozen_for: ms(3000),
                    next_delivery: ms(3000),
                    moved: false
                },
            ]
        );
    }

    #[test]
    fn spread_gives_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(ms).collect();
        let s = spread(&samples).map(|s| (s.p50.as_millis(), s.p90.as_millis(), s.max.as_millis()));
        assert_eq!(s, Some((50, 90, 100)));
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn the_summary_line_is_exact() {
        assert_eq!(
            summary(3, 10, 0),
            "chaos: 3 faults, 10 operations, 0 anomalies"
        );
    }
}
