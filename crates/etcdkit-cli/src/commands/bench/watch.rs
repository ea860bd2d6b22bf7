//! `bench watch`: put-to-event latency.
//!
//! 1. Creates `--watchers` watchers on the key prefix, spread round-robin over the
//!    connections (all watchers of one connection share its one watch stream), timing each
//!    creation (stage `watch_creation`).
//! 2. Puts `--total` keys (stage `put`). Each value starts with the time its put was sent,
//!    in microseconds since the run began (8 bytes, little-endian; `--val-size` must leave
//!    room for it), so a watcher can time an event without any shared table.
//! 3. Every watcher records, for every event, the time from its put's start to the event's
//!    arrival (the main figures: `total` is successful puts × watchers). After the last put,
//!    watchers wait at most `--command-timeout` for the events still on their way; an event
//!    that does not come counts as a `MissingEvent` failure.
//!
//! The prefix must belong to this run alone: a foreign write under it would be taken for
//! one of ours.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use etcdkit::Client;
use etcdkit::kv::Kv;
use etcdkit::watch::{WatchResponse, Watcher};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Bench;
use super::report::{Failure, Recorder, Report, Summary};
use super::runner::{Op, Plan};
use super::workload::KeySpace;
use crate::error::CliError;

/// Bytes of the send time at the start of each value.
const STAMP: usize = 8;
/// Responses a watcher may hold unread before it counts as lagging. The readers do
/// nothing but read, so this only matters on a starved machine.
const WATCH_BUFFER: usize = 1 << 16;

/// Refuses values too short to carry the send time.
pub fn check(val_size: usize) -> Result<(), CliError> {
    if val_size < STAMP {
        return Err(CliError::error(format!(
            "bench watch needs --val-size of at least {STAMP} (each value carries its put's send time)"
        )));
    }
    Ok(())
}

/// Runs the workload.
pub async fn run(bench: &Bench<'_>, watchers: usize) -> Result<Report, CliError> {
    check(bench.common.val_size)?;
    let origin = Instant::now();

    let (creation, made) = create_watchers(bench, watchers).await;
    let created = made.len() as u64;

    let (done_tx, done_rx) = watch::channel(None::<u64>);
    let mut readers = JoinSet::new();
    for watcher in made {
        readers.spawn(read(
            watcher,
            origin,
            done_rx.clone(),
            bench.request_timeout,
        ));
    }

    let start = Instant::now();
    let plan = bench.plan();
    let val_size = bench.common.val_size;
    let puts = bench
        .measure("put", plan, |client, _| {
            stamped_puts(client.kv(), bench.keys.clone(), val_size, origin)
        })
        .await;
    let ok_puts = puts.recorder.ok();
    // The readers are waiting for this; if they were all gone, nobody needs it.
    let _ = done_tx.send(Some(ok_puts));

    let mut events = Recorder::with_capacity(usize::try_from(ok_puts * created).unwrap_or(0));
    while let Some(joined) = readers.join_next().await {
        // A reader that panicked loses its events; the summary counts them as not run.
        if let Ok(recorder) = joined {
            events.merge(recorder);
        }
    }
    let elapsed = start.elapsed();

    let main = Summary::new(events, ok_puts * created, elapsed);
    let mut report = bench.report("watch", vec![("watchers", json!(watchers))], main);
    report.title = "Summary (events: from the start of a put to its event at a watcher)";
    report.stages = vec![
        ("watch_creation", "Watch creation", creation),
        (
            "put",
            "Puts",
            Summary::new(puts.recorder, plan.total, puts.elapsed),
        ),
    ];
    Ok(report)
}

/// Creates the watchers, `--clients` at a time; watcher `i` is on connection
/// `i mod conns`.
async fn create_watchers(bench: &Bench<'_>, watchers: usize) -> (Summary, Vec<Watcher>) {
    let made = Arc::new(Mutex::new(Vec::with_capacity(watchers)));
    let clients: Arc<[Client]> = bench.clients.clone().into();
    let plan = Plan {
        clients: bench.common.clients.min(watchers),
        total: watchers as u64,
        rate: 0,
    };
    let outcome = bench
        .measure("watchers", plan, |_, _| {
            let (clients, made) = (clients.clone(), made.clone());
            let prefix = bench.keys.prefix().clone();
            Box::new(move |i| {
                let client = usize::try_from(i)
                    .ok()
                    .and_then(|i| clients.get(i % clients.len().max(1)))
                    .cloned();
                let (made, prefix) = (made.clone(), prefix.clone());
                Box::pin(async move {
                    let client = client.ok_or(Failure::named("NoConnection"))?;
                    let watcher = client.watch().prefix(prefix).buffer(WATCH_BUFFER).await?;
                    // Never held across an await; a poisoned lock loses only this watcher.
                    match made.lock() {
                        Ok(mut made) => made.push(watcher),
                        Err(_) => return Err(Failure::named("Internal")),
                    }
                    Ok(())
                })
            })
        })
        .await;
    let summary = Summary::new(outcome.recorder, plan.total, outcome.elapsed);
    let made = match Arc::try_unwrap(made) {
        Ok(mutex) => mutex.into_inner().unwrap_or_default(),
        // Every task has ended, so nobody else holds it; take what is there anyway.
        Err(shared) => shared
            .lock()
            .map(|mut made| std::mem::take(&mut *made))
            .unwrap_or_default(),
    };
    (summary, made)
}

/// One task's puts, each value stamped with its send time.
fn stamped_puts(kv: Kv, keys: KeySpace, val_size: usize, origin: Instant) -> Op {
    let mut rng = fastrand::Rng::new();
    Box::new(move |i| {
        let mut value = BytesMut::with_capacity(val_size);
        value.put_u64_le(micros(origin.elapsed()));
        value.resize(val_size, b'x');
        let put = kv.put(keys.key(keys.pick(i, &mut rng)), value.freeze());
        Box::pin(async move { put.await.map(drop).map_err(Failure::from) })
    })
}

/// Reads one watcher's events until the puts are done and their events are in (or
/// `drain` has passed since the puts ended).
async fn read(
    mut watcher: Watcher,
    origin: Instant,
    mut done: watch::Receiver<Option<u64>>,
    drain: Duration,
) -> Recorder {
    let mut recorder = Recorder::default();
    let mut received = 0;
    let mut broken = None;
    // While the puts run: events as they come, until the puts' count is known.
    let expected = loop {
        tokio::select! {
            item = watcher.next(), if broken.is_none() => {
                if let Err(failure) = take(item, origin, &mut recorder, &mut received) {
                    broken = Some(failure);
                }
            }
            changed = done.changed() => {
                if changed.is_err() {
                    break 0;
                }
                let puts = *done.borrow_and_update();
                if let Some(puts) = puts {
                    break puts;
                }
            }
        }
    };
    // Then the events still on their way, for a bounded time.
    let until = Instant::now().checked_add(drain);
    while broken.is_none() && received < expected {
        let next = match until {
            Some(until) => tokio::time::timeout_at(until, watcher.next()).await,
            // A timeout too large to add to now is no timeout.
            None => Ok(watcher.next().await),
        };
        match next {
            Ok(item) => {
                if let Err(failure) = take(item, origin, &mut recorder, &mut received) {
                    broken = Some(failure);
                }
            }
            Err(_) => break,
        }
    }
    let mut missing = expected.saturating_sub(received);
    if let Some(failure) = broken {
        // The failure stands for the first event it kept from coming; the rest are
        // counted as missing.
        recorder.fail(failure);
        missing = missing.saturating_sub(1);
    }
    recorder.fail_n(Failure::named("MissingEvent"), missing);
    recorder
}

/// Records the events of one watch response; an error or the end of the stream is a
/// failure that ends the reading.
fn take(
    item: Option<etcdkit::Result<WatchResponse>>,
    origin: Instant,
    recorder: &mut Recorder,
    received: &mut u64,
) -> Result<(), Failure> {
    let response = match item {
        Some(Ok(response)) => response,
        Some(Err(e)) => return Err(e.into()),
        None => return Err(Failure::named("WatchEnded")),
    };
    let now = micros(origin.elapsed());
    for event in response.events() {
        // A delete (empty value) is not one of our puts.
        if let Some(sent) = stamp(event.kv().value()) {
            recorder.record_us(now.saturating_sub(sent));
            *received += 1;
        }
    }
    Ok(())
}

/// The send time at the start of a value.
fn stamp(value: &[u8]) -> Option<u64> {
    let bytes: [u8; STAMP] = value.get(..STAMP)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back_what_was_written() {
        let mut value = BytesMut::new();
        value.put_u64_le(123_456_789);
        value.resize(16, b'x');
        assert_eq!(stamp(&value), Some(123_456_789));
        assert_eq!(stamp(b"short"), None);
    }

    #[test]
    fn values_too_short_for_the_stamp_are_refused() {
        assert!(check(7).is_err());
        assert!(check(8).is_ok());
    }
}
