//! The figures of a run: faults by kind, operations by outcome, write availability after
//! faults, watch delivery lag; and the summary line.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::history::{History, LeaseLog, Outcome, WriteOp};
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

/// What a stream (a watch, or the lease keeper's keepalive) carried by a member that
/// went silent (frozen, or blackholed) did next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterSilence {
    /// The fault's kind ("freeze", "blackhole").
    pub kind: &'static str,
    /// How long the member stayed silent.
    pub silent_for: Duration,
    /// From the fault to the stream's next answer (a watch delivery, a renewal).
    pub next: Duration,
    /// Whether that answer came through another member (else the stream waited for the
    /// member to be heard again).
    pub moved: bool,
}

fn port(endpoint: &str) -> &str {
    endpoint.rsplit(':').next().unwrap_or(endpoint)
}

/// A fault that left a member's connections open but silent.
#[derive(Debug, Clone, Copy)]
struct Silence<'a> {
    fault: &'a FaultRecord,
    /// The silent member's client port.
    port: &'a str,
    lasting: Duration,
}

impl Silence<'_> {
    /// What a stream did after the silence began: answered at `at`, through another
    /// member (`moved`) or the silent one.
    fn followed_by(&self, at: Duration, moved: bool) -> AfterSilence {
        AfterSilence {
            kind: self.fault.fault.kind(),
            silent_for: self.lasting,
            next: at.saturating_sub(self.fault.start),
            moved,
        }
    }
}

/// The faults that leave a member's connections open but silent (freezes, blackholes).
fn silences<'a>(
    faults: &'a [FaultRecord],
    endpoints: &'a [String],
) -> impl Iterator<Item = Silence<'a>> {
    use crate::nemesis::Fault;
    faults.iter().filter_map(|fault| {
        let lasting = match fault.fault {
            Fault::Freeze { frozen_for, .. } => frozen_for,
            Fault::Blackhole { lasting, .. } => lasting,
            _ => return None,
        };
        let member = endpoints.get(fault.member?)?;
        Some(Silence {
            fault,
            port: port(member),
            lasting,
        })
    })
}

/// For each silence, each watch whose last delivery before it came through the silent
/// member: when and how it delivered next. `endpoints[i]` is member `i`'s client URL.
pub fn watches_after_silences(
    history: &History,
    faults: &[FaultRecord],
    endpoints: &[String],
) -> Vec<AfterSilence> {
    silences(faults, endpoints)
        .flat_map(|s| {
            history.watches.iter().filter_map(move |w| {
                let split = w.deliveries.partition_point(|d| d.received < s.fault.start);
                let on_silent = split
                    .checked_sub(1)
                    .and_then(|i| w.deliveries[i].endpoint.as_deref())
                    .is_some_and(|e| port(e) == s.port);
                let next = w.deliveries.get(split).filter(|_| on_silent)?;
                let moved = next.endpoint.as_deref().is_some_and(|e| port(e) != s.port);
                Some(s.followed_by(next.received, moved))
            })
        })
        .collect()
}

/// For each silence of the member carrying the lease keeper's keepalive stream: the
/// time to the next renewal, and whether the stream had moved to another member by
/// then.
pub fn leases_after_silences(
    lease: &LeaseLog,
    faults: &[FaultRecord],
    endpoints: &[String],
) -> Vec<AfterSilence> {
    let carrier = |i: usize| port(&lease.carried_by[i].1);
    silences(faults, endpoints)
        .filter_map(|s| {
            let carried = lease
                .carried_by
                .partition_point(|(at, _)| *at < s.fault.start);
            let on_silent = carried.checked_sub(1).is_some_and(|i| carrier(i) == s.port);
            let renewal = lease.renewed_at.partition_point(|at| *at < s.fault.start);
            let next = *lease.renewed_at.get(renewal).filter(|_| on_silent)?;
            // The stream the renewal came on: the last one established before it.
            let via = lease.carried_by.partition_point(|(at, _)| *at <= next);
            let moved = via
                .checked_sub(1)
                .is_some_and(|i| i >= carried && carrier(i) != s.port);
            Some(s.followed_by(next, moved))
        })
        .collect()
}

/// One line of figures for streams after silences: how many, and the spreads of those
/// that moved and of those that waited.
pub fn format_after_silences(after: &[AfterSilence]) -> String {
    let of = |moved: bool| -> Vec<Duration> {
        after
            .iter()
            .filter(|a| a.moved == moved)
            .map(|a| a.next)
            .collect()
    };
    format!(
        "{}; moved to another member: {}; waited for the member: {}",
        after.len(),
        format_spread(spread(&of(true))),
        format_spread(spread(&of(false)))
    )
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
        let got = watches_after_silences(&history, &[freeze], &endpoints);
        assert_eq!(
            got,
            vec![
                AfterSilence {
                    kind: "freeze",
                    silent_for: ms(3000),
                    next: ms(800),
                    moved: true
                },
                AfterSilence {
                    kind: "freeze",
                    silent_for: ms(3000),
                    next: ms(3000),
                    moved: false
                },
            ]
        );
    }

    #[test]
    fn a_keepalive_stream_on_a_blackholed_member_is_followed_to_its_next_renewal() {
        let endpoints = ["http://127.0.0.1:1", "http://127.0.0.1:2"].map(String::from);
        let hole = |start| FaultRecord {
            fault: Fault::Blackhole {
                member: 0,
                lasting: ms(2000),
            },
            member: Some(0),
            start: ms(start),
            end: ms(start + 2000),
            error: None,
            leader: None,
        };
        let lease = LeaseLog {
            // On member 0 from the start; moved to member 1 at 2500 ms; back on member 0
            // at 9000 ms.
            carried_by: vec![
                (ms(0), endpoints[0].clone()),
                (ms(2500), endpoints[1].clone()),
                (ms(9000), endpoints[0].clone()),
            ],
            renewed_at: vec![ms(500), ms(1900), ms(2600), ms(9100), ms(12500)],
            ..LeaseLog::default()
        };
        // Blackholed at 2000 (on member 0): the next renewal, at 2600, came via member 1.
        // At 5000 the stream is on member 1: not counted. At 10000 (member 0 again):
        // the next renewal came through member 0 after it was heard again.
        let got = leases_after_silences(&lease, &[hole(2000), hole(5000), hole(10000)], &endpoints);
        let brief: Vec<(u128, bool)> = got.iter().map(|a| (a.next.as_millis(), a.moved)).collect();
        assert_eq!(brief, vec![(600, true), (2500, false)]);
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
