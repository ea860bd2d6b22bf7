//! Why a transaction did not commit.

use std::fmt;

/// Why [`run`](super::run) returned without committing. `E` is the error type of the
/// user's closure.
#[non_exhaustive]
#[derive(Debug)]
pub enum StmError<E = etcdkit::Error> {
    /// The closure returned this error: the attempt was abandoned and nothing written.
    Aborted(E),
    /// Every one of the allowed attempts conflicted
    /// ([`Options::max_attempts`](super::Options::max_attempts)); nothing written.
    Conflict {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The commit was sent but its reply was lost: the writes may or may not have been
    /// applied. Not retried, since a blind retry could apply them twice; read the keys to
    /// find out.
    OutcomeUnknown(etcdkit::Error),
    /// A request failed and certainly wrote nothing: a prefetch, or a commit the server
    /// refused (too many operations, permission denied, ...).
    Etcd(etcdkit::Error),
}

impl<E> StmError<E> {
    /// Whether the writes may have been applied ([`StmError::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, StmError::OutcomeUnknown(_))
    }
}

impl<E: fmt::Display> fmt::Display for StmError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StmError::Aborted(e) => write!(f, "stm: the transaction was aborted: {e}"),
            StmError::Conflict { attempts } => {
                write!(
                    f,
                    "stm: {attempts} attempts conflicted; nothing was written"
                )
            }
            StmError::OutcomeUnknown(e) => {
                write!(f, "stm: the commit may or may not have been applied: {e}")
            }
            StmError::Etcd(e) => write!(f, "stm: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StmError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StmError::Aborted(e) => Some(e),
            StmError::OutcomeUnknown(e) | StmError::Etcd(e) => Some(e),
            StmError::Conflict { .. } => None,
        }
    }
}
