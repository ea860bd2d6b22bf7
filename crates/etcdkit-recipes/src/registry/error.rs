//! The registry's error.

use std::fmt;

/// What can go wrong with the registry.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The connection string is malformed.
    InvalidConnectionString {
        /// The string given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A service name (or instance id) is empty or contains `/`.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The document to join with is not a JSON object.
    InvalidDocument {
        /// What it was instead.
        found: String,
    },
    /// The service has no instance.
    NoInstance {
        /// The service name.
        name: String,
    },
    /// etcd failed (or did not answer in time).
    Etcd(etcdkit::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConnectionString { input, reason } => {
                write!(f, "invalid registry connection string `{input}`: {reason}")
            }
            Error::InvalidName { name } => write!(
                f,
                "invalid service name or id `{name}`: it must be non-empty and without `/`"
            ),
            Error::InvalidDocument { found } => {
                write!(f, "an instance document must be a JSON object, not {found}")
            }
            Error::NoInstance { name } => write!(f, "service `{name}` has no instance"),
            Error::Etcd(e) => write!(f, "etcd: {e}"),
        }
    }
}

etcd_error_impls!(Error);
