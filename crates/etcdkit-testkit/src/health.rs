//! A member's health: its `/health` probe, and what one look at a member found.

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::http;

/// What one look at a member found, from [`crate::EtcdCluster::member_health`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberHealth {
    /// Its process runs and `GET /health` answered `"health":"true"`.
    Healthy,
    /// Its process runs, but `GET /health` did not answer healthy.
    #[non_exhaustive]
    Unhealthy {
        /// What the probe saw instead: a refused connection, a timeout, or the answer
        /// (etcd says why, such as `"reason":"RAFT NO LEADER"`).
        reason: String,
    },
    /// Its process ended without the test kit ending it: it crashed, exited, or was
    /// killed from outside.
    #[non_exhaustive]
    Exited {
        /// How it ended.
        status: ExitStatus,
    },
    /// The test kit stopped it ([`crate::EtcdCluster::kill`],
    /// [`crate::EtcdCluster::shutdown`]) and it has not been started again.
    NotRunning,
}

impl MemberHealth {
    /// Whether it is [`MemberHealth::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, MemberHealth::Healthy)
    }
}

/// One line, such as `healthy`, `process exited (signal: 9 (SIGKILL))` or
/// `/health: Connection refused (os error 111)`.
impl fmt::Display for MemberHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberHealth::Healthy => f.write_str("healthy"),
            MemberHealth::Unhealthy { reason } => write!(f, "/health: {reason}"),
            MemberHealth::Exited { status } => write!(f, "process exited ({status})"),
            MemberHealth::NotRunning => f.write_str("not running"),
        }
    }
}

/// Probes `/health` on `127.0.0.1:port` once; `Err` describes what was seen instead of a
/// healthy answer.
pub(crate) async fn probe(port: u16, timeout: Duration) -> Result<(), String> {
    let response = http::get(port, "/health", timeout)
        .await
        .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&response.body);
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if response.status == 200 && compact.contains(r#""health":"true""#) {
        Ok(())
    } else {
        Err(format!("HTTP {}: {}", response.status, body.trim()))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn health_reads_as_one_line() {
        assert_eq!(MemberHealth::Healthy.to_string(), "healthy");
        assert!(MemberHealth::Healthy.is_healthy());
        let killed = MemberHealth::Exited {
            status: ExitStatus::from_raw(9),
        };
        assert!(!killed.is_healthy());
        assert!(
            killed.to_string().starts_with("process exited ("),
            "{killed}"
        );
        assert!(killed.to_string().contains('9'), "{killed}");
        let sick = MemberHealth::Unhealthy {
            reason: "HTTP 503: {\"health\":\"false\"}".to_owned(),
        };
        assert_eq!(
            sick.to_string(),
            "/health: HTTP 503: {\"health\":\"false\"}"
        );
        assert_eq!(MemberHealth::NotRunning.to_string(), "not running");
    }
}
