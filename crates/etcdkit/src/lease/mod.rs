//! Leases: grant, revoke, time-to-live and listing.
//!
//! A key put under a lease is deleted when the lease ends: revoked, or expired because
//! nobody renewed it within its TTL.

use std::time::Duration;

use bytes::Bytes;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::{LeaseId, ResponseHeader};

/// The lease API of a [`Client`].
#[derive(Clone, Debug)]
pub struct Lease {
    pub(crate) client: Client,
}

/// A granted lease.
#[derive(Debug, Clone)]
pub struct LeaseGrantResponse {
    header: ResponseHeader,
    id: LeaseId,
    ttl: i64,
}

impl LeaseGrantResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The lease's id.
    pub fn id(&self) -> LeaseId {
        self.id
    }

    /// The TTL the server granted, in seconds (it may differ from the one asked for).
    pub fn ttl(&self) -> i64 {
        self.ttl
    }
}

/// A lease's remaining time.
#[derive(Debug, Clone)]
pub struct LeaseTimeToLiveResponse {
    header: ResponseHeader,
    id: LeaseId,
    ttl: i64,
    granted_ttl: i64,
    keys: Vec<Bytes>,
}

impl LeaseTimeToLiveResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The lease's id.
    pub fn id(&self) -> LeaseId {
        self.id
    }

    /// Seconds left; -1 when the lease has expired or does not exist.
    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// The TTL granted at creation or last renewal, in seconds.
    pub fn granted_ttl(&self) -> i64 {
        self.granted_ttl
    }

    /// The keys attached to the lease, when asked for.
    pub fn keys(&self) -> &[Bytes] {
        &self.keys
    }
}

impl Lease {
    /// Grants a lease of `ttl` (whole seconds, at least 1), with an id chosen by the server.
    pub async fn grant(&self, ttl: Duration) -> Result<LeaseGrantResponse> {
        self.grant_request(ttl, 0).await
    }

    /// Grants a lease with the given id.
    pub async fn grant_with_id(&self, ttl: Duration, id: LeaseId) -> Result<LeaseGrantResponse> {
        if id.0 == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "lease id 0 means \"choose one\": use grant() instead",
            )
            .with_operation("lease.grant"));
        }
        self.grant_request(ttl, id.0).await
    }

    async fn grant_request(&self, ttl: Duration, id: i64) -> Result<LeaseGrantResponse> {
        let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
        // A grant with a server-chosen id is not idempotent: a repeat grants a second lease.
        let call = Call::unsafe_("lease.grant", None);
        let r = self
            .client
            .transport()
            .lease_grant(call, pb::LeaseGrantRequest { ttl: seconds, id })
            .await?;
        if !r.error.is_empty() {
            return Err(Error::new(ErrorKind::Server, r.error).with_operation("lease.grant"));
        }
        Ok(LeaseGrantResponse {
            header: r.header.into(),
            id: LeaseId(r.id),
            ttl: r.ttl,
        })
    }

    /// Revokes a lease: its keys are deleted at once.
    pub async fn revoke(&self, id: LeaseId) -> Result<ResponseHeader> {
        let call = Call::safe("lease.revoke", None);
        let r = self
            .client
            .transport()
            .lease_revoke(call, pb::LeaseRevokeRequest { id: id.0 })
            .await?;
        Ok(r.header.into())
    }

    /// A lease's remaining time, and its keys when `with_keys`.
    pub async fn time_to_live(
        &self,
        id: LeaseId,
        with_keys: bool,
    ) -> Result<LeaseTimeToLiveResponse> {
        let call = Call::safe("lease.time_to_live", None);
        let r = self
            .client
            .transport()
            .lease_time_to_live(
                call,
                pb::LeaseTimeToLiveRequest {
                    id: id.0,
                    keys: with_keys,
                },
            )
            .await?;
        let ns = self.client.namespace();
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

    /// The ids of every live lease.
    pub async fn leases(&self) -> Result<Vec<LeaseId>> {
        let call = Call::safe("lease.leases", None);
        let r = self
            .client
            .transport()
            .lease_leases(call, pb::LeaseLeasesRequest {})
            .await?;
        Ok(r.leases.into_iter().map(|l| LeaseId(l.id)).collect())
    }
}
