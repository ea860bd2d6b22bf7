//! `etcdkit serve`: the built binary runs the in-process etcd v3 server, answers etcdkit's
//! own commands (and etcdctl's, when there is one) on the address it prints, stops on
//! SIGTERM with exit code 0, and fails clearly on an address it cannot bind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{etcdctl_bin, etcdkit_bin, run, spawn_serve};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};

const BOUND: Duration = Duration::from_secs(30);

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn serve_answers_etcd_clients_on_the_address_it_prints_and_stops_on_sigterm() {
    let (mut child, url, banner) =
        spawn_serve(&["--listen", "127.0.0.1:0", "--name", "serve-test"]).await;
    assert!(banner.ends_with("in memory)"), "{banner}");

    let endpoints = format!("--endpoints={url}");
    let put = tokio::time::timeout(
        BOUND,
        run(
            &etcdkit_bin(),
            &args(&[&endpoints, "put", "serve/a", "1"]),
            b"",
        ),
    )
    .await
    .unwrap();
    assert_eq!(put.code, 0, "{}", String::from_utf8_lossy(&put.stderr));
    assert_eq!(put.stdout, b"OK\n");
    let get = tokio::time::timeout(
        BOUND,
        run(
            &etcdkit_bin(),
            &args(&[&endpoints, "get", "serve/", "--prefix"]),
            b"",
        ),
    )
    .await
    .unwrap();
    assert_eq!(get.stdout, b"serve/a\n1\n");
    if let Some(etcdctl) = etcdctl_bin().await {
        let theirs = tokio::time::timeout(
            BOUND,
            run(
                &etcdctl,
                &args(&[&endpoints, "get", "serve/", "--prefix"]),
                b"",
            ),
        )
        .await
        .unwrap();
        assert_eq!(theirs.stdout, get.stdout, "etcdctl reads the same");
    }

    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(BOUND, child.wait())
        .await
        .expect("serve stopped in time")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn serve_on_an_address_in_use_fails_with_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = tokio::time::timeout(
        BOUND,
        run(&etcdkit_bin(), &args(&["serve", "--listen", &addr]), b""),
    )
    .await
    .unwrap();
    assert_eq!(out.code, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("Error: cannot listen on {addr}")),
        "{stderr}"
    );
}

/// A stopping server ends its streams as unavailable, as a stopping etcd's dropped
/// connections look, not cleanly: etcdctl reads a clean end as "watch is canceled by the
/// server" and exits; this way it waits, and resumes on the server started again.
#[tokio::test]
async fn a_stopping_server_leaves_etcdctls_watch_waiting() {
    let Some(etcdctl) = etcdctl_bin().await else {
        return;
    };
    let addr = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    let start = || async {
        let mut child = tokio::process::Command::new(etcdkit_bin())
            .args(["serve", "--listen", &addr])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::time::timeout(BOUND, lines.next_line())
            .await
            .expect("serve started in time")
            .unwrap()
            .expect("its banner");
        child
    };
    let mut first = start().await;
    let mut watch = tokio::process::Command::new(&etcdctl)
        .args([&format!("--endpoints={addr}"), "watch", "stay/k"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut events = BufReader::new(watch.stdout.take().unwrap()).lines();
    let endpoints = format!("--endpoints={addr}");
    // The watch is in place once it has shown an event: put until it shows one (etcdctl
    // may not have created it yet when the first put lands).
    let shown = put_until_shown(&endpoints, &mut events).await;
    assert_eq!(shown.as_deref(), Some("PUT"));
    // Its key and value lines.
    next_line(&mut events).await;
    next_line(&mut events).await;
    let pid = Pid::from_raw(i32::try_from(first.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    tokio::time::timeout(BOUND, first.wait())
        .await
        .unwrap()
        .unwrap();
    let _second = start().await;
    // The new server starts from revision 1 and etcdctl resumes after the last revision
    // it saw: puts go on until the new server's revisions reach it.
    let after = put_until_shown(&endpoints, &mut events).await;
    assert_eq!(
        after.as_deref(),
        Some("PUT"),
        "etcdctl's watch ended instead"
    );
}

async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<String> {
    tokio::time::timeout(BOUND, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
}

/// Puts `stay/k` until the watch prints a line, and returns that line (`None`: the watch
/// ended).
async fn put_until_shown(
    endpoints: &str,
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<String> {
    tokio::time::timeout(BOUND, async {
        loop {
            let put = run(
                &etcdkit_bin(),
                &args(&[endpoints, "put", "stay/k", "v"]),
                b"",
            )
            .await;
            assert_eq!(put.code, 0, "{}", put.stderr_text());
            if let Ok(line) =
                tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await
            {
                break line.unwrap();
            }
        }
    })
    .await
    .expect("etcdctl's watch printed in time")
}

/// `--listen` takes a client URL and `localhost`, and `--auth-token-ttl` sets how long a
/// simple token lives unused: a token left idle past it is refused as etcd refuses one.
#[tokio::test]
async fn serve_takes_a_listen_url_and_expires_idle_tokens_after_auth_token_ttl() {
    let (_child, url, _) =
        spawn_serve(&["--listen", "http://localhost:0", "--auth-token-ttl", "1"]).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let admin = within(etcdkit::Client::connect([url.as_str()]))
        .await
        .unwrap();
    let auth = admin.auth();
    within(auth.user_add("root", "pw")).await.unwrap();
    within(auth.role_add("root")).await.unwrap();
    within(auth.user_grant_role("root", "root")).await.unwrap();
    within(auth.enable()).await.unwrap();
    let token = within(auth.authenticate("root", "pw")).await.unwrap();
    let holder = within(
        etcdkit::ClientOptions::new([url.as_str()])
            .token(token)
            .connect(),
    )
    .await
    .unwrap();
    within(holder.kv().get("ttl/k")).await.unwrap();
    // Idle for longer than the token's TTL: the point of the test, not a wait for a
    // condition.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let refused = within(holder.kv().get("ttl/k")).await.unwrap_err();
    assert!(
        refused.to_string().contains("invalid auth token"),
        "{refused}"
    );
}

async fn within<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f.into_future())
        .await
        .expect("step finished in time")
}
