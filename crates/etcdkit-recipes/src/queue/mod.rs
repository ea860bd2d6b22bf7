//! The fair queue under the mutex and the election: each participant puts a key
//! `NAME/LEASE` under its session's lease; keys are served in creation-revision order,
//! and each waiter watches only the key just before its own.
//!
//! # One place per session and key
//!
//! Every queue of one session on one key (clones, and every `Mutex::new` or
//! `Election::new` of the same name on that session) shares a [`Slot`]: it remembers the
//! creation revision of the last key this session handed out there (to a waiter or a
//! guard), and which handed-out keys were given up and wait to be deleted by the
//! session's background [`Releaser`]. The rule that keeps a background release from ever
//! deleting a live guard's key is in [`Queue::enqueue`].
//!
//! The queue's parts: [`slot`] (what the queues of one session share on one key),
//! [`release`] (the background releaser of given-up keys) and the test-only `faults`.

mod acquire;
mod release;
mod resume;
mod slot;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use etcdkit::kv::{
    Compare, CompareOp, Get, Put, SortOrder, SortTarget, TxnOpResponse, TxnResponse,
};
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, KeyValue, LeaseId, Result, Revision};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::keys::join;
use crate::lease_keeper::{KeeperState, LostReason};
use crate::session::Session;
pub(crate) use release::Pending;
use release::{Job, Releaser, fenced_delete};
pub(crate) use slot::Places;
use slot::{Found, Slot};

/// How many keys in the way one enqueue removes (or finds removed) before giving up.
const ENQUEUE_ATTEMPTS: u32 = 5;

/// Why a held lock or leadership (or a wait for one) ended.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum LostCause {
    /// The session's lease was lost.
    Session(LostReason),
    /// The session was dropped (its renewals stopped).
    SessionDropped,
    /// The key was deleted or replaced by someone else (its lease revoked from outside,
    /// or the key deleted by hand).
    KeyGone,
}

impl fmt::Display for LostCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostCause::Session(reason) => write!(f, "the session's lease was lost: {reason}"),
            LostCause::SessionDropped => f.write_str("the session was closed or dropped"),
            LostCause::KeyGone => f.write_str("the key was deleted by someone else"),
        }
    }
}

impl LostCause {
    pub(crate) fn into_error(self, what: &str) -> Error {
        Error::new(ErrorKind::SessionLost, format!("{what}: {self}"))
    }
}

/// A read of the newest key under `prefix` created before `rev`: the key just ahead of
/// ours (created at `rev`) in a queue served in creation-revision order.
fn newest_before(prefix: &Bytes, rev: Revision) -> Get {
    Get::new(prefix.clone())
        .prefix()
        .max_create_revision(Revision(rev.get().saturating_sub(1)))
        .sort(SortTarget::Create, SortOrder::Descend)
        .limit(1)
}

/// The first key that the first read of a transaction found.
fn first_kv(response: TxnResponse) -> Option<KeyValue> {
    response.into_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(get) => get.into_kvs().into_iter().next(),
        _ => None,
    })
}

/// Where the background releases of a session's key stand: the keys of dropped guards,
/// of dropped or timed-out waits, and of `unlock()` or `resign()` calls that failed.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum ReleaseState {
    /// Nothing waits to be released: every key the session gave up on this name is gone.
    Idle,
    /// A given-up key is being deleted in the background (retried, with backoff, while
    /// the session lives).
    Releasing {
        /// The creation revision (fencing token) of the key being deleted; the newest,
        /// if there are several.
        fencing_token: Revision,
    },
    /// The background delete of a given-up key failed for good (permission denied, or
    /// the session was dropped meanwhile). The key stays until the session's lease
    /// ends, or until the session's next lock or campaign on this name removes it.
    Failed {
        /// The creation revision (fencing token) of the key left behind.
        fencing_token: Revision,
        /// Why it could not be deleted.
        error: Arc<Error>,
    },
}

impl ReleaseState {
    /// Waits until no release is running, and says how the releases ended: `Ok` when
    /// every given-up key is gone, the failure otherwise.
    pub(crate) async fn settled(mut state: watch::Receiver<ReleaseState>) -> Result<()> {
        let settled = state
            .wait_for(|s| !matches!(s, ReleaseState::Releasing { .. }))
            .await;
        match settled.as_deref() {
            Ok(ReleaseState::Failed {
                fencing_token,
                error,
            }) => Err(Error::new(
                error.kind(),
                format!("releasing the key of fencing token {fencing_token} failed: {error}"),
            )),
            _ => Ok(()),
        }
    }
}

/// One participant's place in a queue.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub client: Client,
    /// `NAME/`.
    pub prefix: Bytes,
    /// `NAME/LEASE`.
    pub key: Bytes,
    pub lease: LeaseId,
    pub state: watch::Receiver<KeeperState>,
    slot: Arc<Slot>,
    releaser: Releaser,
}

impl Queue {
    pub fn new(session: &Session, name: &[u8]) -> Queue {
        let prefix = join(name, b"/");
        let lease = session.lease_id();
        let key = join(&prefix, format!("{lease:x}").as_bytes());
        let places = session.places();
        Queue {
            client: session.client().clone(),
            prefix,
            slot: places.slot(&key),
            key,
            lease,
            state: session.state(),
            releaser: places.releaser.clone(),
        }
    }

    /// Why the session has ended, if it has.
    pub fn session_ended(&self) -> Option<LostCause> {
        if self.state.has_changed().is_err() {
            return Some(LostCause::SessionDropped);
        }
        match &*self.state.borrow() {
            KeeperState::Lost { reason, .. } => Some(LostCause::Session(reason.clone())),
            _ => None,
        }
    }

    /// Waits until the session ends.
    pub async fn session_lost(&self) -> LostCause {
        let mut state = self.state.clone();
        match state
            .wait_for(|s| matches!(s, KeeperState::Lost { .. }))
            .await
        {
            Ok(s) => match &*s {
                KeeperState::Lost { reason, .. } => LostCause::Session(reason.clone()),
                _ => LostCause::SessionDropped,
            },
            Err(_) => LostCause::SessionDropped,
        }
    }

    /// The background releases of this session's key.
    pub fn release_state(&self) -> watch::Receiver<ReleaseState> {
        self.slot.release.subscribe()
    }

    /// Puts this participant's key with `value` under the lease, and returns its
    /// creation revision with a guard that releases it again unless disarmed.
    ///
    /// Why a background release can never delete the key of the guard this hands out:
    /// a release is a delete fenced on the creation revision of a key this session
    /// handed out before, so at most [`Slot::handed_out`]. The key handed out here is
    /// either the one this put created, whose creation revision is newer than every
    /// key that existed before it, or an existing key of the session's lease adopted
    /// only if its creation revision is newer than `handed_out`. Either way it is newer
    /// than every key a release may target, and the fenced delete cannot match it. The
    /// slot's enqueue lock makes `handed_out` current: no other enqueue of the session
    /// on this key runs meanwhile. (The old rule, adopting any existing key of ours
    /// after a put of unknown outcome, handed out the very key the releaser was about to
    /// delete, with the fencing token of the guard that had given it up.)
    ///
    /// A key of ours handed out before is removed here, finishing its release, unless a
    /// waiter or guard still holds it ([`ErrorKind::AlreadyExists`]).
    pub async fn enqueue(&self, value: Bytes, what: &str) -> Result<(Revision, Pending)> {
        if let Some(cause) = self.session_ended() {
            return Err(cause.into_error(what));
        }
        self.releaser.start();
        let _only_enqueue = self.slot.enqueue.lock().await;
        // Until the put's outcome is known, a key of ours may stand in the queue that
        // nobody holds: should this end early (an error, or the future dropped), the
        // background releaser removes it.
        let mut unsettled = Unsettled::new(self);
        let mut attempts = 0;
        let rev = loop {
            attempts += 1;
            if attempts > ENQUEUE_ATTEMPTS {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "{what}: keys of this session kept standing in the way (key {})",
                        String::from_utf8_lossy(&self.key)
                    ),
                ));
            }
            let put = self.put_txn(&value).await;
            let existing = match put {
                Ok(r) if r.succeeded() => break r.header().revision(),
                Ok(r) => r.into_responses().into_iter().find_map(|r| match r {
                    TxnOpResponse::Get(get) => get.into_kvs().into_iter().next(),
                    _ => None,
                }),
                Err(e) if e.kind() == ErrorKind::LeaseNotFound => {
                    unsettled.settle();
                    return Err(LostCause::Session(LostReason::NotFound).into_error(what));
                }
                Err(e) if e.is_outcome_unknown() => {
                    // The put may have been applied, or found a key in the way: look.
                    match self.look().await?.into_kvs().into_iter().next() {
                        Some(kv) => Some(kv),
                        // Not applied (or applied and already gone): nothing of ours to
                        // adopt. A put of ours still in flight may apply later; the next
                        // enqueue finds that key never handed out and adopts it.
                        None => {
                            unsettled.settle();
                            return Err(e);
                        }
                    }
                }
                Err(e) => {
                    unsettled.settle();
                    return Err(e);
                }
            };
            // Deleted between the compare and the read: put again.
            let Some(existing) = existing else { continue };
            let key = String::from_utf8_lossy(&self.key);
            let remove = match self.classify(&existing, &value) {
                Found::Adoptable(rev) => break rev,
                Found::Gone => continue,
                Found::GivenUp(rev) | Found::Stray(rev) => rev,
                Found::Held => {
                    unsettled.settle();
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{what}: this session already holds or waits for it (key {key})"),
                    ));
                }
                Found::Foreign => {
                    unsettled.settle();
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{what}: the key {key} exists under another lease"),
                    ));
                }
            };
            // Gone now (deleted, or found replaced): its release is done.
            fenced_delete(&self.client, self.key.clone(), remove).await?;
            self.slot.gone(remove);
        };
        unsettled.settle();
        self.slot.hand_out(rev);
        Ok((rev, self.pending(rev)))
    }

    /// What an existing key of our name is to this session (see [`Queue::enqueue`]).
    fn classify(&self, kv: &KeyValue, value: &Bytes) -> Found {
        let rev = kv.create_revision();
        if kv.lease() != Some(self.lease) {
            return Found::Foreign;
        }
        if rev <= self.slot.handed_out() {
            // Handed out before: a live waiter or guard holds it unless it was given up
            // (or is gone by now).
            return self.slot.handed_out_key(rev);
        }
        // Never handed out: left by a put of ours whose outcome was unknown (maybe the
        // one just sent), by a lock or campaign dropped during its put, or by the
        // process that held this lease before a resumed session. Nobody holds it and
        // no release targets it. Adopted as it is only if it carries our value.
        if kv.value() == value.as_ref() {
            Found::Adoptable(rev)
        } else {
            Found::Stray(rev)
        }
    }

    /// A failure a test injects into this request (the test-only `faults` module);
    /// never in a build without tests.
    #[cfg(test)]
    fn injected(&self, step: Step) -> Option<Error> {
        self.releaser.faults.injected(step)
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn injected(&self, _step: Step) -> Option<Error> {
        None
    }

    /// The test-only fault injection of this queue's session.
    #[cfg(test)]
    pub(crate) fn faults(&self) -> &faults::Faults {
        &self.releaser.faults
    }

    /// Holds while our key's create revision is `rev`: while the key put at `rev` is
    /// still there (with `Revision(0)`: while there is no key).
    pub(crate) fn key_created_at(&self, rev: Revision) -> Compare {
        Compare::create_revision(self.key.clone(), CompareOp::Equal, rev)
    }

    /// Puts the key with `value` under the lease unless it exists; reads it if it does.
    async fn put_txn(&self, value: &Bytes) -> Result<TxnResponse> {
        if let Some(e) = self.injected(Step::Enqueue) {
            return Err(e);
        }
        let put = self
            .client
            .kv()
            .txn()
            .when([self.key_created_at(Revision(0))])
            .and_then([Put::new(self.key.clone(), value.clone()).lease(self.lease)])
            .or_else([Get::new(self.key.clone())])
            .await;
        match self.injected(Step::EnqueueSent) {
            Some(e) => Err(e),
            None => put,
        }
    }

    /// Reads the key after a put of unknown outcome.
    async fn look(&self) -> Result<etcdkit::kv::GetResponse> {
        if let Some(e) = self.injected(Step::Look) {
            return Err(e);
        }
        self.client.kv().get(self.key.clone()).await
    }

    /// A guard that releases the key of `rev` when dropped.
    fn pending(&self, rev: Revision) -> Pending {
        Pending {
            key: self.key.clone(),
            rev,
            slot: self.slot.clone(),
            releaser: self.releaser.clone(),
            armed: true,
        }
    }

    /// Waits until the key of `rev` is the oldest of the queue and returns the revision
    /// at which it was seen to be. With `try_only`, fails with `busy()` instead of
    /// waiting.
    pub async fn wait_first(
        &self,
        rev: Revision,
        try_only: bool,
        what: &str,
        busy: impl Fn(&KeyValue) -> Error,
    ) -> Result<Revision> {
        self.wait_none_older(&self.prefix, rev, try_only, what, busy)
            .await
    }

    /// Waits until no key under `in_the_way` is older (by creation revision) than our
    /// key of `rev`, and returns the revision at which none was. With `try_only`, fails
    /// with `busy()` of the newest such key instead of waiting. The queue's own prefix
    /// makes this [`wait_first`](Queue::wait_first); the read/write mutex passes the
    /// part of its keys a reader or a writer must wait for.
    pub async fn wait_none_older(
        &self,
        in_the_way: &Bytes,
        rev: Revision,
        try_only: bool,
        what: &str,
        busy: impl Fn(&KeyValue) -> Error,
    ) -> Result<Revision> {
        loop {
            if let Some(cause) = self.session_ended() {
                return Err(cause.into_error(what));
            }
            let response = self
                .client
                .kv()
                .txn()
                .when([self.key_created_at(rev)])
                .and_then([newest_before(in_the_way, rev)])
                .await?;
            if !response.succeeded() {
                return Err(LostCause::KeyGone.into_error(what));
            }
            let seen_at = response.header().revision();
            let Some(predecessor) = first_kv(response) else {
                return Ok(seen_at);
            };
            if try_only {
                return Err(busy(&predecessor));
            }
            // Watching the newest key in the way is enough: when it goes, we look again
            // and find the next one, if any.
            let from = seen_at.next();
            tokio::select! {
                gone = self.deleted(predecessor.key().clone(), from) => {
                    gone?;
                }
                // Our own key going (its lease revoked from outside) is seen by the
                // compare at the top of the loop.
                gone = self.deleted(self.key.clone(), from) => {
                    gone?;
                }
                cause = self.session_lost() => return Err(cause.into_error(what)),
            }
        }
    }

    /// Waits until `key` is deleted at or after revision `from`. A watch that cannot go
    /// on (history compacted) ends the wait too: the caller looks again.
    pub async fn deleted(&self, key: Bytes, from: Revision) -> Result<()> {
        let mut watcher = self
            .client
            .watch()
            .key(key)
            .start_revision(from)
            .no_put()
            .await?;
        while let Some(response) = watcher.next().await {
            match response {
                Ok(response) => {
                    if response
                        .events()
                        .iter()
                        .any(|e| e.event_type() == EventType::Delete)
                    {
                        return Ok(());
                    }
                }
                Err(e)
                    if e.kind() == ErrorKind::Compacted || e.kind() == ErrorKind::WatchLagged =>
                {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits until the key of `rev`, seen at `seen_at`, is gone or the session ends.
    pub async fn lost(&self, rev: Revision, seen_at: Revision) -> LostCause {
        let mut from = seen_at.next();
        loop {
            tokio::select! {
                cause = self.session_lost() => return cause,
                _ = self.deleted(self.key.clone(), from) => {}
            }
            // Deleted, or the watch could not go on: look.
            match self.client.kv().get(self.key.clone()).await {
                Ok(response) => {
                    let ours = response
                        .kvs()
                        .first()
                        .is_some_and(|kv| kv.create_revision() == rev);
                    if !ours {
                        return LostCause::KeyGone;
                    }
                    from = response.header().revision().next();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "checking a lock key failed; watching again");
                    tokio::select! {
                        cause = self.session_lost() => return cause,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }

    /// Takes a key back out of the queue after a failed or refused wait: deleted now
    /// (fenced), or by the background releaser if that fails.
    pub async fn withdraw(&self, pending: Pending) {
        if fenced_delete(&self.client, self.key.clone(), pending.rev)
            .await
            .is_ok()
        {
            pending.disarm();
        }
    }

    /// `Debug` for the recipe `name` built on this queue: its key, as text.
    pub fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("key", &String::from_utf8_lossy(&self.key))
            .finish()
    }

    /// The end of the wait of our key of `rev` (`waited`: the revision at which it was
    /// seen at the head): the key held, or, when the wait failed, taken back out of the
    /// queue and the wait's error returned.
    pub async fn hold(
        &self,
        rev: Revision,
        pending: Pending,
        waited: Result<Revision>,
    ) -> Result<Held> {
        match waited {
            Ok(seen_at) => Ok(Held {
                queue: self.clone(),
                rev,
                seen_at,
                pending: Some(pending),
            }),
            Err(e) => {
                self.withdraw(pending).await;
                Err(e)
            }
        }
    }

    /// Deletes the key of `rev` if it is still that key. Returns whether it was.
    pub async fn fenced_delete(&self, rev: Revision) -> Result<bool> {
        if let Some(e) = self.injected(Step::Unlock) {
            return Err(e);
        }
        fenced_delete(&self.client, self.key.clone(), rev).await
    }
}

/// While armed, an enqueue has not settled what its put did: dropped armed, it has the
/// background releaser remove a key of ours that was never handed out.
struct Unsettled<'a> {
    queue: &'a Queue,
    armed: bool,
}

impl<'a> Unsettled<'a> {
    fn new(queue: &'a Queue) -> Unsettled<'a> {
        Unsettled { queue, armed: true }
    }

    fn settle(&mut self) {
        self.armed = false;
    }
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if self.armed {
            let q = self.queue;
            let job = Job::Sweep {
                slot: q.slot.clone(),
                key: q.key.clone(),
                lease: q.lease,
            };
            // Without a releaser the key stays until its lease ends: `send` says so.
            q.releaser.send(job);
        }
    }
}

/// Our key at the head of its queue: what a mutex guard and an election leadership both
/// are, and what they both do with it.
pub(crate) struct Held {
    pub queue: Queue,
    /// The key's create revision: the fencing token.
    pub rev: Revision,
    /// The revision at which the key was seen at the head.
    pub seen_at: Revision,
    /// Releases the key in the background when dropped armed.
    pending: Option<Pending>,
}

impl Held {
    /// The key, `NAME/LEASE`.
    pub fn key(&self) -> &Bytes {
        &self.queue.key
    }

    /// Holds while the key is still this one.
    pub fn compare(&self) -> Compare {
        self.queue.key_created_at(self.rev)
    }

    /// Waits until the key is gone or the session ends.
    pub async fn lost(&self) -> LostCause {
        self.queue.lost(self.rev, self.seen_at).await
    }

    /// Gives the key up (`unlock()`, `resign()`): [`Queue::fenced_delete`] of it, then,
    /// when that worked, the pending release is disarmed. On an error it stays armed,
    /// and the background releaser takes the key over when its owner drops it.
    pub async fn give_up(&mut self) -> Result<bool> {
        let result = self.queue.fenced_delete(self.rev).await;
        if result.is_ok()
            && let Some(pending) = self.pending.take()
        {
            pending.disarm();
        }
        result
    }

    /// `Debug` for the recipe type `name` holding this key: the key, as text, and its
    /// revision, named `rev_name`.
    pub fn fmt_as(&self, name: &str, rev_name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("key", &String::from_utf8_lossy(&self.queue.key))
            .field(rev_name, &self.rev)
            .finish()
    }
}

/// A request of the queue that a test can make fail (the test-only `faults` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The put of `lock()` / `campaign()`, failed unsent.
    Enqueue,
    /// The put of `lock()` / `campaign()`, sent (and maybe applied), then failed.
    EnqueueSent,
    /// The read after a put of unknown outcome, failed unsent.
    Look,
    /// The fenced delete of `unlock()` / `resign()`, failed unsent.
    Unlock,
}

/// Test-only fault injection: makes chosen requests of a queue fail with an unknown
/// outcome without sending them (as if the connection broke before the server read
/// them), and holds the background releaser back, so that tests can drive the queue
/// through the interleavings that randomized fault runs find.
#[cfg(test)]
pub(crate) mod faults;
