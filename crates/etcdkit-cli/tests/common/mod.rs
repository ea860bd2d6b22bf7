//! The harness of the command-line tests: real etcd servers from the test kit, the built
//! `etcdkit` binary, and (when it can be found) etcdctl 3.6 as the reference.
//!
//! [`Pair::check`] runs a command with `etcdkit` against one server and compares what it
//! printed with the expected text (taken from etcdctl 3.6's captured formats). When
//! etcdctl is available, the same command also runs with etcdctl against a twin server that
//! has seen exactly the same commands, and both must print the same bytes and exit alike.
//! Two servers rather than one keep revisions in step: each tool's writes land on its own
//! server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use etcdkit_testkit::EtcdServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The longest any one command may take in a test.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);
const START_DEADLINE: Duration = Duration::from_secs(60);

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The last line of stderr (etcdctl logs before its `Error:` line), or "".
    pub fn last_stderr_line(&self) -> String {
        self.stderr_text().lines().last().unwrap_or("").to_owned()
    }
}

pub fn etcdkit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_etcdkit"))
}

/// etcdctl 3.6 (the default etcd's, from `scripts/install-etcd`) from `ETCDCTL_BIN`, `<workspace>/.etcd/bin/etcdctl` or `PATH`; `None`
/// when there is none (or it is another version, whose formats differ).
/// `ETCDCTL_BIN=none` turns the comparison off.
pub async fn etcdctl_bin() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("ETCDCTL_BIN") {
        if path == "none" || path.is_empty() {
            return None;
        }
        candidates.push(path.into());
    }
    candidates.push(workspace.join(".etcd/bin/etcdctl"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("etcdctl")));
    }
    for candidate in candidates {
        if !candidate.is_file() {
            continue;
        }
        let version = run(&candidate, &["version".into()], b"").await;
        if version.stdout_text().contains("etcdctl version: 3.6.") {
            return Some(candidate);
        }
        eprintln!("ignoring {}: not etcdctl 3.6", candidate.display());
    }
    eprintln!("etcdctl 3.6 not found: comparing with the captured formats only");
    None
}

/// Runs a program with these arguments and stdin, bounded by [`COMMAND_DEADLINE`].
/// ETCDCTL_* variables of the test's environment are not passed on.
pub async fn run(program: &Path, args: &[String], stdin: &[u8]) -> Output {
    run_env(program, args, stdin, &[]).await
}

/// As [`run`], with these variables set (after the test's `ETCDCTL_*` are removed).
pub async fn run_env(
    program: &Path,
    args: &[String],
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(&name);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let stdin = stdin.to_vec();
    let work = async move {
        // A program may exit without reading its stdin; that is not a failure here.
        let feed = async move {
            let _ = input.write_all(&stdin).await;
            drop(input);
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (_, out_read, err_read) = tokio::join!(
            feed,
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err)
        );
        out_read.expect("read stdout");
        err_read.expect("read stderr");
        let status = child.wait().await.expect("wait");
        Output {
            code: status.code().unwrap_or(-1),
            stdout: out,
            stderr: err,
        }
    };
    tokio::time::timeout(COMMAND_DEADLINE, work)
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} did not finish in time", program.display()))
}

pub async fn start_server() -> EtcdServer {
    tokio::time::timeout(START_DEADLINE, EtcdServer::start())
        .await
        .expect("etcd did not start in time")
        .expect("start etcd")
}

/// Replaces what differs between two servers or two runs: cluster and member ids (json
/// and the hex id of `endpoint status`), the raft term, and `took` durations.
pub fn normalize(text: &str) -> String {
    let mut out = text.to_owned();
    for field in ["\"cluster_id\":", "\"member_id\":", "\"leader\":"] {
        out = replace_after(&out, field, |c| c.is_ascii_digit(), "ID");
    }
    out = replace_after(&out, "\"raft_term\":", |c| c.is_ascii_digit(), "T");
    out = replace_after(&out, "\"took\":\"", |c| c != '"', "TOOK");
    out = replace_after(&out, "took = ", |c| c != '\n', "TOOK");
    // `defrag`'s `]. took 6.05ms` (and `took 2s. (error)` when it failed).
    out = replace_after(&out, "]. took ", |c| !c.is_whitespace(), "TOOK");
    out
}

/// Replaces the run of characters matching `keep` after each `marker` with `with`.
fn replace_after(text: &str, marker: &str, keep: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        out.push_str(with);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A json response header as it reads after [`normalize`].
pub fn header(revision: i64) -> String {
    format!("{{\"cluster_id\":ID,\"member_id\":ID,\"revision\":{revision},\"raft_term\":T}}")
}

/// A server for etcdkit and, when etcdctl is there, a twin server for etcdctl.
pub struct Pair {
    pub kit: EtcdServer,
    pub ctl: Option<(EtcdServer, PathBuf)>,
}

impl Pair {
    pub async fn start() -> Pair {
        let ctl = match etcdctl_bin().await {
            Some(bin) => Some((start_server().await, bin)),
            None => None,
        };
        Pair {
            kit: start_server().await,
            ctl,
        }
    }

    /// Runs `etcdkit` with these arguments against the etcdkit server.
    pub async fn etcdkit(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(
            &etcdkit_bin(),
            &with_endpoint(&self.kit.endpoint(), args),
            stdin,
        )
        .await
    }

    /// Runs etcdctl with these arguments against its own server, if there is one.
    pub async fn etcdctl(&self, args: &[&str], stdin: &[u8]) -> Option<Output> {
        let (server, bin) = self.ctl.as_ref()?;
        Some(run(bin, &with_endpoint(&server.endpoint(), args), stdin).await)
    }

    /// Runs the command with both tools; etcdkit must exit with `code`, print `stdout`
    /// (after [`normalize`]) and end stderr with `stderr_last` ("" for nothing), and
    /// etcdctl, when present, must agree.
    pub async fn check(
        &self,
        args: &[&str],
        stdin: &[u8],
        code: i32,
        stdout: &str,
        stderr_last: &str,
    ) {
        let ours = self.etcdkit(args, stdin).await;
        let context = format!(
            "etcdkit {args:?} (stdin {:?})",
            String::from_utf8_lossy(stdin)
        );
        if let Some(theirs) = self.etcdctl(args, stdin).await {
            assert_eq!(
                normalize(&ours.stdout_text()),
                normalize(&theirs.stdout_text()),
                "{context}: stdout differs from etcdctl's\nours stderr: {}",
                ours.stderr_text()
            );
            assert_eq!(
                ours.code, theirs.code,
                "{context}: exit code differs from etcdctl's"
            );
            assert_eq!(
                ours.last_stderr_line(),
                theirs.last_stderr_line(),
                "{context}: last stderr line differs from etcdctl's"
            );
        }
        assert_eq!(
            normalize(&ours.stdout_text()),
            stdout,
            "{context}: stdout\nstderr: {}",
            ours.stderr_text()
        );
        assert_eq!(
            ours.code,
            code,
            "{context}: exit code\nstderr: {}",
            ours.stderr_text()
        );
        assert_eq!(
            ours.last_stderr_line(),
            stderr_last,
            "{context}: stderr\n{}",
            ours.stderr_text()
        );
    }

    /// As [`check`](Pair::check), comparing raw stdout bytes (for non-UTF-8 output).
    pub async fn check_bytes(&self, args: &[&str], stdin: &[u8], stdout: &[u8]) {
        let ours = self.etcdkit(args, stdin).await;
        if let Some(theirs) = self.etcdctl(args, stdin).await {
            assert_eq!(
                ours.stdout, theirs.stdout,
                "etcdkit {args:?}: stdout differs from etcdctl's"
            );
            assert_eq!(ours.code, theirs.code);
        }
        assert_eq!(
            ours.stdout,
            stdout,
            "etcdkit {args:?}: stdout\nstderr: {}",
            ours.stderr_text()
        );
        assert_eq!(
            ours.code,
            0,
            "etcdkit {args:?}\nstderr: {}",
            ours.stderr_text()
        );
    }

    /// Runs `args` with both tools (each against its own server, `--endpoints` first unless
    /// `endpoint_by_env`, then through `ETCDCTL_ENDPOINTS`) with these variables.
    pub async fn both(
        &self,
        args: &[&str],
        stdin: &[u8],
        env: &[(&str, &str)],
        endpoint_by_env: bool,
    ) -> (Output, Option<Output>) {
        // Without a scheme, as etcdctl's users write them: an `http://` endpoint stays plain
        // whatever the TLS flags say, in both tools.
        let bare = |endpoint: String| endpoint.trim_start_matches("http://").to_owned();
        let line = |endpoint: String| {
            let endpoint = bare(endpoint);
            let mut all: Vec<String> = Vec::new();
            if !endpoint_by_env {
                all.push(format!("--endpoints={endpoint}"));
            }
            all.extend(args.iter().map(|a| (*a).to_owned()));
            all
        };
        let with_ep = |endpoint: String| {
            let mut vars: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            if endpoint_by_env {
                vars.push(("ETCDCTL_ENDPOINTS".into(), bare(endpoint)));
            }
            vars
        };
        let kit_env = with_ep(self.kit.endpoint());
        let kit_env: Vec<(&str, &str)> = kit_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ours = run_env(&etcdkit_bin(), &line(self.kit.endpoint()), stdin, &kit_env).await;
        let theirs = match &self.ctl {
            Some((server, bin)) => {
                let ctl_env = with_ep(server.endpoint());
                let ctl_env: Vec<(&str, &str)> = ctl_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                Some(run_env(bin, &line(server.endpoint()), stdin, &ctl_env).await)
            }
            None => None,
        };
        (ours, theirs)
    }

    /// Runs with both tools and checks etcdkit printed and exited as etcdctl did (stdout,
    /// code, last stderr line); returns etcdkit's output.
    pub async fn same(
        &self,
        args: &[&str],
        stdin: &[u8],
        env: &[(&str, &str)],
        endpoint_by_env: bool,
    ) -> Output {
        let (ours, theirs) = self.both(args, stdin, env, endpoint_by_env).await;
        if let Some(theirs) = theirs {
            let context = format!("{args:?} with {env:?}\nours: {ours:?}\ntheirs: {theirs:?}");
            assert_eq!(
                normalize(&ours.stdout_text()),
                normalize(&theirs.stdout_text()),
                "stdout: {context}"
            );
            assert_eq!(ours.code, theirs.code, "exit code: {context}");
            assert_eq!(
                ours.last_stderr_line(),
                theirs.last_stderr_line(),
                "stderr: {context}"
            );
        }
        ours
    }

    /// Runs a command on both servers, for setting up state; it must succeed.
    pub async fn setup(&self, args: &[&str], stdin: &[u8]) {
        let ours = self.etcdkit(args, stdin).await;
        assert_eq!(
            ours.code,
            0,
            "setup etcdkit {args:?}: {}",
            ours.stderr_text()
        );
        if let Some(theirs) = self.etcdctl(args, stdin).await {
            assert_eq!(
                theirs.code,
                0,
                "setup etcdctl {args:?}: {}",
                theirs.stderr_text()
            );
        }
    }

    /// Grants a lease with this id and TTL on both servers (through etcd's JSON gateway:
    /// etcdkit has no lease command yet).
    pub async fn grant_lease(&self, id: i64, ttl: i64) {
        grant_lease(&self.kit.endpoint(), id, ttl).await;
        if let Some((server, _)) = &self.ctl {
            grant_lease(&server.endpoint(), id, ttl).await;
        }
    }
}

fn with_endpoint(endpoint: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec![format!("--endpoints={endpoint}")];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all
}

/// `POST /v3/lease/grant` on etcd's grpc-gateway, with a plain HTTP/1.1 request.
pub async fn grant_lease(endpoint: &str, id: i64, ttl: i64) {
    let address = endpoint.trim_start_matches("http://").to_owned();
    let body = format!("{{\"TTL\":{ttl},\"ID\":{id}}}");
    let request = format!(
        "POST /v3/lease/grant HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("receive");
        String::from_utf8_lossy(&response).into_owned()
    };
    let response = tokio::time::timeout(COMMAND_DEADLINE, exchange)
        .await
        .expect("lease grant timed out");
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains(&format!("\"ID\":\"{id}\"")),
        "lease grant failed: {response}"
    );
}

/// Runs `etcdkit serve ARGS` (stdout piped for its banner, killed when dropped) and waits
/// for its banner line; returns the process, the URL the banner names and the banner.
pub async fn spawn_serve(args: &[&str]) -> (tokio::process::Child, String, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(etcdkit_bin())
        .arg("serve")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn etcdkit serve");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let banner = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve printed its banner in time")
        .expect("read the banner")
        .expect("a banner line");
    let url = banner
        .strip_prefix("serving etcd v3 on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
        .to_owned();
    (child, url, banner)
}
