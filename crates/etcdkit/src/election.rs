//! The Election service of the server: campaign for leadership under a lease, proclaim a
//! new value while leader, resign, ask who leads, and observe leader changes.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use futures_util::StreamExt;
//!
//! let lease = client.lease().grant(Duration::from_secs(10)).await?;
//! let leader = client.election().campaign("scheduler", lease.id(), "node-1").await?;
//! client.election().proclaim(&leader, "node-1 (draining)").await?;
//! client.election().resign(&leader).await?;
//!
//! let mut changes = client.election().observe("scheduler").await?;
//! while let Some(change) = changes.next().await {
//!     let change = change?;
//!     println!("leader is now {:?}", change.kv().value());
//! }
//! # Ok(()) }
//! ```
//!
//! A campaign puts a key `NAME/LEASE` (lease id in hexadecimal) under the lease and waits
//! until every key of `NAME/` created before it is gone; the candidate whose key is the
//! oldest leads, and its key's value is the election's value. The [`LeaderKey`] a
//! campaign returns identifies this leadership (the key and its creation revision):
//! [`Election::proclaim`] and [`Election::resign`] act only while that very key still
//! exists, so a former leader cannot overwrite or end a newer leadership.
//!
//! For a handle that tracks its leadership and says when it is lost, see the `Election`
//! of `etcdkit-recipes`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::v3electionpb as pb;
use crate::lock::waiting_call;
use crate::namespace::Namespace;
use crate::transport::{Call, Transport};
use crate::types::{KeyValue, LeaseId, ResponseHeader, Revision};

/// How many leader changes an [`Observer`] holds before it stops reading from the server.
const OBSERVE_BUFFER: usize = 64;

/// The Election API of a [`Client`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Election {
    pub(crate) client: Client,
}

impl Election {
    /// Campaigns for leadership of `name` under `lease`, with `value` as the election's
    /// value once elected. Waits until elected (unless [`Campaign::timeout`] says
    /// otherwise) and returns the [`LeaderKey`] of the leadership.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidArgument`] for lease 0, before anything is sent: etcd would
    ///   campaign under a 60-second lease of its own that nobody renews, and the
    ///   leadership would vanish a minute later.
    /// - [`ErrorKind::EmptyKey`] for an empty name; [`ErrorKind::LeaseNotFound`] for a
    ///   lease that does not exist.
    pub fn campaign(
        &self,
        name: impl Into<Bytes>,
        lease: LeaseId,
        value: impl Into<Bytes>,
    ) -> Campaign {
        Campaign {
            client: self.client.clone(),
            name: name.into(),
            lease,
            value: value.into(),
            timeout: None,
        }
    }

    /// Sets a new value for the election, as its leader.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotElectionLeader`] when `leader` no longer leads;
    /// [`ErrorKind::InvalidArgument`] for a leader key under lease 0 (no campaign makes
    /// one), before anything is sent.
    pub fn proclaim(&self, leader: &LeaderKey, value: impl Into<Bytes>) -> Proclaim {
        Proclaim {
            client: self.client.clone(),
            leader: leader.clone(),
            value: value.into(),
            timeout: None,
        }
    }

    /// The current leader's key and value. Fails with [`ErrorKind::NoElectionLeader`]
    /// when nobody leads.
    pub fn leader(&self, name: impl Into<Bytes>) -> Leader {
        Leader {
            client: self.client.clone(),
            name: name.into(),
            timeout: None,
        }
    }

    /// Gives up leadership: deletes the leader's key if it is still this leadership's
    /// (a former leader's resignation does nothing to a newer leader).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a leader key under lease 0 (no campaign makes
    /// one), before anything is sent.
    pub fn resign(&self, leader: &LeaderKey) -> Resign {
        Resign {
            client: self.client.clone(),
            leader: leader.clone(),
            timeout: None,
        }
    }

    /// A stream of the election's leaders: the current one (once there is one), then each
    /// change of leader or of its value. See [`Observer`].
    pub fn observe(&self, name: impl Into<Bytes>) -> Observe {
        Observe {
            client: self.client.clone(),
            name: name.into(),
        }
    }
}

/// One leadership of an election: the leader's key and its creation revision. A value to
/// pass around: keep it to [`proclaim`](Election::proclaim) and
/// [`resign`](Election::resign), or build one with [`LeaderKey::new`] (for a process that
/// took over the lease of another).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaderKey {
    name: Bytes,
    key: Bytes,
    revision: Revision,
    lease: LeaseId,
}

impl LeaderKey {
    /// A leader key from its parts.
    pub fn new(
        name: impl Into<Bytes>,
        key: impl Into<Bytes>,
        revision: Revision,
        lease: LeaseId,
    ) -> Self {
        LeaderKey {
            name: name.into(),
            key: key.into(),
            revision,
            lease,
        }
    }

    /// The election's name.
    pub fn name(&self) -> &Bytes {
        &self.name
    }

    /// The leader's key (`NAME/LEASE`).
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The key's creation revision: it identifies this leadership, and serves as a
    /// fencing token.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The lease the leadership is held under.
    pub fn lease(&self) -> LeaseId {
        self.lease
    }

    fn from_pb(key: pb::LeaderKey, ns: &Namespace) -> Self {
        let (mut name, mut k) = (key.name, key.key);
        ns.strip(&mut name);
        ns.strip(&mut k);
        LeaderKey {
            name,
            key: k,
            revision: Revision(key.rev),
            lease: LeaseId(key.lease),
        }
    }

    /// The key as request `op` sends it, in the namespace `ns`. A leader key under lease
    /// 0 came from no campaign: refused, since the server would make a session of its
    /// own for it.
    fn to_pb(&self, op: &'static str, ns: &Namespace) -> crate::Result<pb::LeaderKey> {
        self.lease.require_granted(op)?;
        Ok(pb::LeaderKey {
            name: ns.key(&self.name),
            key: ns.key(&self.key),
            rev: self.revision.0,
            lease: self.lease.0,
        })
    }
}

/// A campaign; await it. From [`Election::campaign`].
///
/// Sent once, it waits on one member. When the connection breaks while waiting the error
/// says the outcome is unknown: the campaign may have won. Campaigning again with the
/// same name and lease is safe: it finds the same key.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Campaign {
    client: Client,
    name: Bytes,
    lease: LeaseId,
    value: Bytes,
    timeout: Option<Duration>,
}

impl Campaign {
    timeout_method!("Gives up waiting after `timeout` (default: wait until elected).");
}

request_future! {
    /// Campaigns: waits until this candidate is the leader.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKey`] for an empty name and [`ErrorKind::InvalidArgument`] for lease 0
    /// (before sending); [`ErrorKind::LeaseNotFound`] when the lease ends while waiting;
    /// [`ErrorKind::Timeout`] when the timeout given passes first; the failures of [every
    /// request](crate::Error#failures-of-every-request).
    impl for Campaign => CampaignResponse, |this| {
        const OP: &str = "election.campaign";
        let call = waiting_call(OP, &this.name, this.lease, this.timeout)?;
        let ns = this.client.namespace().clone();
        let request = pb::CampaignRequest {
            name: ns.key(&this.name),
            lease: this.lease.0,
            value: this.value,
        };
        let response = this.client.transport().campaign(call, request).await?;
        let leader = response.leader.ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                "campaign answered without a leader key",
            )
            .with_operation(OP)
        })?;
        Ok(CampaignResponse {
            header: response.header.into(),
            leader: LeaderKey::from_pb(leader, &ns),
        })
    }
}

/// A won campaign.
#[derive(Debug, Clone)]
pub struct CampaignResponse {
    header: ResponseHeader,
    leader: LeaderKey,
}

impl CampaignResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The leadership won.
    pub fn leader(&self) -> &LeaderKey {
        &self.leader
    }

    /// Takes the leadership out.
    pub fn into_leader(self) -> LeaderKey {
        self.leader
    }
}

impl std::ops::Deref for CampaignResponse {
    type Target = LeaderKey;

    fn deref(&self) -> &LeaderKey {
        &self.leader
    }
}

/// A proclamation; await it. From [`Election::proclaim`]. A write: retried only when it
/// certainly never reached a server.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Proclaim {
    client: Client,
    leader: LeaderKey,
    value: Bytes,
    timeout: Option<Duration>,
}

impl Proclaim {
    timeout_method!();
}

request_future! {
    /// Sends the new value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotElectionLeader`] when the leader key given no longer leads; the failures of
    /// [every request](crate::Error#failures-of-every-request).
    impl for Proclaim => ResponseHeader, |this| {
        const OP: &str = "election.proclaim";
        let request = pb::ProclaimRequest {
            leader: Some(this.leader.to_pb(OP, this.client.namespace())?),
            value: this.value,
        };
        let call = Call::not_idempotent(OP, this.timeout);
        let response = this.client.transport().proclaim(call, request).await?;
        Ok(response.header.into())
    }
}

/// A resignation; await it. From [`Election::resign`]. Safe to repeat (it only deletes
/// the key of this very leadership), so retried like a read.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Resign {
    client: Client,
    leader: LeaderKey,
    timeout: Option<Duration>,
}

impl Resign {
    timeout_method!();
}

request_future! {
    /// Sends the resignation.
    ///
    /// # Errors
    ///
    /// the failures of [every request](crate::Error#failures-of-every-request).
    impl for Resign => ResponseHeader, |this| {
        const OP: &str = "election.resign";
        let request = pb::ResignRequest {
            leader: Some(this.leader.to_pb(OP, this.client.namespace())?),
        };
        let call = Call::idempotent(OP, this.timeout);
        let response = this.client.transport().resign(call, request).await?;
        Ok(response.header.into())
    }
}

/// A question for the current leader; await it. From [`Election::leader`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Leader {
    client: Client,
    name: Bytes,
    timeout: Option<Duration>,
}

impl Leader {
    timeout_method!();
}

request_future! {
    /// Asks who leads.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NoElectionLeader`] when the election has no leader; the failures of [every
    /// request](crate::Error#failures-of-every-request).
    impl for Leader => LeaderResponse, |this| {
        const OP: &str = "election.leader";
        if this.name.is_empty() {
            return Err(Error::empty_key().with_operation(OP));
        }
        let ns = this.client.namespace().clone();
        let call = Call::idempotent(OP, this.timeout);
        let request = pb::LeaderRequest {
            name: ns.key(&this.name),
        };
        let response = this.client.transport().leader(call, request).await?;
        LeaderResponse::from_pb(response, &ns).ok_or_else(|| {
            Error::new(ErrorKind::NoElectionLeader, "election: no leader").with_operation(OP)
        })
    }
}

/// An election's leader: its key and value.
#[derive(Debug, Clone)]
pub struct LeaderResponse {
    header: ResponseHeader,
    kv: KeyValue,
}

impl LeaderResponse {
    fn from_pb(response: pb::LeaderResponse, ns: &Namespace) -> Option<Self> {
        let mut kv = response.kv?;
        ns.strip_kv(&mut kv);
        Some(LeaderResponse {
            header: response.header.into(),
            kv: KeyValue(kv),
        })
    }

    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The leader's key-value: the key names the leader (`NAME/LEASE`), the value is the
    /// election's value, the creation revision identifies the leadership.
    pub fn kv(&self) -> &KeyValue {
        &self.kv
    }

    /// The election's value.
    pub fn value(&self) -> &Bytes {
        self.kv.value()
    }

    /// The leadership as a [`LeaderKey`] (the election's name is not part of the
    /// response, so it is given).
    pub fn leader_key(&self, name: impl Into<Bytes>) -> LeaderKey {
        LeaderKey {
            name: name.into(),
            key: self.kv.key().clone(),
            revision: self.kv.create_revision(),
            lease: self.kv.lease().unwrap_or(LeaseId(0)),
        }
    }
}

/// Starts observing an election; await it for an [`Observer`] (this sends nothing yet:
/// the observer opens its stream in the background, and yields an error that re-opening
/// cannot cure). From [`Election::observe`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Observe {
    client: Client,
    name: Bytes,
}

request_future! {
    /// Starts observing the election (nothing is sent yet).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKey`] for an empty name; what happens later is told by the [`Observer`].
    impl for Observe => Observer, |this| {
        if this.name.is_empty() {
            return Err(Error::empty_key().with_operation("election.observe"));
        }
        let ns = this.client.namespace().clone();
        let request = pb::LeaderRequest {
            name: ns.key(&this.name),
        };
        let transport = this.client.transport().clone();
        let (tx, rx) = mpsc::channel(OBSERVE_BUFFER);
        let task = tokio::spawn(observe(transport, request, ns, tx));
        Ok(Observer { rx, task })
    }
}

/// A stream of an election's leaders: the current leader first (as soon as there is
/// one), then every new leader and every new value a leader proclaims, in order.
///
/// When the server stream fails (member gone, connection broken) it is re-opened on a
/// healthy endpoint, with backoff, for as long as the observer lives; the first answer
/// of the new stream is the leader at that time, delivered unless it is the one
/// delivered last. Changes that came and went while no stream was open are not
/// replayed. An error that re-opening cannot cure (permission denied, for one) is
/// yielded, and the stream ends; so is
/// [`ErrorKind::StreamReopensExhausted`] once re-opening has failed as many times in a
/// row as [`ClientOptions::max_stream_reopens`](crate::ClientOptions::max_stream_reopens)
/// allows.
///
/// The observer holds at most 64 undelivered changes; beyond that it stops reading and
/// the server holds back.
///
/// **Drop** stops the background task and closes the server stream; nothing blocks.
#[derive(Debug)]
pub struct Observer {
    rx: mpsc::Receiver<Result<LeaderResponse>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for Observer {
    type Item = Result<LeaderResponse>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Whether an error of opening or reading an observe stream may be cured by trying again.
fn curable(e: &Error) -> bool {
    e.is_retryable()
        || matches!(
            e.kind(),
            ErrorKind::Cancelled | ErrorKind::Protocol | ErrorKind::Server
        )
}

/// The error that ends an observer after `failures` failures in a row (the stream's own
/// and its failed re-openings), when the client's `max_stream_reopens` allows no more.
fn reopens_exhausted(transport: &Transport, failures: u32, last: &Error) -> Option<Error> {
    let max = transport.options().max_stream_reopens?;
    (failures > max).then(|| {
        Error::new(
            ErrorKind::StreamReopensExhausted,
            format!(
                "the election observe stream was given up after {} failed re-openings in a \
                 row (max_stream_reopens {max}); last failure: {last}",
                failures - 1
            ),
        )
        .with_operation("election.observe")
    })
}

/// The observer's task: read, deduplicate across re-opened streams, deliver.
async fn observe(
    transport: Transport,
    request: pb::LeaderRequest,
    ns: Namespace,
    tx: mpsc::Sender<Result<LeaderResponse>>,
) {
    // The key and modification revision of the last leader delivered.
    let mut last: Option<(Bytes, i64)> = None;
    let mut failures: u32 = 0;
    loop {
        let mut current = match transport.observe_stream(request.clone()).await {
            Ok(s) => s,
            Err(e) if curable(&e) => {
                failures = failures.saturating_add(1);
                if let Some(exhausted) = reopens_exhausted(&transport, failures, &e) {
                    let _ = tx.send(Err(exhausted)).await;
                    return;
                }
                tracing::debug!(error = %e, "re-opening an election observe stream failed");
                tokio::time::sleep(transport.options().retry_backoff.delay(failures)).await;
                continue;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let broke: Error = loop {
            match current.message().await {
                Ok(Some(response)) => {
                    failures = 0;
                    let Some(kv) = response.kv.as_ref() else {
                        continue;
                    };
                    let id = (kv.key.clone(), kv.mod_revision);
                    if last.as_ref() == Some(&id) {
                        continue;
                    }
                    last = Some(id);
                    if let Some(leader) = LeaderResponse::from_pb(response, &ns)
                        && tx.send(Ok(leader)).await.is_err()
                    {
                        return;
                    }
                }
                Ok(None) => {
                    break Error::new(ErrorKind::Unavailable, "the server ended the stream");
                }
                Err(e) if curable(&e) => {
                    tracing::debug!(error = %e, "election observe stream failed; re-opening");
                    break e;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        };
        failures = failures.saturating_add(1);
        if let Some(exhausted) = reopens_exhausted(&transport, failures, &broke) {
            let _ = tx.send(Err(exhausted)).await;
            return;
        }
        tokio::time::sleep(transport.options().retry_backoff.delay(failures)).await;
    }
}
