//! Waiting for one change of a key or a prefix, from a known revision: the sync recipes
//! read, then watch from the revision after that read, so no change between the read
//! and the watch is missed and nothing polls.

use bytes::Bytes;
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, Result, Revision};
use futures_util::StreamExt;

/// What to watch: one key, or every key under a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Range {
    Key,
    Prefix,
}

/// Waits for the first event of `kind` on `key` (or under it, with [`Range::Prefix`]) at
/// or after revision `from`, and returns its revision. `Ok(None)` when the watch cannot
/// go on from there (the history was compacted, or the watcher lagged): the caller reads
/// again and watches from that read.
///
/// # Errors
///
/// The watch's failures other than compaction and lag, and [`ErrorKind::Cancelled`]
/// when the watch ends without an error (the client is gone).
pub(crate) async fn next_event(
    client: &Client,
    key: Bytes,
    range: Range,
    from: Revision,
    kind: EventType,
) -> Result<Option<Revision>> {
    let mut builder = client.watch().key(key).start_revision(from);
    if range == Range::Prefix {
        builder = builder.prefix();
    }
    // Only the kind waited for is sent (any other kind is filtered out below anyway).
    if kind == EventType::Put {
        builder = builder.no_delete();
    } else if kind == EventType::Delete {
        builder = builder.no_put();
    }
    let mut watcher = match builder.await {
        Ok(watcher) => watcher,
        Err(e) if lost_history(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    while let Some(response) = watcher.next().await {
        match response {
            Ok(response) => {
                if let Some(event) = response.events().iter().find(|e| e.event_type() == kind) {
                    return Ok(Some(event.revision()));
                }
            }
            Err(e) if lost_history(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::Cancelled,
        "the watch ended before the change it waited for",
    ))
}

fn lost_history(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Compacted | ErrorKind::WatchLagged)
}
