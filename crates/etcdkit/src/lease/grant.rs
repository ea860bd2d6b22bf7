//! Granting a lease.

use std::time::Duration;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::LeaseId;

/// A lease grant; await it. From [`Lease::grant`](super::Lease::grant).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Grant {
    client: Client,
    ttl: Duration,
    id: Option<LeaseId>,
    timeout: Option<Duration>,
}

impl Grant {
    pub(crate) fn new(client: Client, ttl: Duration) -> Self {
        Grant {
            client,
            ttl,
            id: None,
            timeout: None,
        }
    }

    /// Asks for this lease id instead of letting the server choose. A grant with an id
    /// that exists fails with [`ErrorKind::LeaseExists`].
    pub fn id(mut self, id: LeaseId) -> Self {
        self.id = Some(id);
        self
    }

    timeout_method!();
}

/// The TTL etcd is asked for: whole seconds, rounded up, at least 1.
pub(crate) fn ttl_seconds(ttl: Duration) -> i64 {
    let whole = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    i64::try_from(whole).unwrap_or(i64::MAX).max(1)
}

request_future! {
    /// Sends the grant.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for lease id 0 (before sending); [`ErrorKind::LeaseExists`]
    /// when a lease of that id exists; [`ErrorKind::LeaseTtlTooLarge`] for a TTL over the server's
    /// maximum; the failures of [every request](crate::Error#failures-of-every-request).
    impl for Grant => LeaseGrantResponse, |this| {
        let id = match this.id {
            Some(LeaseId(0)) => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "lease id 0 means \"let the server choose\": leave the id out instead",
                )
                .with_operation("lease.grant"));
            }
            Some(id) => id.0,
            None => 0,
        };
        // With a server-chosen id a repeat would grant a second lease; with our own id
        // a repeat after an unknown outcome would fail with "lease exists". Either
        // way, not safe to repeat blindly.
        let call = Call::not_idempotent("lease.grant", this.timeout);
        let request = pb::LeaseGrantRequest {
            ttl: ttl_seconds(this.ttl),
            id,
        };
        let r = this.client.transport().lease_grant(call, request).await?;
        if !r.error.is_empty() {
            return Err(Error::new(ErrorKind::Server, r.error).with_operation("lease.grant"));
        }
        Ok(LeaseGrantResponse {
            header: r.header.into(),
            id: LeaseId(r.id),
            ttl: r.ttl,
        })
    }
}

lease_response!(
    /// A granted lease.
    LeaseGrantResponse,
    "The TTL the server granted, in seconds (it may be more than asked for)."
);

impl LeaseGrantResponse {
    /// The granted TTL as a duration (zero if the server sent a negative one).
    pub fn ttl_duration(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.ttl).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(Duration::ZERO), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1200)), 2);
        assert_eq!(ttl_seconds(Duration::from_millis(2999)), 3);
        assert_eq!(ttl_seconds(Duration::from_secs(60)), 60);
        assert_eq!(ttl_seconds(Duration::MAX), i64::MAX);
    }
}
