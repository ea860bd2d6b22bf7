//! One key kept registered under a lease, put back whenever the lease is lost.
//!
//! Shared by [`Registrar`](super::Registrar) and the
//! [`Registry`](crate::registry::Registry).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Client, Error, ErrorKind, LeaseId};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::lease_keeper::{KeeperState, LeaseKeeper, LostReason};

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
    /// Registration failed for good (for example permission denied); nothing is retried.
    Failed {
        /// What failed.
        error: Arc<Error>,
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
            | RegistrationState::Lost { registrations, .. } => *registrations,
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

/// A view of one registration: its key and its state. Cheap to clone; dropping it does
/// nothing (the registrar or registry that made it owns the registration).
#[derive(Debug, Clone)]
pub struct Registration {
    key: Bytes,
    state: watch::Receiver<RegistrationState>,
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

    /// Waits until the key is registered at least `n` times in all and is registered
    /// now; returns its lease. Fails when the registration failed for good or ended.
    pub async fn registered(&self, n: u64) -> etcdkit::Result<LeaseId> {
        let mut state = self.state.clone();
        let result = state
            .wait_for(|s| match s {
                RegistrationState::Registered { registrations, .. } => *registrations >= n,
                RegistrationState::Failed { .. } | RegistrationState::Deregistered => true,
                _ => false,
            })
            .await;
        match result.as_deref() {
            Ok(RegistrationState::Registered { lease, .. }) => Ok(*lease),
            Ok(RegistrationState::Failed { error }) => Err(copy_error(error)),
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

/// The owner of a registration task. **Drop** aborts the task: renewals stop and the key
/// expires with its lease.
pub(crate) struct Registrant {
    view: Registration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<etcdkit::Result<()>>,
}

impl Registrant {
    /// Starts registering `spec.key` in the background.
    pub fn start(spec: Spec) -> Registrant {
        let (state, rx) = watch::channel(RegistrationState::Registering { registrations: 0 });
        let (stop, stop_rx) = oneshot::channel();
        let view = Registration {
            key: spec.key.clone(),
            state: rx,
        };
        let task = tokio::spawn(run(spec, state, stop_rx));
        Registrant {
            view,
            stop: Some(stop),
            task,
        }
    }

    pub fn view(&self) -> &Registration {
        &self.view
    }

    /// Deregisters: revokes the lease (the key goes at once) and stops renewing.
    pub async fn close(mut self) -> etcdkit::Result<()> {
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

fn copy_error(e: &Error) -> Error {
    Error::new(e.kind(), e.to_string())
}

/// The pauses between two attempts to put the key back.
const BACKOFF: etcdkit::Backoff =
    etcdkit::Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

async fn run(
    spec: Spec,
    state: watch::Sender<RegistrationState>,
    mut stop: oneshot::Receiver<()>,
) -> etcdkit::Result<()> {
    let mut registrations: u64 = 0;
    // The previous lease after a loss: revoked (best effort) once the key moved on.
    let mut previous: Option<LeaseId> = None;
    let mut failures: u32 = 0;
    loop {
        state.send_replace(RegistrationState::Registering { registrations });
        let keeper = LeaseKeeper::builder(&spec.client, spec.ttl)
            .interval(spec.heartbeat)
            .start();
        let put = put_under(&spec, &keeper);
        let lease = tokio::select! {
            put = put => put,
            _ = &mut stop => return deregister(&spec, keeper, &state).await,
        };
        let lease = match lease {
            Ok(lease) => lease,
            Err(e) if lost(&keeper) => {
                tracing::info!(error = %e, "registration: lease lost before the key was written; again");
                failures = failures.saturating_add(1);
                tokio::select! {
                    () = tokio::time::sleep(BACKOFF.delay(failures)) => {}
                    _ = &mut stop => return deregister(&spec, keeper, &state).await,
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "registration failed");
                state.send_replace(RegistrationState::Failed { error: Arc::new(e) });
                let _ = (&mut stop).await;
                return deregister(&spec, keeper, &state).await;
            }
        };
        failures = 0;
        registrations = registrations.saturating_add(1);
        state.send_replace(RegistrationState::Registered {
            lease,
            registrations,
        });
        if let Some(old) = previous.take() {
            // The key is under the new lease now: revoking the old one (in case the
            // server still has it) touches nothing else.
            let _ = spec
                .client
                .lease()
                .revoke(old)
                .timeout(Duration::from_secs(2))
                .await;
        }
        let reason = tokio::select! {
            reason = keeper.lost() => reason,
            _ = &mut stop => return deregister(&spec, keeper, &state).await,
        };
        tracing::info!(%reason, key = ?spec.key, "registration: lease lost; registering again");
        previous = Some(lease);
        state.send_replace(RegistrationState::Lost {
            reason,
            registrations,
        });
    }
}

fn lost(keeper: &LeaseKeeper) -> bool {
    matches!(&*keeper.state().borrow(), KeeperState::Lost { .. })
}

/// Writes the key under the keeper's lease, retrying what may succeed later.
async fn put_under(spec: &Spec, keeper: &LeaseKeeper) -> etcdkit::Result<LeaseId> {
    let mut failures: u32 = 0;
    loop {
        let id = keeper.id().await?;
        match keeper.put(spec.key.clone(), spec.value.clone()).await {
            Ok(_) => return Ok(id),
            Err(e) if lost(keeper) => return Err(e),
            // The same key, value and lease: writing it twice is harmless.
            Err(e) if e.is_retryable() || e.is_outcome_unknown() => {
                tracing::debug!(error = %e, "registration: put failed; retrying");
                failures = failures.saturating_add(1);
                tokio::time::sleep(BACKOFF.delay(failures)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Revokes the lease (the key goes with it); deletes the key when that is not possible.
async fn deregister(
    spec: &Spec,
    keeper: LeaseKeeper,
    state: &watch::Sender<RegistrationState>,
) -> etcdkit::Result<()> {
    let was_alive = matches!(
        &*keeper.state().borrow(),
        KeeperState::Alive { .. } | KeeperState::Released { .. }
    );
    let revoked = keeper.close().await;
    let result = match (was_alive, revoked) {
        (true, Ok(())) => Ok(()),
        // Lost, failed, or still granting: the key may be under a lease we no longer
        // hold (for example one the server kept through a long outage).
        _ => spec.client.kv().delete(spec.key.clone()).await.map(|_| ()),
    };
    state.send_replace(RegistrationState::Deregistered);
    result
}
