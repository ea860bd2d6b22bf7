//! `snapshot status` and `snapshot restore` (etcdkit's own, without etcdutl) on snapshot
//! files that real etcd wrote, compared with etcdutl 3.6 on the same file when it can be
//! found (`ETCDUTL_BIN`, `<workspace>/.etcd/bin/etcdutl`, or `PATH`; `ETCDUTL_BIN=none`
//! turns it off).

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
    // Cut inside page 2: every page of the tree (the root included) is at 2 or later, so
    // the cut always loses some (a cut further on may only lose free pages).
    std::fs::write(&cut, &bytes[..2 * 4096 + 100]).unwrap();
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

/// `get PREFIX --prefix -w json`: the key-values (with their revisions, versions and
/// leases) and the header's revision.
async fn everything(endpoint: &str, prefix: &str) -> (serde_json::Value, i64) {
    let out = ok(endpoint, &["get", prefix, "--prefix", "-w", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap();
    (
        json["kvs"].clone(),
        json["header"]["revision"].as_i64().unwrap(),
    )
}

/// Runs etcdkit's restore with no etcdutl anywhere it could find one.
async fn native_restore(args: &[String]) -> Output {
    run_env(
        &etcdkit_bin(),
        args,
        b"",
        &[("ETCDUTL_BIN", ""), ("PATH", "/nonexistent")],
    )
    .await
}

/// `snapshot restore FILE` with these flags.
fn restore_args(file: &Path, flags: &[String]) -> Vec<String> {
    let mut args = strings(&["snapshot", "restore", file.to_str().unwrap()]);
    args.extend(flags.iter().cloned());
    args
}

/// The flags that restore member `i` of `cluster` as a member of the same cluster again.
fn member_flags(cluster: &EtcdCluster, i: usize, data_dir: &Path) -> Vec<String> {
    let initial: Vec<String> = (0..cluster.len())
        .map(|j| {
            format!(
                "{}={}",
                cluster.name(j).unwrap(),
                cluster.peer_url(j).unwrap()
            )
        })
        .collect();
    vec![
        format!("--data-dir={}", data_dir.to_str().unwrap()),
        format!("--name={}", cluster.name(i).unwrap()),
        format!("--initial-cluster={}", initial.join(",")),
        format!("--initial-cluster-token={}", cluster.token()),
        format!(
            "--initial-advertise-peer-urls={}",
            cluster.peer_url(i).unwrap()
        ),
    ]
}

/// The one file in `dir` (a restored `member/wal` or the `.snap` of `member/snap`).
fn only_file(dir: &Path, suffix: &str) -> Vec<u8> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    std::fs::read(found.pop().unwrap()).unwrap()
}

/// `snapshot status -w json` of a db file, without the total size (a compacted file is
/// smaller than the one etcdutl edits in place).
async fn status_without_size(program: &Path, db: &Path) -> serde_json::Value {
    let args = strings(&["snapshot", "status", db.to_str().unwrap(), "-w", "json"]);
    let out = run(program, &args, b"").await;
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    let mut json: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap();
    json.as_object_mut().unwrap().remove("totalSize");
    json
}

#[tokio::test]
async fn native_restore_to_one_member_serves_every_key_at_its_revision_and_matches_etcdutl() {
    let cluster = tokio::time::timeout(DEADLINE, EtcdCluster::builder().members(1).start())
        .await
        .unwrap()
        .unwrap();
    let endpoint = cluster.endpoint(0).unwrap();
    let prefix = "/snapshot-restore-one/";
    // Branch pages, an overflow value, a tombstone, a lease with a key, a user.
    tokio::time::timeout(DEADLINE, fill(&endpoint, prefix))
        .await
        .unwrap();
    let granted = ok(&endpoint, &["lease", "grant", "600"])
        .await
        .stdout_text();
    let lease = granted.split_whitespace().nth(1).unwrap().to_owned();
    let leased = format!("{prefix}leased");
    ok(
        &endpoint,
        &["put", &leased, "v", &format!("--lease={lease}")],
    )
    .await;
    ok(
        &endpoint,
        &["user", "add", "restore-alice", "--new-user-password=pw"],
    )
    .await;
    let before = everything(&endpoint, prefix).await;
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
    let args = restore_args(&path, &member_flags(&cluster, 0, &data_dir));
    let out = native_restore(&args).await;
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    let db = data_dir.join("member/snap/db");

    if let Some(etcdutl) = etcdutl_bin().await {
        // etcdutl's restore of the same file with the same flags: the same WAL and raft
        // snapshot bytes, and a backend with the same contents (status hashes every
        // bucket's keys and values), which etcdutl itself reads back from our file.
        let reference = dir.path().join("by-etcdutl");
        let flags = member_flags(&cluster, 0, &reference);
        let out = run(&etcdutl, &restore_args(&path, &flags), b"").await;
        assert_eq!(out.code, 0, "{}", out.stderr_text());
        for (sub, suffix) in [("member/wal", ".wal"), ("member/snap", ".snap")] {
            assert!(
                only_file(&data_dir.join(sub), suffix) == only_file(&reference.join(sub), suffix),
                "{sub} differs from etcdutl's"
            );
        }
        let ours = status_without_size(&etcdkit_bin(), &db).await;
        assert_eq!(
            ours,
            status_without_size(&etcdkit_bin(), &reference.join("member/snap/db")).await
        );
        assert_eq!(ours, status_without_size(&etcdutl, &db).await);
    }

    // Restoring again into the same, now full, directory is refused as etcdutl does.
    let again = native_restore(&args).await;
    assert_eq!(
        (again.code, again.last_stderr_line()),
        (
            1,
            format!(
                "Error: data-dir \"{}\" not empty or could not be read",
                data_dir.display()
            )
        )
    );

    cluster.start_member(0).await.unwrap();
    tokio::time::timeout(DEADLINE, cluster.wait_healthy(0, DEADLINE))
        .await
        .unwrap()
        .unwrap();
    let after = everything(&endpoint, prefix).await;
    assert_eq!(after.1, before.1, "the revision after the restore");
    assert!(
        after.0 == before.0,
        "the key-values differ after the restore"
    );
    let leases = ok(&endpoint, &["lease", "list"]).await.stdout_text();
    assert!(leases.contains(&lease), "{leases}");
    let users = ok(&endpoint, &["user", "list"]).await.stdout_text();
    assert!(users.contains("restore-alice"), "{users}");
    // The restored member takes writes at the revisions that follow.
    let out = ok(
        &endpoint,
        &["put", &format!("{prefix}new"), "1", "-w", "json"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap();
    assert_eq!(json["header"]["revision"].as_i64(), Some(before.1 + 1));
}

#[tokio::test]
async fn native_restore_to_three_members_makes_a_cluster_that_serves_the_saved_keys() {
    let cluster = tokio::time::timeout(DEADLINE, EtcdCluster::builder().members(3).start())
        .await
        .unwrap()
        .unwrap();
    let endpoint = cluster.endpoint(0).unwrap();
    let prefix = "/snapshot-restore-three/";
    tokio::time::timeout(DEADLINE, fill(&endpoint, prefix))
        .await
        .unwrap();
    let before = everything(&endpoint, prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    tokio::time::timeout(DEADLINE, save(&endpoint, &path))
        .await
        .unwrap();
    let etcdutl = etcdutl_bin().await;
    for i in 0..3 {
        cluster.kill(i).unwrap();
    }
    for i in 0..3 {
        let data_dir = cluster.data_dir(i).unwrap();
        std::fs::remove_dir_all(&data_dir).unwrap();
        let out = native_restore(&restore_args(&path, &member_flags(&cluster, i, &data_dir))).await;
        assert_eq!(out.code, 0, "member {i}: {}", out.stderr_text());
        if let Some(etcdutl) = &etcdutl {
            // The WAL (member ID, cluster ID, one ConfChange per member) is etcdutl's,
            // byte for byte.
            let reference = dir.path().join(format!("by-etcdutl-{i}"));
            let flags = member_flags(&cluster, i, &reference);
            let out = run(etcdutl, &restore_args(&path, &flags), b"").await;
            assert_eq!(out.code, 0, "{}", out.stderr_text());
            let wal = "member/wal";
            assert!(
                only_file(&data_dir.join(wal), ".wal") == only_file(&reference.join(wal), ".wal"),
                "member {i}'s WAL differs from etcdutl's"
            );
        }
    }
    for i in 0..3 {
        cluster.start_member(i).await.unwrap();
    }
    for i in 0..3 {
        tokio::time::timeout(DEADLINE, cluster.wait_healthy(i, DEADLINE))
            .await
            .unwrap()
            .unwrap();
    }
    for i in 0..3 {
        let after = everything(&cluster.endpoint(i).unwrap(), prefix).await;
        assert_eq!(after.1, before.1, "member {i}'s revision");
        assert!(after.0 == before.0, "member {i}'s key-values differ");
    }
    let members = ok(&endpoint, &["member", "list"]).await.stdout_text();
    assert_eq!(members.lines().count(), 3, "{members}");
    for i in 0..3 {
        assert!(members.contains(&cluster.name(i).unwrap()), "{members}");
    }
}

#[tokio::test]
async fn native_restore_refuses_damaged_snapshots_and_full_directories_and_writes_nothing() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let prefix = "/snapshot-restore-refusals/";
    ok(&endpoint, &["put", &format!("{prefix}a"), "1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.db");
    tokio::time::timeout(DEADLINE, save(&endpoint, &good))
        .await
        .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let flipped = dir.path().join("flipped.db");
    let mut damaged = bytes.clone();
    damaged[2 * 4096 + 100] ^= 0xFF;
    std::fs::write(&flipped, &damaged).unwrap();
    let cut = dir.path().join("cut.db");
    // Cut inside page 2: every page of the tree (the root included) is at 2 or later, so
    // the cut always loses some (a cut further on may only lose free pages).
    std::fs::write(&cut, &bytes[..2 * 4096 + 100]).unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5Au8; 3 * 4096 + 32]).unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let existing_wal = dir.path().join("wal");
    std::fs::create_dir(&existing_wal).unwrap();
    let target = dir.path().join("out");
    let out_flag = format!("--data-dir={}", target.display());
    let missing = dir.path().join("missing.db");
    let p = |path: &Path| path.to_str().unwrap().to_owned();

    let cases: Vec<(Vec<String>, String)> = vec![
        (
            restore_args(&flipped, std::slice::from_ref(&out_flag)),
            "Error: expected sha256 [".into(),
        ),
        (
            restore_args(&cut, std::slice::from_ref(&out_flag)),
            "Error: snapshot missing hash but --skip-hash-check=false".into(),
        ),
        (
            restore_args(&cut, &[out_flag.clone(), "--skip-hash-check".into()]),
            "Error: snapshot file integrity check failed. page ".into(),
        ),
        (
            restore_args(&garbage, &[out_flag.clone(), "--skip-hash-check".into()]),
            "Error: invalid database".into(),
        ),
        (
            restore_args(&missing, std::slice::from_ref(&out_flag)),
            format!("Error: open {}: no such file or directory", p(&missing)),
        ),
        (
            restore_args(&good, &[format!("--data-dir={}", full.display())]),
            format!(
                "Error: data-dir \"{}\" not empty or could not be read",
                p(&full)
            ),
        ),
        (
            restore_args(
                &good,
                &[
                    out_flag.clone(),
                    format!("--wal-dir={}", existing_wal.display()),
                ],
            ),
            format!("Error: wal-dir \"{}\" exists", p(&existing_wal)),
        ),
        (
            restore_args(&good, &[out_flag.clone(), "--name=nobody".into()]),
            "Error: couldn't find local name \"nobody\" in the initial cluster configuration"
                .into(),
        ),
    ];
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files_before = listing();
    for (args, expected) in cases {
        let out = native_restore(&args).await;
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr_text());
        assert!(
            out.last_stderr_line().starts_with(&expected),
            "{args:?}: {}",
            out.stderr_text()
        );
        // Nothing written: no data directory, no staging directory left behind.
        assert_eq!(listing(), files_before, "{args:?}");
        assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);
    }
    // The good snapshot then restores into the same place, its WAL where --wal-dir says.
    let wal_dir = dir.path().join("wal-out");
    let wal_flag = format!("--wal-dir={}", wal_dir.display());
    let out = native_restore(&restore_args(&good, &[out_flag, wal_flag])).await;
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    assert!(target.join("member/snap/db").is_file());
    assert!(!target.join("member/wal").exists());
    let wal = std::fs::metadata(wal_dir.join("0000000000000000-0000000000000000.wal")).unwrap();
    assert_eq!(wal.len(), 64_000_000);

    let out = run(&etcdkit_bin(), &strings(&["snapshot", "restore"]), b"").await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: snapshot restore requires exactly one argument".to_owned()
        )
    );
}
