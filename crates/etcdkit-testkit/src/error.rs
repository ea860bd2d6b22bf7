//! The test kit's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Everything that can go wrong while starting, probing or signalling etcd members.
///
/// Variants that carry a `log_tail` include the last lines of the member's etcd log (and of
/// its stderr), so a failed start can be diagnosed from the test output alone.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No etcd binary was found. The message tells how to get one: run `scripts/install-etcd`
    /// from the workspace root, or point `ETCD_BIN` at an etcd binary.
    #[non_exhaustive]
    BinaryNotFound {
        /// Where the binary was looked for, in order.
        tried: Vec<String>,
    },
    /// The etcd binary could not be executed at all (for example, it is not executable).
    #[non_exhaustive]
    Spawn {
        /// The binary that was executed.
        bin: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A member process exited while it was expected to run (for example while the cluster
    /// was starting).
    #[non_exhaustive]
    Exited {
        /// Index of the member.
        member: usize,
        /// How the process ended.
        status: ExitStatus,
        /// The last lines of the member's log.
        log_tail: String,
    },
    /// A member did not report itself healthy (`GET /health` answering `"health":"true"`)
    /// within the time allowed.
    #[non_exhaustive]
    Unhealthy {
        /// Index of the member.
        member: usize,
        /// How long it was waited for.
        waited: Duration,
        /// What the last health probe saw (a refused connection, a timeout, a body, ...).
        last_probe: String,
        /// The last lines of the member's log.
        log_tail: String,
    },
    /// The member index is out of range.
    #[non_exhaustive]
    NoSuchMember {
        /// The index that was asked for.
        member: usize,
        /// How many members the cluster has.
        len: usize,
    },
    /// The operation needs a running member process, and this member is not running
    /// (it was killed, or it exited).
    #[non_exhaustive]
    NotRunning {
        /// Index of the member.
        member: usize,
    },
    /// The member was asked to start, but its process is still running (possibly frozen).
    #[non_exhaustive]
    AlreadyRunning {
        /// Index of the member.
        member: usize,
    },
    /// Sending a signal to a member process failed.
    #[non_exhaustive]
    Signal {
        /// Index of the member.
        member: usize,
        /// The signal's name, such as `SIGSTOP`.
        signal: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// An HTTP request to a member (such as `GET /metrics`) failed or got a non-200 answer.
    #[non_exhaustive]
    Request {
        /// Index of the member.
        member: usize,
        /// The request path.
        path: String,
        /// What went wrong; a timeout has kind [`io::ErrorKind::TimedOut`].
        source: io::Error,
    },
    /// The builder's settings cannot work (for example, zero members).
    #[non_exhaustive]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The operation needs a real etcd process (a signal, a restart, its metrics, log or
    /// data directory, another member, ...), and this server is the embedded
    /// `etcdkit-server` (see [`ClusterBuilder::embedded`](crate::ClusterBuilder::embedded)
    /// and the crate docs, "Embedded or real etcd").
    #[non_exhaustive]
    EmbeddedUnsupported {
        /// What was asked for, such as `"kill"`.
        operation: &'static str,
    },
    /// Any other I/O failure (creating directories, log files, ...).
    #[non_exhaustive]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

fn write_tail(f: &mut fmt::Formatter<'_>, log_tail: &str) -> fmt::Result {
    if log_tail.trim().is_empty() {
        Ok(())
    } else {
        write!(f, "\n--- last lines of the member's log ---\n{log_tail}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BinaryNotFound { tried } => {
                write!(
                    f,
                    "etcd binary not found (looked for: {}); run scripts/install-etcd from the \
                     workspace root to install one, or set ETCD_BIN to the path of an etcd binary",
                    tried.join(", ")
                )
            }
            Error::Spawn { bin, source } => {
                write!(f, "cannot run etcd binary {}: {source}", bin.display())
            }
            Error::Exited {
                member,
                status,
                log_tail,
            } => {
                write!(f, "etcd member m{member} exited unexpectedly ({status})")?;
                write_tail(f, log_tail)
            }
            Error::Unhealthy {
                member,
                waited,
                last_probe,
                log_tail,
            } => {
                write!(
                    f,
                    "etcd member m{member} was not healthy after {waited:?} (last probe: {last_probe})"
                )?;
                write_tail(f, log_tail)
            }
            Error::NoSuchMember { member, len } => {
                write!(f, "no member {member}: the cluster has {len} member(s)")
            }
            Error::NotRunning { member } => write!(f, "etcd member m{member} is not running"),
            Error::AlreadyRunning { member } => {
                write!(f, "etcd member m{member} is already running")
            }
            Error::Signal {
                member,
                signal,
                source,
            } => write!(f, "cannot send {signal} to etcd member m{member}: {source}"),
            Error::Request {
                member,
                path,
                source,
            } => write!(f, "GET {path} on etcd member m{member} failed: {source}"),
            Error::InvalidConfig { reason } => write!(f, "invalid test cluster settings: {reason}"),
            Error::EmbeddedUnsupported { operation } => write!(
                f,
                "{operation} needs a real etcd process, but this server is the embedded \
                 etcdkit-server (ETCDKIT_TEST_ETCD=embedded or ClusterBuilder::embedded)"
            ),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn { source, .. }
            | Error::Signal { source, .. }
            | Error::Request { source, .. }
            | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
