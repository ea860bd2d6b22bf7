//! Revoking a lease.

use std::time::Duration;

use crate::client::Client;
use crate::error::{ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::{LeaseId, ResponseHeader};

/// A lease revocation; await it. From [`Lease::revoke`](super::Lease::revoke).
///
/// Revoking is safe to repeat, so it is retried like a read. When an attempt may have
/// reached the server (the connection broke, or the member went silent) and a later
/// attempt is told the lease does not exist, the revocation counts as done: the earlier
/// attempt most likely revoked it. A lease that did not exist to begin with fails with
/// [`ErrorKind::LeaseNotFound`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Revoke {
    client: Client,
    id: LeaseId,
    timeout: Option<Duration>,
}

impl Revoke {
    pub(crate) fn new(client: Client, id: LeaseId) -> Self {
        Revoke {
            client,
            id,
            timeout: None,
        }
    }

    timeout_method!();
}

/// What a revocation's result means: "not found" after an attempt that may have been
/// applied is the revocation having worked.
fn settle(result: Result<pb::LeaseRevokeResponse>) -> Result<LeaseRevokeResponse> {
    match result {
        Ok(r) => Ok(LeaseRevokeResponse {
            header: Some(r.header.into()),
        }),
        Err(e) if e.kind() == ErrorKind::LeaseNotFound && e.is_outcome_unknown() => {
            Ok(LeaseRevokeResponse { header: None })
        }
        Err(e) => Err(e),
    }
}

request_future! {
    /// Sends the revoke.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LeaseNotFound`] when the lease does not exist (or already expired); the
    /// failures of [every request](crate::Error#failures-of-every-request).
    impl for Revoke => LeaseRevokeResponse, |this| {
        let call = Call::idempotent("lease.revoke", this.timeout);
        let request = pb::LeaseRevokeRequest { id: this.id.0 };
        settle(this.client.transport().lease_revoke(call, request).await)
    }
}

/// A revoked lease.
#[derive(Debug, Clone)]
pub struct LeaseRevokeResponse {
    header: Option<ResponseHeader>,
}

impl LeaseRevokeResponse {
    /// The response header; `None` when an earlier attempt that may have reached the
    /// server did the revocation and the last attempt found the lease gone.
    pub fn header(&self) -> Option<&ResponseHeader> {
        self.header.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn not_found() -> Error {
        Error::new(
            ErrorKind::LeaseNotFound,
            "etcdserver: requested lease not found",
        )
    }

    #[test]
    fn not_found_after_a_maybe_applied_attempt_is_success() {
        let settled = settle(Err(not_found().with_outcome_unknown())).unwrap();
        assert!(settled.header().is_none());
        let err = settle(Err(not_found())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LeaseNotFound);
        let err = settle(Err(
            Error::new(ErrorKind::Timeout, "slow").with_outcome_unknown()
        ))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }
}
