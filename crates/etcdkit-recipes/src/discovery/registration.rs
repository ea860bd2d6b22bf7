//! One key kept registered under a lease, put back whenever the lease is lost.
//!
//! Shared by [`Registrar`](super::Registrar) and the
//! [`Registry`](crate::registry::Registry).
//!
//! The registration never gives up on its own: every failed attempt is reported
//! ([`RegistrationState::Retrying`], [`RegistrationEvent::Failed`]) and tried again after
//! a pause (capped exponential backoff with jitter) until it is deregistered or its owner
//! dropped. (While a lease is being granted, its [`LeaseKeeper`] retries the grant
//! itself; the state stays `Registering` meanwhile.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Client, Error, ErrorKind, LeaseId};
use futures_util::{Stream, StreamExt};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::backoff::Backoff;
use crate::lease_keeper::{KeeperState, LeaseKeeper, LostReason};

/// The first and the longest pause between two attempts to write the key.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// How many events a subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 64;

/// Where a registration stands.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum RegistrationState {
    /// The lease is being granted and the key written (first time or again).
    Registering {
        /// How many times the key was registered so far.
        registrations: u64,
    },
    /// The key is in etcd under `lease`.
    Registered {
        /// The lease the key is under.
        lease: LeaseId,
        /// How many times the key was registered: 1 at first, one more after each loss.
        registrations: u64,
    },
    /// The lease was lost; the key is being put back under a new lease.
    Lost {
        /// Why the lease was lost.
        reason: LostReason,
        /// How many times the key was registered so far.
        registrations: u64,
    },
    /// The last attempt to write the key failed; it is tried again after a pause (under
    /// a new lease when the lease turned out to be gone). Nothing stops the retries but
    /// deregistering.
    Retrying {
        /// Why the last attempt failed.
        error: Arc<Error>,
        /// How many times the key was registered so far.
        registrations: u64,
        /// How many attempts in a row have failed.
        failures: u32,
    },
    /// Deregistered: the key was deleted and nothing is renewed any more.
    Deregistered,
}

impl RegistrationState {
    /// How many times the key was registered (0 before the first time).
    pub fn registrations(&self) -> u64 {
        match self {
            RegistrationState::Registering { registrations }
            | RegistrationState::Registered { registrations, .. }
            | RegistrationState::Lost { registrations, .. }
            | RegistrationState::Retrying { registrations, .. } => *registrations,
            _ => 0,
        }
    }

    /// The lease, while registered.
    pub fn lease(&self) -> Option<LeaseId> {
        match self {
            RegistrationState::Registered { lease, .. } => Some(*lease),
            _ => None,
        }
    }
}

/// Something that happened to a registration, from [`Registration::events`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum RegistrationEvent {
    /// The key was written for the first time, under `lease`.
    Registered {
        /// The lease the key is under.
        lease: LeaseId,
    },
    /// The lease the key was under is lost (the key is gone with it, or soon will be).
    LeaseLost {
        /// The lost lease.
        lease: LeaseId,
        /// Why it was lost.
        reason: LostReason,
    },
    /// The key is being written again, under a new lease, after the loss of the last.
    Reregistering {
        /// How many times the key was registered so far.
        registrations: u64,
    },
    /// An attempt to write the key failed; the next one comes after `retry_in`.
    Failed {
        /// What went wrong.
        error: Arc<Error>,
        /// The pause before the next attempt.
        retry_in: Duration,
    },
    /// The key was written again after a loss, under `lease`.
    Reregistered {
        /// The new lease the key is under.
        lease: LeaseId,
        /// How many times the key was registered, this time included.
        registrations: u64,
    },
    /// Deregistered: the key was deleted; no more events follow.
    Deregistered,
    /// This subscriber fell behind and missed this many events.
    Lagged {
        /// How many.
        missed: u64,
    },
}

/// A view of one registration: its key, its state and its events. Cheap to clone;
/// dropping it does nothing (the registrar or registry that made it owns the
/// registration).
#[derive(Debug, Clone)]
pub struct Registration {
    key: Bytes,
    state: watch::Receiver<RegistrationState>,
    events: broadcast::WeakSender<RegistrationEvent>,
    /// Every event since the start, for the first [`Registration::events`] stream.
    first_events: Arc<Mutex<Option<broadcast::Receiver<RegistrationEvent>>>>,
}

impl Registration {
    /// The registered key.
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The state now.
    pub fn current(&self) -> RegistrationState {
        self.state.borrow().clone()
    }

    /// The state, as a watch receiver that sees every change.
    pub fn state(&self) -> watch::Receiver<RegistrationState> {
        self.state.clone()
    }

    /// The events. The first stream taken from a registration (or any of its clones)
    /// starts with every event since it was started; later ones start from the moment
    /// they are taken. A subscriber that falls behind gets
    /// [`RegistrationEvent::Lagged`]. The stream ends when the registration does
    /// (deregistered, or its owner dropped).
    pub fn events(&self) -> impl Stream<Item = RegistrationEvent> + Send + 'static + use<> {
        let first = match self.first_events.lock() {
            Ok(mut first) => first.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let receiver = first
            .or_else(|| self.events.upgrade().map(|events| events.subscribe()))
            .unwrap_or_else(|| {
                // The registration has ended: a stream that ends at once.
                broadcast::channel(1).1
            });
        BroadcastStream::new(receiver).map(|event| match event {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => RegistrationEvent::Lagged { missed },
        })
    }

    /// Waits until the key is registered at least `n` times in all and is registered
    /// now; returns its lease.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Cancelled`] when the registration ended first (deregistered, or its
    /// owner dropped). Failed attempts do not end the wait: they are retried (see
    /// [`RegistrationState::Retrying`]).
    pub async fn registered(&self, n: u64) -> etcdkit::Result<LeaseId> {
        let mut state = self.state.clone();
        let result = state
            .wait_for(|s| match s {
                RegistrationState::Registered { registrations, .. } => *registrations >= n,
                RegistrationState::Deregistered => true,
                _ => false,
            })
            .await;
        match result.as_deref() {
            Ok(RegistrationState::Registered { lease, .. }) => Ok(*lease),
            _ => Err(Error::new(
                ErrorKind::Cancelled,
                "the registration has ended",
            )),
        }
    }
}

/// What to register.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub client: Client,
    pub key: Bytes,
    pub value: Bytes,
    pub ttl: Duration,
    pub heartbeat: Duration,
}

/// The owner of one running registration, as [`KitClient::register`] returns it (the
/// [`Registrar`](super::Registrar) holds it). Its [`view`](Self::view) tells how the
/// registration stands.
///
/// **Drop** stops the registration without deleting the key: renewals stop and the key
/// expires with its lease after the TTL. [`KitClient::deregister`] deletes it at once.
///
/// [`KitClient::register`]: super::KitClient::register
/// [`KitClient::deregister`]: super::KitClient::deregister
pub struct Registrant {
    view: Registration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<etcdkit::Result<()>>,
}

impl std::fmt::Debug for Registrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrant")
            .field("key", &self.view.key)
            .finish()
    }
}

impl Registrant {
    /// Starts registering `spec.key` in etcd in the background.
    pub(crate) fn start(spec: Spec) -> Registrant {
        Registrant::spawn(spec.key.clone(), move |report, stop| {
            run(spec, report, stop)
        })
    }

    /// Runs `task` in the background as the registration of `key`: it reports through
    /// the [`Report`] and deregisters when the stop signal fires (then returns).
    pub(crate) fn spawn<F, Fut>(key: Bytes, task: F) -> Registrant
    where
        F: FnOnce(Report, oneshot::Receiver<()>) -> Fut,
        Fut: std::future::Future<Output = etcdkit::Result<()>> + Send + 'static,
    {
        let (state, rx) = watch::channel(RegistrationState::Registering { registrations: 0 });
        let (events, first) = broadcast::channel(EVENT_BUFFER);
        let (stop, stop_rx) = oneshot::channel();
        let view = Registration {
            key,
            state: rx,
            events: events.downgrade(),
            first_events: Arc::new(Mutex::new(Some(first))),
        };
        let task = tokio::spawn(task(Report { state, events }, stop_rx));
        Registrant {
            view,
            stop: Some(stop),
            task,
        }
    }

    /// The registration's key, state and events.
    pub fn view(&self) -> &Registration {
        &self.view
    }

    /// Deregisters: revokes the lease (the key goes at once) and stops renewing.
    pub(crate) async fn close(mut self) -> etcdkit::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(Error::new(
                ErrorKind::Cancelled,
                format!("the registration task ended abnormally: {e}"),
            )),
        }
    }
}

impl Drop for Registrant {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a registration task reports its state and events.
pub(crate) struct Report {
    state: watch::Sender<RegistrationState>,
    events: broadcast::Sender<RegistrationEvent>,
}

impl Report {
    pub(crate) fn state(&self, state: RegistrationState) {
        self.state.send_replace(state);
    }

    pub(crate) fn event(&self, event: RegistrationEvent) {
        let _ = self.events.send(event);
    }
}

async fn run(spec: Spec, report: Report, mut stop: oneshot::Receiver<()>) -> etcdkit::Result<()> {
    let mut registrations: u64 = 0;
    // The previous lease after a loss: revoked (best effort) once the key moved on.
    let mut previous: Option<LeaseId> = None;
    let mut backoff = Backoff::new(BACKOFF.0, BACKOFF.1);
    let mut failures: u32 = 0;
    // The keeper of the lease the next attempt writes under, while that lease is alive.
    let mut kept: Option<LeaseKeeper> = None;
    loop {
        let keeper = match kept.take() {
            Some(keeper) if !lost(&keeper) => keeper,
            _ => LeaseKeeper::builder(&spec.client, spec.ttl)
                .interval(spec.heartbeat)
                .start(),
        };
        if failures == 0 {
            report.state(RegistrationState::Registering { registrations });
        }
        let put = tokio::select! {
            put = put_under(&spec, &keeper) => put,
            _ = &mut stop => return deregister(&spec, Some(keeper), &report).await,
        };
        match put {
            Ok(lease) => {
                registrations = registrations.saturating_add(1);
                failures = 0;
                backoff.reset();
                report.state(RegistrationState::Registered {
                    lease,
                    registrations,
                });
                report.event(if registrations == 1 {
                    RegistrationEvent::Registered { lease }
                } else {
                    RegistrationEvent::Reregistered {
                        lease,
                        registrations,
                    }
                });
                if let Some(old) = previous.take().filter(|old| *old != lease) {
                    // The key is under the new lease now: revoking the old one (in case
                    // the server still has it) touches nothing else.
                    let _ = spec
                        .client
                        .lease()
                        .revoke(old)
                        .timeout(Duration::from_secs(2))
                        .await;
                }
                let reason = tokio::select! {
                    reason = keeper.lost() => reason,
                    _ = &mut stop => return deregister(&spec, Some(keeper), &report).await,
                };
                tracing::info!(%reason, key = ?spec.key, "registration: lease lost; registering again");
                previous = Some(lease);
                report.event(RegistrationEvent::LeaseLost {
                    lease,
                    reason: reason.clone(),
                });
                report.state(RegistrationState::Lost {
                    reason,
                    registrations,
                });
                report.event(RegistrationEvent::Reregistering { registrations });
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                // "Requested lease not found" means the lease is gone, even when its
                // keeper has not noticed yet (it learns that only at its next renewal,
                // which may be a heartbeat away): the next attempt takes a new lease.
                // Any other failure is retried under the same lease while it lives.
                // Nothing is final: an error the server keeps returning (permission
                // denied, say) is retried, reported each time, until deregistered.
                let lease_gone = e.kind() == ErrorKind::LeaseNotFound || lost(&keeper);
                let keeper = if lease_gone {
                    drop(keeper);
                    None
                } else {
                    Some(keeper)
                };
                let retry_in = backoff.next_pause();
                if failures == 1 && !e.is_retryable() && !lease_gone {
                    // Told once per run of failures; the events tell every one.
                    tracing::warn!(error = %e, ?retry_in, key = ?spec.key, "registration: attempt failed; retrying");
                } else {
                    tracing::debug!(error = %e, ?retry_in, key = ?spec.key, "registration: attempt failed; retrying");
                }
                let error = Arc::new(e);
                report.state(RegistrationState::Retrying {
                    error: error.clone(),
                    registrations,
                    failures,
                });
                report.event(RegistrationEvent::Failed { error, retry_in });
                tokio::select! {
                    () = tokio::time::sleep(retry_in) => {}
                    _ = &mut stop => return deregister(&spec, keeper, &report).await,
                }
                kept = keeper;
            }
        }
    }
}

fn lost(keeper: &LeaseKeeper) -> bool {
    matches!(&*keeper.state().borrow(), KeeperState::Lost { .. })
}

/// Writes the key under the keeper's lease (waiting for its grant first). Writing the
/// same key, value and lease again after an unknown outcome is harmless.
async fn put_under(spec: &Spec, keeper: &LeaseKeeper) -> etcdkit::Result<LeaseId> {
    let id = keeper.id().await?;
    #[cfg(test)]
    gates::pass(&spec.key, id).await;
    keeper.put(spec.key.clone(), spec.value.clone()).await?;
    Ok(id)
}

/// Revokes the lease (the key goes with it); deletes the key when that is not possible.
async fn deregister(
    spec: &Spec,
    keeper: Option<LeaseKeeper>,
    report: &Report,
) -> etcdkit::Result<()> {
    let was_alive = keeper.as_ref().is_some_and(|keeper| {
        matches!(
            &*keeper.state().borrow(),
            KeeperState::Alive { .. } | KeeperState::Released { .. }
        )
    });
    let revoked = match keeper {
        Some(keeper) => keeper.close().await,
        None => Ok(()),
    };
    let result = match (was_alive, revoked) {
        (true, Ok(())) => Ok(()),
        // Lost, failed, or still granting: the key may be under a lease we no longer
        // hold (for example one the server kept through a long outage).
        _ => spec.client.kv().delete(spec.key.clone()).await.map(|_| ()),
    };
    report.state(RegistrationState::Deregistered);
    report.event(RegistrationEvent::Deregistered);
    result
}

/// Test-only: holds a registration's puts of a key at a gate (after its lease was
/// granted, before the put is sent), and says with which lease each one arrived, so that
/// tests can act on the lease in between (revoke it from outside, as a fault run did).
#[cfg(test)]
pub(crate) mod gates {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    use bytes::Bytes;
    use etcdkit::LeaseId;
    use tokio::sync::watch;

    /// A gate on one key's puts.
    #[derive(Debug)]
    pub(crate) struct Gate {
        held: watch::Sender<bool>,
        arrived: watch::Sender<Vec<LeaseId>>,
    }

    impl Gate {
        /// Lets every put through from now on.
        pub fn open(&self) {
            self.held.send_replace(false);
        }

        /// Holds the puts that arrive from now on.
        pub fn close(&self) {
            self.held.send_replace(true);
        }

        /// Waits until `n` puts arrived at the gate; returns the lease of the `n`th.
        pub async fn arrived(&self, n: usize) -> LeaseId {
            let mut arrived = self.arrived.subscribe();
            let arrived = arrived.wait_for(|a| a.len() >= n).await;
            match arrived.as_deref().map(|a| a.get(n - 1).copied()) {
                Ok(Some(lease)) => lease,
                _ => LeaseId(0),
            }
        }
    }

    fn gates() -> &'static Mutex<HashMap<Bytes, Arc<Gate>>> {
        static GATES: OnceLock<Mutex<HashMap<Bytes, Arc<Gate>>>> = OnceLock::new();
        GATES.get_or_init(Mutex::default)
    }

    /// Installs a closed gate on the puts of `key`.
    pub fn install(key: impl Into<Bytes>) -> Arc<Gate> {
        let gate = Arc::new(Gate {
            held: watch::channel(true).0,
            arrived: watch::channel(Vec::new()).0,
        });
        gates()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.into(), gate.clone());
        gate
    }

    /// Called before each put of `key` under `lease`: waits while a gate holds it.
    pub async fn pass(key: &Bytes, lease: LeaseId) {
        let gate = gates()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(gate) = gate {
            gate.arrived.send_modify(|a| a.push(lease));
            let mut held = gate.held.subscribe();
            let _ = held.wait_for(|held| !held).await;
        }
    }
}
