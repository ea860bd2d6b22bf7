//! Maintenance against real etcd: snapshots checked by etcd's own tool, the NOSPACE
//! alarm and recovering from it, moving the leader, hashes, status and downgrade.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::bounded;
use etcdkit::maintenance::{AlarmType, DowngradeAction, SnapshotProgress};
use etcdkit::{Client, ErrorKind, MemberId, Revision};
use etcdkit_testkit::EtcdServer;

/// etcd's own tool for checking a snapshot file, and the arguments before the file:
/// etcdutl (from `ETCDUTL_BIN`, beside `ETCD_BIN`, in `<workspace>/.etcd/bin`, or on
/// `PATH`), else etcdctl (etcd 3.4 has no etcdutl).
fn snapshot_checker() -> (PathBuf, Vec<&'static str>) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(etcd) = std::env::var_os("ETCD_BIN")
        && let Some(dir) = Path::new(&etcd).parent()
    {
        dirs.push(dir.to_path_buf());
    }
    dirs.push(workspace.join(".etcd/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("ETCDUTL_BIN")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(dirs.iter().map(|d| d.join("etcdutl")));
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return (found, vec!["snapshot", "status", "-w", "json"]);
    }
    let etcdctl = dirs
        .iter()
        .map(|d| d.join("etcdctl"))
        .find(|p| p.is_file())
        .expect("neither etcdutl nor etcdctl found to check the snapshot");
    (etcdctl, vec!["snapshot", "status", "-w", "json"])
}

async fn single_client(endpoint: String) -> Client {
    bounded(common::options(vec![endpoint]).connect())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_saved_snapshot_is_valid_for_etcds_own_tool() {
    let etcd = common::server().await;
    let client = common::client(&etcd).await;
    for i in 0..200 {
        bounded(
            client
                .kv()
                .put(format!("/snapshot-test/{i}"), vec![b'x'; 1024]),
        )
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup.db");
    let mut seen: Vec<SnapshotProgress> = Vec::new();
    let done = bounded(
        client
            .maintenance()
            .save_snapshot_file(&path, |p| seen.push(p)),
    )
    .await
    .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(done.received, size);
    assert!(!dir.path().join("backup.db.part").exists());
    // Progress: reported for every chunk, growing, ending at the file's size; the total
    // announced is the database (the file adds a 32-byte checksum).
    assert!(!seen.is_empty());
    assert!(seen.windows(2).all(|w| w[0].received < w[1].received));
    assert_eq!(seen.last().unwrap().received, size);
    let total = done.total.unwrap();
    assert!(
        total == size || total + 32 == size,
        "total {total}, size {size}"
    );

    let (tool, args) = snapshot_checker();
    let output = bounded(
        tokio::process::Command::new(&tool)
            .args(&args)
            .arg(&path)
            .env("ETCDCTL_API", "3")
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} says: {stdout}{}",
        tool.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // {"hash":...,"revision":N,"totalKey":N,"totalSize":N}; the keys counted are the
    // database's, ours and etcd's own.
    assert!(stdout.contains(r#""revision":201"#), "{stdout}");
    assert!(stdout.contains(r#""totalKey":2"#), "{stdout}");

    // Into any writer, chunk by chunk.
    let mut buffer: Vec<u8> = Vec::new();
    let mut snapshot = bounded(client.maintenance().snapshot()).await.unwrap();
    let done = bounded(snapshot.write_to(&mut buffer, |_| {}))
        .await
        .unwrap();
    assert_eq!(done.received, u64::try_from(buffer.len()).unwrap());
    assert!(bounded(snapshot.chunk()).await.unwrap().is_none());
}

#[tokio::test]
async fn nospace_is_raised_and_cleared_by_compact_defragment_and_disarm() {
    let etcd = bounded(
        EtcdServer::builder()
            .arg("--quota-backend-bytes=2000000")
            .start_server(),
    )
    .await
    .unwrap();
    let client = common::client(&etcd).await;
    let kv = client.kv();
    let value = vec![b'v'; 100 * 1024];
    let mut last = Revision(0);
    let full = bounded(async {
        loop {
            match kv.put("/space-test/k", value.clone()).await {
                Ok(r) => last = r.header().revision(),
                Err(e) => break e,
            }
        }
    })
    .await;
    assert_eq!(full.kind(), ErrorKind::NoSpace, "{full}");

    let maintenance = client.maintenance();
    let alarms = bounded(maintenance.alarm_list()).await.unwrap();
    assert_eq!(alarms.alarms().len(), 1);
    let alarm = alarms.alarms()[0];
    assert_eq!(alarm.alarm(), AlarmType::NoSpace);
    assert_eq!(alarm.alarm().to_string(), "NOSPACE");
    let status = bounded(maintenance.status()).await.unwrap();
    assert_eq!(alarm.member_id(), status.header().member_id());
    assert!(!status.errors().is_empty());
    // Still refused: the alarm stays until disarmed.
    let again = bounded(kv.put("/space-test/k", "small")).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NoSpace, "{again}");

    bounded(kv.compact(last).physical()).await.unwrap();
    let before = status.db_size();
    bounded(maintenance.defragment().timeout(Duration::from_secs(20)))
        .await
        .unwrap();
    let after = bounded(maintenance.status()).await.unwrap();
    assert!(after.db_size() < before, "{} !< {before}", after.db_size());
    let cleared = bounded(maintenance.alarm_disarm_all()).await.unwrap();
    assert_eq!(cleared.alarms(), [alarm]);
    assert!(
        bounded(maintenance.alarm_list())
            .await
            .unwrap()
            .alarms()
            .is_empty()
    );
    bounded(kv.put("/space-test/k", "fits again"))
        .await
        .unwrap();

    // Alarms can be raised and cleared by hand too.
    let member = status.header().member_id();
    let manual = etcdkit::maintenance::Alarm::new(member, AlarmType::NoSpace);
    bounded(maintenance.alarm_activate(manual)).await.unwrap();
    let refused = bounded(kv.put("/space-test/k", "no")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NoSpace, "{refused}");
    let off = bounded(maintenance.alarm_deactivate(manual)).await.unwrap();
    assert_eq!(off.alarms(), [manual]);
    bounded(kv.put("/space-test/k", "yes")).await.unwrap();
}

#[tokio::test]
async fn leadership_moves_to_the_member_asked() {
    let etcd = common::cluster(3).await;
    let client = bounded(common::options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let leader = bounded(client.maintenance().status())
        .await
        .unwrap()
        .leader();
    let members = bounded(client.cluster().member_list()).await.unwrap();
    let target: MemberId = members
        .members()
        .iter()
        .map(|m| m.id())
        .find(|id| *id != leader)
        .unwrap();
    bounded(client.maintenance().move_leader(target))
        .await
        .unwrap();
    // Every member comes to see the new leader.
    for endpoint in etcd.endpoints() {
        let one = single_client(endpoint).await;
        bounded(async {
            while one.maintenance().status().await.unwrap().leader() != target {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }
    bounded(client.kv().put("/move-leader-test/k", "v"))
        .await
        .unwrap();
}

#[tokio::test]
async fn hash_kv_is_equal_across_members() {
    let etcd = common::cluster(3).await;
    let client = bounded(common::options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let mut revision = Revision(0);
    for i in 0..20 {
        revision = bounded(client.kv().put(format!("/hash-test/{i}"), format!("{i}")))
            .await
            .unwrap()
            .header()
            .revision();
    }
    let mut hashes = Vec::new();
    for endpoint in etcd.endpoints() {
        let one = single_client(endpoint).await;
        // A linearizable read: this member has applied everything up to `revision`.
        bounded(one.kv().get("/hash-test/0")).await.unwrap();
        let r = bounded(one.maintenance().hash_kv(revision)).await.unwrap();
        hashes.push((r.header().member_id(), r.hash()));
        // The whole-database hash is answered too (it differs between members).
        bounded(one.maintenance().hash()).await.unwrap();
    }
    assert_eq!(hashes.len(), 3);
    assert!(hashes.windows(2).all(|w| w[0].1 == w[1].1), "{hashes:?}");
    assert!(hashes.windows(2).all(|w| w[0].0 != w[1].0), "{hashes:?}");
    let future = bounded(client.maintenance().hash_kv(revision.next().next()))
        .await
        .unwrap_err();
    assert_eq!(future.kind(), ErrorKind::FutureRevision, "{future}");
}

#[tokio::test]
async fn status_takes_a_timeout_and_downgrade_validation_follows_the_server_version() {
    let etcd = common::server().await;
    let client = common::client(&etcd).await;
    let status = bounded(
        client
            .maintenance()
            .status()
            .timeout(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    assert!(!status.version().is_empty());
    assert!(status.raft_index() > 0);
    // From 3.5 on, etcd validates a downgrade to the previous minor version and names the
    // cluster version; 3.4 has no downgrade.
    let version = etcd.etcd_version().expect("etcd printed its version");
    let target = format!("{}.{}", version.major(), version.minor().saturating_sub(1));
    let validated = bounded(
        client
            .maintenance()
            .downgrade(DowngradeAction::Validate, target.as_str()),
    )
    .await;
    if version.at_least(3, 5, 0) {
        let r = validated.unwrap();
        // The cluster version: "3.5.0" from 3.5, "3.6" from 3.6.
        let cluster_version = format!("{}.{}", version.major(), version.minor());
        assert!(r.version().starts_with(&cluster_version), "{r:?}");
    } else {
        assert_eq!(validated.unwrap_err().kind(), ErrorKind::Unsupported);
    }
}

/// A member-targeted call goes to that member only: each member reports its own status,
/// and a defragmentation aimed at a frozen member fails there instead of running on a
/// member nobody meant.
#[tokio::test]
async fn member_targeted_calls_go_to_that_member_only() {
    let etcd = common::cluster(3).await;
    let client = bounded(common::options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let mut ids = std::collections::HashSet::new();
    for endpoint in etcd.endpoints() {
        let status = bounded(client.maintenance().status().endpoint(endpoint.clone()))
            .await
            .unwrap();
        ids.insert(status.header().member_id());
    }
    assert_eq!(ids.len(), 3, "each member answered for itself: {ids:?}");

    let frozen = etcd.endpoint(1).unwrap();
    bounded(etcd.stop(1)).await.unwrap();
    let err = bounded(
        client
            .maintenance()
            .defragment()
            .endpoint(frozen.clone())
            .timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap_err();
    // Sent to either healthy member, it would have succeeded: failing proves it went to
    // the frozen one alone.
    assert_eq!(err.endpoint(), Some(frozen.as_str()), "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::Timeout | ErrorKind::OutcomeUnknown),
        "{err}"
    );
    // Not aimed at any member, the others still serve.
    bounded(client.maintenance().status()).await.unwrap();
    etcd.resume(1).unwrap();
}
