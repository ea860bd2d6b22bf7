//! A session: one lease, kept alive, that locks, elections and registrations share, so
//! they all end together when the session does.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use etcdkit_recipes::session::Session;
//!
//! let session = Session::new(&client).await?; // a 60 s lease, kept alive
//! client.kv().put("workers/7", "busy").lease(session.lease_id()).await?;
//! // ...
//! session.close().await?; // revokes: "workers/7" is deleted now
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - [`Session::new`] grants a lease (60 s unless [`SessionBuilder::ttl`] says otherwise)
//!   and returns once it is granted; a grant that fails for good is returned as the error.
//!   [`SessionBuilder::resume`] takes over an existing lease instead (after checking with
//!   the server that it exists), for a process that restarts within the lease's TTL.
//! - The lease is kept alive by a [`LeaseKeeper`]: renewals, re-opened streams and the
//!   conditions for losing it are those of the [lease keeper](crate::lease_keeper).
//! - [`Session::lost`] finishes when the lease is lost (revoked elsewhere, expired
//!   because the cluster was out of reach for longer than the TTL, or not found); what
//!   was held under the session (locks, leadership, registrations) is gone then.
//! - The locks and campaigns made on a session share one background releaser task
//!   (started with the first of them) that deletes the keys of dropped guards and of
//!   failed unlocks; it ends once the session and every mutex, guard and leadership made
//!   from it are gone and their releases are done.
//! - **Drop** stops the renewals: the lease, and whatever is held under it, expires after
//!   the TTL. Nothing is revoked and nothing blocks.
//! - [`Session::close`] revokes the lease, so what is held under it is released at once,
//!   and reports the revocation's error if it failed.

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::{Client, Error, ErrorKind, LeaseId, Result};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::lease_keeper::{KeeperEvent, KeeperState, LeaseKeeper, LostReason};
use crate::queue::Places;

/// The default TTL of a session's lease.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// How to open a [`Session`]; await it. From [`Session::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until awaited"]
pub struct SessionBuilder {
    client: Client,
    ttl: Duration,
    resume: Option<LeaseId>,
}

impl SessionBuilder {
    /// The lease's TTL (default 60 s; rounded up to whole seconds).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Resumes the session of an existing lease instead of granting a new one. Opening
    /// fails with [`ErrorKind::LeaseNotFound`] when the lease does not exist.
    pub fn resume(mut self, id: LeaseId) -> Self {
        self.resume = Some(id);
        self
    }
}

impl IntoFuture for SessionBuilder {
    type Output = Result<Session>;
    type IntoFuture = BoxFuture<'static, Result<Session>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut keeper = LeaseKeeper::builder(&self.client, self.ttl);
            if let Some(id) = self.resume {
                let ttl = self.client.lease().time_to_live(id).await?;
                if !ttl.exists() || ttl.ttl() <= 0 {
                    return Err(Error::new(
                        ErrorKind::LeaseNotFound,
                        format!("cannot resume the session of lease {id:x}: it does not exist"),
                    ));
                }
                keeper = keeper.resume(id);
            }
            let keeper = keeper.start();
            let lease_id = match self.resume {
                Some(id) => id,
                None => keeper.id().await?,
            };
            let places = Places::new(self.client.clone(), keeper.state());
            Ok(Session {
                keeper,
                lease_id,
                places,
            })
        })
    }
}

/// A lease-backed session. See the [module docs](self) for its behavior.
///
/// **Drop** stops the renewals (the lease expires after its TTL); [`close`](Session::close)
/// revokes it.
#[derive(Debug)]
pub struct Session {
    keeper: LeaseKeeper,
    lease_id: LeaseId,
    /// The places of the session's locks and campaigns, and their background releaser.
    places: Places,
}

impl Session {
    /// Opens a session with a new lease of [`DEFAULT_TTL`].
    ///
    /// # Errors
    ///
    /// The lease grant's failure ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn new(client: &Client) -> Result<Session> {
        Session::builder(client).await
    }

    /// A session with more options.
    pub fn builder(client: &Client) -> SessionBuilder {
        SessionBuilder {
            client: client.clone(),
            ttl: DEFAULT_TTL,
            resume: None,
        }
    }

    /// The session's lease.
    pub fn lease_id(&self) -> LeaseId {
        self.lease_id
    }

    /// The client the session uses.
    pub fn client(&self) -> &Client {
        self.keeper.client()
    }

    /// The lease's state.
    pub fn state(&self) -> watch::Receiver<KeeperState> {
        self.keeper.state()
    }

    /// The lease's events (see [`LeaseKeeper::events`]).
    pub fn events(&self) -> impl Stream<Item = KeeperEvent> + Send + 'static + use<> {
        self.keeper.events()
    }

    /// Whether the session has ended (its lease is lost).
    pub fn is_lost(&self) -> bool {
        matches!(*self.keeper.state().borrow(), KeeperState::Lost { .. })
    }

    /// Waits until the session's lease is lost and says why.
    pub async fn lost(&self) -> LostReason {
        self.keeper.lost().await
    }

    /// What the session's locks and campaigns share.
    pub(crate) fn places(&self) -> &Places {
        &self.places
    }

    /// The session's lease keeper.
    pub fn keeper(&self) -> &LeaseKeeper {
        &self.keeper
    }

    /// Ends the session: revokes the lease, so everything held under it is released now.
    ///
    /// # Errors
    ///
    /// The revoke's failure, as
    /// [`LeaseKeeper::close`](crate::lease_keeper::LeaseKeeper::close).
    pub async fn close(self) -> Result<()> {
        self.keeper.close().await
    }
}
