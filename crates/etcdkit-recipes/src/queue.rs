//! The fair queue under the mutex and the election: each participant puts a key
//! `NAME/LEASE` under its session's lease; keys are served in creation-revision order,
//! and each waiter watches only the key just before its own.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use etcdkit::kv::{Compare, CompareOp, Delete, Get, Put, SortOrder, SortTarget, TxnOpResponse};
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, KeyValue, LeaseId, Result, Revision};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::lease_keeper::{KeeperState, LostReason};
use crate::session::Session;

/// How many times the background releaser tries a fenced delete before leaving the key to
/// expire with its lease.
const RELEASE_ATTEMPTS: u32 = 5;

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
            LostCause::SessionDropped => f.write_str("the session was dropped"),
            LostCause::KeyGone => f.write_str("the key was deleted by someone else"),
        }
    }
}

impl LostCause {
    pub(crate) fn into_error(self, what: &str) -> Error {
        Error::new(ErrorKind::SessionLost, format!("{what}: {self}"))
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
    releaser: Releaser,
}

impl Queue {
    pub fn new(session: &Session, name: &[u8]) -> Queue {
        let mut prefix = BytesMut::with_capacity(name.len() + 1);
        prefix.extend_from_slice(name);
        prefix.extend_from_slice(b"/");
        let prefix = prefix.freeze();
        let lease = session.lease_id();
        let mut key = BytesMut::from(prefix.as_ref());
        key.extend_from_slice(format!("{lease:x}").as_bytes());
        Queue {
            client: session.client().clone(),
            prefix,
            key: key.freeze(),
            lease,
            state: session.state(),
            releaser: Releaser::new(session.client().clone()),
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

    /// Puts this participant's key with `value` under the lease, and returns its
    /// creation revision with a guard that deletes it again unless disarmed.
    pub async fn enqueue(&self, value: Bytes, what: &str) -> Result<(Revision, Pending)> {
        if let Some(cause) = self.session_ended() {
            return Err(cause.into_error(what));
        }
        self.releaser.start();
        // A key of ours that a dropped guard left for the background releaser is
        // removed (or found removed) and the put tried again, a bounded number of times.
        let mut attempts = 0;
        let rev = loop {
            attempts += 1;
            let put = self
                .client
                .kv()
                .txn()
                .when([Compare::create_revision(
                    self.key.clone(),
                    CompareOp::Equal,
                    Revision(0),
                )])
                .and_then([Put::new(self.key.clone(), value.clone()).lease(self.lease)])
                .or_else([Get::new(self.key.clone())])
                .await;
            match put {
                Ok(r) if r.succeeded() => break r.header().revision(),
                Ok(r) => {
                    let existing = r.into_responses().into_iter().find_map(|r| match r {
                        TxnOpResponse::Get(get) => get.into_kvs().into_iter().next(),
                        _ => None,
                    });
                    if let Some(kv) = existing
                        && attempts < 3
                    {
                        let rev = kv.create_revision();
                        if self.releaser.is_queued(rev) {
                            fenced_delete(&self.client, self.key.clone(), rev).await?;
                            continue;
                        }
                        // The releaser may have deleted it since: look again.
                        let now = self.client.kv().get(self.key.clone()).await?;
                        if now.first().is_none_or(|kv| kv.create_revision() != rev) {
                            continue;
                        }
                    }
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!(
                            "{what}: this session already holds or waits for it (key {})",
                            String::from_utf8_lossy(&self.key)
                        ),
                    ));
                }
                Err(e) if e.kind() == ErrorKind::LeaseNotFound => {
                    return Err(LostCause::Session(LostReason::NotFound).into_error(what));
                }
                Err(e) if e.is_outcome_unknown() => {
                    // The put may have been applied: adopt the key if it is ours.
                    match self.own_key().await? {
                        Some(kv) => break kv.create_revision(),
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        };
        Ok((rev, self.pending(rev)))
    }

    /// The participant's key, if it exists under this lease.
    async fn own_key(&self) -> Result<Option<KeyValue>> {
        let response = self.client.kv().get(self.key.clone()).await?;
        Ok(response
            .into_kvs()
            .into_iter()
            .find(|kv| kv.lease() == Some(self.lease)))
    }

    /// A guard that releases the key of `rev` when dropped.
    pub fn pending(&self, rev: Revision) -> Pending {
        Pending {
            key: self.key.clone(),
            rev,
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
        loop {
            if let Some(cause) = self.session_ended() {
                return Err(cause.into_error(what));
            }
            let before = Get::new(self.prefix.clone())
                .prefix()
                .max_create_revision(Revision(rev.get().saturating_sub(1)))
                .sort(SortTarget::Create, SortOrder::Descend)
                .limit(1);
            let response = self
                .client
                .kv()
                .txn()
                .when([Compare::create_revision(
                    self.key.clone(),
                    CompareOp::Equal,
                    rev,
                )])
                .and_then([before])
                .await?;
            if !response.succeeded() {
                return Err(LostCause::KeyGone.into_error(what));
            }
            let seen_at = response.header().revision();
            let predecessor = response.into_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(get) => get.into_kvs().into_iter().next(),
                _ => None,
            });
            let Some(predecessor) = predecessor else {
                return Ok(seen_at);
            };
            if try_only {
                return Err(busy(&predecessor));
            }
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
        const RECHECK: etcdkit::Backoff = etcdkit::Backoff::new(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(2),
        );
        let mut from = seen_at.next();
        let mut failures: u32 = 0;
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
                    failures = 0;
                    from = response.header().revision().next();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "checking a lock key failed; watching again");
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        cause = self.session_lost() => return cause,
                        _ = tokio::time::sleep(RECHECK.delay(failures)) => {}
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

    /// Deletes the key of `rev` if it is still that key. Returns whether it was.
    pub async fn fenced_delete(&self, rev: Revision) -> Result<bool> {
        fenced_delete(&self.client, self.key.clone(), rev).await
    }
}

async fn fenced_delete(client: &Client, key: Bytes, rev: Revision) -> Result<bool> {
    let response = client
        .kv()
        .txn()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
        .and_then([Delete::new(key)])
        .await?;
    Ok(response.succeeded())
}

/// A queue key that is released (by a fenced delete, in the background) when dropped,
/// unless disarmed.
#[derive(Debug)]
pub(crate) struct Pending {
    key: Bytes,
    rev: Revision,
    releaser: Releaser,
    armed: bool,
}

impl Pending {
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            self.releaser.release(self.key.clone(), self.rev);
        }
    }
}

/// Fenced deletes on behalf of dropped guards: a task started with the first release and
/// fed through a channel, so a `Drop` neither blocks nor spawns. The task ends once every
/// handle is gone and the queued deletes are done.
#[derive(Clone)]
pub(crate) struct Releaser {
    client: Client,
    queue: Arc<OnceLock<mpsc::UnboundedSender<(Bytes, Revision)>>>,
    /// The revisions of the keys waiting to be released.
    queued: Arc<std::sync::Mutex<HashSet<Revision>>>,
}

impl fmt::Debug for Releaser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Releaser").finish_non_exhaustive()
    }
}

impl Releaser {
    fn new(client: Client) -> Releaser {
        Releaser {
            client,
            queue: Arc::new(OnceLock::new()),
            queued: Arc::default(),
        }
    }

    /// Starts the task, if not yet. Called from async code (within a runtime).
    pub fn start(&self) {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(release_task(self.client.clone(), rx, self.queued.clone()));
            tx
        });
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, HashSet<Revision>> {
        self.queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the key of `rev` waits to be released in the background.
    fn is_queued(&self, rev: Revision) -> bool {
        self.queued().contains(&rev)
    }

    fn release(&self, key: Bytes, rev: Revision) {
        match self.queue.get() {
            Some(tx) => {
                self.queued().insert(rev);
                let _ = tx.send((key, rev));
            }
            None => tracing::warn!("no releaser running; the key expires with its lease"),
        }
    }
}

async fn release_task(
    client: Client,
    mut rx: mpsc::UnboundedReceiver<(Bytes, Revision)>,
    queued: Arc<std::sync::Mutex<HashSet<Revision>>>,
) {
    while let Some((key, rev)) = rx.recv().await {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match fenced_delete(&client, key.clone(), rev).await {
                Ok(_) => break,
                Err(e) if attempt < RELEASE_ATTEMPTS && e.is_retryable() => {
                    tracing::debug!(error = %e, "releasing a dropped lock failed; retrying");
                    const RELEASE_BACKOFF: etcdkit::Backoff = etcdkit::Backoff::new(
                        std::time::Duration::from_millis(200),
                        std::time::Duration::from_secs(2),
                    );
                    tokio::time::sleep(RELEASE_BACKOFF.delay(attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "releasing a dropped lock failed; it expires with its lease"
                    );
                    break;
                }
            }
        }
        queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&rev);
    }
}
