//! The transport's tracing events and metrics for retries and failover, in one place so
//! that the request loops each call them with one line.
//!
//! Events (target `etcdkit::transport::observe`, unless said otherwise):
//! - `DEBUG "retrying"`: op, endpoint (the one that failed), attempt (the one that
//!   failed, 0-based), kind, error.
//! - `INFO "failing over to another endpoint"`: op, from, to, attempt (the new one).
//! - `WARN "endpoint marked unhealthy"` / `INFO "endpoint healthy again"` (target
//!   `etcdkit::transport`): endpoint, reason.

use super::endpoint::Node;
use crate::error::Error;
use crate::telemetry;

/// An attempt of `op` failed on `endpoint` and the request will try again.
pub(super) fn retry(op: &'static str, endpoint: &str, attempt: u32, error: &Error) {
    telemetry::retry(op);
    // The macro formats the error only when the event is enabled.
    tracing::debug!(op, endpoint, attempt, kind = ?error.kind(), error = %error, "retrying");
}

/// Attempt `attempt` of `op` goes to `to`; when the previous attempt went elsewhere,
/// that is a failover.
pub(super) fn attempt_on(op: &'static str, previous: Option<&Node>, to: &Node, attempt: u32) {
    if let Some(from) = previous
        && !std::ptr::eq(from, to)
    {
        telemetry::endpoint_switch();
        tracing::info!(
            op,
            from = from.url(),
            to = to.url(),
            attempt,
            "failing over to another endpoint"
        );
    }
}
