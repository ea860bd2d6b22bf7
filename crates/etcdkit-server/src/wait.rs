//! What the Lock and Election services share: their keys (`NAME/LEASE_HEX`), the
//! session lease etcd's server makes for lease 0, reading the oldest key under a name,
//! server-side watches to wait on (no polling: the waiter sleeps until a watch event),
//! and the clean-up of a key when its waiter gives up.
//!
//! etcd's own Lock and Election services run the Go client's recipes against the server
//! itself; this module does the same steps directly on the shared state.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::core::{Core, Shared};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::generated::etcdserverpb::watch_create_request::FilterType;
use crate::generated::etcdserverpb::{RangeRequest, WatchCreateRequest, WatchResponse};
use crate::generated::mvccpb::KeyValue;
use crate::store::{KeyRange, Writer};

/// The TTL of the lease etcd's server grants when a lock or campaign names lease 0 (the
/// Go client session's default), which nobody renews.
const SESSION_TTL: i64 = 60;

/// `NAME/`: the prefix every contender's key of `name` lives under.
pub(crate) fn prefix(name: &[u8]) -> Bytes {
    let mut p = BytesMut::with_capacity(name.len() + 1);
    p.extend_from_slice(name);
    p.extend_from_slice(b"/");
    p.freeze()
}

/// `NAME/LEASE_HEX`: a contender's key, lease in lower-case hex as etcd writes it.
pub(crate) fn contender_key(name: &[u8], lease: i64) -> Bytes {
    let mut k = BytesMut::from(prefix(name).as_ref());
    k.extend_from_slice(format!("{lease:x}").as_bytes());
    k.freeze()
}

/// The first key after every key that starts with `prefix` (etcd's prefix range end).
pub(crate) fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    // All 0xff: every key from the prefix on.
    Bytes::from_static(&[0])
}

/// The lease a lock or campaign runs under: the one named, or for 0 a fresh one with the
/// session TTL, as etcd's server makes.
///
/// # Errors
///
/// Those of a lease grant.
pub(crate) fn session_lease(
    shared: &Shared,
    core: &mut Core,
    lease: i64,
) -> Result<i64, EtcdError> {
    if lease != 0 {
        return Ok(lease);
    }
    core.check_space(shared, crate::alarm::LEASE_OVERHEAD)?;
    let (id, _) = core.grant(0, SESSION_TTL)?;
    shared.lease_granted.notify_one();
    Ok(id)
}

/// The live value of `key`.
pub(crate) fn get(core: &Core, key: &Bytes) -> Option<KeyValue> {
    let req = RangeRequest {
        key: key.clone(),
        ..RangeRequest::default()
    };
    core.store.range(&req).ok()?.kvs.into_iter().next()
}

/// The oldest live key under `prefix` (lowest create revision): the lock holder or the
/// election leader.
pub(crate) fn oldest(core: &Core, prefix: &Bytes) -> Option<KeyValue> {
    let req = RangeRequest {
        key: prefix.clone(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: SortOrder::Ascend as i32,
        sort_target: SortTarget::Create as i32,
        ..RangeRequest::default()
    };
    core.store.range(&req).ok()?.kvs.into_iter().next()
}

/// Puts `value` under `key` with `lease` as one write, after etcd's checks for a put
/// inside a txn (quota, lease). Returns the revision.
///
/// # Errors
///
/// [`EtcdError::NoSpace`], [`EtcdError::LeaseNotFound`].
pub(crate) fn put(
    shared: &Shared,
    core: &mut Core,
    key: &Bytes,
    value: &Bytes,
    lease: i64,
) -> Result<i64, EtcdError> {
    core.check_space(shared, crate::alarm::put_cost(key, value))?;
    if !core.lessor.exists(lease) {
        return Err(EtcdError::LeaseNotFound);
    }
    let mut w = Writer::new(&mut core.store);
    w.put(key.clone(), value.clone(), lease);
    let committed = w.commit();
    core.committed(shared, &committed)?;
    Ok(committed.revision)
}

/// Deletes `key` if it is still the generation created at `created` (etcd's fenced
/// resign; a txn that only deletes, which NOSPACE does not stop). Returns the store's
/// revision after.
///
/// # Errors
///
/// [`EtcdError::StorageFailed`].
pub(crate) fn delete_if_created(
    shared: &Shared,
    core: &mut Core,
    key: &Bytes,
    created: i64,
) -> Result<i64, EtcdError> {
    if get(core, key).is_some_and(|kv| kv.create_revision == created) {
        let mut w = Writer::new(&mut core.store);
        w.delete(&KeyRange::Single(key.clone()));
        let committed = w.commit();
        core.committed(shared, &committed)?;
    }
    Ok(core.store.revision())
}

/// A watch the server holds for itself, through the same hub clients' watches use.
/// Dropping it removes it.
pub(crate) struct InternalWatch {
    shared: Arc<Shared>,
    stream: u64,
    rx: mpsc::UnboundedReceiver<Result<WatchResponse, tonic::Status>>,
}

impl InternalWatch {
    /// Watches `[key, range_end)` from revision `start` (0: the next). Opened under the
    /// lock, so nothing after the caller's last read can be missed.
    pub(crate) fn open(
        shared: &Arc<Shared>,
        core: &mut Core,
        key: Bytes,
        range_end: Bytes,
        start: i64,
        deletes_only: bool,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stream = core.watches.open(tx);
        let filters = if deletes_only {
            vec![FilterType::Noput as i32]
        } else {
            Vec::new()
        };
        let req = WatchCreateRequest {
            key,
            range_end,
            start_revision: start,
            filters,
            ..WatchCreateRequest::default()
        };
        core.watches.create(
            &core.store,
            &shared.info,
            shared.limits.max_request_bytes,
            stream,
            &req,
        );
        InternalWatch {
            shared: Arc::clone(shared),
            stream,
            rx,
        }
    }

    /// The next response with events, or `None` when the watch ended (a compaction or the
    /// server shutting down).
    pub(crate) async fn next(&mut self) -> Option<WatchResponse> {
        while let Some(msg) = self.rx.recv().await {
            let resp = msg.ok()?;
            if resp.canceled {
                return None;
            }
            if !resp.events.is_empty() {
                return Some(resp);
            }
        }
        None
    }
}

impl Drop for InternalWatch {
    fn drop(&mut self) {
        // The drop may happen with the state's lock held (on an early return); the hub
        // is tidied by a task instead of here, so it never waits on that lock.
        let shared = Arc::clone(&self.shared);
        let stream = self.stream;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { shared.lock().watches.close(stream) });
        }
    }
}

/// A contender's key, deleted if the waiter goes away before it is done with it (the
/// client canceled, the connection broke): etcd's server deletes a lock key or resigns a
/// campaign when its waiting ends early.
struct Claim {
    shared: Arc<Shared>,
    key: Bytes,
    created: i64,
    armed: bool,
}

impl Claim {
    fn new(shared: &Arc<Shared>, key: Bytes, created: i64) -> Self {
        Claim {
            shared: Arc::clone(shared),
            key,
            created,
            armed: true,
        }
    }

    /// The waiter is done with the key: it stays.
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let key = self.key.clone();
        let created = self.created;
        // As for the watch: never take the lock in a drop.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut core = shared.lock();
                // A failed store refuses every change after; nothing more to do here.
                let _ = delete_if_created(&shared, &mut core, &key, created);
            });
        }
    }
}

/// Waits in line as a contender (a lock waiter, a campaigner): until `key`, created at
/// `created`, is the oldest live key under `prefix`. If the waiter goes away first (its
/// call dropped: a client that gave up, a broken connection), its key is deleted
/// ([`Claim`]). Returns the store's revision when `key` got to the front.
///
/// # Errors
///
/// `gone` when the key went meanwhile (its lease ended, or someone deleted it);
/// UNAVAILABLE when the server stops.
pub(crate) async fn wait_in_line(
    shared: &Arc<Shared>,
    prefix: &Bytes,
    key: &Bytes,
    created: i64,
    gone: EtcdError,
) -> Result<i64, tonic::Status> {
    let claim = Claim::new(shared, key.clone(), created);
    match wait_oldest(shared, prefix, key, created).await {
        WaitEnd::Oldest(revision) => {
            claim.keep();
            Ok(revision)
        }
        WaitEnd::KeyGone => {
            claim.keep();
            Err(gone.into())
        }
        // The claim deletes the key: nobody will be waiting on it.
        WaitEnd::ShutDown => Err(crate::service::shutting_down()),
    }
}

/// How a wait to be the oldest contender ended.
enum WaitEnd {
    /// The key is the oldest under its prefix; the store's revision then.
    Oldest(i64),
    /// The key went (its lease expired or was revoked, or someone deleted it).
    KeyGone,
    /// The server is shutting down.
    ShutDown,
}

/// Waits until `key` (created at `created`) is the oldest live key under `prefix`: until
/// every key created before it is deleted. Sleeps on a watch of the prefix's deletions
/// between checks.
async fn wait_oldest(shared: &Arc<Shared>, prefix: &Bytes, key: &Bytes, created: i64) -> WaitEnd {
    let mut watch: Option<InternalWatch> = None;
    let mut shutdown = shared.shutdown.clone();
    loop {
        {
            let mut core = shared.lock();
            if get(&core, key).is_none_or(|kv| kv.create_revision != created) {
                return WaitEnd::KeyGone;
            }
            if oldest(&core, prefix).is_some_and(|kv| kv.create_revision == created) {
                return WaitEnd::Oldest(core.store.revision());
            }
            if watch.is_none() {
                let start = core.store.revision() + 1;
                let end = prefix_end(prefix);
                watch = Some(InternalWatch::open(
                    shared,
                    &mut core,
                    prefix.clone(),
                    end,
                    start,
                    true,
                ));
            }
        }
        let Some(w) = watch.as_mut() else {
            continue;
        };
        tokio::select! {
            ev = w.next() => if ev.is_none() {
                return WaitEnd::ShutDown;
            },
            _ = shutdown.wait_for(|stop| *stop) => return WaitEnd::ShutDown,
        }
    }
}
