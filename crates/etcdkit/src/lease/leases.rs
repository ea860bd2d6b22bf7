//! Listing leases.

use std::time::Duration;

use crate::client::Client;
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::{LeaseId, ResponseHeader};

/// A listing of every live lease; await it. From [`Lease::leases`](super::Lease::leases).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Leases {
    client: Client,
    timeout: Option<Duration>,
}

impl Leases {
    pub(crate) fn new(client: Client) -> Self {
        Leases {
            client,
            timeout: None,
        }
    }

    timeout_method!();
}

request_future! {
    /// Lists the leases.
    ///
    /// # Errors
    ///
    /// the failures of [every request](crate::Error#failures-of-every-request).
    impl for Leases => LeaseLeasesResponse, |this| {
        let call = Call::idempotent("lease.leases", this.timeout);
        let r = this
            .client
            .transport()
            .lease_leases(call, pb::LeaseLeasesRequest {})
            .await?;
        Ok(LeaseLeasesResponse {
            header: r.header.into(),
            leases: r.leases.into_iter().map(|l| LeaseId(l.id)).collect(),
        })
    }
}

/// Every live lease.
#[derive(Debug, Clone)]
pub struct LeaseLeasesResponse {
    header: ResponseHeader,
    leases: Vec<LeaseId>,
}

impl LeaseLeasesResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The ids of the live leases, in the server's order.
    pub fn leases(&self) -> &[LeaseId] {
        &self.leases
    }
}
