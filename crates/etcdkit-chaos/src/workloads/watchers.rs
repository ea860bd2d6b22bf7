//! Watchers of the whole run prefix from one fixed start revision, each on its own
//! client. Each records every response it delivers; after healing they must all have
//! delivered exactly the history up to the end marker.

use std::time::Duration;

use etcdkit::watch::EventType;
use etcdkit::{Client, Revision};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::history::{Clock, WatchDelivery, WatchEvent, WatchLog};
use crate::stop::Stop;

/// Pause before opening a watch again after it ended with an error.
const REOPEN_PAUSE: Duration = Duration::from_millis(100);

/// Reduces an etcdkit event to what the checker compares.
pub fn event(e: &etcdkit::watch::Event) -> WatchEvent {
    WatchEvent {
        revision: e.revision().get(),
        put: e.event_type() == EventType::Put,
        key: String::from_utf8_lossy(e.key()).into_owned(),
        value: String::from_utf8_lossy(e.kv().value()).into_owned(),
    }
}

/// Watches `prefix` from `start` until it has delivered the revision `end` says (set once
/// the runner has written the end marker), or until `give_up`.
pub async fn run(
    client: Client,
    watcher: usize,
    prefix: String,
    start: i64,
    mut end: watch::Receiver<Option<i64>>,
    clock: Clock,
    mut give_up: Stop,
) -> WatchLog {
    let mut log = WatchLog {
        watcher,
        ..WatchLog::default()
    };
    let mut last = start - 1;
    let done =
        |last: i64, end: &watch::Receiver<Option<i64>>| end.borrow().is_some_and(|e| last >= e);
    'open: while !done(last, &end) && !give_up.is_stopped() {
        // Opened again after an error from the revision after the last delivered one, as
        // an application would.
        let opened = client
            .watch()
            .prefix(prefix.clone())
            .start_revision(Revision(last + 1))
            .await;
        let mut stream = match opened {
            Ok(s) => s,
            Err(e) => {
                log.errors.push((clock.now(), e.kind()));
                if give_up.sleep(REOPEN_PAUSE).await {
                    break;
                }
                continue;
            }
        };
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(resp)) => {
                        if resp.events().is_empty() {
                            continue;
                        }
                        let events: Vec<WatchEvent> = resp.events().iter().map(event).collect();
                        if let Some(e) = events.last() {
                            last = last.max(e.revision);
                        }
                        log.deliveries.push(WatchDelivery { received: clock.now(), endpoint: stream.endpoint(), events });
                        if done(last, &end) {
                            break 'open;
                        }
                    }
                    Some(Err(e)) => {
                        log.errors.push((clock.now(), e.kind()));
                        let _ = give_up.sleep(REOPEN_PAUSE).await;
                        continue 'open;
                    }
                    None => continue 'open,
                },
                changed = end.changed() => {
                    if changed.is_err() || done(last, &end) {
                        break 'open;
                    }
                }
                () = give_up.wait() => break 'open,
            }
        }
    }
    log
}
