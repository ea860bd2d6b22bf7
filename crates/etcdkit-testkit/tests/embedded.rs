//! The embedded server behind the test kit's API: what it answers as etcd does, what it
//! refuses because only an etcd process has it, and the builder settings it does not take.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use etcdkit_testkit::{ClientTls, Error, EtcdCluster, EtcdServer};

const BOUND: Duration = Duration::from_secs(20);

async fn embedded() -> EtcdServer {
    tokio::time::timeout(BOUND, EtcdServer::builder().embedded(true).start_server())
        .await
        .unwrap()
        .unwrap()
}

fn unsupported(result: Result<impl std::fmt::Debug, Error>, operation: &str) {
    match result {
        Err(Error::EmbeddedUnsupported { operation: got, .. }) => assert_eq!(got, operation),
        other => panic!("{operation}: {other:?}"),
    }
}

#[tokio::test]
async fn an_embedded_server_answers_at_its_endpoint_as_member_m0() {
    let server = embedded().await;
    assert!(server.is_embedded());
    let endpoint = server.endpoint();
    let port: u16 = endpoint
        .strip_prefix("http://127.0.0.1:")
        .expect("a loopback http URL")
        .parse()
        .unwrap();
    // It listens (a gRPC client is the client crate's business, not the test kit's).
    tokio::time::timeout(BOUND, tokio::net::TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.endpoints(), vec![endpoint.clone()]);
    assert_eq!(server.direct_endpoint(0).unwrap(), endpoint);
    assert_eq!(server.len(), 1);
    assert_eq!(server.name(0).unwrap(), "m0");
    assert!(server.etcd_version().unwrap().at_least(3, 5, 0));
    assert!(server.is_healthy(0, BOUND).await.unwrap());
    server.wait_all_healthy(BOUND).await.unwrap();
    assert!(server.is_running(0));
    assert_eq!(server.pid(0), None);
    assert!(!server.has_network_faults());
    assert!(matches!(
        EtcdCluster::endpoint(&server, 1),
        Err(Error::NoSuchMember {
            member: 1,
            len: 1,
            ..
        })
    ));
    // Dropped, it stops serving.
    drop(server);
    tokio::time::timeout(BOUND, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn what_only_an_etcd_process_has_is_a_typed_error() {
    let server = embedded().await;
    unsupported(server.kill(0), "kill");
    unsupported(server.stop(0).await, "stop (SIGSTOP)");
    unsupported(server.resume(0), "resume (SIGCONT)");
    unsupported(server.restart(0).await, "restart");
    unsupported(server.start_member(0).await, "start_member");
    unsupported(server.shutdown(BOUND).await, "shutdown");
    unsupported(server.metrics(0).await, "metrics");
    unsupported(server.data_dir(0), "a data directory");
    unsupported(server.log_path(0), "a log file");
    unsupported(server.peer_url(0), "a peer URL");
    unsupported(server.new_member().map(|_| ()), "new_member");
    unsupported(server.partition(0), "network faults");
    let err = server.kill(0).unwrap_err().to_string();
    assert!(err.contains("needs a real etcd process"), "{err}");
}

#[tokio::test]
async fn process_settings_are_refused_for_an_embedded_server() {
    let refused = [
        EtcdServer::builder()
            .embedded(true)
            .arg("--snapshot-count=5"),
        EtcdServer::builder().embedded(true).etcd_bin("/bin/false"),
        EtcdServer::builder().embedded(true).network_faults(true),
        EtcdServer::builder()
            .embedded(true)
            .data_dir(std::env::temp_dir()),
        EtcdServer::builder().embedded(true).client_tls(ClientTls {
            cert_file: "cert.pem".into(),
            key_file: "key.pem".into(),
            trusted_ca_file: None,
            client_cert_auth: false,
        }),
        EtcdCluster::builder().members(3).embedded(true),
    ];
    for builder in refused {
        let err = tokio::time::timeout(BOUND, builder.clone().start())
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { .. }),
            "{builder:?}: {err}"
        );
        assert!(err.to_string().contains("embedded"), "{err}");
    }
}

#[tokio::test]
async fn a_cluster_is_embedded_only_when_the_builder_says_so() {
    let cluster = tokio::time::timeout(
        BOUND,
        EtcdCluster::builder().members(1).embedded(true).start(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(cluster.is_embedded());
    let server = embedded().await.into_cluster();
    assert!(server.is_embedded());
}
