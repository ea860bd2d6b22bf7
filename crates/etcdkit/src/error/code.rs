//! gRPC status codes: their numbers and canonical names, in one table.

use std::fmt;

/// gRPC status codes, as the server or the transport reported them.
///
/// [`as_i32`](Code::as_i32) is the number on the wire (`grpc-status`), and
/// [`as_str`](Code::as_str) (also its `Display`) the canonical name other gRPC libraries and
/// etcd's own logs print (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, ...).
#[non_exhaustive]
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

/// The one table of gRPC codes: each code's number and canonical name, as the gRPC
/// specification (`doc/statuscodes.md`) fixes them.
macro_rules! code_table {
    ($($code:ident => $number:literal, $name:literal;)*) => {
        impl Code {
            /// Every code, in numeric order.
            #[cfg(test)]
            const ALL: &[Code] = &[$(Code::$code,)*];

            /// The code's number, as `grpc-status` carries it (`UNAVAILABLE` is 14).
            pub fn as_i32(self) -> i32 {
                match self {
                    $(Code::$code => $number,)*
                }
            }

            /// The code of a `grpc-status` number; `None` for a number gRPC does not define.
            pub fn from_i32(number: i32) -> Option<Code> {
                match number {
                    $($number => Some(Code::$code),)*
                    _ => None,
                }
            }

            /// The code's canonical upper-snake-case name (`OK`, `UNAVAILABLE`,
            /// `DEADLINE_EXCEEDED`, ...), as gRPC's specification and other clients spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => $name,)*
                }
            }
        }
    };
}

code_table! {
    Ok => 0, "OK";
    Cancelled => 1, "CANCELLED";
    Unknown => 2, "UNKNOWN";
    InvalidArgument => 3, "INVALID_ARGUMENT";
    DeadlineExceeded => 4, "DEADLINE_EXCEEDED";
    NotFound => 5, "NOT_FOUND";
    AlreadyExists => 6, "ALREADY_EXISTS";
    PermissionDenied => 7, "PERMISSION_DENIED";
    ResourceExhausted => 8, "RESOURCE_EXHAUSTED";
    FailedPrecondition => 9, "FAILED_PRECONDITION";
    Aborted => 10, "ABORTED";
    OutOfRange => 11, "OUT_OF_RANGE";
    Unimplemented => 12, "UNIMPLEMENTED";
    Internal => 13, "INTERNAL";
    Unavailable => 14, "UNAVAILABLE";
    DataLoss => 15, "DATA_LOSS";
    Unauthenticated => 16, "UNAUTHENTICATED";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.as_i32()
    }
}

#[cfg(test)]
mod tests {
    use super::Code;
    use crate::error::{Error, ErrorKind};

    #[test]
    fn grpc_codes_have_their_specified_numbers_and_names() {
        let table = [
            (Code::Ok, 0, "OK"),
            (Code::Cancelled, 1, "CANCELLED"),
            (Code::Unknown, 2, "UNKNOWN"),
            (Code::InvalidArgument, 3, "INVALID_ARGUMENT"),
            (Code::DeadlineExceeded, 4, "DEADLINE_EXCEEDED"),
            (Code::NotFound, 5, "NOT_FOUND"),
            (Code::AlreadyExists, 6, "ALREADY_EXISTS"),
            (Code::PermissionDenied, 7, "PERMISSION_DENIED"),
            (Code::ResourceExhausted, 8, "RESOURCE_EXHAUSTED"),
            (Code::FailedPrecondition, 9, "FAILED_PRECONDITION"),
            (Code::Aborted, 10, "ABORTED"),
            (Code::OutOfRange, 11, "OUT_OF_RANGE"),
            (Code::Unimplemented, 12, "UNIMPLEMENTED"),
            (Code::Internal, 13, "INTERNAL"),
            (Code::Unavailable, 14, "UNAVAILABLE"),
            (Code::DataLoss, 15, "DATA_LOSS"),
            (Code::Unauthenticated, 16, "UNAUTHENTICATED"),
        ];
        assert_eq!(table.len(), Code::ALL.len());
        for ((code, number, name), listed) in table.into_iter().zip(Code::ALL) {
            assert_eq!(code, *listed);
            assert_eq!(code.as_i32(), number, "{code:?}");
            assert_eq!(i32::from(code), number);
            assert_eq!(Code::from_i32(number), Some(code));
            assert_eq!(code.as_str(), name);
            assert_eq!(code.to_string(), name);
            // Our table agrees with tonic's numbering of the same codes.
            assert_eq!(tonic::Code::from_i32(number) as i32, number);
        }
        assert_eq!(Code::from_i32(17), None);
        assert_eq!(Code::from_i32(-1), None);
        let e = Error::new(ErrorKind::Timeout, "late").with_code(Code::DeadlineExceeded);
        assert_eq!(e.grpc_code(), Some(4));
        assert_eq!(Error::new(ErrorKind::Io, "disk").grpc_code(), None);
    }
}
