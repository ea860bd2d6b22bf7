//! One etcd member: its fixed facts ([`Member`]) and its process ([`MemberProcess`]), which
//! both kinds of member use: a cluster's own members and those made by
//! [`crate::EtcdCluster::new_member`].

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use crate::health::{MemberHealth, probe};
use crate::saved::SavedMember;
use crate::{ClientTls, Error};

/// Longest single `/health` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a SIGSTOPped process to be stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between looks at a process that was sent SIGSTOP: the kernel stops its threads
/// asynchronously, usually within a millisecond.
const STOP_POLL: Duration = Duration::from_millis(1);
/// Pause between health probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How many lines of each log file go into an error.
const LOG_TAIL_LINES: usize = 20;
/// Written to a member's stdout/stderr file before each start.
const START_MARKER: &str = "--- etcdkit-testkit: starting";

/// Fixed facts about one member.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) client_port: u16,
    pub(crate) peer_port: u16,
    /// Plain-HTTP port for `/health` and `/metrics`, whatever the client URLs are.
    pub(crate) metrics_port: u16,
    pub(crate) client_scheme: &'static str,
    /// The client proxy's port, when the cluster has network faults: advertised to
    /// clients instead of `client_port`.
    pub(crate) proxy_client_port: Option<u16>,
    /// The peer proxy's port, when the cluster has network faults: advertised to peers
    /// instead of `peer_port`.
    pub(crate) proxy_peer_port: Option<u16>,
    pub(crate) data_dir: PathBuf,
    pub(crate) log_path: PathBuf,
    pub(crate) stderr_path: PathBuf,
}

impl Member {
    /// A member whose directory is `root/name`.
    pub(crate) fn new(root: &Path, saved: SavedMember, client_scheme: &'static str) -> Member {
        let dir = root.join(&saved.name);
        Member {
            data_dir: dir.join("data"),
            log_path: dir.join("etcd.log"),
            stderr_path: dir.join("stderr.log"),
            name: saved.name,
            client_port: saved.client_port,
            peer_port: saved.peer_port,
            metrics_port: saved.metrics_port,
            client_scheme,
            proxy_client_port: None,
            proxy_peer_port: None,
        }
    }

    /// The member's own directory, which holds its data directory and logs.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.data_dir.parent()
    }

    pub(crate) fn saved(&self) -> SavedMember {
        SavedMember {
            name: self.name.clone(),
            client_port: self.client_port,
            peer_port: self.peer_port,
            metrics_port: self.metrics_port,
        }
    }

    /// The client URL it advertises: its client proxy's when it has one.
    pub(crate) fn client_url(&self) -> String {
        let port = self.proxy_client_port.unwrap_or(self.client_port);
        format!("{}://127.0.0.1:{port}", self.client_scheme)
    }

    /// The client URL it listens on.
    pub(crate) fn listen_client_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.client_scheme, self.client_port)
    }

    pub(crate) fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.metrics_port)
    }

    /// The peer URL it advertises: its peer proxy's when it has one.
    pub(crate) fn peer_url(&self) -> String {
        let port = self.proxy_peer_port.unwrap_or(self.peer_port);
        format!("http://127.0.0.1:{port}")
    }

    /// The peer URL it listens on.
    pub(crate) fn listen_peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// The last lines of its etcd log, and what its latest start printed.
    pub(crate) fn log_tail(&self) -> String {
        let mut out = String::new();
        let sections = [
            (
                "etcd.log",
                &self.log_path,
                last_lines(&read_end(&self.log_path), LOG_TAIL_LINES),
            ),
            (
                "stdout/stderr",
                &self.stderr_path,
                output_excerpt(&read_end(&self.stderr_path)),
            ),
        ];
        for (label, path, text) in sections {
            if !text.trim().is_empty() {
                out.push_str(&format!("[{label}: {}]\n{text}", path.display()));
            }
        }
        out
    }

    /// Whether its logs say a port was already in use.
    pub(crate) fn port_conflict(&self) -> bool {
        [&self.log_path, &self.stderr_path]
            .iter()
            .any(|p| read_end(p).contains("address already in use"))
    }
}

/// What every member process of a cluster shares.
#[derive(Debug, Clone)]
pub(crate) struct SpawnSpec {
    pub(crate) bin: PathBuf,
    pub(crate) token: String,
    pub(crate) args: Vec<String>,
    pub(crate) client_tls: Option<ClientTls>,
}

/// A member and its process, if one was started: what kill, freeze, resume, start and the
/// health checks act on.
///
/// # Drop
///
/// Kills the process (SIGKILL, which ends a frozen process too) if it runs, and reaps it.
#[derive(Debug)]
pub(crate) struct MemberProcess {
    /// The index errors carry: the member's place in its cluster, or the number in a new
    /// member's name.
    pub(crate) index: usize,
    pub(crate) member: Member,
    /// Locked while the process is signalled, so that it cannot be reaped (and its pid
    /// reused) in between. Never held across an await.
    child: Mutex<Option<Child>>,
}

impl MemberProcess {
    pub(crate) fn new(index: usize, member: Member) -> MemberProcess {
        MemberProcess {
            index,
            member,
            child: Mutex::new(None),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its process id while its process runs (a frozen process counts as running).
    pub(crate) fn pid(&self) -> Option<u32> {
        let mut slot = self.slot();
        let child = slot.as_mut()?;
        matches!(child.try_wait(), Ok(None)).then(|| child.id())
    }

    /// Spawns the process, joining `initial_cluster` in `state` (`new` or `existing`), unless
    /// it runs ([`Error::AlreadyRunning`]). Waits for nothing.
    pub(crate) fn spawn(
        &self,
        spec: &SpawnSpec,
        initial_cluster: &str,
        state: &str,
    ) -> Result<(), Error> {
        let mut slot = self.slot();
        if let Some(child) = slot.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            return Err(Error::AlreadyRunning { member: self.index });
        }
        *slot = Some(spawn_etcd(spec, &self.member, initial_cluster, state)?);
        Ok(())
    }

    /// SIGKILL, then waits for the process to end; nothing if it does not run.
    pub(crate) fn kill(&self) -> Result<(), Error> {
        let mut slot = self.slot();
        let Some(mut child) = slot.take() else {
            return Ok(());
        };
        if matches!(child.try_wait(), Ok(None))
            && let Err(source) = child.kill()
        {
            *slot = Some(child);
            return Err(Error::Signal {
                member: self.index,
                signal: "SIGKILL",
                source,
            });
        }
        // Reaped even when it had exited by itself, so that no zombie is left. After
        // SIGKILL this returns as soon as the kernel has torn the process down.
        child
            .wait()
            .map_err(|e| Error::io(format!("cannot reap etcd member {}", self.member.name), e))?;
        Ok(())
    }

    /// SIGSTOP, then waits (asynchronously, at most [`STOP_TIMEOUT`]) until every thread of
    /// the process has stopped: the kernel stops threads asynchronously, and a request sent
    /// after this returns must certainly not be answered.
    pub(crate) async fn stop(&self) -> Result<(), Error> {
        let pid = self.signal_pid(Signal::SIGSTOP, "SIGSTOP")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        // WNOWAIT: look, but leave the state to be collected by `Child::wait` later.
        let flags = WaitPidFlag::WSTOPPED
            | WaitPidFlag::WEXITED
            | WaitPidFlag::WNOHANG
            | WaitPidFlag::WNOWAIT;
        loop {
            {
                // Looked at under the lock, and only while the slot still holds the
                // process signalled: otherwise the pid may have been reaped and reused.
                let mut slot = self.slot();
                let same = slot.as_mut().is_some_and(|c| Some(c.id()) == pid_u32(pid));
                if !same {
                    return Err(Error::NotRunning { member: self.index });
                }
                match waitid(Id::Pid(pid), flags) {
                    Ok(WaitStatus::StillAlive) => {}
                    Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                        return Err(Error::NotRunning { member: self.index });
                    }
                    // Stopped, or nothing to learn (best effort): the signal was sent.
                    Ok(_) | Err(_) => return Ok(()),
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Signal {
                    member: self.index,
                    signal: "SIGSTOP",
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the process did not stop within {STOP_TIMEOUT:?}"),
                    ),
                });
            }
            tokio::time::sleep(STOP_POLL).await;
        }
    }

    /// Sends `signal` to the running process.
    pub(crate) fn signal(&self, signal: Signal, name: &'static str) -> Result<(), Error> {
        self.signal_pid(signal, name).map(drop)
    }

    /// Sends `signal` to the running process, under the lock; returns its pid.
    fn signal_pid(&self, signal: Signal, name: &'static str) -> Result<Pid, Error> {
        let mut slot = self.slot();
        let Some(child) = slot.as_mut() else {
            return Err(Error::NotRunning { member: self.index });
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return Err(Error::NotRunning { member: self.index });
        }
        let raw = i32::try_from(child.id()).map_err(|_| Error::Signal {
            member: self.index,
            signal: name,
            source: std::io::Error::other("process id out of range"),
        })?;
        let pid = Pid::from_raw(raw);
        kill(pid, signal).map_err(|errno| Error::Signal {
            member: self.index,
            signal: name,
            source: errno.into(),
        })?;
        Ok(pid)
    }

    /// `None` while the process runs; otherwise how it is down.
    pub(crate) fn process_down(&self) -> Result<Option<MemberHealth>, Error> {
        let mut slot = self.slot();
        let Some(child) = slot.as_mut() else {
            return Ok(Some(MemberHealth::NotRunning));
        };
        match child.try_wait() {
            Ok(None) => Ok(None),
            Ok(Some(status)) => Ok(Some(MemberHealth::Exited { status })),
            Err(e) => Err(Error::io(
                format!("cannot check etcd member {}", self.member.name),
                e,
            )),
        }
    }

    /// Errors unless the process runs; an exited process gives [`Error::Exited`] with its
    /// log.
    pub(crate) fn check_running(&self) -> Result<(), Error> {
        match self.process_down()? {
            None => Ok(()),
            Some(MemberHealth::Exited { status }) => Err(Error::Exited {
                member: self.index,
                status,
                log_tail: self.member.log_tail(),
            }),
            Some(_) => Err(Error::NotRunning { member: self.index }),
        }
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            // SIGKILL ends a frozen (SIGSTOPped) process too.
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn pid_u32(pid: Pid) -> Option<u32> {
    u32::try_from(pid.as_raw()).ok()
}

/// Waits until every member of `pending` answers `/health` with `"health":"true"`, at most
/// `timeout` in all. Fails early with [`Error::Exited`] if a process ends, or
/// [`Error::NotRunning`] if one was not running to begin with; with [`Error::Unhealthy`]
/// (about the first member still waited for) on timeout.
pub(crate) async fn wait_healthy(
    mut pending: Vec<&MemberProcess>,
    timeout: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last_probe = String::from("not probed yet");
    loop {
        let mut still_pending = Vec::with_capacity(pending.len());
        for &proc in &pending {
            proc.check_running()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            match probe(proc.member.metrics_port, remaining.min(PROBE_TIMEOUT)).await {
                // Checked again: a healthy answer from a process that has died since
                // (a port taken by someone else) must not count.
                Ok(()) => proc.check_running()?,
                Err(seen) => {
                    if still_pending.is_empty() {
                        last_probe = seen;
                    }
                    still_pending.push(proc);
                }
            }
        }
        pending = still_pending;
        let Some(first) = pending.first() else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Unhealthy {
                member: first.index,
                waited: now.duration_since(started),
                last_probe,
                log_tail: first.member.log_tail(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

/// Spawns one etcd process for `member`, joining `initial_cluster` in `state` (`new` or
/// `existing`).
fn spawn_etcd(
    spec: &SpawnSpec,
    member: &Member,
    initial_cluster: &str,
    state: &str,
) -> Result<Child, Error> {
    let mut stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&member.stderr_path)
        .map_err(|e| Error::io(format!("cannot open {}", member.stderr_path.display()), e))?;
    // A marker, so the tail of a restarted member's output is easy to read. Best effort.
    let _ = writeln!(stderr, "{START_MARKER} {} ---", member.name);
    let stdout = stderr
        .try_clone()
        .map_err(|e| Error::io(format!("cannot open {}", member.stderr_path.display()), e))?;

    let mut cmd = Command::new(&spec.bin);
    cmd.arg("--name")
        .arg(&member.name)
        .arg("--data-dir")
        .arg(&member.data_dir)
        .arg("--listen-client-urls")
        .arg(member.listen_client_url())
        .arg("--advertise-client-urls")
        .arg(member.client_url())
        .arg("--listen-peer-urls")
        .arg(member.listen_peer_url())
        .arg("--initial-advertise-peer-urls")
        .arg(member.peer_url())
        .arg("--initial-cluster")
        .arg(initial_cluster)
        .arg("--initial-cluster-state")
        .arg(state)
        .arg("--initial-cluster-token")
        .arg(&spec.token)
        .arg("--heartbeat-interval")
        .arg("10")
        .arg("--election-timeout")
        .arg("100")
        .arg("--logger")
        .arg("zap")
        .arg("--log-level")
        .arg("error")
        .arg("--log-outputs")
        .arg(&member.log_path)
        .arg("--listen-metrics-urls")
        .arg(member.metrics_url());
    if let Some(tls) = &spec.client_tls {
        cmd.arg("--cert-file")
            .arg(&tls.cert_file)
            .arg("--key-file")
            .arg(&tls.key_file);
        if let Some(ca) = &tls.trusted_ca_file {
            cmd.arg("--trusted-ca-file").arg(ca);
        }
        if tls.client_cert_auth {
            cmd.arg("--client-cert-auth");
        }
    }
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // etcd reads ETCD_* variables as flags; a test environment's (ETCD_BIN, say)
    // must not leak into the member.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD_") {
            cmd.env_remove(key);
        }
    }
    if let Some(arch) = unsupported_arch() {
        cmd.env("ETCD_UNSUPPORTED_ARCH", arch);
    }
    cmd.spawn().map_err(|source| Error::Spawn {
        bin: spec.bin.clone(),
        source,
    })
}

/// The value etcd wants in `ETCD_UNSUPPORTED_ARCH` on architectures it does not officially
/// support (its `GOARCH` name); `None` on x86_64, where it is never needed.
fn unsupported_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => None,
        "aarch64" => Some("arm64"),
        "x86" => Some("386"),
        "powerpc64" if cfg!(target_endian = "little") => Some("ppc64le"),
        "powerpc64" => Some("ppc64"),
        "loongarch64" => Some("loong64"),
        other => Some(other), // arm, s390x, riscv64, mips64, ... share Go's names
    }
}

/// The end of a text file (at most its last 64 KiB); empty if unreadable.
fn read_end(path: &Path) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX && file.seek(SeekFrom::Start(len - MAX)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.take(MAX).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` lines of `text`, each ending in a newline.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(n);
    lines
        .get(start..)
        .unwrap_or_default()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What the latest start of a member printed on stdout/stderr: all of it when short, else
/// its first and last lines (etcd prints the actual complaint about a bad flag first, then
/// a long usage text).
fn output_excerpt(text: &str) -> String {
    const HEAD: usize = 5;
    let latest = text
        .rfind(START_MARKER)
        .and_then(|at| text[at..].split_once('\n'))
        .map_or(text, |(_, rest)| rest);
    let lines: Vec<&str> = latest.trim_end().lines().collect();
    if lines.len() <= HEAD + LOG_TAIL_LINES + 1 {
        return last_lines(latest, LOG_TAIL_LINES + HEAD + 1);
    }
    let mut out: String = lines.iter().take(HEAD).map(|l| format!("{l}\n")).collect();
    let skipped = lines.len() - HEAD - LOG_TAIL_LINES;
    out.push_str(&format!("[... {skipped} lines ...]\n"));
    out.push_str(&last_lines(latest, LOG_TAIL_LINES));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = last_lines(&read_end(&path), 3);
        assert_eq!(tail, "line 47\nline 48\nline 49\n");
        assert_eq!(read_end(&dir.path().join("missing")), "");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn output_excerpt_shows_the_latest_start_head_and_tail() {
        let mut text = format!("{START_MARKER} m0 ---\nold run\n{START_MARKER} m0 ---\n");
        text.push_str("flag provided but not defined: -x\n");
        for i in 0..100 {
            text.push_str(&format!("usage {i}\n"));
        }
        let excerpt = output_excerpt(&text);
        assert!(excerpt.starts_with("flag provided but not defined: -x\n"));
        assert!(excerpt.contains("[... 76 lines ...]"));
        assert!(excerpt.ends_with("usage 99\n"));
        assert!(!excerpt.contains("old run"));
        assert_eq!(output_excerpt("short\n"), "short\n");
    }
}
