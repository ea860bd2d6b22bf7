//! Typed failures of one attempt, what they mean for the retry policy, and the error a
//! caller sees.

use std::sync::Arc;

use super::connector::DialError;
use super::policy::Failure;
use crate::error::{Code, Error, ErrorKind, kind_from_server};

/// How one attempt failed, as the transport saw it. The HTTP/2 and gRPC framing code
/// returns these, so nothing downstream has to read error texts to learn what happened.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// The connection could not be made, or was found closed before the request was
    /// written: the request certainly never left.
    NotSent(DialError),
    /// The connection failed after the request may have been written.
    ConnectionLost(h2::Error),
    /// A response arrived but could not be read; says why.
    Unreadable(String),
    /// The member answered a read from an older revision (`got`) than one the client
    /// has already seen (`seen`).
    Behind { seen: i64, got: i64 },
    /// A write waited on a member whose leader has changed since it was sent: etcd
    /// drops proposals forwarded to a leader that is gone, so no answer may come before
    /// the deadline (see `leader_watch`).
    LeaderLost(super::leader_watch::LeaderLost),
    /// A gRPC status: the server's own (from its trailers or headers), or, for the
    /// streams tonic runs, one tonic made (then carrying the local cause as its source).
    Status(tonic::Status),
}

impl From<tonic::Status> for AttemptError {
    fn from(status: tonic::Status) -> Self {
        AttemptError::Status(status)
    }
}

impl AttemptError {
    /// This failure in tonic's terms, for tonic's generated clients (the streams): the
    /// local cause goes along as the status's source, where [`classify`] finds it again.
    pub(crate) fn into_status(self) -> tonic::Status {
        match self {
            AttemptError::NotSent(e) => {
                let mut status = tonic::Status::unavailable(e.to_string());
                status.set_source(Arc::new(e));
                status
            }
            AttemptError::ConnectionLost(e) => {
                let mut status = tonic::Status::unavailable(format!("connection error: {e}"));
                status.set_source(Arc::new(e));
                status
            }
            AttemptError::Unreadable(why) => tonic::Status::internal(why),
            e @ (AttemptError::Behind { .. } | AttemptError::LeaderLost(_)) => {
                tonic::Status::unavailable(describe(&e))
            }
            AttemptError::Status(status) => status,
        }
    }
}

pub(crate) fn code_of(code: tonic::Code) -> Code {
    match code {
        tonic::Code::Ok => Code::Ok,
        tonic::Code::Cancelled => Code::Cancelled,
        tonic::Code::Unknown => Code::Unknown,
        tonic::Code::InvalidArgument => Code::InvalidArgument,
        tonic::Code::DeadlineExceeded => Code::DeadlineExceeded,
        tonic::Code::NotFound => Code::NotFound,
        tonic::Code::AlreadyExists => Code::AlreadyExists,
        tonic::Code::PermissionDenied => Code::PermissionDenied,
        tonic::Code::ResourceExhausted => Code::ResourceExhausted,
        tonic::Code::FailedPrecondition => Code::FailedPrecondition,
        tonic::Code::Aborted => Code::Aborted,
        tonic::Code::OutOfRange => Code::OutOfRange,
        tonic::Code::Unimplemented => Code::Unimplemented,
        tonic::Code::Internal => Code::Internal,
        tonic::Code::Unavailable => Code::Unavailable,
        tonic::Code::DataLoss => Code::DataLoss,
        tonic::Code::Unauthenticated => Code::Unauthenticated,
    }
}

/// etcd's answer to a membership change while a member is unreachable: refused before
/// anything is proposed (etcd's own text, as its rpctypes define it).
const UNHEALTHY_CLUSTER: &str = "etcdserver: unhealthy cluster";

/// Classifies a failed attempt for the policy table.
pub(crate) fn classify(error: &AttemptError) -> Failure {
    match error {
        AttemptError::NotSent(_) => Failure::NotSent,
        AttemptError::ConnectionLost(_) => Failure::MaybeSent,
        AttemptError::Unreadable(_) => Failure::Unreadable,
        AttemptError::Behind { .. } => Failure::Behind,
        // What etcd itself says when a proposal's leader changed under it.
        AttemptError::LeaderLost(_) => Failure::Server(ErrorKind::LeaderChanged),
        AttemptError::Status(status) => classify_status(status),
    }
}

/// Classifies a gRPC status. One the server sent carries no source; one tonic made from
/// a local failure carries the cause: our [`DialError`] when nothing was sent.
pub(crate) fn classify_status(status: &tonic::Status) -> Failure {
    use std::error::Error as _;
    match status.source() {
        Some(cause) if super::connector::is_dial_error(cause) => Failure::NotSent,
        Some(_) => Failure::MaybeSent,
        None if status.message() == UNHEALTHY_CLUSTER => {
            Failure::Refused(kind_from_server(code_of(status.code()), status.message()))
        }
        None => Failure::Server(kind_from_server(code_of(status.code()), status.message())),
    }
}

/// The error to report for a failed attempt.
pub(crate) fn to_error(error: AttemptError, failure: Failure, endpoint: &str) -> Error {
    match error {
        AttemptError::NotSent(e) => Error::new(ErrorKind::Unavailable, e.to_string())
            .with_code(Code::Unavailable)
            .with_endpoint(endpoint)
            .with_source(e),
        AttemptError::ConnectionLost(e) => {
            Error::new(ErrorKind::Unavailable, format!("connection error: {e}"))
                .with_code(Code::Unavailable)
                .with_endpoint(endpoint)
                .with_source(e)
        }
        AttemptError::Unreadable(why) => Error::new(
            ErrorKind::Protocol,
            format!("the response could not be read: {why}"),
        )
        .with_endpoint(endpoint),
        e @ AttemptError::Behind { .. } => {
            Error::new(ErrorKind::StaleRead, describe(&e)).with_endpoint(endpoint)
        }
        e @ AttemptError::LeaderLost(_) => {
            Error::new(ErrorKind::LeaderChanged, describe(&e)).with_endpoint(endpoint)
        }
        AttemptError::Status(status) => status_to_error(status, failure, endpoint),
    }
}

/// The error to report for a failed gRPC status.
pub(crate) fn status_to_error(status: tonic::Status, failure: Failure, endpoint: &str) -> Error {
    let code = code_of(status.code());
    let message = status.message().to_string();
    let kind = match failure {
        Failure::Server(kind) | Failure::Refused(kind) => kind,
        Failure::Unreadable => ErrorKind::Protocol,
        _ => ErrorKind::Unavailable,
    };
    let err = Error::new(kind, message)
        .with_code(code)
        .with_endpoint(endpoint);
    // Keep tonic's own error as the cause: its chain has the I/O detail.
    if status_has_source(&status) {
        err.with_source(status)
    } else {
        err
    }
}

/// The failure's text with its root cause, for health reports: a failed connection's
/// own text is often just "transport error", and the cause (a refused connection, a TLS
/// alert) is what a person needs.
pub(crate) fn describe(error: &AttemptError) -> String {
    match error {
        AttemptError::NotSent(e) => e.to_string(),
        AttemptError::ConnectionLost(e) => format!("connection error: {e}"),
        AttemptError::Unreadable(why) => format!("the response could not be read: {why}"),
        AttemptError::Behind { seen, got } => {
            format!("the member answered from revision {got}, behind revision {seen} already seen")
        }
        AttemptError::LeaderLost(lost) => lost.describe(),
        AttemptError::Status(status) => describe_status(status),
    }
}

/// [`describe`] for a gRPC status.
pub(crate) fn describe_status(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut root: Option<&(dyn std::error::Error + 'static)> = status.source();
    while let Some(next) = root.and_then(|e| e.source()) {
        root = Some(next);
    }
    match root.map(|e| e.to_string()) {
        Some(cause) if !cause.is_empty() && !status.message().contains(&cause) => {
            format!("{}: {cause}", status.message())
        }
        _ => status.message().to_string(),
    }
}

fn status_has_source(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    status.source().is_some()
}
