//! The attempt driver: the one loop every RPC goes through (unary calls, stream
//! openings, Observe). It picks an endpoint, runs one attempt within its share of the
//! deadline, and on failure asks the policy table ([`policy::decide`]) what to do:
//! retry elsewhere after a backoff, refresh the token once, or fail, definitely or with
//! the outcome unknown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::channel::{CallMetadata, Channel};
use super::endpoint::Node;
use super::leader_watch;
use super::observe;
use super::policy::{self, Action, Failure, Retry};
use super::status::{self, AttemptError};
use super::{Call, Transport};
use crate::error::{Code, Error, ErrorKind, Result};

/// How long one attempt may take.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AttemptTime {
    /// What remains of the deadline, except that a call safe to repeat on a client of
    /// several endpoints gives a member at most half of it, so that a member gone
    /// silent (frozen, partitioned) leaves time to ask another. A write waits for its
    /// answer: giving up on it would only make its outcome unknown.
    Share,
    /// At most this long, within the deadline.
    AtMost(Duration),
    /// As long as it takes: the attempt's wait is the point (an Observe opening is
    /// answered only once the election has a leader). The deadline still bounds the
    /// retries; a member dying meanwhile is caught by the keepalive pings.
    Unbounded,
}

/// A successful attempt: its result, the endpoint that answered, and the generation of
/// the auth token it carried.
pub(crate) struct Answered<T> {
    pub value: T,
    pub node: Arc<Node>,
    pub token_generation: Option<u64>,
}

/// The shortest time a read gives one member before it may try another.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// What a failed attempt left behind, for the error reported at the deadline.
struct History {
    /// Some attempt may have reached a server (and been applied).
    maybe_sent: bool,
    last_error: Option<Error>,
}

impl Transport {
    /// Runs `attempt` on endpoints in turn, as the policy table says, until it succeeds,
    /// fails for good, or the call's deadline passes.
    pub(crate) async fn drive<T, F, Fut>(
        &self,
        call: Call,
        attempt_time: AttemptTime,
        mut attempt: F,
    ) -> Result<Answered<T>>
    where
        F: FnMut(Channel, CallMetadata) -> Fut,
        Fut: Future<Output = std::result::Result<T, AttemptError>>,
    {
        let opts = self.options();
        let timeout = call.timeout.unwrap_or(opts.request_timeout);
        let deadline = deadline_after(timeout);
        // A member-targeted call goes to its member only: a failure there is final.
        let target = match &call.endpoint {
            Some(raw) => Some(self.target(raw).map_err(|e| e.with_operation(call.op))?),
            None => None,
        };
        let several_endpoints = target.is_none() && self.nodes().len() > 1;
        // When the connection goes silent (keepalive pings unanswered), the table says
        // whether giving up on the attempt is harmless (a read: try another member now)
        // or not (a write: it may still be answered, and giving up would only make its
        // outcome unknown sooner; it waits for its own deadline).
        let abandon_when_silent = target.is_none()
            && policy::decide(call.retry, Failure::NoAnswer).action == Action::RetryElsewhere;
        // Only writes wait on their leader: a read gives a member at most half of its
        // deadline, and etcd re-sends its own read-index requests after a leader change.
        let watch_leader = target.is_none()
            && call.retry == Retry::NotIdempotent
            && matches!(attempt_time, AttemptTime::Share);
        let mut token = self
            .token_for(&call)
            .await
            .map_err(|e| e.with_operation(call.op))?;
        let mut token_refreshed = false;
        let mut tries: u32 = 0;
        let mut last_node: Option<Arc<Node>> = None;
        let mut history = History {
            maybe_sent: false,
            last_error: None,
        };
        loop {
            let node = match &target {
                Some(node) => node.clone(),
                None => self.pick(last_node.as_ref()),
            };
            observe::attempt_on(call.op, last_node.as_deref(), &node, tries);
            last_node = Some(node.clone());
            let now = Instant::now();
            let remaining = deadline.saturating_duration_since(now);
            let attempt_deadline = match attempt_time {
                AttemptTime::Share if call.retry == Retry::Idempotent && several_endpoints => {
                    Some(now + (remaining / 2).max(MIN_ATTEMPT.min(remaining)))
                }
                AttemptTime::Share => Some(deadline),
                AttemptTime::AtMost(limit) => {
                    Some(now.checked_add(limit).map_or(deadline, |d| d.min(deadline)))
                }
                AttemptTime::Unbounded => None,
            };
            let metadata = CallMetadata {
                token: token.as_ref().map(|t| t.header.clone()),
                // The client-wide default is for calls any member may serve; a call
                // aimed at one member (status, alarms, ...) must be answered by that
                // member even when it has lost its leader.
                require_leader: call.require_leader || (opts.require_leader && target.is_none()),
            };
            let span =
                tracing::debug_span!("rpc", op = call.op, endpoint = node.url(), attempt = tries);
            // Subscribed before the attempt starts, so a silence found while it runs is
            // seen.
            let mut silences = node.channel.silences();
            let leader_check = match opts.leader_check_interval {
                Some(interval) if watch_leader => Some((interval, metadata.clone())),
                _ => None,
            };
            let sent_in = self.shared.terms.current();
            // Pinned here, so the blocks below hold a pointer to it, not copies of it
            // (an attempt's future is a kilobyte or more, and futures get moved).
            // Boxed, so a call's own future stays small: it is moved into a box of its own
            // when the call starts, and allocations under 1 KiB are the allocator's cheap
            // ones.
            let running = Box::pin(attempt(node.channel.clone(), metadata).instrument(span));
            let timed = async {
                match attempt_deadline {
                    Some(at) => tokio::time::timeout_at(at, running).await,
                    None => Ok(running.await),
                }
            };
            // A write whose member has seen its leader change since it was sent may get
            // no answer before the deadline (etcd drops proposals forwarded to a leader
            // that is gone): the table decides what ending it early means.
            let leader_gone = async {
                match leader_check {
                    // Boxed: only writes watch the leader, and every call's future
                    // would otherwise carry this one's room.
                    Some((interval, metadata)) => {
                        Box::pin(leader_watch::leader_lost(
                            &node, sent_in, interval, metadata,
                        ))
                        .await
                    }
                    None => std::future::pending().await,
                }
            };
            let outcome = tokio::select! {
                outcome = timed => Some(outcome),
                Ok(()) = silences.changed(), if abandon_when_silent => None,
                lost = leader_gone => Some(Ok(Err(AttemptError::LeaderLost(lost)))),
            };
            let Some(outcome) = outcome else {
                let e = Error::new(
                    ErrorKind::Unavailable,
                    "the member stopped answering keepalive pings",
                )
                .with_code(Code::Unavailable)
                .with_endpoint(node.url())
                .with_operation(call.op);
                self.mark_failed(&node, e.message());
                history.maybe_sent = true;
                if !self
                    .retry_after(&call, &node, e, &mut history, &mut tries, deadline)
                    .await
                {
                    return Err(deadline_error(&call, timeout, false, history, &node));
                }
                continue;
            };
            let (failure, error) = match outcome {
                Ok(Ok(value)) => {
                    self.mark_healthy(&node);
                    return Ok(Answered {
                        value,
                        node,
                        token_generation: token.as_ref().map(|t| t.generation),
                    });
                }
                Ok(Err(e)) => {
                    let failure = status::classify(&e);
                    (failure, e)
                }
                Err(_elapsed) if attempt_deadline.is_some_and(|at| at < deadline) => {
                    let waited = attempt_deadline
                        .map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
                    let reason = format!("no answer within {}", crate::util::fmt_duration(waited));
                    let e = Error::new(ErrorKind::Timeout, reason)
                        .with_code(Code::DeadlineExceeded)
                        .with_endpoint(node.url())
                        .with_operation(call.op);
                    let decision = policy::decide(call.retry, Failure::NoAnswer);
                    if decision.mark_unhealthy {
                        self.mark_failed(&node, e.message());
                    }
                    history.maybe_sent = true;
                    if decision.action != Action::RetryElsewhere || target.is_some() {
                        return Err(deadline_error(&call, timeout, true, history, &node));
                    }
                    if !self
                        .retry_after(&call, &node, e, &mut history, &mut tries, deadline)
                        .await
                    {
                        return Err(deadline_error(&call, timeout, false, history, &node));
                    }
                    continue;
                }
                Err(_elapsed) => {
                    return Err(deadline_error(&call, timeout, true, history, &node));
                }
            };
            let decision = policy::decide(call.retry, failure);
            if decision.mark_unhealthy {
                self.mark_failed(&node, &status::describe(&error));
            }
            if decision.action == Action::RefreshToken
                && !token_refreshed
                && call.with_token
                && opts.credentials.is_some()
            {
                let stale = token.as_ref().map(|t| t.generation);
                token = Some(
                    self.refresh_token(stale)
                        .await
                        .map_err(|e| e.with_operation(call.op))?,
                );
                token_refreshed = true;
                last_node = None;
                continue;
            }
            let error = status::to_error(error, failure, node.url()).with_operation(call.op);
            match decision.action {
                Action::RetryElsewhere if target.is_none() => {
                    history.maybe_sent |= failure == Failure::MaybeSent;
                    if !self
                        .retry_after(&call, &node, error, &mut history, &mut tries, deadline)
                        .await
                    {
                        return Err(deadline_error(&call, timeout, false, history, &node));
                    }
                }
                Action::OutcomeUnknown if failure == Failure::MaybeSent => {
                    return Err(Error::new(
                        ErrorKind::OutcomeUnknown,
                        "the connection failed after the request was sent: it may or may not have been applied",
                    )
                    .with_operation(call.op)
                    .with_endpoint(node.url())
                    .with_source(error));
                }
                Action::OutcomeUnknown => return Err(error.with_outcome_unknown()),
                // A definite failure, a token that cannot be refreshed (again), or a
                // failure of a member-targeted call, which is never sent elsewhere.
                Action::Fail | Action::RefreshToken | Action::RetryElsewhere
                    if history.maybe_sent =>
                {
                    // An earlier attempt may have been applied: a repeatable request (a
                    // lease revoke, say) may be failing only because it already worked.
                    return Err(error.with_outcome_unknown());
                }
                Action::Fail | Action::RefreshToken | Action::RetryElsewhere => {
                    return Err(error);
                }
            }
        }
    }

    /// Records `error` as the failure of attempt `tries`, counts the attempt, and waits
    /// out the backoff before the next; false when the deadline would pass first.
    async fn retry_after(
        &self,
        call: &Call,
        node: &Node,
        error: Error,
        history: &mut History,
        tries: &mut u32,
        deadline: Instant,
    ) -> bool {
        observe::retry(call.op, node.url(), *tries, &error);
        history.last_error = Some(error);
        *tries = tries.saturating_add(1);
        self.back_off(*tries, deadline).await
    }

    /// Waits before retry number `tries`; false when the deadline would pass first.
    async fn back_off(&self, tries: u32, deadline: Instant) -> bool {
        let delay = self.options().retry_backoff.delay(tries);
        match Instant::now().checked_add(delay) {
            Some(wake) if wake < deadline => {
                tokio::time::sleep_until(wake).await;
                true
            }
            _ => false,
        }
    }
}

/// The error for a request that ran out of time: with the last attempt still in
/// flight (`in_flight`), or before another attempt could be made.
fn deadline_error(
    call: &Call,
    timeout: Duration,
    in_flight: bool,
    history: History,
    node: &Node,
) -> Error {
    let within = crate::util::fmt_duration(timeout);
    if call.retry == Retry::NotIdempotent && (in_flight || history.maybe_sent) {
        let outcome = Error::new(
            ErrorKind::OutcomeUnknown,
            format!("no answer within {within}: the request may or may not have been applied"),
        )
        .with_operation(call.op)
        .with_endpoint(node.url());
        return match history.last_error {
            Some(e) => outcome.with_source(e),
            None => outcome,
        };
    }
    match history.last_error {
        Some(e) if !in_flight => Error::new(
            e.kind(),
            format!(
                "no endpoint succeeded within {within}; the last said: {}",
                e.message()
            ),
        )
        .with_operation(call.op)
        .with_endpoint(e.endpoint().unwrap_or(node.url()).to_string())
        .with_source(e),
        _ => Error::timeout(timeout)
            .with_operation(call.op)
            .with_endpoint(node.url()),
    }
}

/// `timeout` from now; a timeout too large to represent means "no deadline" in practice.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}
