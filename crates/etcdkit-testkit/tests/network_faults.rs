//! Network faults through the test kit's proxies, against real etcd: each test starts its
//! own three-member cluster with `network_faults(true)`. The test kit knows nothing of the
//! etcd client, so these tests speak plain HTTP: `/health` and `/metrics`, and etcd's JSON
//! gateway (`/v3/kv/put`, `/v3/kv/range`) on the client URLs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use etcdkit_testkit::{Error, EtcdCluster, EtcdServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds every await of a test.
async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test step timed out")
}

/// Polls `check` every 50 ms until it is true, at most `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn proxied_cluster() -> EtcdCluster {
    within(
        60,
        EtcdCluster::builder()
            .members(3)
            .network_faults(true)
            .start(),
    )
    .await
    .unwrap()
}

/// One HTTP/1.0 exchange with `url` (`http://127.0.0.1:PORT`), bounded by `timeout`:
/// the whole response, or what went wrong.
async fn http(
    url: &str,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<String, String> {
    let addr = url.trim_start_matches("http://").to_owned();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let exchange = async move {
        let mut stream = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).into_owned();
        if text.starts_with("HTTP/1.") {
            Ok(text)
        } else {
            Err(format!("no HTTP response: {text:?}"))
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A put through etcd's JSON gateway at `url`; `Ok` only if etcd acknowledged it.
async fn put(url: &str, key: &str, value: &str, timeout: Duration) -> Result<(), String> {
    let body = format!(
        r#"{{"key":"{}","value":"{}"}}"#,
        base64(key.as_bytes()),
        base64(value.as_bytes())
    );
    let response = http(url, "POST", "/v3/kv/put", &body, timeout).await?;
    if response.starts_with("HTTP/1.0 200") && response.contains("\"revision\"") {
        Ok(())
    } else {
        Err(response)
    }
}

/// Whether member `url`'s own state (a serializable read) holds `key` = `value`.
async fn holds(url: &str, key: &str, value: &str) -> bool {
    let body = format!(
        r#"{{"key":"{}","serializable":true}}"#,
        base64(key.as_bytes())
    );
    match http(url, "POST", "/v3/kv/range", &body, Duration::from_secs(2)).await {
        Ok(response) => response.contains(&base64(value.as_bytes())),
        Err(_) => false,
    }
}

/// A gauge of member `i`'s metrics, such as `etcd_server_is_leader`.
async fn gauge(cluster: &EtcdCluster, i: usize, name: &str) -> Option<f64> {
    let text = cluster.metrics(i).await.ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The member among `among` whose metrics say it leads, if one does.
async fn leader(cluster: &EtcdCluster, among: &[usize]) -> Option<usize> {
    for &i in among {
        if gauge(cluster, i, "etcd_server_is_leader").await == Some(1.0) {
            return Some(i);
        }
    }
    None
}

#[tokio::test]
async fn partitioned_leader_loses_leadership_while_the_majority_keeps_committing_and_catches_up_after_heal()
 {
    let cluster = proxied_cluster().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let cut = loop {
        if let Some(l) = leader(&cluster, &[0, 1, 2]).await {
            break l;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let others: Vec<usize> = (0..3).filter(|&i| i != cut).collect();

    cluster.partition(cut).unwrap();
    eventually(
        20,
        "another member leads and the cut one does not",
        || async {
            leader(&cluster, &others).await.is_some()
                && gauge(&cluster, cut, "etcd_server_is_leader").await == Some(0.0)
        },
    )
    .await;
    // The majority commits.
    let majority = cluster.endpoint(others[0]).unwrap();
    eventually(20, "a put through the majority is acknowledged", || async {
        put(&majority, "partition/k", "v1", Duration::from_secs(2))
            .await
            .is_ok()
    })
    .await;
    // Clients still reach the cut member, but it commits nothing and has no leader.
    let cut_endpoint = cluster.endpoint(cut).unwrap();
    let refused = put(
        &cut_endpoint,
        "partition/other",
        "x",
        Duration::from_secs(2),
    )
    .await;
    assert!(refused.is_err(), "a partitioned member acknowledged a put");
    assert!(!holds(&cut_endpoint, "partition/k", "v1").await);
    eventually(20, "the cut member reports no leader", || async {
        gauge(&cluster, cut, "etcd_server_has_leader").await == Some(0.0)
    })
    .await;

    cluster.heal().unwrap();
    eventually(30, "the healed member catches up", || async {
        holds(&cut_endpoint, "partition/k", "v1").await
    })
    .await;
    within(30, cluster.wait_all_healthy(Duration::from_secs(20)))
        .await
        .unwrap();
}

#[tokio::test]
async fn isolated_member_refuses_clients_while_its_peers_still_reach_it() {
    let cluster = proxied_cluster().await;
    // The endpoints handed out are the client proxies, and etcd advertises them.
    let list = within(
        10,
        http(
            &cluster.endpoint(1).unwrap(),
            "POST",
            "/v3/cluster/member/list",
            "{}",
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap();
    for i in 0..3 {
        let endpoint = cluster.endpoint(i).unwrap();
        assert_ne!(endpoint, cluster.direct_endpoint(i).unwrap());
        assert!(
            list.contains(&endpoint),
            "{endpoint} not advertised: {list}"
        );
        assert!(list.contains(&cluster.peer_url(i).unwrap()), "{list}");
    }

    cluster.isolate_from_clients(0).unwrap();
    let endpoint = cluster.endpoint(0).unwrap();
    let refused = http(&endpoint, "GET", "/health", "", Duration::from_secs(5)).await;
    assert!(
        refused.is_err(),
        "an isolated member answered a client: {refused:?}"
    );
    // Its peers still reach it: it stays healthy and replicates a write made elsewhere.
    assert!(
        within(10, cluster.is_healthy(0, Duration::from_secs(5)))
            .await
            .unwrap()
    );
    let other = cluster.endpoint(1).unwrap();
    eventually(
        20,
        "a put through another member is acknowledged",
        || async {
            put(&other, "isolated/k", "v", Duration::from_secs(2))
                .await
                .is_ok()
        },
    )
    .await;
    let direct = cluster.direct_endpoint(0).unwrap();
    eventually(20, "the isolated member has the write", || async {
        holds(&direct, "isolated/k", "v").await
    })
    .await;

    cluster.heal_member(0).unwrap();
    eventually(20, "clients reach the healed member", || async {
        http(&endpoint, "GET", "/health", "", Duration::from_secs(2))
            .await
            .is_ok()
    })
    .await;
}

#[tokio::test]
async fn blackholed_member_accepts_connections_but_answers_nothing_until_healed() {
    let cluster = proxied_cluster().await;
    cluster.blackhole(0).unwrap();
    let addr = cluster
        .endpoint(0)
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = within(5, TcpStream::connect(&addr))
        .await
        .expect("a blackholed port accepts");
    within(5, stream.write_all(b"GET /health HTTP/1.0\r\n\r\n"))
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let silent = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut first)).await;
    assert!(silent.is_err(), "a blackholed member answered: {silent:?}");
    // Its peers' traffic is blackholed too: it loses its leader.
    eventually(20, "the blackholed member loses its leader", || async {
        !cluster.is_healthy(0, Duration::from_secs(1)).await.unwrap()
    })
    .await;

    // Healing lets what waited through: the request held since then is answered.
    cluster.heal_member(0).unwrap();
    let mut response = Vec::new();
    within(15, stream.read_to_end(&mut response)).await.unwrap();
    assert!(
        response.starts_with(b"HTTP/1."),
        "{}",
        String::from_utf8_lossy(&response)
    );
    within(30, cluster.wait_all_healthy(Duration::from_secs(20)))
        .await
        .unwrap();
}

#[tokio::test]
async fn delayed_member_answers_no_sooner_than_the_added_latency() {
    let cluster = proxied_cluster().await;
    let endpoint = cluster.endpoint(0).unwrap();
    let latency = Duration::from_millis(300);
    cluster
        .delay(0, latency, Duration::from_millis(50))
        .unwrap();
    let started = Instant::now();
    within(
        20,
        http(&endpoint, "GET", "/health", "", Duration::from_secs(15)),
    )
    .await
    .unwrap();
    // A lower bound only: the request and its answer are each held at least `latency`.
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    // The cluster still works through delayed peer links.
    eventually(
        20,
        "a put through the delayed member is acknowledged",
        || async {
            put(&endpoint, "delay/k", "v", Duration::from_secs(5))
                .await
                .is_ok()
        },
    )
    .await;
    cluster.delay(0, Duration::ZERO, Duration::ZERO).unwrap();
    within(
        10,
        http(&endpoint, "GET", "/health", "", Duration::from_secs(5)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn network_faults_need_a_proxied_cluster() {
    let server = within(60, EtcdServer::start()).await.unwrap();
    assert!(!server.has_network_faults());
    assert_eq!(server.direct_endpoint(0).unwrap(), server.endpoint());
    for result in [
        server.partition(0),
        server.isolate_from_clients(0),
        server.heal(),
    ] {
        assert!(
            matches!(result, Err(Error::InvalidConfig { .. })),
            "{result:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let kept = within(
        10,
        EtcdCluster::builder()
            .data_dir(dir.path())
            .network_faults(true)
            .start(),
    )
    .await;
    assert!(matches!(kept, Err(Error::InvalidConfig { .. })), "{kept:?}");

    let cluster = proxied_cluster().await;
    assert!(cluster.has_network_faults());
    assert!(matches!(
        cluster.partition(3),
        Err(Error::NoSuchMember { .. })
    ));
}
