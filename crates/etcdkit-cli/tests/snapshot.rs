//! `snapshot status` and `snapshot restore` on snapshot files that real etcd wrote,
//! compared with etcdutl 3.6 on the same file when it can be found (`ETCDUTL_BIN`,
//! `<workspace>/.etcd/bin/etcdutl`, or `PATH`; `ETCDUTL_BIN=none` turns it off).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Output, etcdkit_bin, run, run_env, start_server};
use etcdkit_testkit::EtcdCluster;

const DEADLINE: Duration = Duration::from_secs(60);

/// etcdutl 3.6, or `None` (then only etcdkit's own output is checked).
async fn etcdutl_bin() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("ETCDUTL_BIN") {
        if path == "none" || path.is_empty() {
            return None;
        }
        candidates.push(path.into());
    }
    candidates.push(workspace.join(".etcd/bin/etcdutl"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("etcdutl")));
    }
    for candidate in candidates {
        if candidate.is_file()
            && run(&candidate, &["version".into()], b"")
                .await
                .stdout_text()
                .contains("etcdutl version: 3.6.")
        {
            return Some(candidate);
        }
    }
    eprintln!("etcdutl 3.6 not found: checking etcdkit's output on its own");
    None
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

async fn etcdkit(endpoint: &str, args: &[&str]) -> Output {
    let mut all = strings(args);
    all.push(format!("--endpoints={endpoint}"));
    run(&etcdkit_bin(), &all, b"").await
}

async fn ok(endpoint: &str, args: &[&str]) -> Output {
    let out = etcdkit(endpoint, args).await;
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr_text());
    out
}

/// Writes keys enough for branch pages, a value big enough for overflow pages, and a
/// delete (a tombstone), all under `prefix`; returns the last revision.
async fn fill(endpoint: &str, prefix: &str) -> i64 {
    let mut txn = String::new();
    for i in 0..400 {
        txn.push_str(&format!("put {prefix}k{i:04} value-{i}\n"));
        if i % 100 == 99 {
            // No compares (a blank line), the puts and a blank line, no failure ops and a
            // blank line.
            let mut all = strings(&["txn"]);
            all.push(format!("--endpoints={endpoint}"));
            let out = run(&etcdkit_bin(), &all, format!("\n{txn}\n\n").as_bytes()).await;
            assert_eq!(out.code, 0, "{}", out.stderr_text());
            txn.clear();
        }
    }
    let big = "x".repeat(20_000);
    ok(endpoint, &["put", &format!("{prefix}big"), &big]).await;
    ok(endpoint, &["del", &format!("{prefix}k0000")]).await;
    let out = ok(endpoint, &["get", &format!("{prefix}big"), "-w", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap();
    json["header"]["revision"].as_i64().unwrap()
}

async fn save(endpoint: &str, path: &Path) {
    ok(endpoint, &["snapshot", "save", path.to_str().unwrap()]).await;
}

#[tokio::test]
async fn snapshot_status_prints_what_etcdutl_prints_in_every_format() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let revision = tokio::time::timeout(DEADLINE, fill(&endpoint, "/snapshot-status/"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    tokio::time::timeout(DEADLINE, save(&endpoint, &path))
        .await
        .unwrap();
    let file = path.to_str().unwrap();
    let etcdutl = etcdutl_bin().await;

    let out = ok(&endpoint, &["snapshot", "status", file, "-w", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap();
    assert_eq!(json["revision"].as_i64(), Some(revision));
    // The sha256 etcd appends is not part of the data size.
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(json["totalSize"].as_u64(), Some(len - 32));
    // 400 keys put, one deleted, one big: the keys alive at the snapshot's revision.
    assert_eq!(json["totalKey"].as_u64(), Some(400), "{json}");
    // A young 3.6 member writes its storage version a moment after it starts; a snapshot
    // taken before has none, and etcdutl prints an empty version then.
    let version = json["version"].as_str().unwrap();
    assert!(version.is_empty() || version.starts_with("3."), "{json}");

    for format in ["simple", "json", "table", "fields"] {
        let args = ["snapshot", "status", file, "-w", format];
        let kit = ok(&endpoint, &args).await;
        if let Some(etcdutl) = &etcdutl {
            let reference = run(etcdutl, &strings(&args), b"").await;
            assert_eq!(
                (kit.code, kit.stdout_text()),
                (reference.code, reference.stdout_text()),
                "-w {format}"
            );
        }
    }
    let protobuf = etcdkit(&endpoint, &["snapshot", "status", file, "-w", "protobuf"]).await;
    assert_eq!(
        (protobuf.code, protobuf.last_stderr_line()),
        (
            4,
            "Error: protobuf not supported as output format".to_owned()
        )
    );
    let simple = ok(&endpoint, &["snapshot", "status", file]).await;
    // The version may be empty (see above), so only the newline is cut.
    let text = simple.stdout_text();
    let fields: Vec<String> = text
        .strip_suffix('\n')
        .unwrap()
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(fields.len(), 5, "{fields:?}");
    assert_eq!(fields[1], revision.to_string());

    // A file cut short after its first pages is an integrity error, not a crash
    // (etcdutl itself dies of a memory fault on it).
    let cut = dir.path().join("cut.db");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = etcdkit(&endpoint, &["snapshot", "status", cut.to_str().unwrap()]).await;
    assert_eq!(out.code, 1, "{}", out.stderr_text());
    assert!(
        out.last_stderr_line()
            .starts_with("Error: snapshot file integrity check failed."),
        "{}",
        out.stderr_text()
    );
}

#[tokio::test]
async fn snapshot_status_refuses_what_etcdutl_refuses_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5Au8; 10_000]).unwrap();
    let garbage = garbage.to_str().unwrap();
    let missing = dir.path().join("missing.db");
    let missing = missing.to_str().unwrap();
    let a_dir = dir.path().to_str().unwrap();
    let cases: [(&[&str], i32, String); 6] = [
        (
            &["snapshot", "status"],
            128,
            "Error: snapshot status requires exactly one argument".into(),
        ),
        (
            &["snapshot", "status", missing],
            1,
            format!("Error: stat {missing}: no such file or directory"),
        ),
        // etcdutl reads the file before it finds it has no protobuf form for the answer.
        (
            &["snapshot", "status", garbage, "-w", "protobuf"],
            1,
            "Error: invalid database".into(),
        ),
        (
            &["snapshot", "status", garbage, "-w", "yaml"],
            4,
            "Error: unsupported output format".into(),
        ),
        (
            &["snapshot", "status", garbage],
            1,
            "Error: invalid database".into(),
        ),
        (
            &["snapshot", "status", a_dir],
            1,
            "Error: invalid database".into(),
        ),
    ];
    let etcdutl = etcdutl_bin().await;
    for (args, code, last) in cases {
        let out = run(&etcdkit_bin(), &strings(args), b"").await;
        assert_eq!(
            (out.code, out.last_stderr_line(), out.stdout_text()),
            (code, last.clone(), String::new()),
            "{args:?}"
        );
        if let Some(etcdutl) = &etcdutl {
            let reference = run(etcdutl, &strings(args), b"").await;
            assert_eq!(
                (reference.code, reference.last_stderr_line()),
                (code, last),
                "etcdutl {args:?}"
            );
        }
    }
}

#[tokio::test]
async fn snapshot_restore_makes_a_data_dir_that_a_member_serves_the_saved_keys_from() {
    let Some(etcdutl) = etcdutl_bin().await else {
        eprintln!("skipped: snapshot restore runs etcdutl, which was not found");
        return;
    };
    let cluster = tokio::time::timeout(DEADLINE, EtcdCluster::builder().members(1).start())
        .await
        .unwrap()
        .unwrap();
    let endpoint = cluster.endpoint(0).unwrap();
    let prefix = "/snapshot-restore/";
    ok(&endpoint, &["put", &format!("{prefix}a"), "1"]).await;
    ok(&endpoint, &["put", &format!("{prefix}b"), "2"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    tokio::time::timeout(DEADLINE, save(&endpoint, &path))
        .await
        .unwrap();
    // Written after the snapshot: the restored member must not have it.
    ok(&endpoint, &["put", &format!("{prefix}after"), "3"]).await;

    cluster.kill(0).unwrap();
    let data_dir = cluster.data_dir(0).unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();
    let name = cluster.name(0).unwrap();
    let peer = cluster.peer_url(0).unwrap();
    let args = [
        "snapshot".to_owned(),
        "restore".to_owned(),
        path.to_str().unwrap().to_owned(),
        format!("--data-dir={}", data_dir.to_str().unwrap()),
        format!("--name={name}"),
        format!("--initial-cluster={name}={peer}"),
        format!("--initial-cluster-token={}", cluster.token()),
        format!("--initial-advertise-peer-urls={peer}"),
    ];
    let out = run_env(
        &etcdkit_bin(),
        &args,
        b"",
        &[("ETCDUTL_BIN", etcdutl.to_str().unwrap())],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    assert!(data_dir.join("member/snap/db").is_file());

    // Restoring again into the same, now full, directory is etcdutl's error and exit code.
    let again = run_env(
        &etcdkit_bin(),
        &args,
        b"",
        &[("ETCDUTL_BIN", etcdutl.to_str().unwrap())],
    )
    .await;
    assert_eq!(again.code, 1, "{}", again.stderr_text());
    assert!(
        again.last_stderr_line().contains("not empty"),
        "{}",
        again.stderr_text()
    );

    cluster.start_member(0).await.unwrap();
    tokio::time::timeout(DEADLINE, cluster.wait_healthy(0, DEADLINE))
        .await
        .unwrap()
        .unwrap();
    let out = ok(&endpoint, &["get", prefix, "--prefix"]).await;
    assert_eq!(out.stdout_text(), format!("{prefix}a\n1\n{prefix}b\n2\n"));
}

#[tokio::test]
async fn snapshot_restore_without_etcdutl_says_what_it_needs() {
    let out = run_env(
        &etcdkit_bin(),
        &strings(&["snapshot", "restore", "s.db", "--data-dir=/nonexistent/x"]),
        b"",
        &[("ETCDUTL_BIN", ""), ("PATH", "/nonexistent")],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr_text());
    assert!(
        out.last_stderr_line()
            .starts_with("Error: snapshot restore needs etcdutl"),
        "{}",
        out.stderr_text()
    );
    let out = run(&etcdkit_bin(), &strings(&["snapshot", "restore"]), b"").await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: snapshot restore requires exactly one argument".to_owned()
        )
    );
}
