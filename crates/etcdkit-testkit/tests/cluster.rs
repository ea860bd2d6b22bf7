//! Tests against real etcd processes. The binary comes from `ETCD_BIN`, `PATH` or
//! `<workspace>/.etcd/bin/etcd` (see `scripts/install-etcd`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use etcdkit_testkit::{Error, EtcdCluster, EtcdServer};

/// Bounds every await of a test.
async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test step timed out")
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn single_server_starts_and_is_healthy() {
    let server = within(60, EtcdServer::start()).await.unwrap();
    assert_eq!(server.len(), 1);
    let endpoint = server.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert_eq!(server.endpoints(), vec![endpoint.clone()]);
    assert_eq!(EtcdCluster::endpoint(&server, 0).unwrap(), endpoint);
    assert!(
        within(10, server.is_healthy(0, Duration::from_secs(5)))
            .await
            .unwrap()
    );
    assert!(server.pid(0).is_some());
    assert!(server.is_running(0));
    assert_eq!(server.name(0).unwrap(), "m0");
    assert!(server.peer_url(0).unwrap().starts_with("http://127.0.0.1:"));
    let version = server
        .etcd_version()
        .expect("etcd --version printed a version");
    assert_eq!(version.major(), 3, "{version}");
    eprintln!(
        "etcd {version} from {} in {}",
        server.etcd_bin().display(),
        server.root_dir().display()
    );
    // The log file is where the flags put it.
    assert!(server.log_path(0).unwrap().exists());
}

#[tokio::test]
async fn three_member_cluster_starts() {
    let cluster = within(60, EtcdCluster::start(3)).await.unwrap();
    assert_eq!(cluster.len(), 3);
    let endpoints = cluster.endpoints();
    assert_eq!(endpoints.len(), 3);
    let mut distinct = endpoints.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
    for i in 0..3 {
        assert!(
            within(10, cluster.is_healthy(i, Duration::from_secs(5)))
                .await
                .unwrap()
        );
        assert!(cluster.data_dir(i).unwrap().exists());
    }
    let pids: Vec<u32> = (0..3).map(|i| cluster.pid(i).unwrap()).collect();
    assert!(pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2]);
}

#[tokio::test]
async fn kill_and_restart_make_members_healthy_again() {
    let cluster = within(60, EtcdCluster::start(3)).await.unwrap();
    let endpoint = cluster.endpoint(1).unwrap();
    let data_dir = cluster.data_dir(1).unwrap();
    let old_pid = cluster.pid(1).unwrap();

    cluster.kill(1).unwrap();
    assert_eq!(cluster.pid(1), None);
    assert!(!process_exists(old_pid), "killed process was not reaped");
    assert!(
        !within(10, cluster.is_healthy(1, Duration::from_millis(500)))
            .await
            .unwrap()
    );
    // Killing again is a no-op; freezing a dead member is an error.
    cluster.kill(1).unwrap();
    assert!(matches!(
        cluster.stop(1).await,
        Err(Error::NotRunning { member: 1, .. })
    ));
    // The other two still form a quorum.
    within(30, cluster.wait_healthy(0, Duration::from_secs(20)))
        .await
        .unwrap();

    within(60, cluster.restart(1)).await.unwrap();
    assert_eq!(cluster.endpoint(1).unwrap(), endpoint);
    assert_eq!(cluster.data_dir(1).unwrap(), data_dir);
    assert_ne!(cluster.pid(1), Some(old_pid));

    // restart() of a running member kills it first.
    let pid = cluster.pid(2).unwrap();
    within(60, cluster.restart(2)).await.unwrap();
    assert!(!process_exists(pid));

    // start_member() starts a killed member without waiting; then wait explicitly.
    cluster.kill(0).unwrap();
    within(10, cluster.start_member(0)).await.unwrap();
    assert!(matches!(
        within(10, cluster.start_member(0)).await,
        Err(Error::AlreadyRunning { member: 0, .. })
    ));
    within(30, cluster.wait_all_healthy(Duration::from_secs(20)))
        .await
        .unwrap();
}

#[tokio::test]
async fn stop_freezes_and_resume_recovers() {
    let server = within(60, EtcdServer::start()).await.unwrap();
    for _ in 0..3 {
        server.stop(0).await.unwrap();
        assert!(
            !within(10, server.is_healthy(0, Duration::from_millis(200)))
                .await
                .unwrap()
        );
        server.resume(0).unwrap();
        within(30, server.wait_healthy(0, Duration::from_secs(20)))
            .await
            .unwrap();
    }
    server.stop(0).await.unwrap();
    assert!(server.is_running(0), "a frozen member still runs");
    assert!(
        !within(10, server.is_healthy(0, Duration::from_millis(300)))
            .await
            .unwrap(),
        "a frozen member must not answer"
    );
    let err = within(10, server.wait_healthy(0, Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unhealthy { member: 0, .. }), "{err}");
    assert!(err.to_string().contains("m0"), "{err}");

    server.resume(0).unwrap();
    within(30, server.wait_healthy(0, Duration::from_secs(20)))
        .await
        .unwrap();
    // Resuming a member that is not frozen is harmless.
    server.resume(0).unwrap();
}

#[tokio::test]
async fn drop_kills_processes_and_removes_data() {
    let cluster = within(60, EtcdCluster::start(3)).await.unwrap();
    let pids: Vec<u32> = (0..3).map(|i| cluster.pid(i).unwrap()).collect();
    let root = cluster.root_dir().to_path_buf();
    let data_dirs: Vec<_> = (0..3).map(|i| cluster.data_dir(i).unwrap()).collect();
    assert!(data_dirs.iter().all(|d| d.starts_with(&root) && d.exists()));
    cluster.stop(1).await.unwrap(); // a frozen member must be killed too
    cluster.kill(2).unwrap(); // and an already killed one is fine
    drop(cluster);
    for pid in pids {
        assert!(!process_exists(pid), "process {pid} survived drop");
    }
    assert!(!root.exists(), "{} survived drop", root.display());
}

#[tokio::test]
async fn missing_binary_names_the_install_script() {
    let err = within(
        10,
        EtcdServer::builder()
            .etcd_bin("/nonexistent")
            .start_server(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::BinaryNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("scripts/install-etcd"), "{msg}");
    assert!(msg.contains("/nonexistent"), "{msg}");
}

#[tokio::test]
async fn extra_args_reach_every_member() {
    let extensive = within(
        60,
        EtcdCluster::builder()
            .members(2)
            .arg("--metrics=extensive")
            .start(),
    )
    .await
    .unwrap();
    for i in 0..2 {
        let text = within(20, extensive.metrics(i)).await.unwrap();
        assert!(
            text.contains("grpc_server_handling_seconds"),
            "member {i} lacks extensive metrics"
        );
    }

    let basic = within(60, EtcdServer::start()).await.unwrap();
    let text = within(20, basic.metrics(0)).await.unwrap();
    assert!(text.contains("etcd_server_has_leader"));
    assert!(!text.contains("grpc_server_handling_seconds"));
}

#[tokio::test]
async fn bad_flag_fails_with_the_log() {
    let err = within(
        60,
        EtcdServer::builder()
            .arg("--no-such-flag-for-etcdkit")
            .start_server(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Exited { member: 0, .. }), "{err:?}");
    assert!(
        err.to_string().contains("no-such-flag-for-etcdkit"),
        "{err}"
    );
}

#[tokio::test]
async fn index_and_config_errors() {
    let err = within(10, EtcdCluster::builder().members(0).start())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    let err = within(10, EtcdCluster::builder().members(3).start_server())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");

    let server = within(
        60,
        EtcdServer::builder().data_in_tmpfs(false).start_server(),
    )
    .await
    .unwrap();
    assert!(server.root_dir().starts_with(std::env::temp_dir()));
    assert!(matches!(
        EtcdCluster::endpoint(&server, 1),
        Err(Error::NoSuchMember {
            member: 1,
            len: 1,
            ..
        })
    ));
    assert!(matches!(server.kill(7), Err(Error::NoSuchMember { .. })));
    assert!(matches!(
        within(10, server.wait_healthy(3, Duration::from_secs(1))).await,
        Err(Error::NoSuchMember { .. })
    ));
    assert_eq!(server.pid(9), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_can_be_injected_while_other_tasks_use_the_cluster() {
    let cluster = Arc::new(within(60, EtcdCluster::start(3)).await.unwrap());
    let prober = {
        let cluster = Arc::clone(&cluster);
        tokio::spawn(async move {
            let mut healthy_answers = 0u32;
            for _ in 0..40 {
                if cluster
                    .is_healthy(0, Duration::from_millis(500))
                    .await
                    .unwrap()
                {
                    healthy_answers += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            healthy_answers
        })
    };
    cluster.stop(2).await.unwrap();
    cluster.resume(2).unwrap();
    within(60, cluster.restart(1)).await.unwrap();
    let healthy_answers = within(60, prober).await.unwrap();
    assert!(healthy_answers > 0);
    within(30, cluster.wait_all_healthy(Duration::from_secs(20)))
        .await
        .unwrap();
}

/// POSTs a JSON body to etcd's HTTP gateway at `url` (`http://127.0.0.1:PORT`) and returns
/// the response body. Enough HTTP/1.1 for these tests.
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

#[tokio::test]
async fn new_member_joins_a_running_cluster_as_a_learner() {
    let cluster = within(60, EtcdCluster::start(1)).await.unwrap();
    let member = cluster.new_member().unwrap();
    assert_eq!(member.name(), "m1");
    assert!(member.peer_url().starts_with("http://127.0.0.1:"));
    assert!(member.endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(
        member.initial_cluster(),
        format!(
            "m0={},m1={}",
            cluster.peer_url(0).unwrap(),
            member.peer_url()
        )
    );
    assert!(!member.is_running());
    let endpoint = cluster.endpoint(0).unwrap();
    let body = format!(
        r#"{{"peerURLs":["{}"],"isLearner":true}}"#,
        member.peer_url()
    );
    within(10, gateway_post(&endpoint, "/v3/cluster/member/add", &body)).await;
    within(60, member.start()).await.unwrap();
    assert!(member.is_running());
    // The cluster lists it as a learner.
    let list = within(10, gateway_post(&endpoint, "/v3/cluster/member/list", "{}")).await;
    assert!(list.contains(&member.peer_url()), "{list}");
    assert!(list.contains(r#""isLearner":true"#), "{list}");
    assert!(matches!(
        within(10, member.start()).await,
        Err(Error::AlreadyRunning { member: 1, .. })
    ));
    member.kill().unwrap();
    assert!(!member.is_running());
    assert_eq!(cluster.new_member().unwrap().name(), "m2");
}
