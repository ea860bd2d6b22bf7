//! `etcdkit make-mirror` between two real etcd servers: it copies the prefix, follows
//! later changes, prints etcdctl's progress count, and refuses bad arguments as etcdctl
//! does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Pair, etcdkit_bin, run_env, start_server};
use etcdkit::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

const BOUND: Duration = Duration::from_secs(30);

async fn client(endpoint: &str) -> Client {
    tokio::time::timeout(BOUND, Client::connect([endpoint.to_string()]))
        .await
        .expect("connect in time")
        .unwrap()
}

/// The keys and values under `prefix`.
async fn contents(client: &Client, prefix: &str) -> Vec<(String, String)> {
    tokio::time::timeout(BOUND, client.kv().get(prefix.to_string()).prefix())
        .await
        .expect("get in time")
        .unwrap()
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                String::from_utf8_lossy(kv.value()).into_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn wait_for(client: &Client, prefix: &str, want: &[(String, String)]) {
    let mut last = Vec::new();
    let reached = tokio::time::timeout(BOUND, async {
        loop {
            last = contents(client, prefix).await;
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "destination holds {last:?}, not {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_mirror_copies_then_follows_changes_and_prints_its_count() {
    let source_server = start_server().await;
    let dest_server = start_server().await;
    let source = client(&source_server.endpoint()).await;
    let dest = client(&dest_server.endpoint()).await;
    source.kv().put("mm/a", "1").await.unwrap();
    source.kv().put("mm/b", "2").await.unwrap();
    source.kv().put("other", "x").await.unwrap();

    let mut child = tokio::process::Command::new(etcdkit_bin())
        .arg(format!("--endpoints={}", source_server.endpoint()))
        .args(["make-mirror", "--prefix", "mm/", "--dest-prefix", "copy/"])
        .arg(dest_server.endpoint())
        .env("ETCDKIT_MIRROR_PROGRESS_INTERVAL", "300ms")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    wait_for(&dest, "copy/", &pairs(&[("copy/a", "1"), ("copy/b", "2")])).await;
    source.kv().put("mm/c", "3").await.unwrap();
    source.kv().delete("mm/a").await.unwrap();
    wait_for(&dest, "copy/", &pairs(&[("copy/b", "2"), ("copy/c", "3")])).await;
    assert!(contents(&dest, "other").await.is_empty(), "only the prefix");

    // Two copied keys, a put and a delete: the count reaches 4, printed alone on a line.
    let count = tokio::time::timeout(BOUND, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("a progress line");
            let n: u64 = line
                .parse()
                .unwrap_or_else(|_| panic!("not a count: {line:?}"));
            if n >= 4 {
                return n;
            }
        }
    })
    .await
    .expect("the count in time");
    assert_eq!(count, 4);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), child.wait())
            .await
            .is_err(),
        "still mirroring"
    );
    child.kill().await.unwrap();
    tokio::time::timeout(BOUND, child.wait())
        .await
        .expect("exits when killed")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_mirror_from_a_compacted_revision_fails_like_etcdctl() {
    let source_server = start_server().await;
    let dest_server = start_server().await;
    let source = client(&source_server.endpoint()).await;
    source.kv().put("mc/a", "1").await.unwrap();
    let now = source.kv().put("mc/b", "2").await.unwrap();
    source.kv().compact(now.header().revision()).await.unwrap();
    let out = run_env(
        &etcdkit_bin(),
        &[
            format!("--endpoints={}", source_server.endpoint()),
            "make-mirror".into(),
            "--prefix=mc/".into(),
            "--rev=2".into(),
            dest_server.endpoint(),
        ],
        b"",
        &[],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr_text());
    assert_eq!(
        out.last_stderr_line(),
        "Error: etcdserver: mvcc: required revision has been compacted"
    );
}

#[tokio::test]
async fn make_mirror_refuses_bad_arguments_as_etcdctl_does() {
    let pair = Pair::start().await;
    let one = "Error: make-mirror takes one destination argument";
    pair.check(&["make-mirror"], b"", 128, "", one).await;
    pair.check(&["make-mirror", "a:1", "b:2"], b"", 128, "", one)
        .await;
    pair.check(
        &[
            "make-mirror",
            "--prefix=p/",
            "--dest-prefix=q/",
            "--no-dest-prefix",
            "127.0.0.1:1",
        ],
        b"",
        128,
        "",
        "Error: `--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
    )
    .await;
}
