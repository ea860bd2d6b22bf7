//! The embedded server: `etcdkit-server` running in the test's own process instead of an
//! etcd process, and the setting that picks it (`ETCDKIT_TEST_ETCD`).

use std::sync::Mutex;
use std::time::Duration;

use etcdkit_server::{InProcessService, RunningServer, ServerBuilder};

use crate::{Error, EtcdVersion};

/// The environment variable that picks what [`crate::EtcdServer::start`] starts.
pub const TEST_ETCD_ENV: &str = "ETCDKIT_TEST_ETCD";

/// The shortest lease TTL the test kit's etcd grants: etcd derives it from the election
/// timeout (1.5 election timeouts, rounded up to whole seconds), and the test kit runs etcd
/// with a 100 ms one, so 1 s. The embedded server is given the same, so that a test's
/// lease TTLs come back the same from both.
const MIN_LEASE_TTL: Duration = Duration::from_secs(1);

/// Whether `ETCDKIT_TEST_ETCD` asks for the embedded server: unset, empty or `real` is
/// `false`, `embedded` and `in-process` are `true`. Read at each call, so one build of a
/// test binary runs either way.
///
/// # Errors
///
/// [`Error::InvalidConfig`] for any other value (or one that is not UTF-8).
pub fn embedded_from_env() -> Result<bool, Error> {
    Ok(mode_from_env()? != Mode::Real)
}

/// What `ETCDKIT_TEST_ETCD` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Real,
    Embedded,
    /// Embedded, and its clients reach it in-process ([`in_process_service`]).
    InProcess,
}

fn mode_from_env() -> Result<Mode, Error> {
    match std::env::var(TEST_ETCD_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(Mode::Real),
        Ok(value) => parse(&value),
        Err(std::env::VarError::NotUnicode(value)) => Err(bad_value(&value.to_string_lossy())),
    }
}

/// The embedded servers started under `ETCDKIT_TEST_ETCD=in-process` and still running,
/// by URL.
static IN_PROCESS: Mutex<Vec<(String, InProcessService)>> = Mutex::new(Vec::new());

/// The gRPC service of the embedded server at `endpoint` (`host:port` or
/// `http://host:port`), when `ETCDKIT_TEST_ETCD=in-process` started it and it is still
/// running; `None` otherwise (real etcd, `embedded`, another endpoint).
///
/// For a test's client options, so that under `in-process` the client reaches the server
/// without a socket (`etcdkit::InProcess`), and over TCP otherwise:
///
/// ```ignore
/// let mut options = etcdkit::ClientOptions::new([endpoint.clone()]);
/// if let Some(service) = etcdkit_testkit::in_process_service(&endpoint) {
///     options = options.in_process(etcdkit::InProcess::new(endpoint, service));
/// }
/// ```
pub fn in_process_service(endpoint: &str) -> Option<InProcessService> {
    let wanted = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let servers = IN_PROCESS.lock().unwrap_or_else(|p| p.into_inner());
    servers
        .iter()
        .find(|(url, _)| url.strip_prefix("http://").unwrap_or(url) == wanted)
        .map(|(_, service)| service.clone())
}

/// `true`, after printing `skipped (embedded etcdkit-server): REASON` to stderr, when
/// `ETCDKIT_TEST_ETCD` asks for the embedded server; `false` otherwise (an invalid value
/// too: the test then goes on and its start reports the error).
///
/// For a test that needs what only a real etcd process has (a signal, a restart, its
/// metrics, several members, etcd flags), as its first line:
///
/// ```no_run
/// if etcdkit_testkit::skip_if_embedded("freezes the etcd process (SIGSTOP)") {
///     return;
/// }
/// ```
pub fn skip_if_embedded(reason: &str) -> bool {
    let embedded = embedded_from_env().unwrap_or(false);
    if embedded {
        eprintln!("skipped (embedded etcdkit-server): {reason}");
    }
    embedded
}

fn parse(value: &str) -> Result<Mode, Error> {
    match value {
        "" | "real" => Ok(Mode::Real),
        "embedded" => Ok(Mode::Embedded),
        "in-process" => Ok(Mode::InProcess),
        other => Err(bad_value(other)),
    }
}

fn bad_value(value: &str) -> Error {
    Error::InvalidConfig {
        reason: format!(
            "{TEST_ETCD_ENV}={value:?}: use `real` (etcd processes, the default), `embedded` \
             (etcdkit-server in the test process) or `in-process` (the same, reached without \
             a socket by clients that ask etcdkit_testkit::in_process_service)"
        ),
    }
}

/// The etcd flags the embedded server has a setting for, read into its builder:
/// `--auth-token=simple` (the only tokens it issues), `--auth-token-ttl=SECONDS`,
/// `--quota-backend-bytes=N`, `--max-request-bytes=N`, `--max-txn-ops=N`. Tests written
/// for etcd with those flags run embedded unchanged.
///
/// # Errors
///
/// The flags it has no setting for (any other flag, another token kind, a value that does
/// not parse), for [`Error::InvalidConfig`] to list.
pub(crate) fn settings_from_flags(
    flags: &[String],
    mut builder: ServerBuilder,
) -> Result<ServerBuilder, Vec<String>> {
    let mut refused = Vec::new();
    for flag in flags {
        let (name, value) = flag.split_once('=').unwrap_or((flag.as_str(), ""));
        let number = value.parse::<u64>().ok();
        builder = match (name, number) {
            ("--auth-token", _) if value == "simple" => builder,
            ("--auth-token-ttl", Some(secs)) => builder.auth_token_ttl(Duration::from_secs(secs)),
            ("--quota-backend-bytes", Some(n)) => builder.quota_backend_bytes(n),
            ("--max-request-bytes", Some(n)) => match usize::try_from(n) {
                Ok(n) => builder.max_request_bytes(n),
                Err(_) => {
                    refused.push(flag.clone());
                    builder
                }
            },
            ("--max-txn-ops", Some(n)) => match usize::try_from(n) {
                Ok(n) => builder.max_txn_ops(n),
                Err(_) => {
                    refused.push(flag.clone());
                    builder
                }
            },
            _ => {
                refused.push(flag.clone());
                builder
            }
        };
    }
    if refused.is_empty() {
        Ok(builder)
    } else {
        Err(refused)
    }
}

/// A running embedded server and what the test kit reports about it.
///
/// **Drop** stops the server (see `RunningServer`) and forgets its in-process service.
#[derive(Debug)]
pub(crate) struct Embedded {
    server: RunningServer,
    name: String,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let url = self.server.url();
        let mut servers = IN_PROCESS.lock().unwrap_or_else(|p| p.into_inner());
        servers.retain(|(known, _)| *known != url);
    }
}

impl Embedded {
    /// Starts the server on a free loopback port, on the current tokio runtime; it is ready
    /// when this returns.
    pub(crate) async fn start(name: &str, builder: ServerBuilder) -> Result<Embedded, Error> {
        let server = builder
            .name(name)
            .min_lease_ttl(MIN_LEASE_TTL)
            .start()
            .await
            .map_err(|e| {
                Error::io(
                    "cannot start the embedded etcdkit-server",
                    std::io::Error::other(e),
                )
            })?;
        // The mode was read (and checked) when the start chose the embedded server.
        if mode_from_env().is_ok_and(|mode| mode == Mode::InProcess) {
            let mut servers = IN_PROCESS.lock().unwrap_or_else(|p| p.into_inner());
            servers.push((server.url(), server.service()));
        }
        Ok(Embedded {
            server,
            name: name.to_owned(),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The etcd version whose API the server answers as (what its Status reports).
    pub(crate) fn version() -> Option<EtcdVersion> {
        etcdkit_server::ETCD_VERSION.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_flags_with_a_server_setting_are_taken_and_others_refused() {
        let flags = |list: &[&str]| list.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>();
        let taken = flags(&[
            "--auth-token=simple",
            "--auth-token-ttl=2",
            "--quota-backend-bytes=1048576",
            "--max-request-bytes=4096",
            "--max-txn-ops=8",
        ]);
        assert!(settings_from_flags(&taken, ServerBuilder::default()).is_ok());
        let refused = flags(&[
            "--auth-token=jwt,pub-key=a",
            "--auth-token-ttl=soon",
            "--snapshot-count=5",
            "--max-txn-ops=-1",
        ]);
        assert_eq!(
            settings_from_flags(&refused, ServerBuilder::default()).unwrap_err(),
            refused
        );
    }

    #[test]
    fn the_setting_takes_real_or_embedded_and_refuses_anything_else() {
        assert_eq!(parse("").unwrap(), Mode::Real);
        assert_eq!(parse("real").unwrap(), Mode::Real);
        assert_eq!(parse("embedded").unwrap(), Mode::Embedded);
        assert_eq!(parse("in-process").unwrap(), Mode::InProcess);
        let err = parse("Embedded").unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        assert!(err.to_string().contains("ETCDKIT_TEST_ETCD"), "{err}");
    }

    #[test]
    fn the_embedded_version_is_an_etcd_version() {
        assert!(Embedded::version().is_some_and(|v| v.at_least(3, 5, 0)));
    }
}
