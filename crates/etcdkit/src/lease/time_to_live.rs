//! A lease's remaining time and keys.

use std::time::Duration;

use bytes::Bytes;

use crate::client::Client;
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::LeaseId;

/// A time-to-live query; await it. From [`Lease::time_to_live`](super::Lease::time_to_live).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct TimeToLive {
    client: Client,
    id: LeaseId,
    keys: bool,
    timeout: Option<Duration>,
}

impl TimeToLive {
    pub(crate) fn new(client: Client, id: LeaseId) -> Self {
        TimeToLive {
            client,
            id,
            keys: false,
            timeout: None,
        }
    }

    /// Also lists the keys attached to the lease (in a namespaced client, those inside
    /// the namespace, without the prefix).
    pub fn keys(mut self) -> Self {
        self.keys = true;
        self
    }

    timeout_method!();
}

request_future! {
    /// Asks for the lease's remaining time.
    ///
    /// # Errors
    ///
    /// the failures of [every request](crate::Error#failures-of-every-request).
    impl for TimeToLive => LeaseTimeToLiveResponse, |this| {
        let call = Call::idempotent("lease.time_to_live", this.timeout);
        let request = pb::LeaseTimeToLiveRequest {
            id: this.id.0,
            keys: this.keys,
        };
        let r = this
            .client
            .transport()
            .lease_time_to_live(call, request)
            .await?;
        let ns = this.client.namespace();
        // In a namespaced view, keys outside the namespace are not ours to show.
        let keys = r
            .keys
            .into_iter()
            .filter(|k| k.starts_with(ns.prefix()))
            .map(|mut k| {
                ns.strip(&mut k);
                k
            })
            .collect();
        Ok(LeaseTimeToLiveResponse {
            header: r.header.into(),
            id: LeaseId(r.id),
            ttl: r.ttl,
            granted_ttl: r.granted_ttl,
            keys,
        })
    }
}

lease_response!(
    /// A lease's remaining time.
    LeaseTimeToLiveResponse,
    "Seconds left; -1 when the lease has expired, was revoked, or never existed.",
    granted_ttl: i64,
    keys: Vec<Bytes>
);

impl LeaseTimeToLiveResponse {
    /// Whether the lease exists (its remaining TTL is not -1).
    pub fn exists(&self) -> bool {
        self.ttl != -1
    }

    /// The TTL granted at creation or last renewal, in seconds (0 for a lease that does
    /// not exist).
    pub fn granted_ttl(&self) -> i64 {
        self.granted_ttl
    }

    /// The keys attached to the lease, when asked for with [`TimeToLive::keys`].
    pub fn keys(&self) -> &[Bytes] {
        &self.keys
    }
}
