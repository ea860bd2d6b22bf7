//! `etcdkit lock` and `etcdkit elect`: mutual exclusion of concurrent runs (from the
//! timestamps the commands write), etcdctl's output, exit codes and messages, and the
//! release or resignation on an interrupt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{etcdctl_bin, etcdkit_bin, run, start_server};
use etcdkit::Client;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const BOUND: Duration = Duration::from_secs(30);

async fn etcdkit(endpoint: &str, args: &[&str]) -> common::Output {
    let mut all = vec![format!("--endpoints={endpoint}")];
    all.extend(args.iter().map(|a| a.to_string()));
    run(&etcdkit_bin(), &all, b"").await
}

/// Starts a long-running etcdkit command with its stdout piped.
fn spawn(endpoint: &str, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = tokio::process::Command::new(etcdkit_bin())
        .arg(format!("--endpoints={endpoint}"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, out)
}

async fn next_line(out: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(BOUND, out.next_line())
        .await
        .expect("no output in time")
        .unwrap()
        .expect("output ended")
}

/// Sends SIGINT and returns the exit code.
async fn interrupt(child: &mut Child) -> i32 {
    let pid = child.id().unwrap().to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(BOUND, child.wait())
        .await
        .expect("did not exit in time")
        .unwrap()
        .code()
        .unwrap_or(-1)
}

#[tokio::test]
async fn concurrent_lock_runs_never_overlap() {
    let etcd = start_server().await;
    let endpoint = etcd.endpoint();
    let dir = std::env::temp_dir().join(format!("etcdkit-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Each run writes when it starts and ends (nanoseconds), doing some work in between.
    let script = "echo start $(date +%s%N) >> \"$1\"; \
                  i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; \
                  echo end $(date +%s%N) >> \"$1\"";
    let mut runners = Vec::new();
    for r in 0..2 {
        let file = dir.join(format!("runner-{r}"));
        let endpoint = endpoint.clone();
        let script = script.to_string();
        runners.push(tokio::spawn(async move {
            for _ in 0..5 {
                let out = etcdkit(
                    &endpoint,
                    &[
                        "lock",
                        "cli-mutex",
                        "sh",
                        "-c",
                        &script,
                        "sh",
                        file.to_str().unwrap(),
                    ],
                )
                .await;
                assert_eq!(out.code, 0, "{}", out.stderr_text());
            }
            file
        }));
    }
    let mut intervals = Vec::new();
    for runner in runners {
        let file = runner.await.unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        let stamps: Vec<u128> = text
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(stamps.len(), 10, "{text}");
        for pair in stamps.chunks(2) {
            assert!(pair[0] <= pair[1]);
            intervals.push((pair[0], pair[1]));
        }
    }
    intervals.sort();
    for w in intervals.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "two runs overlapped: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let client = Client::connect([endpoint]).await.unwrap();
    let left = client.kv().get("cli-mutex/").prefix().await.unwrap();
    assert!(left.kvs().is_empty(), "lock keys left behind");
}

#[tokio::test]
async fn lock_output_exit_codes_and_messages_are_etcdctls() {
    let etcd = start_server().await;
    let endpoint = etcd.endpoint();
    let out = etcdkit(&endpoint, &["lock", "cl", "echo", "hello"]).await;
    assert_eq!((out.code, out.stdout_text().as_str()), (0, "hello\n"));
    // As etcdctl: the first `--` only ends the flags; a later one is the command's.
    let out = etcdkit(&endpoint, &["lock", "cl", "--", "echo", "--", "hello"]).await;
    assert_eq!((out.code, out.stdout_text().as_str()), (0, "-- hello\n"));
    let out = etcdkit(&endpoint, &["lock", "--ttl", "5", "cl", "--", "echo", "hi"]).await;
    assert_eq!((out.code, out.stdout_text().as_str()), (0, "hi\n"));
    let out = etcdkit(&endpoint, &["lock", "cl", "sh", "-c", "exit 3"]).await;
    assert_eq!(out.code, 3);
    assert_eq!(out.last_stderr_line(), "Error: exit status 3");
    let out = etcdkit(&endpoint, &["lock", "cl", "sh", "-c", "kill -TERM $$"]).await;
    assert_eq!(out.code, 255);
    assert_eq!(out.last_stderr_line(), "Error: signal: terminated");
    let out = etcdkit(&endpoint, &["lock", "cl", "no-such-command-here"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.last_stderr_line(),
        "Error: exec: \"no-such-command-here\": executable file not found in $PATH"
    );
    let out = etcdkit(&endpoint, &["lock"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.last_stderr_line(),
        "Error: lock takes a lock name argument and an optional command to execute"
    );
    let out = etcdkit(
        &endpoint,
        &["lock", "cl", "sh", "-c", "echo $ETCD_LOCK_KEY"],
    )
    .await;
    assert!(
        out.stdout_text().starts_with("cl/"),
        "{}",
        out.stdout_text()
    );

    // Without a command: the key and an empty line, held until interrupted.
    let (mut child, mut out) = spawn(&endpoint, &["lock", "cl"]);
    let key = next_line(&mut out).await;
    assert_eq!(next_line(&mut out).await, "");
    let client = Client::connect([endpoint.clone()]).await.unwrap();
    let held = client.kv().get(key.clone()).await.unwrap();
    assert_eq!(held.kvs().len(), 1, "{key} is not held");
    // etcdctl's lock waits for ours.
    if let Some(etcdctl) = etcdctl_bin().await {
        let waiting = tokio::spawn({
            let endpoint = endpoint.clone();
            async move {
                run(
                    &etcdctl,
                    &[
                        format!("--endpoints={endpoint}"),
                        "lock".into(),
                        "cl".into(),
                        "echo".into(),
                        "theirs".into(),
                    ],
                    b"",
                )
                .await
            }
        });
        tokio::time::timeout(BOUND, async {
            while client.kv().get("cl/").prefix().await.unwrap().kvs().len() < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        assert_eq!(interrupt(&mut child).await, 0);
        let theirs = waiting.await.unwrap();
        assert_eq!(
            (theirs.code, theirs.stdout_text().as_str()),
            (0, "theirs\n")
        );
    } else {
        assert_eq!(interrupt(&mut child).await, 0);
    }
    let gone = client.kv().get("cl/").prefix().await.unwrap();
    assert!(gone.kvs().is_empty());
}

#[tokio::test]
async fn elect_prints_the_leader_and_listen_prints_changes() {
    let etcd = start_server().await;
    let endpoint = etcd.endpoint();
    for (args, message) in [
        (
            &["elect"][..],
            "elect takes one election name argument and an optional proposal argument",
        ),
        (&["elect", "ce"][..], "no proposal argument but -l not set"),
        (
            &["elect", "-l", "ce", "p"][..],
            "proposal given but -l is set",
        ),
    ] {
        let out = etcdkit(&endpoint, args).await;
        assert_eq!(out.code, 128, "{args:?}");
        assert_eq!(out.last_stderr_line(), format!("Error: {message}"));
    }

    let (mut listener, mut heard) = spawn(&endpoint, &["elect", "--listen", "ce"]);
    let (mut first, mut first_out) = spawn(&endpoint, &["elect", "ce", "p1"]);
    let key1 = next_line(&mut first_out).await;
    assert!(key1.starts_with("ce/"), "{key1}");
    assert_eq!(next_line(&mut first_out).await, "p1");
    assert_eq!(next_line(&mut heard).await, key1);
    assert_eq!(next_line(&mut heard).await, "p1");

    let (mut second, mut second_out) = spawn(&endpoint, &["elect", "ce", "p2"]);
    let client = Client::connect([endpoint.clone()]).await.unwrap();
    tokio::time::timeout(BOUND, async {
        while client.kv().get("ce/").prefix().await.unwrap().kvs().len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    // The first resigns on an interrupt: the second is elected.
    assert_eq!(interrupt(&mut first).await, 0);
    let key2 = next_line(&mut second_out).await;
    assert_ne!(key2, key1);
    assert_eq!(next_line(&mut second_out).await, "p2");
    assert_eq!(next_line(&mut heard).await, key2);
    assert_eq!(next_line(&mut heard).await, "p2");

    // Interrupted while campaigning: "context canceled", exit 1.
    let (mut third, _third_out) = spawn(&endpoint, &["elect", "ce", "p3"]);
    tokio::time::timeout(BOUND, async {
        while client.kv().get("ce/").prefix().await.unwrap().kvs().len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(interrupt(&mut third).await, 1);
    assert_eq!(interrupt(&mut second).await, 0);
    assert_eq!(interrupt(&mut listener).await, 0);
    let left = client.kv().get("ce/").prefix().await.unwrap();
    assert!(left.kvs().is_empty());
}
