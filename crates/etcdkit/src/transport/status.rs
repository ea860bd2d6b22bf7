//! Turns a `tonic::Status` into our [`Error`] and says what it means for a retry.

use crate::error::{Code, Error, ErrorKind, kind_from_server};

/// Where a failed attempt failed, which decides whether it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection could not be made: the request certainly never left.
    NotSent,
    /// The connection broke while the request was in flight: it may have been applied.
    MaybeSent,
    /// The server answered, but the answer could not be read (too large, cut short,
    /// undecodable): the request was processed.
    Unreadable,
    /// The server answered with an error.
    Server(ErrorKind),
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

/// Classifies a failed attempt. A status the server sent arrives from its trailers and
/// carries no source; one tonic made from a local I/O or HTTP/2 failure carries the cause.
pub(crate) fn classify(status: &tonic::Status) -> Failure {
    use std::error::Error as _;
    match status.source() {
        Some(cause) if super::connector::is_dial_error(cause) => Failure::NotSent,
        Some(_) => Failure::MaybeSent,
        None if is_unreadable_response(status) => Failure::Unreadable,
        None => Failure::Server(kind_from_server(code_of(status.code()), status.message())),
    }
}

/// Failures tonic reports, without a source, when a response arrived but could not be
/// read. etcd never sends these texts itself (its messages start with "etcdserver:").
fn is_unreadable_response(status: &tonic::Status) -> bool {
    let m = status.message();
    !m.starts_with("etcdserver:")
        && matches!(
            status.code(),
            tonic::Code::Internal | tonic::Code::OutOfRange | tonic::Code::Unknown
        )
        && (m.contains("decod")
            || m.contains("message length too large")
            || m.contains("Unexpected EOF"))
}

/// The error to report for a failed attempt.
pub(crate) fn to_error(status: tonic::Status, failure: Failure, endpoint: &str) -> Error {
    let code = code_of(status.code());
    let message = status.message().to_string();
    let err = match failure {
        Failure::Server(kind) => Error::new(kind, message),
        Failure::Unreadable => Error::new(
            ErrorKind::Protocol,
            format!("the response could not be read: {message}"),
        ),
        Failure::NotSent => Error::new(ErrorKind::Unavailable, message),
        Failure::MaybeSent => Error::new(ErrorKind::Unavailable, message),
    };
    let err = err.with_code(code).with_endpoint(endpoint);
    // Keep tonic's own error as the cause: its chain has the I/O detail.
    if status_has_source(&status) {
        err.with_source(status)
    } else {
        err
    }
}

/// The status's message with its root cause, for health reports: tonic's own message
/// for a failed connection is often just "transport error", and the cause (a refused
/// connection, a TLS alert) is what a person needs.
pub(crate) fn describe(status: &tonic::Status) -> String {
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
