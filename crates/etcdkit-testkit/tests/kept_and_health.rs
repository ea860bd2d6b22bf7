//! A cluster kept in a directory of the caller's (started again with its data), member
//! health as one look reports it, and the gentle shutdown: what `etcdkit up` is built on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use etcdkit_testkit::{Error, EtcdCluster, EtcdServer, MemberHealth};

/// Bounds every await of a test.
async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test step timed out")
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// POSTs a JSON body to etcd's HTTP gateway at `url` (`http://127.0.0.1:PORT`) and returns
/// the whole response. The test kit knows no client, so its tests speak the gateway.
async fn gateway_post(url: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// `kept-test/key` and `kept value`, base64 as the gateway wants them.
const KEY_B64: &str = "a2VwdC10ZXN0L2tleQ==";
const VALUE_B64: &str = "a2VwdCB2YWx1ZQ==";

#[tokio::test]
async fn data_dir_keeps_the_cluster_and_a_second_start_comes_back_with_its_data() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("cluster");

    let first = within(60, EtcdCluster::builder().members(3).data_dir(&dir).start())
        .await
        .unwrap();
    assert_eq!(first.root_dir(), dir);
    assert!(first.data_dir(0).unwrap().starts_with(&dir));
    let endpoints = first.endpoints();
    let put = format!(r#"{{"key":"{KEY_B64}","value":"{VALUE_B64}"}}"#);
    within(10, gateway_post(&endpoints[1], "/v3/kv/put", &put)).await;
    within(30, first.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    drop(first);
    assert!(dir.join("etcdkit-testkit.cluster").is_file());
    assert!(dir.join("m2/data").is_dir());

    // Another number of members than the kept cluster has is refused before anything runs.
    let err = within(10, EtcdCluster::builder().members(1).data_dir(&dir).start())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("3-member"), "{err}");

    // Without a number: the kept cluster's own, on its own ports, with its data.
    let second = within(60, EtcdCluster::builder().data_dir(&dir).start())
        .await
        .unwrap();
    assert_eq!(second.len(), 3);
    assert_eq!(second.endpoints(), endpoints);
    let range = format!(r#"{{"key":"{KEY_B64}"}}"#);
    let got = within(10, gateway_post(&endpoints[2], "/v3/kv/range", &range)).await;
    assert!(got.contains(VALUE_B64), "{got}");
    drop(second);
    assert!(dir.join("m0/data").is_dir(), "kept data removed on drop");
}

#[tokio::test]
async fn data_dir_whose_first_start_fails_is_left_empty() {
    let dir = tempfile::tempdir().unwrap();
    let err = within(
        60,
        EtcdServer::builder()
            .data_dir(dir.path())
            .arg("--no-such-flag-for-etcdkit")
            .start_server(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Exited { member: 0, .. }), "{err:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // So the directory can be used for a good start.
    let server = within(
        60,
        EtcdServer::builder().data_dir(dir.path()).start_server(),
    )
    .await
    .unwrap();
    assert!(
        within(10, server.is_healthy(0, Duration::from_secs(5)))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn data_dir_holding_other_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = within(
        10,
        EtcdServer::builder().data_dir(dir.path()).start_server(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(dir.path().join("notes.txt").is_file());
}

#[tokio::test]
async fn member_health_tells_a_crashed_member_from_one_the_kit_stopped() {
    let server = within(60, EtcdServer::start()).await.unwrap();
    let look = within(10, server.member_health(0, Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(look, MemberHealth::Healthy);

    // Killed from outside, as an operator or the OOM killer would.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.pid(0).unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let look = within(20, async {
        loop {
            let look = server
                .member_health(0, Duration::from_secs(1))
                .await
                .unwrap();
            // Between the signal and the process's end, the member may look merely
            // unhealthy (its connections reset before it is gone): wait for the exit.
            if matches!(look, MemberHealth::Exited { .. }) {
                return look;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let MemberHealth::Exited { status, .. } = &look else {
        panic!("expected an exit, got {look:?}");
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    assert!(look.to_string().starts_with("process exited"), "{look}");

    within(60, server.restart(0)).await.unwrap();
    server.kill(0).unwrap();
    let look = within(10, server.member_health(0, Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(look, MemberHealth::NotRunning);
    assert!(matches!(
        within(10, server.member_health(4, Duration::from_secs(1))).await,
        Err(Error::NoSuchMember { .. })
    ));
}

#[tokio::test]
async fn shutdown_ends_every_member_even_a_frozen_one_and_keeps_data_until_drop() {
    let cluster = within(60, EtcdCluster::start(2)).await.unwrap();
    let pids: Vec<u32> = (0..2).map(|i| cluster.pid(i).unwrap()).collect();
    cluster.stop(1).await.unwrap();
    within(60, cluster.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    for (i, pid) in pids.iter().enumerate() {
        assert!(!cluster.is_running(i));
        assert!(!process_exists(*pid), "member {i} (pid {pid}) survived");
        assert!(cluster.data_dir(i).unwrap().is_dir());
    }
    // Nothing left to stop: a second shutdown is harmless.
    within(10, cluster.shutdown(Duration::from_secs(1)))
        .await
        .unwrap();
    let root = cluster.root_dir().to_path_buf();
    drop(cluster);
    assert!(!root.exists());
}
