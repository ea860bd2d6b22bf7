//! `etcdkit registry` against real etcd: join in the foreground, lookup, list, watch,
//! leave on interrupt, evict with `leave`, and clear connection-string errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{etcdkit_bin, run, start_server};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BOUND: Duration = Duration::from_secs(30);

fn spawn(args: &[String]) -> Child {
    Command::new(etcdkit_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn interrupt(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
}

#[tokio::test]
async fn registry_commands() {
    let etcd = start_server().await;
    let url = format!("{}/t-cli?ttl=4", etcd.endpoint());
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["registry".to_owned(), "--registry".to_owned(), url.clone()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };

    let mut joiner = spawn(&args(&[
        "join",
        "api",
        "--port",
        "8080",
        "--hostname",
        "h1",
        "--data",
        r#"{"zone":"a"}"#,
    ]));
    let mut join_out = BufReader::new(joiner.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(BOUND, join_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(line.starts_with("joined t-cli/api/"), "{line}");
    assert!(line.contains(r#""url":"http://h1:8080""#), "{line}");

    let lookup = run(&etcdkit_bin(), &args(&["lookup", "api"]), b"").await;
    assert_eq!(lookup.code, 0, "{}", lookup.stderr_text());
    assert!(lookup.stdout_text().contains(r#""host":"h1:8080""#));
    assert!(lookup.stdout_text().contains(r#""zone":"a""#));
    let list = run(&etcdkit_bin(), &args(&["list"]), b"").await;
    assert_eq!(list.stdout_text().lines().count(), 1);

    let mut watcher = spawn(&args(&["watch", "api"]));
    let mut watch_out = BufReader::new(watcher.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(BOUND, watch_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("h1:8080"), "{first}");

    // Interrupting the joiner leaves: the watcher sees the empty set.
    interrupt(&joiner);
    let left = tokio::time::timeout(BOUND, join_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(left, "left");
    assert!(
        tokio::time::timeout(BOUND, joiner.wait())
            .await
            .unwrap()
            .unwrap()
            .success()
    );
    let next = tokio::time::timeout(BOUND, watch_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next, "[]");
    interrupt(&watcher);
    tokio::time::timeout(BOUND, watcher.wait())
        .await
        .unwrap()
        .unwrap();

    let none = run(&etcdkit_bin(), &args(&["lookup", "api"]), b"").await;
    assert_eq!(none.code, 1);
    assert!(none.stderr_text().contains("service `api` has no instance"));

    // `leave` removes instances registered by anyone.
    let mut other = spawn(&args(&["join", "web", "--port", "1"]));
    let mut other_out = BufReader::new(other.stdout.take().unwrap()).lines();
    tokio::time::timeout(BOUND, other_out.next_line())
        .await
        .unwrap()
        .unwrap();
    let leave = run(&etcdkit_bin(), &args(&["leave", "web"]), b"").await;
    assert_eq!(leave.stdout_text(), "removed 1 instance(s) of web\n");
    other.kill().await.unwrap();

    let bad = run(
        &etcdkit_bin(),
        &[
            "registry".into(),
            "--registry".into(),
            "http://a:99999/x".into(),
            "list".into(),
        ],
        b"",
    )
    .await;
    assert_eq!(bad.code, 128);
    assert!(
        bad.stderr_text().contains("not a valid port"),
        "{}",
        bad.stderr_text()
    );
}
