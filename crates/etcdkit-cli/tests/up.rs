//! `etcdkit up`: the built binary starting real etcd members, serving the endpoints it
//! prints, reporting a killed member, stopping cleanly on SIGINT and SIGTERM, keeping its
//! data with `--data-dir`, and failing clearly when etcd cannot be run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{etcdkit_bin, run};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout};

/// The longest any one step may take (a 3-member start on a busy machine included).
const BOUND: Duration = Duration::from_secs(90);

/// One member as `up` printed it.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    pid: u32,
    endpoint: String,
    data_dir: PathBuf,
}

/// What `up` printed before it started watching.
#[derive(Debug, Clone)]
struct Banner {
    members: Vec<Member>,
    root: PathBuf,
    /// The value of the `export ETCDCTL_ENDPOINTS=` line.
    exported: String,
}

/// A running `etcdkit up`. Dropping it kills the command and, since a killed `up` cannot
/// stop its members, the members it printed.
struct Up {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<ChildStderr>,
    pids: Vec<u32>,
}

impl Up {
    /// Starts `etcdkit up ARGS` (etcd from the test's `ETCD_BIN`, like the test kit).
    fn spawn(args: &[&str]) -> Up {
        let mut command = tokio::process::Command::new(etcdkit_bin());
        command
            .arg("up")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCDCTL_") {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = child.stderr.take();
        Up {
            child,
            stdout,
            stderr,
            pids: Vec::new(),
        }
    }

    /// The next line of stdout; `None` once it ends.
    async fn next_line(&mut self) -> Option<String> {
        tokio::time::timeout(BOUND, self.stdout.next_line())
            .await
            .expect("no output from up in time")
            .unwrap()
    }

    /// Reads the banner, up to the line that says health is being watched.
    async fn banner(&mut self) -> Banner {
        let mut members = Vec::new();
        let mut root = None;
        let mut exported = None;
        loop {
            let Some(line) = self.next_line().await else {
                let rest = self.finish().await;
                panic!("up ended before it was up: {rest:?}");
            };
            if line.starts_with("watching member health") {
                break;
            }
            if let Some(rest) = line.strip_prefix("member ") {
                members.push(parse_member(rest));
            } else if let Some(rest) = line.strip_prefix("data directory: ") {
                let (path, _) = rest.rsplit_once(" (").unwrap();
                root = Some(PathBuf::from(path));
            } else if let Some(rest) = line.strip_prefix("export ETCDCTL_ENDPOINTS=") {
                exported = Some(rest.to_owned());
            }
        }
        self.pids = members.iter().map(|m| m.pid).collect();
        Banner {
            members,
            root: root.expect("no data directory line"),
            exported: exported.expect("no export line"),
        }
    }

    /// Reads stdout until a line starts with `prefix`, and returns it.
    async fn line_starting_with(&mut self, prefix: &str) -> String {
        loop {
            match self.next_line().await {
                Some(line) if line.starts_with(prefix) => return line,
                Some(_) => {}
                None => panic!("up ended without a line starting with {prefix:?}"),
            }
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap());
        kill(pid, signal).unwrap();
    }

    /// Waits for the command to exit: its exit code, the rest of stdout, and stderr.
    async fn finish(&mut self) -> (i32, String, String) {
        let mut rest = String::new();
        while let Some(line) = self.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let mut err = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            tokio::time::timeout(BOUND, stderr.read_to_string(&mut err))
                .await
                .expect("stderr did not end in time")
                .unwrap();
        }
        let status = tokio::time::timeout(BOUND, self.child.wait())
            .await
            .expect("up did not exit in time")
            .unwrap();
        (status.code().unwrap_or(-1), rest, err)
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        for pid in &self.pids {
            if process_exists(*pid) {
                let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
            }
        }
    }
}

/// `m0: pid 123, client http://127.0.0.1:1, data /d/m0/data, log /d/m0/etcd.log`
fn parse_member(text: &str) -> Member {
    let (name, rest) = text.split_once(": ").unwrap();
    let fields: Vec<&str> = rest.split(", ").collect();
    let field = |key: &str| {
        fields
            .iter()
            .find_map(|f| f.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} in {text:?}"))
            .to_owned()
    };
    Member {
        name: name.to_owned(),
        pid: field("pid ").parse().unwrap(),
        endpoint: field("client "),
        data_dir: PathBuf::from(field("data ")),
    }
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs `etcdkit --endpoints=ENDPOINTS ARGS...`.
async fn etcdkit(endpoints: &str, args: &[&str]) -> common::Output {
    let mut all = vec![format!("--endpoints={endpoints}")];
    all.extend(args.iter().map(|a| a.to_string()));
    run(&etcdkit_bin(), &all, b"").await
}

/// Runs `etcdkit ARGS...` with `ETCDCTL_ENDPOINTS` set, as after pasting the export line.
async fn etcdkit_with_env(exported: &str, args: &[&str]) -> common::Output {
    let output = tokio::process::Command::new(etcdkit_bin())
        .args(args)
        .env("ETCDCTL_ENDPOINTS", exported)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BOUND, output)
        .await
        .expect("etcdkit did not finish in time")
        .unwrap();
    common::Output {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// Puts `key = value` through `endpoints` and checks it is written.
async fn put(endpoints: &str, key: &str, value: &str) {
    let out = etcdkit(endpoints, &["put", key, value]).await;
    assert_eq!(
        (out.code, out.stdout_text()),
        (0, "OK\n".to_owned()),
        "{out:?}"
    );
}

/// Gets `key` through `endpoints` and checks its value.
async fn get_is(endpoints: &str, key: &str, value: &str) {
    let out = etcdkit(endpoints, &["get", key]).await;
    assert_eq!(out.stdout_text(), format!("{key}\n{value}\n"), "{out:?}");
}

fn assert_all_gone(banner: &Banner) {
    for m in &banner.members {
        assert!(
            !process_exists(m.pid),
            "member {} (pid {}) is still there",
            m.name,
            m.pid
        );
    }
}

#[tokio::test]
async fn up_serves_its_printed_endpoints_reports_a_killed_member_and_stops_cleanly_on_sigint() {
    let mut up = Up::spawn(&["--members", "3"]);
    let banner = up.banner().await;
    assert_eq!(banner.members.len(), 3);
    let names: Vec<&str> = banner.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["m0", "m1", "m2"]);
    let printed: Vec<&str> = banner.members.iter().map(|m| m.endpoint.as_str()).collect();
    assert_eq!(banner.exported, printed.join(","));
    for m in &banner.members {
        assert!(process_exists(m.pid), "{m:?}");
        assert!(
            m.data_dir.starts_with(&banner.root) && m.data_dir.is_dir(),
            "{m:?}"
        );
    }

    // The export line works as it is, for etcdkit through the variable and the flag alike.
    put(&banner.exported, "up-sigint/key", "v1").await;
    let out = etcdkit_with_env(&banner.exported, &["get", "up-sigint/key"]).await;
    assert_eq!(out.stdout_text(), "up-sigint/key\nv1\n", "{out:?}");

    // A member killed behind up's back is reported, with how it ended.
    let victim = banner.members[1].clone();
    kill(Pid::from_raw(victim.pid as i32), Signal::SIGKILL).unwrap();
    let line = up
        .line_starting_with(&format!(
            "member {} ({}) unhealthy: ",
            victim.name, victim.endpoint
        ))
        .await;
    assert!(line.contains("process exited"), "{line}");
    assert!(line.contains("SIGKILL") || line.contains('9'), "{line}");
    // The two left keep serving.
    put(&banner.exported, "up-sigint/key", "v2").await;
    get_is(&banner.exported, "up-sigint/key", "v2").await;

    up.signal(Signal::SIGINT);
    let (code, rest, stderr) = up.finish().await;
    assert_eq!(code, 0, "stdout: {rest}\nstderr: {stderr}");
    assert!(
        rest.ends_with(&format!("stopped; removed {}\n", banner.root.display())),
        "{rest}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_all_gone(&banner);
    assert!(!banner.root.exists(), "{} is left", banner.root.display());
}

#[tokio::test]
async fn up_with_one_member_stops_on_sigterm_and_removes_its_data() {
    let mut up = Up::spawn(&["--members", "1"]);
    let banner = up.banner().await;
    assert_eq!(banner.members.len(), 1);
    put(&banner.exported, "up-sigterm/key", "v").await;

    up.signal(Signal::SIGTERM);
    let (code, rest, stderr) = up.finish().await;
    assert_eq!(code, 0, "stdout: {rest}\nstderr: {stderr}");
    assert!(rest.starts_with("stopping 1 member\n"), "{rest}");
    assert_all_gone(&banner);
    assert!(!banner.root.exists(), "{} is left", banner.root.display());
}

#[tokio::test]
async fn up_with_data_dir_keeps_the_data_and_a_second_up_comes_back_with_it() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("dev-cluster");
    let dir_arg = dir.to_str().unwrap();

    // No --members: three by default.
    let mut first = Up::spawn(&["--data-dir", dir_arg]);
    let banner = first.banner().await;
    assert_eq!(banner.members.len(), 3);
    assert_eq!(banner.root, dir);
    put(&banner.exported, "up-kept/key", "survives").await;
    first.signal(Signal::SIGINT);
    let (code, rest, stderr) = first.finish().await;
    assert_eq!(code, 0, "stdout: {rest}\nstderr: {stderr}");
    assert!(rest.contains("data kept in"), "{rest}");
    assert_all_gone(&banner);
    assert!(banner.members.iter().all(|m| m.data_dir.is_dir()));

    // Another member count than the kept cluster's is refused, and nothing is started.
    let out = run(
        &etcdkit_bin(),
        &[
            "up".to_owned(),
            "--members".to_owned(),
            "1".to_owned(),
            "--data-dir".to_owned(),
            dir_arg.to_owned(),
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let last = out.last_stderr_line();
    assert!(
        last.starts_with("Error: ") && last.contains("3-member"),
        "{last}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    let mut second = Up::spawn(&["--data-dir", dir_arg]);
    let again = second.banner().await;
    assert_eq!(again.exported, banner.exported, "the kept cluster's ports");
    get_is(&again.exported, "up-kept/key", "survives").await;
    second.signal(Signal::SIGTERM);
    let (code, rest, stderr) = second.finish().await;
    assert_eq!(code, 0, "stdout: {rest}\nstderr: {stderr}");
    assert_all_gone(&again);
    assert!(again.members.iter().all(|m| m.data_dir.is_dir()));
}

#[tokio::test]
async fn up_with_a_missing_etcd_binary_fails_with_a_clear_error() {
    let out = run(
        &etcdkit_bin(),
        &[
            "up".to_owned(),
            "--etcd".to_owned(),
            "/nonexistent/up-test/etcd".to_owned(),
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr_text(),
        "Error: --etcd /nonexistent/up-test/etcd: no executable file there\n"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[tokio::test]
async fn up_whose_etcd_exits_at_start_fails_with_its_output_and_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("etcd");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'fake etcd: refusing to start' >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = run(
        &etcdkit_bin(),
        &[
            "up".to_owned(),
            "--members".to_owned(),
            "1".to_owned(),
            "--etcd".to_owned(),
            fake.to_str().unwrap().to_owned(),
        ],
        b"",
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let stderr = out.stderr_text();
    assert_eq!(
        out.last_stderr_line(),
        "Error: etcd member m0 exited unexpectedly (exit status: 3)",
        "{stderr}"
    );
    assert!(stderr.contains("fake etcd: refusing to start"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
