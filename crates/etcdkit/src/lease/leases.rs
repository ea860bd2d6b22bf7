//! Listing leases.

use std::future::IntoFuture;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::client::Client;
use crate::error::Result;
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

    /// Overrides the client's request timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for Leases {
    type Output = Result<LeaseLeasesResponse>;
    type IntoFuture = BoxFuture<'static, Result<LeaseLeasesResponse>>;

    /// Lists the leases.
    ///
    /// # Errors
    ///
    /// the failures of [every request](crate::Error#failures-of-every-request).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let call = Call::idempotent("lease.leases", self.timeout);
            let r = self
                .client
                .transport()
                .lease_leases(call, pb::LeaseLeasesRequest {})
                .await?;
            Ok(LeaseLeasesResponse {
                header: r.header.into(),
                leases: r.leases.into_iter().map(|l| LeaseId(l.id)).collect(),
            })
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
