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
use crate::generated::etcdserverpb::{AlarmType, ResponseHeader};
use crate::lease::Lessor;
use crate::persist::{Loaded, Persist, Step, StepError};
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
    /// Learners added to the cluster: listed, updatable and removable as etcd's are, never
    /// started (no raft here to talk to them).
    pub(crate) learners: Vec<Learner>,
    /// Users, roles, permissions, whether auth is on.
    pub(crate) auth: AuthStore,
    /// The simple tokens handed out; like etcd's, in memory only.
    pub(crate) tokens: SimpleTokens,
    /// The data directory, when the server has one: every change goes there before it
    /// is answered.
    persist: Option<Persist>,
    /// Stops the server; the first change that cannot be stored pulls it.
    stop: watch::Sender<bool>,
}

/// A learner member: added, never started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Learner {
    pub(crate) id: u64,
    pub(crate) peer_urls: Vec<String>,
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
        stop: watch::Sender<bool>,
        durable: Option<(Persist, Loaded)>,
    ) -> Self {
        let shutdown = stop.subscribe();
        let mut core = Core {
            store: Store::default(),
            lessor: Lessor::new(info.member_id, limits.min_lease_ttl),
            watches: WatchHub::default(),
            alarms: Alarms::default(),
            peer_urls: Vec::new(),
            learners: Vec::new(),
            auth: AuthStore::default(),
            tokens: SimpleTokens::new(limits.auth_token_ttl),
            persist: None,
            stop,
        };
        if let Some((persist, loaded)) = durable {
            core.restore(loaded);
            core.persist = Some(persist);
        }
        Shared {
            core: Mutex::new(core),
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
    /// Closes the data directory, if any: later changes are refused.
    pub(crate) fn close_storage(&mut self) {
        if let Some(persist) = &mut self.persist {
            persist.close();
        }
    }

    /// Takes in what a data directory held at start.
    fn restore(&mut self, loaded: Loaded) {
        self.store = Store::restored(
            loaded.revision.unwrap_or(1),
            loaded.compacted.unwrap_or(-1),
            loaded.entries,
        );
        let now = Instant::now();
        for (id, ttl) in loaded.leases {
            self.lessor.restore(id, ttl, now);
        }
        let attached: Vec<(i64, bytes::Bytes)> = self
            .store
            .leased_keys()
            .map(|(lease, key)| (lease, key.clone()))
            .collect();
        for (lease, key) in attached {
            self.lessor.attach(lease, &key);
        }
        for (member_id, alarm) in loaded.alarms {
            self.alarms.activate(member_id, alarm);
        }
        self.peer_urls = loaded.peer_urls;
        self.learners = loaded.learners;
        if let Some(auth) = loaded.auth {
            self.auth = auth;
        }
    }

    /// Writes one step to the data directory, if the server has one (in memory, `f` is
    /// never called). Call it with the lock held, after the change is applied in memory
    /// and before it is answered.
    ///
    /// # Errors
    ///
    /// [`EtcdError::StorageFailed`].
    pub(crate) fn persist(
        &mut self,
        f: impl FnOnce(&mut Step<'_>) -> Result<(), StepError>,
    ) -> Result<(), EtcdError> {
        let Some(persist) = &mut self.persist else {
            return Ok(());
        };
        let stored = persist.step(f);
        if stored.is_err() {
            // Fail-stop, as an etcd member that cannot write its backend stops: the change
            // is applied in memory and cannot be taken back there, so nothing may read it
            // (an answer, a watch event) as if it were acknowledged. Every connection
            // closes; a restart on the directory finds the state of the last stored step.
            self.stop.send_replace(true);
        }
        stored
    }

    /// After a committed write: stores it, moves keys between leases, then tells the
    /// watchers.
    ///
    /// # Errors
    ///
    /// [`EtcdError::StorageFailed`]: the write is applied in memory but not stored, and
    /// must not be acknowledged.
    pub(crate) fn committed(
        &mut self,
        shared: &Shared,
        committed: &Committed,
    ) -> Result<(), EtcdError> {
        if committed.changes.is_empty() {
            return Ok(());
        }
        self.committed_with(shared, committed, |_| Ok(()))
    }

    /// [`Core::committed`], with more changes (`also`) stored in the same step.
    fn committed_with(
        &mut self,
        shared: &Shared,
        committed: &Committed,
        also: impl FnOnce(&mut Step<'_>) -> Result<(), StepError>,
    ) -> Result<(), EtcdError> {
        let stored = self.persist(|step| {
            step.committed(committed)?;
            also(step)
        });
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
        // Not stored: no watcher may see it (the server is stopping).
        stored?;
        self.watches.publish(
            &shared.info,
            shared.limits.max_request_bytes,
            committed.revision,
            &committed.changes,
        );
        Ok(())
    }

    /// Grants a lease (`id` 0 picks one) and stores it. Returns the ID and TTL granted.
    ///
    /// # Errors
    ///
    /// The lessor's ([`EtcdError::LeaseTtlTooLarge`], [`EtcdError::LeaseExist`]),
    /// [`EtcdError::StorageFailed`] (the lease is not granted then).
    pub(crate) fn grant(&mut self, id: i64, ttl: i64) -> Result<(i64, i64), EtcdError> {
        let (id, ttl) = self.lessor.grant(id, ttl, Instant::now())?;
        if let Err(e) = self.persist(|step| step.lease_granted(id, ttl)) {
            let _ = self.lessor.revoke(id);
            return Err(e);
        }
        Ok((id, ttl))
    }

    /// May a write that needs `cost` more bytes go ahead? The space check of
    /// [`Alarms::check_space`], storing the NOSPACE alarm when it raises it.
    ///
    /// # Errors
    ///
    /// [`EtcdError::NoSpace`], [`EtcdError::StorageFailed`].
    pub(crate) fn check_space(&mut self, shared: &Shared, cost: u64) -> Result<(), EtcdError> {
        let member_id = shared.info.member_id;
        let nospace = AlarmType::Nospace as i32;
        let was_raised = self.alarms.is_raised(member_id, nospace);
        let checked = self.alarms.check_space(
            &self.store,
            shared.limits.quota_backend_bytes,
            member_id,
            cost,
        );
        if !was_raised && self.alarms.is_raised(member_id, nospace) {
            self.persist(|step| step.alarm_raised(member_id, nospace))?;
        }
        checked
    }

    /// Compacts the store at `rev`, on disk too: the dropped revisions leave the file.
    ///
    /// # Errors
    ///
    /// The store's ([`EtcdError::Compacted`], [`EtcdError::FutureRev`]),
    /// [`EtcdError::StorageFailed`].
    pub(crate) fn compact(&mut self, rev: i64) -> Result<(), EtcdError> {
        if self.persist.is_none() {
            return self.store.compact(rev, None);
        }
        let mut removed = Vec::new();
        self.store.compact(rev, Some(&mut removed))?;
        self.persist(|step| step.compacted(rev, &removed))
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
        // The lease and its keys go in one step, as they go in one revision.
        self.committed_with(shared, &committed, |step| step.lease_revoked(id))
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
