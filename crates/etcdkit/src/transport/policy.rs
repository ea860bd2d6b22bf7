//! The retry policy: one table from (is the call safe to repeat) × (how the attempt
//! failed) to what happens next. Unary calls, stream openings, Observe, the streams'
//! own failures, the prober and [`Error::is_retryable`](crate::Error::is_retryable) all
//! ask [`decide`], so the policy is written once.

use crate::error::ErrorKind;

/// Whether a request may be sent twice without harm (is idempotent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads and other requests that are safe to repeat.
    Idempotent,
    /// Writes: retried only when certainly never sent.
    NotIdempotent,
}

/// How one attempt failed, as far as the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection could not be made: the request certainly never left.
    NotSent,
    /// The connection broke while the request was in flight: it may have been applied.
    MaybeSent,
    /// The member gave no answer within the attempt's share of the deadline (a frozen or
    /// partitioned member): it may still apply the request.
    NoAnswer,
    /// The server answered, but the answer could not be read (too large, cut short,
    /// undecodable): the request was processed.
    Unreadable,
    /// The server answered with an error of this kind.
    Server(ErrorKind),
    /// The server refused the request before acting on it (etcd says so for some
    /// refusals, such as a membership change while a member is unreachable).
    Refused(ErrorKind),
    /// The member answered a read with an older revision than the client has already
    /// seen: it lags behind the others.
    Behind,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Try again, on another endpoint when there is one, after a backoff.
    RetryElsewhere,
    /// Fetch a new auth token and try again at once, once (when the client has a user
    /// and password; otherwise this is a definite failure).
    RefreshToken,
    /// The request failed and certainly was not applied.
    Fail,
    /// The request may or may not have been applied.
    OutcomeUnknown,
}

/// The decision for one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub action: Action,
    /// Whether the endpoint is to be avoided until a probe finds it healthy again.
    pub mark_unhealthy: bool,
}

const fn decision(action: Action, mark_unhealthy: bool) -> Decision {
    Decision {
        action,
        mark_unhealthy,
    }
}

/// The policy table.
pub(crate) fn decide(retry: Retry, failure: Failure) -> Decision {
    use Action::{Fail, OutcomeUnknown, RefreshToken, RetryElsewhere};
    let safe = retry == Retry::Idempotent;
    // What to do when the request may have been applied: repeat it only if harmless.
    let ambiguous = if safe { RetryElsewhere } else { OutcomeUnknown };
    match failure {
        Failure::NotSent => decision(RetryElsewhere, true),
        Failure::MaybeSent => decision(ambiguous, true),
        // Only a read is cut short to try another member; a write waits for its answer
        // until the deadline, as giving up on it would only make its outcome unknown.
        Failure::NoAnswer => decision(ambiguous, safe),
        Failure::Unreadable => decision(if safe { Fail } else { OutcomeUnknown }, false),
        // Another member may be up to date; this one catches up by itself, so it stays
        // in the rotation. (Only reads are checked, and they are safe to repeat.)
        Failure::Behind => decision(if safe { RetryElsewhere } else { Fail }, false),
        Failure::Refused(kind) if safe => decide(retry, Failure::Server(kind)),
        Failure::Refused(_) => decision(Fail, false),
        Failure::Server(kind) => match kind {
            // The server refused the token before doing anything.
            ErrorKind::InvalidToken | ErrorKind::OldAuthRevision => decision(RefreshToken, false),
            // Refused before proposing: even a write may go again. The member cannot
            // serve now (partitioned, or an election in progress).
            ErrorKind::NoLeader => decision(RetryElsewhere, true),
            // Overload is the cluster's, not this member's: no reason to avoid it.
            ErrorKind::TooManyRequests => decision(RetryElsewhere, false),
            // The member cannot serve what needs a leader; for a write etcd's answer is
            // definite (nothing was proposed).
            ErrorKind::NotLeader => decision(if safe { RetryElsewhere } else { Fail }, false),
            // The proposal may still commit.
            ErrorKind::LeaderChanged => decision(ambiguous, false),
            // A slow write is often the cluster's doing (waiting out a leader change), so
            // only a read marks the member.
            ErrorKind::Timeout => decision(ambiguous, safe),
            ErrorKind::Unavailable => decision(ambiguous, true),
            _ => decision(Fail, false),
        },
    }
}

/// Whether an error of `kind`, reported to a caller, may go away when the caller tries
/// again: the table's answer for a request that is safe to repeat.
pub(crate) fn kind_is_retryable(kind: ErrorKind) -> bool {
    let failure = match kind {
        ErrorKind::OutcomeUnknown => Failure::MaybeSent,
        ErrorKind::StaleRead => Failure::Behind,
        kind => Failure::Server(kind),
    };
    decide(Retry::Idempotent, failure).action == Action::RetryElsewhere
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::{Fail, OutcomeUnknown, RefreshToken, RetryElsewhere};
    use ErrorKind as K;
    use Failure as F;

    /// Every failure kind's decision, for a repeatable call and a write, in one table:
    /// (failure, safe call: action and mark, write: action and mark).
    #[test]
    fn every_failure_has_one_decision() {
        #[rustfmt::skip]
        let table = [
            (F::NotSent,                      (RetryElsewhere, true),  (RetryElsewhere, true)),
            (F::MaybeSent,                    (RetryElsewhere, true),  (OutcomeUnknown, true)),
            (F::NoAnswer,                     (RetryElsewhere, true),  (OutcomeUnknown, false)),
            (F::Unreadable,                   (Fail, false),           (OutcomeUnknown, false)),
            (F::Behind,                       (RetryElsewhere, false), (Fail, false)),
            (F::Refused(K::Unavailable),      (RetryElsewhere, true),  (Fail, false)),
            (F::Server(K::InvalidToken),      (RefreshToken, false),   (RefreshToken, false)),
            (F::Server(K::OldAuthRevision),   (RefreshToken, false),   (RefreshToken, false)),
            (F::Server(K::NoLeader),          (RetryElsewhere, true),  (RetryElsewhere, true)),
            (F::Server(K::TooManyRequests),   (RetryElsewhere, false), (RetryElsewhere, false)),
            (F::Server(K::NotLeader),         (RetryElsewhere, false), (Fail, false)),
            (F::Server(K::LeaderChanged),     (RetryElsewhere, false), (OutcomeUnknown, false)),
            (F::Server(K::Timeout),           (RetryElsewhere, true),  (OutcomeUnknown, false)),
            (F::Server(K::Unavailable),       (RetryElsewhere, true),  (OutcomeUnknown, true)),
            (F::Server(K::EmptyKey),          (Fail, false),           (Fail, false)),
            (F::Server(K::KeyNotFound),       (Fail, false),           (Fail, false)),
            (F::Server(K::Compacted),         (Fail, false),           (Fail, false)),
            (F::Server(K::FutureRevision),    (Fail, false),           (Fail, false)),
            (F::Server(K::TooManyOps),        (Fail, false),           (Fail, false)),
            (F::Server(K::DuplicateKey),      (Fail, false),           (Fail, false)),
            (F::Server(K::LeaseNotFound),     (Fail, false),           (Fail, false)),
            (F::Server(K::LeaseExists),       (Fail, false),           (Fail, false)),
            (F::Server(K::LeaseTtlTooLarge),  (Fail, false),           (Fail, false)),
            (F::Server(K::PermissionDenied),  (Fail, false),           (Fail, false)),
            (F::Server(K::AuthFailed),        (Fail, false),           (Fail, false)),
            (F::Server(K::AuthNotEnabled),    (Fail, false),           (Fail, false)),
            (F::Server(K::NotFound),          (Fail, false),           (Fail, false)),
            (F::Server(K::AlreadyExists),     (Fail, false),           (Fail, false)),
            (F::Server(K::RequestTooLarge),   (Fail, false),           (Fail, false)),
            (F::Server(K::NoSpace),           (Fail, false),           (Fail, false)),
            (F::Server(K::Corrupt),           (Fail, false),           (Fail, false)),
            (F::Server(K::InvalidArgument),   (Fail, false),           (Fail, false)),
            (F::Server(K::Cancelled),         (Fail, false),           (Fail, false)),
            (F::Server(K::Unsupported),       (Fail, false),           (Fail, false)),
            (F::Server(K::NotElectionLeader), (Fail, false),           (Fail, false)),
            (F::Server(K::NoElectionLeader),  (Fail, false),           (Fail, false)),
            (F::Server(K::Server),            (Fail, false),           (Fail, false)),
            (F::Server(K::Decode),            (Fail, false),           (Fail, false)),
        ];
        for (failure, (safe, safe_mark), (write, write_mark)) in table {
            assert_eq!(
                decide(Retry::Idempotent, failure),
                decision(safe, safe_mark),
                "{failure:?}, safe to repeat"
            );
            assert_eq!(
                decide(Retry::NotIdempotent, failure),
                decision(write, write_mark),
                "{failure:?}, not safe to repeat"
            );
        }
    }

    /// `Error::is_retryable` is the table's answer for a call that is safe to repeat.
    #[test]
    fn retryable_kinds_follow_the_table() {
        let retryable = [
            K::Unavailable,
            K::NoLeader,
            K::NotLeader,
            K::LeaderChanged,
            K::Timeout,
            K::TooManyRequests,
            K::OutcomeUnknown,
            K::StaleRead,
        ];
        for kind in retryable {
            assert!(kind_is_retryable(kind), "{kind:?}");
        }
        for kind in [K::EmptyKey, K::Compacted, K::InvalidToken, K::Locked, K::Io] {
            assert!(!kind_is_retryable(kind), "{kind:?}");
        }
    }
}
