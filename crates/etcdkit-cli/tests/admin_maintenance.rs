//! `member`, `alarm`, `defrag`, `endpoint hashkv`, `move-leader` and `snapshot save`
//! against real etcd, compared with etcdctl 3.6 run against a twin server (member and
//! cluster ids, hashes and ports masked where they differ between the two).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Output, Pair, normalize};

/// Masks what differs between the twin servers: ids (hex words of 12+ digits, decimal
/// `"ID":` and `memberID:` numbers), hashes, the servers' ports, and the storage
/// version (a young 3.6 member raises it from 3.5.0 on its own a moment after starting,
/// so the twins can differ for a while).
fn mask(text: &str, pair: &Pair, ctl: bool) -> String {
    let mut text = mask_storage_version(&normalize(text));
    let server = if ctl {
        &pair.ctl.as_ref().unwrap().0
    } else {
        &pair.kit
    };
    let cluster = server.clone_endpoints();
    for (i, ep) in cluster.iter().enumerate() {
        text = text.replace(ep.as_str(), &format!("EP{i}"));
    }
    let words: Vec<String> = text
        .split_inclusive(|c: char| !c.is_ascii_alphanumeric())
        .map(|w| {
            let core = w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            let rest = &w[core.len()..];
            let hex = core.len() >= 12 && core.chars().all(|c| c.is_ascii_hexdigit());
            if hex {
                format!("X{rest}")
            } else {
                w.to_owned()
            }
        })
        .collect();
    // `%16x` pads a short id with spaces.
    let mut text = words.concat();
    while text.contains("  X") {
        text = text.replace("  X", " X");
    }
    // Members come in id order, and the twins' ids differ: sort what lists them.
    let prefix = "ETCD_INITIAL_CLUSTER=\"";
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| match line.strip_prefix(prefix) {
            Some(rest) => {
                let mut items: Vec<&str> = rest.trim_end_matches('"').split(',').collect();
                items.sort_unstable();
                format!("{prefix}{}\"", items.join(","))
            }
            None => line.to_owned(),
        })
        .collect();
    if lines.iter().all(|l| l.starts_with("X, ")) {
        lines.sort_unstable();
    }
    let mut out: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if !text.ends_with('\n') {
        out.pop();
    }
    out
}

/// `"storageVersion":"<any>"` as `"storageVersion":"SV"`.
fn mask_storage_version(text: &str) -> String {
    const FIELD: &str = "\"storageVersion\":\"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(FIELD) {
        let (head, tail) = rest.split_at(at + FIELD.len());
        out.push_str(head);
        out.push_str("SV");
        rest = tail.find('"').map_or("", |end| &tail[end..]);
    }
    out.push_str(rest);
    out
}

trait Endpoints {
    fn clone_endpoints(&self) -> Vec<String>;
}

impl Endpoints for etcdkit_testkit::EtcdServer {
    fn clone_endpoints(&self) -> Vec<String> {
        let ep = self.endpoint();
        let peer = self.peer_url(0).unwrap_or_default();
        vec![ep, peer]
    }
}

async fn both(pair: &Pair, args: &[&str]) -> (Output, Option<Output>) {
    (pair.etcdkit(args, b"").await, pair.etcdctl(args, b"").await)
}

/// Runs with both tools; etcdkit must exit with `code` and print `stdout` (masked), and
/// etcdctl must agree.
async fn check(pair: &Pair, args: &[&str], code: i32, stdout: &str, stderr_last: &str) {
    let (ours, theirs) = both(pair, args).await;
    let masked = mask(&ours.stdout_text(), pair, false);
    assert_eq!(
        (ours.code, masked.as_str()),
        (code, stdout),
        "{args:?}: {}",
        ours.stderr_text()
    );
    assert_eq!(ours.last_stderr_line(), stderr_last, "{args:?}");
    if let Some(theirs) = theirs {
        assert_eq!(
            (
                theirs.code,
                mask(&theirs.stdout_text(), pair, true),
                theirs.last_stderr_line()
            ),
            (code, masked, ours.last_stderr_line()),
            "{args:?}: etcdctl differs"
        );
    }
}

#[tokio::test]
async fn member_commands_print_as_etcdctl_does() {
    let pair = Pair::start().await;
    check(
        &pair,
        &["member", "list"],
        0,
        "X, started, m0, EP1, EP0, false\n",
        "",
    )
    .await;
    check(
        &pair,
        &["-w", "json", "member", "list"],
        0,
        "{\"header\":{\"cluster_id\":ID,\"member_id\":ID,\"raft_term\":T},\"members\":[{\"ID\":X,\"name\":\"m0\",\"peerURLs\":[\"EP1\"],\"clientURLs\":[\"EP0\"]}]}\n",
        "",
    )
    .await;
    check(
        &pair,
        &["member", "add", "n2", "--peer-urls=http://127.0.0.1:1", "--learner"],
        0,
        "Member X added as learner to cluster X\n\nETCD_NAME=\"n2\"\nETCD_INITIAL_CLUSTER=\"m0=EP1,n2=http://127.0.0.1:1\"\nETCD_INITIAL_ADVERTISE_PEER_URLS=\"http://127.0.0.1:1\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
        "",
    )
    .await;
    check(
        &pair,
        &["member", "list"],
        0,
        "X, started, m0, EP1, EP0, false\nX, unstarted, , http://127.0.0.1:1, , true\n",
        "",
    )
    .await;
    // The new member's id differs between the twins: each tool works on its own.
    for (ctl, id) in learner_ids(&pair).await {
        let pair = &pair;
        let run = |args: Vec<String>| async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if ctl {
                pair.etcdctl(&args, b"").await.unwrap()
            } else {
                pair.etcdkit(&args, b"").await
            }
        };
        let out = run(vec![
            "member".into(),
            "update".into(),
            id.clone(),
            "--peer-urls=http://127.0.0.1:2".into(),
        ])
        .await;
        assert_eq!(
            (out.code, mask(&out.stdout_text(), pair, ctl)),
            (0, "Member X updated in cluster X\n".to_owned())
        );
        let out = run(vec!["member".into(), "promote".into(), id.clone()]).await;
        assert_eq!(
            (out.code, out.last_stderr_line()),
            (
                1,
                "Error: etcdserver: can only promote a learner member which is in sync with leader"
                    .to_owned()
            )
        );
        let out = run(vec![
            "-w".into(),
            "json".into(),
            "member".into(),
            "remove".into(),
            id.clone(),
        ])
        .await;
        assert_eq!(out.code, 0);
        assert!(
            out.stdout_text()
                .starts_with("{\"header\":{\"cluster_id\":"),
            "{}",
            out.stdout_text()
        );
        assert_eq!(out.stdout_text().matches("\"ID\":").count(), 1);
    }
    check(&pair, &["member", "remove", "zz"], 128, "", "Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex").await;
    check(
        &pair,
        &["member", "remove", "1234"],
        1,
        "",
        "Error: etcdserver: member not found",
    )
    .await;
    check(
        &pair,
        &["member", "remove"],
        128,
        "",
        "Error: member ID is not provided",
    )
    .await;
    check(
        &pair,
        &["member", "add", "x"],
        128,
        "",
        "Error: member peer urls not provided",
    )
    .await;
    check(
        &pair,
        &["member", "add"],
        128,
        "",
        "Error: member name not provided",
    )
    .await;
}

/// The learner's hex id on each server: (is etcdctl's, id).
async fn learner_ids(pair: &Pair) -> Vec<(bool, String)> {
    let mut ids = Vec::new();
    let (ours, theirs) = both(pair, &["member", "list"]).await;
    for (ctl, out) in [(false, Some(ours)), (true, theirs)] {
        let Some(out) = out else { continue };
        let line = out
            .stdout_text()
            .lines()
            .find(|l| l.ends_with("true"))
            .unwrap()
            .to_owned();
        ids.push((ctl, line.split(',').next().unwrap().to_owned()));
    }
    ids
}

#[tokio::test]
async fn maintenance_commands_print_as_etcdctl_does() {
    let pair = Pair::start().await;
    check(&pair, &["alarm", "list"], 0, "", "").await;
    check(
        &pair,
        &["-w", "json", "alarm", "list"],
        0,
        "{\"header\":{\"cluster_id\":ID,\"member_id\":ID,\"revision\":1,\"raft_term\":T}}\n",
        "",
    )
    .await;
    check(&pair, &["alarm", "disarm"], 0, "", "").await;
    check(&pair, &["-w", "json", "alarm", "disarm"], 0, "{}\n", "").await;
    check(
        &pair,
        &["alarm", "list", "x"],
        128,
        "",
        "Error: alarm list command accepts no arguments",
    )
    .await;
    check(
        &pair,
        &["defrag"],
        0,
        "Finished defragmenting etcd member[EP0]. took TOOK\n",
        "",
    )
    .await;
    check(
        &pair,
        &["-w", "json", "defrag"],
        0,
        "Finished defragmenting etcd member[EP0]. took TOOK\n",
        "",
    )
    .await;
    // A fresh store hashes the same everywhere.
    let (ours, _) = both(&pair, &["endpoint", "hashkv"]).await;
    // `EP0, <hash>, <hash revision>`
    let printed = ours.stdout_text();
    let hash = printed.trim_end().split(", ").nth(1).unwrap().to_owned();
    check(
        &pair,
        &["endpoint", "hashkv"],
        0,
        &format!("EP0, {hash}, 1\n"),
        "",
    )
    .await;
    check(
        &pair,
        &["endpoint", "hashkv", "--cluster"],
        0,
        &format!("EP0, {hash}, 1\n"),
        "",
    )
    .await;
    check(
        &pair,
        &["-w", "json", "endpoint", "hashkv"],
        0,
        &format!("[{{\"Endpoint\":\"EP0\",\"HashKV\":{{\"header\":{{\"cluster_id\":ID,\"member_id\":ID,\"revision\":1,\"raft_term\":T}},\"hash\":{hash},\"compact_revision\":-1,\"hash_revision\":1}}}}]\n"),
        "",
    )
    .await;
    check(
        &pair,
        &["endpoint", "status", "--cluster", "-w", "json"],
        0,
        &mask(
            &pair
                .etcdkit(&["endpoint", "status", "--cluster", "-w", "json"], b"")
                .await
                .stdout_text(),
            &pair,
            false,
        ),
        "",
    )
    .await;
    check(
        &pair,
        &["endpoint", "health", "--cluster"],
        0,
        "EP0 is healthy: successfully committed proposal: took = TOOK\n",
        "",
    )
    .await;
    check(
        &pair,
        &["move-leader", "1234"],
        1,
        "",
        "Error: etcdserver: bad leader transferee",
    )
    .await;
    check(
        &pair,
        &["move-leader", "zz"],
        128,
        "",
        "Error: strconv.ParseUint: parsing \"zz\": invalid syntax",
    )
    .await;
    check(
        &pair,
        &["move-leader"],
        128,
        "",
        "Error: move-leader command needs 1 argument",
    )
    .await;
    check(
        &pair,
        &["snapshot", "save"],
        128,
        "",
        "Error: snapshot save expects one argument <filename>",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let path = path.to_str().unwrap();
    let out = pair.etcdkit(&["snapshot", "save", path], b"").await;
    // An etcd 3.6 member sends its storage version with the snapshot once it has written
    // one (a while after it starts), and etcdctl then prints it on a second line, as we do.
    let stdout = out.stdout_text();
    let rest = stdout
        .strip_prefix(&format!("Snapshot saved at {path}\n"))
        .unwrap_or_else(|| panic!("{stdout:?}; stderr {}", out.stderr_text()));
    assert_eq!(out.code, 0);
    let version = rest.strip_prefix("Server version ").map(|v| v.trim_end());
    assert!(
        rest.is_empty() || version.is_some_and(|v| v.split('.').all(|n| n.parse::<u32>().is_ok())),
        "{rest:?}"
    );
    let size = std::fs::metadata(path).unwrap().len();
    assert!(size > 0);
    assert!(!std::path::Path::new(&format!("{path}.part")).exists());
}

/// `downgrade`: the cluster (one 3.6 member) may go to 3.5 only; `enable` starts a job
/// that `cancel` ends (and a second `enable` meanwhile is refused). The twins go through
/// the same steps.
#[tokio::test]
async fn downgrade_commands_print_as_etcdctl_does() {
    let pair = Pair::start().await;
    let ok = |action: &str| format!("Downgrade {action} success, cluster version 3.6\n");
    check(
        &pair,
        &["downgrade", "validate", "3.5"],
        0,
        &ok("validate"),
        "",
    )
    .await;
    check(
        &pair,
        &["-w", "json", "downgrade", "validate", "3.5"],
        0,
        "{\"header\":{\"cluster_id\":ID,\"member_id\":ID,\"revision\":1,\"raft_term\":T},\"version\":\"3.6\"}\n",
        "",
    )
    .await;
    check(
        &pair,
        &["downgrade", "validate", "3.4"],
        1,
        "",
        "Error: etcdserver: invalid downgrade target version",
    )
    .await;
    check(
        &pair,
        &["downgrade", "validate", "v3.5.0"],
        1,
        "",
        "Error: etcdserver: wrong downgrade target version format",
    )
    .await;
    check(
        &pair,
        &["downgrade", "validate"],
        128,
        "",
        "Error: TARGET_VERSION not provided",
    )
    .await;
    check(
        &pair,
        &["downgrade", "enable", "3.5", "3.4"],
        128,
        "",
        "Error: too many arguments",
    )
    .await;
    check(&pair, &["downgrade", "enable", "3.5"], 0, &ok("enable"), "").await;
    check(
        &pair,
        &["downgrade", "enable", "3.5"],
        1,
        "",
        "Error: etcdserver: cluster has a downgrade job in progress",
    )
    .await;
    check(&pair, &["downgrade", "cancel"], 0, &ok("cancel"), "").await;
}
