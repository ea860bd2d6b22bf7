//! Renewing a lease once.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::generated::etcdserverpb as pb;
use crate::types::LeaseId;

/// One renewal of a lease; await it. From
/// [`Lease::keep_alive_once`](super::Lease::keep_alive_once).
///
/// It runs over a short LeaseKeepAlive stream of its own (not the client's shared one),
/// and is retried on another endpoint until its deadline when the stream fails.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct KeepAliveOnce {
    client: Client,
    id: LeaseId,
    timeout: Option<Duration>,
}

impl KeepAliveOnce {
    pub(crate) fn new(client: Client, id: LeaseId) -> Self {
        KeepAliveOnce {
            client,
            id,
            timeout: None,
        }
    }

    timeout_method!();
}

/// The error for a lease the server no longer knows, worded as etcd words it.
pub(crate) fn lease_not_found(op: &'static str) -> Error {
    Error::new(
        ErrorKind::LeaseNotFound,
        "etcdserver: requested lease not found",
    )
    .with_operation(op)
}

request_future! {
    /// Renews the lease once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LeaseNotFound`] when the lease does not exist (or expired); the failures of
    /// [every request](crate::Error#failures-of-every-request).
    impl for KeepAliveOnce => LeaseKeepAliveResponse, |this| {
        const OP: &str = "lease.keep_alive_once";
        let transport = this.client.transport();
        let options = transport.options();
        let timeout = this.timeout.unwrap_or(options.request_timeout);
        let deadline = crate::transport::deadline_after(timeout);
        let request = pb::LeaseKeepAliveRequest { id: this.id.0 };
        let mut attempt: u32 = 0;
        let once = async {
            loop {
                let result = async {
                    let mut bidi = transport
                        .lease_keep_alive_stream(std::slice::from_ref(&request), None)
                        .await?;
                    match bidi.stream.message().await? {
                        Some(r) => Ok(r),
                        None => Err(Error::new(
                            ErrorKind::Unavailable,
                            "the server ended the keepalive stream without an answer",
                        )
                        .with_operation(OP)
                        .with_endpoint(bidi.stream.endpoint())),
                    }
                }
                .await;
                match result {
                    Ok(r) => return Ok(r),
                    Err(e) if e.is_retryable() => {
                        attempt = attempt.saturating_add(1);
                        let delay = options.retry_backoff.delay(attempt);
                        match Instant::now().checked_add(delay) {
                            Some(wake) if wake < deadline => {
                                tokio::time::sleep_until(wake).await;
                            }
                            _ => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let r = match tokio::time::timeout_at(deadline, once).await {
            Ok(result) => result?,
            Err(_) => return Err(Error::timeout(timeout).with_operation(OP)),
        };
        if r.ttl <= 0 {
            return Err(lease_not_found(OP));
        }
        Ok(LeaseKeepAliveResponse {
            header: r.header.into(),
            id: LeaseId(r.id),
            ttl: r.ttl,
        })
    }
}

lease_response!(
    /// A renewed lease.
    LeaseKeepAliveResponse,
    "The TTL the lease was renewed for, in seconds."
);
