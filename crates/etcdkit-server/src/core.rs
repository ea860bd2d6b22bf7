//! The server's state behind its one lock, and the two background tasks that act on it
//! (lease expiry, periodic watch progress).
//!
//! One `std` mutex guards the store, the leases and the watchers together: a write, the
//! lease bookkeeping it implies and the events it sends are one step no reader can see
//! half of. The lock is never held across an await.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::alarm::Alarms;
use crate::auth::AuthStore;
use crate::auth::tokens::SimpleTokens;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::ResponseHeader;
use crate::lease::Lessor;
use crate::store::{Committed, KeyRange, Store, Writer};
use crate::watch::WatchHub;

/// What every response header says besides the revision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderInfo {
    pub(crate) cluster_id: u64,
    pub(crate) member_id: u64,
    /// A single etcd member reports term 2 once it has elected itself; so does this one.
    pub(crate) raft_term: u64,
}

impl HeaderInfo {
    pub(crate) fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.raft_term,
        }
    }
}

/// Request limits, etcd's defaults unless the builder says otherwise.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The space quota (0: none).
    pub(crate) quota_backend_bytes: u64,
    pub(crate) max_request_bytes: usize,
    pub(crate) max_txn_ops: usize,
    /// The shortest TTL granted, in seconds.
    pub(crate) min_lease_ttl: i64,
    /// How long a simple token lives unused.
    pub(crate) auth_token_ttl: Duration,
}

/// The state one lock guards.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) store: Store,
    pub(crate) lessor: Lessor,
    pub(crate) watches: WatchHub,
    pub(crate) alarms: Alarms,
    /// The peer URLs a member update gave this member (none until then).
    pub(crate) peer_urls: Vec<String>,
    /// Users, roles, permissions, whether auth is on.
    pub(crate) auth: AuthStore,
    /// The simple tokens handed out; like etcd's, in memory only.
    pub(crate) tokens: SimpleTokens,
}

/// Everything the services share.
#[derive(Debug)]
pub(crate) struct Shared {
    core: Mutex<Core>,
    pub(crate) info: HeaderInfo,
    pub(crate) limits: Limits,
    /// The URL clients reach this server at, for the member list.
    pub(crate) client_url: String,
    pub(crate) name: String,
    /// Wakes the expiry task when a lease is granted (it may expire sooner than the
    /// one the task sleeps for).
    pub(crate) lease_granted: Notify,
    /// Becomes true when the server shuts down; every task watches it.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn new(
        info: HeaderInfo,
        limits: Limits,
        client_url: String,
        name: String,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Shared {
            core: Mutex::new(Core {
                store: Store::default(),
                lessor: Lessor::new(info.member_id, limits.min_lease_ttl),
                watches: WatchHub::default(),
                alarms: Alarms::default(),
                peer_urls: Vec::new(),
                auth: AuthStore::default(),
                tokens: SimpleTokens::new(limits.auth_token_ttl),
            }),
            info,
            limits,
            client_url,
            name,
            lease_granted: Notify::new(),
            shutdown,
        }
    }

    /// The state. A panic while it was held cannot leave it half-written in a way a
    /// later request would misread worse than failing, so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Core {
    /// After a committed write: moves keys between leases, then tells the watchers.
    pub(crate) fn committed(&mut self, shared: &Shared, committed: &Committed) {
        for change in &committed.changes {
            let key = &change.kv.key;
            let old = change.prev.as_ref().map_or(0, |p| p.lease);
            let new = if change.deleted { 0 } else { change.kv.lease };
            if old != new {
                if old != 0 {
                    self.lessor.detach(old, key);
                }
                if new != 0 {
                    self.lessor.attach(new, key);
                }
            }
        }
        self.watches.publish(
            &shared.info,
            shared.limits.max_request_bytes,
            committed.revision,
            &committed.changes,
        );
    }

    /// Revokes a lease: its keys are deleted in one revision (in key order, as etcd does).
    ///
    /// # Errors
    ///
    /// [`EtcdError::LeaseNotFound`].
    pub(crate) fn revoke(&mut self, shared: &Shared, id: i64) -> Result<(), EtcdError> {
        let keys = self.lessor.revoke(id)?;
        let mut w = Writer::new(&mut self.store);
        for key in keys {
            w.delete(&KeyRange::Single(key));
        }
        let committed = w.commit();
        self.committed(shared, &committed);
        Ok(())
    }
}

/// Revokes leases as they expire: sleeps until the soonest expiry (or a new grant), never
/// polls.
pub(crate) async fn expire_leases(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let next = {
            let mut core = shared.lock();
            let now = Instant::now();
            for id in core.lessor.expired(now) {
                // Expired means present: the revoke cannot miss.
                let _ = core.revoke(&shared, id);
            }
            core.lessor.next_expiry()
        };
        let wake = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = shared.lease_granted.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends the periodic progress notification to the watchers that asked for it.
pub(crate) async fn notify_progress(shared: Arc<Shared>, every: Duration) {
    let mut shutdown = shared.shutdown.clone();
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mut core = shared.lock();
                let current = core.store.revision();
                core.watches.notify_progress(&shared.info, current);
            }
            _ = shutdown.changed() => return,
        }
    }
}
