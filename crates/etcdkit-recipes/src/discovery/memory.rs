//! An in-memory [`KitClient`] for unit tests: registrations, reads and watches behave
//! as they do on etcd, with no server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::LeaseId;
use futures_util::future::{self, BoxFuture};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::client::check;
use super::registration::{Registrant, Report};
use super::{Error, Instance, KitClient, RegistrationEvent, RegistrationState, Service};

/// A [`KitClient`] that keeps its keys in memory, for users' unit tests of code built on
/// [`Registrar`](super::Registrar) and [`Instancer`](super::Instancer). Clones share the
/// same keys, as clients of one etcd cluster do.
///
/// Registering writes the key under a new lease at once; deregistering deletes it and
/// notifies watchers; dropping a [`Registrant`] (or the registrar holding it) leaves the
/// key until its TTL has passed, as etcd does when renewals stop. Watches send the
/// complete set under their prefix after every change of it. [`put`](Self::put) and
/// [`delete`](Self::delete) change keys directly, as another writer would.
#[derive(Debug, Clone, Default)]
pub struct MemoryClient {
    store: Arc<Store>,
}

#[derive(Debug)]
struct Store {
    keys: Mutex<Keys>,
    /// Bumped after every change, to wake the watches.
    changes: watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            keys: Mutex::default(),
            changes: watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
struct Keys {
    entries: BTreeMap<Bytes, Entry>,
    last_lease: i64,
}

#[derive(Debug)]
struct Entry {
    value: Bytes,
    lease: Option<LeaseId>,
    /// When the key goes by itself: set once its lease is no longer renewed.
    expires: Option<Instant>,
}

impl Store {
    /// The keys, with the expired ones gone (watchers are told when any went).
    fn keys(&self) -> MutexGuard<'_, Keys> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let before = keys.entries.len();
        keys.entries
            .retain(|_, entry| entry.expires.is_none_or(|at| at > now));
        if keys.entries.len() != before {
            self.changed();
        }
        keys
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The instances under `prefix` in key order, and when the next key expires.
    fn read(&self, prefix: &[u8]) -> (Vec<Instance>, Option<Instant>) {
        let keys = self.keys();
        let set = keys
            .entries
            .range::<[u8], _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, entry)| Instance::new(key.clone(), entry.value.clone()))
            .collect();
        let next = keys
            .entries
            .values()
            .filter_map(|entry| entry.expires)
            .min();
        (set, next)
    }

    fn put(&self, key: Bytes, value: Bytes, lease: Option<LeaseId>) {
        self.keys().entries.insert(
            key,
            Entry {
                value,
                lease,
                expires: None,
            },
        );
        self.changed();
    }

    /// Deletes `key` if `keep` says so of its entry; says whether it did.
    fn delete_if(&self, key: &[u8], keep: impl FnOnce(&Entry) -> bool) -> bool {
        let deleted = {
            let mut keys = self.keys();
            match keys.entries.get(key) {
                Some(entry) if keep(entry) => keys.entries.remove(key).is_some(),
                _ => false,
            }
        };
        if deleted {
            self.changed();
        }
        deleted
    }

    fn grant(&self) -> LeaseId {
        let mut keys = self.keys();
        keys.last_lease = keys.last_lease.wrapping_add(1).max(1);
        LeaseId(keys.last_lease)
    }
}

impl MemoryClient {
    /// An empty store.
    pub fn new() -> MemoryClient {
        MemoryClient::default()
    }

    /// Writes `key` without a lease, as another writer would; watchers of its prefixes
    /// are notified.
    pub fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.store.put(key.into(), value.into(), None);
    }

    /// Deletes `key` whatever its lease; says whether it was there. Watchers of its
    /// prefixes are notified.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> bool {
        self.store.delete_if(key.as_ref(), |_| true)
    }
}

impl KitClient for MemoryClient {
    fn get_entries(&self, prefix: Bytes) -> BoxFuture<'static, Result<Vec<Instance>, Error>> {
        future::ready(Ok(self.store.read(&prefix).0)).boxed()
    }

    fn watch_prefix(&self, prefix: Bytes) -> BoxStream<'static, Vec<Instance>> {
        let store = self.store.clone();
        let changes = store.changes.subscribe();
        let state = (store, changes, prefix, None::<Vec<Instance>>);
        futures_util::stream::unfold(state, |(store, mut changes, prefix, last)| async move {
            loop {
                // Marked seen before reading, so a change made meanwhile wakes us again.
                changes.borrow_and_update();
                let (set, next_expiry) = store.read(&prefix);
                if last.as_ref() != Some(&set) {
                    return Some((set.clone(), (store, changes, prefix, Some(set))));
                }
                let expiry = async {
                    match next_expiry {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => future::pending().await,
                    }
                };
                tokio::select! {
                    // The store owns the sender: it cannot close while we hold the store.
                    _ = changes.changed() => {}
                    () = expiry => {}
                }
            }
        })
        .boxed()
    }

    fn register(&self, service: &Service) -> Result<Registrant, Error> {
        check(service)?;
        let store = self.store.clone();
        let (key, value, ttl) = (
            service.key.clone(),
            service.value.clone(),
            service.ttl.ttl(),
        );
        Ok(Registrant::spawn(key.clone(), move |report, stop| {
            registration(store, key, value, ttl, report, stop)
        }))
    }

    fn lease_id(&self, key: Bytes) -> BoxFuture<'static, Result<Option<LeaseId>, Error>> {
        let lease = self
            .store
            .keys()
            .entries
            .get(&key)
            .and_then(|entry| entry.lease);
        future::ready(Ok(lease)).boxed()
    }
}

/// One registration: the key under a new lease until stopped (deleted) or dropped
/// (expires after the TTL).
async fn registration(
    store: Arc<Store>,
    key: Bytes,
    value: Bytes,
    ttl: Duration,
    report: Report,
    stop: oneshot::Receiver<()>,
) -> etcdkit::Result<()> {
    let lease = store.grant();
    let mut expiry = ExpireOnDrop {
        store: Some(store.clone()),
        key: key.clone(),
        lease,
        ttl,
    };
    store.put(key.clone(), value, Some(lease));
    report.state(RegistrationState::Registered {
        lease,
        registrations: 1,
    });
    report.event(RegistrationEvent::Registered { lease });
    // The owner's drop aborts this task (the guard then sets the expiry); should the
    // task see the stop sender dropped first, it ends the same way.
    if stop.await.is_err() {
        return Ok(());
    }
    expiry.store = None;
    // Revoking the lease deletes the key only while it is still under that lease.
    store.delete_if(&key, |entry| entry.lease == Some(lease));
    report.state(RegistrationState::Deregistered);
    report.event(RegistrationEvent::Deregistered);
    Ok(())
}

/// Set to expire a registered key after its TTL when its registration is dropped
/// (renewals stop), as etcd does; disarmed by deregistering.
struct ExpireOnDrop {
    store: Option<Arc<Store>>,
    key: Bytes,
    lease: LeaseId,
    ttl: Duration,
}

impl Drop for ExpireOnDrop {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        {
            let mut keys = store.keys();
            if let Some(entry) = keys.entries.get_mut(&self.key)
                && entry.lease == Some(self.lease)
            {
                // A TTL too long to add never expires (as good as forever).
                entry.expires = Instant::now().checked_add(self.ttl);
            }
        }
        // Wakes the watches so that they wait for the new expiry.
        store.changed();
    }
}
