//! The command line's error: a message for `Error: <message>` on stderr and the exit code
//! etcdctl uses for the same failure.

use std::error::Error as _;
use std::fmt;

use etcdkit::ErrorKind;

/// etcdctl's exit codes (its `ExitSuccess` .. `ExitBadArgs`, from cobrautl), so scripts
/// written for it keep working. Which failure exits with which code:
///
/// | code | etcdctl's name | failures |
/// | --- | --- | --- |
/// | 0 | `ExitSuccess` | success; help; `lease keep-alive` of a lease that expired |
/// | 1 | `ExitError` | a failed request (any server or client error, see [`code_for`]), a timeout, usage errors (unknown command or flag), a flag given also as its `ETCDCTL_*` variable, `lock`/`elect` without a name, a `watch -- COMMAND` that failed |
/// | 2 | `ExitBadConnection` | no client: no endpoints, an invalid endpoint, wrong credentials; `lease keep-alive --once` of a lease that is gone |
/// | 3 | `ExitInvalidInput` | `txn` input that does not parse; `watch -i` when its input ends |
/// | 4 | `ExitBadFeature` | a flag value that is not supported (output format, sort target or order) |
/// | 5 | `ExitInterrupted` | a watch the server cancelled (compaction); a snapshot that could not be saved |
/// | 6 | `ExitIO` | (etcdctl uses it only in `snapshot diff`, which etcdctl 3.6 does not have) |
/// | 128 | `ExitBadArgs` | wrong arguments: their number, conflicting flags, a bad id, TLS files that cannot be read |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Failed requests, timeouts, usage errors.
    Error = 1,
    /// The client could not be built (no or invalid endpoints, wrong credentials).
    BadConnection = 2,
    /// Input on stdin that does not parse (`txn`) or ended (`watch -i`).
    InvalidInput = 3,
    /// A feature value that is not supported (sort order, output format, ...).
    BadFeature = 4,
    /// Something cut short: a watch cancelled by the server, a snapshot not saved.
    Interrupted = 5,
    /// A failure to write the output. Kept for the table's sake: no etcdctl 3.6 command
    /// uses it.
    #[allow(dead_code)]
    Io = 6,
    /// Wrong arguments: their number, conflicting flags, a bad lease id.
    BadArgs = 128,
}

/// The one table from a failed request's kind to the exit code, as etcdctl exits when
/// its client returns that failure: wrong credentials and unusable endpoints mean no
/// client (etcdctl authenticates and parses endpoints while building its client); every
/// other request failure is `ExitError`. Commands that exit otherwise for a failure
/// (`watch`, `snapshot save`, `lease keep-alive --once`) say so where they do it.
pub fn code_for(kind: ErrorKind) -> ExitCode {
    match kind {
        ErrorKind::AuthFailed | ErrorKind::InvalidEndpoint => ExitCode::BadConnection,
        _ => ExitCode::Error,
    }
}

/// A failure of a command.
#[derive(Debug)]
pub struct CliError {
    pub code: ExitCode,
    /// The text after `Error: `.
    pub message: String,
    /// A fuller account printed on stderr before the `Error:` line, when the message had
    /// to be shortened to etcdctl's wording (the way etcdctl prints its client's log).
    pub detail: Option<String>,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn bad_args(message: impl Into<String>) -> Self {
        CliError::new(ExitCode::BadArgs, message)
    }

    pub fn bad_feature(message: impl Into<String>) -> Self {
        CliError::new(ExitCode::BadFeature, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        CliError::new(ExitCode::InvalidInput, message)
    }

    pub fn error(message: impl Into<String>) -> Self {
        CliError::new(ExitCode::Error, message)
    }

    /// A failed request, worded as etcdctl words it (see [`etcd_message`]), with the exit
    /// code of [`code_for`].
    pub fn from_etcd(e: &etcdkit::Error) -> Self {
        let message = etcd_message(e);
        let full = e.to_string();
        let detail = (message != full).then_some(full);
        CliError {
            code: code_for(e.kind()),
            message,
            detail,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::error(e.to_string())
    }
}

/// How etcdctl would word this failure:
///
/// - the server's own `etcdserver: ...` text, unchanged;
/// - for what etcdkit refuses before sending but etcd would refuse anyway (empty key,
///   duplicate txn key, too many txn ops), the server's text for it;
/// - for a request that ran out of time or found no endpoint to serve it, Go's
///   `context deadline exceeded` (etcdctl's dial never fails on its own: its requests wait
///   for a connection until the command timeout);
/// - anything else in etcdkit's own words.
pub fn etcd_message(e: &etcdkit::Error) -> String {
    if e.message().starts_with("etcdserver: ") {
        return e.message().to_owned();
    }
    match e.kind() {
        ErrorKind::EmptyKey => return "etcdserver: key is not provided".to_owned(),
        ErrorKind::DuplicateKey => {
            return "etcdserver: duplicate key given in txn request".to_owned();
        }
        ErrorKind::TooManyOps => {
            return "etcdserver: too many operations in txn request".to_owned();
        }
        ErrorKind::Timeout | ErrorKind::Unavailable => return DEADLINE_EXCEEDED.to_owned(),
        // A watch learns of it from a cancelled watch, without the server's text.
        ErrorKind::Compacted => {
            return "etcdserver: mvcc: required revision has been compacted".to_owned();
        }
        ErrorKind::OutcomeUnknown => {
            // A write that timed out is reported as outcome-unknown with the timeout as
            // its cause; etcdctl only knows the deadline passed.
            let cause = e.source().and_then(|s| s.downcast_ref::<etcdkit::Error>());
            if cause.is_some_and(|c| c.kind() == ErrorKind::Timeout) {
                return DEADLINE_EXCEEDED.to_owned();
            }
        }
        _ => {}
    }
    match e.code() {
        // Any other gRPC status, as grpc-go words it: etcdctl converts only the
        // `etcdserver: ...` texts into errors of its own.
        Some(code) => format!(
            "rpc error: code = {} desc = {}",
            crate::go_compat::grpc_code_name(code),
            e.message()
        ),
        None => e.to_string(),
    }
}

/// Go's `context.DeadlineExceeded` text.
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";
