//! `etcdkit watch` prints events as etcdctl 3.6 does (simple and json), and keeps going.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{etcdkit_bin, start_server};
use etcdkit::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs `etcdkit watch`, makes the changes once the watch is up, and returns the first
/// lines it prints until `done` says they are enough.
async fn watch_lines(
    endpoint: &str,
    args: &[&str],
    prefix: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let client = Client::connect([endpoint.to_string()]).await.unwrap();
    let mut child = tokio::process::Command::new(etcdkit_bin())
        .arg(format!("--endpoints={endpoint}"))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        // Write until the watcher shows it is up (its first line), then the rest.
        let first = loop {
            client.kv().put(format!("{prefix}a"), "1").await.unwrap();
            if let Ok(Ok(Some(line))) =
                tokio::time::timeout(Duration::from_millis(300), out.next_line()).await
            {
                break line;
            }
        };
        client.kv().delete(format!("{prefix}a")).await.unwrap();
        let mut got = vec![first];
        while !done(&got) {
            got.push(out.next_line().await.unwrap().unwrap());
        }
        got
    })
    .await
    .expect("watch output in time");
    let _ = child.kill().await;
    result
}

#[tokio::test]
async fn watch_prints_events_like_etcdctl() {
    let server = start_server().await;
    let ep = server.endpoint();
    let simple = watch_lines(
        &ep,
        &["watch", "ws/", "--prefix", "--prev-kv"],
        "ws/",
        |l| l.len() >= 3,
    )
    .await;
    assert_eq!(simple, vec!["PUT", "ws/a", "1"]);
    // The delete with its previous value follows the puts.
    let deleted = |l: &[String]| l.len() >= 3 && l[l.len() - 3] == "DELETE";
    let lines = watch_lines(&ep, &["watch", "wd/a"], "wd/", deleted).await;
    let del = lines.iter().position(|l| l == "DELETE").unwrap();
    assert_eq!(&lines[..3], &["PUT", "wd/a", "1"]);
    assert_eq!(&lines[del..del + 3], &["DELETE", "wd/a", ""]);
    let json = watch_lines(
        &ep,
        &["-w", "json", "watch", "wj/", "--prefix"],
        "wj/",
        |l| !l.is_empty(),
    )
    .await;
    let v = &json[0];
    assert!(v.starts_with("{\"Header\":{\"cluster_id\":"), "{v}");
    assert!(
        v.contains("\"Events\":[{\"kv\":{\"key\":\"d2ovYQ==\",\"create_revision\":"),
        "{v}"
    );
    assert!(
        v.ends_with(
            "\"value\":\"MQ==\"}}],\"CompactRevision\":0,\"Canceled\":false,\"Created\":false}"
        ),
        "{v}"
    );
}
