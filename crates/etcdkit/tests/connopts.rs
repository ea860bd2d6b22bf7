//! Connection options against real etcd: the health check interval (and the prober
//! turned off), the cap on stream re-openings, caller-chosen watch ids, the user agent,
//! and the minimum member version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, options, server};
use etcdkit::lease::LostReason;
use etcdkit::{Client, ErrorKind, HealthEvent};
use etcdkit_testkit::EtcdCluster;
use tokio_stream::StreamExt;

/// A three-member cluster behind the test kit's proxies.
async fn faulty_cluster() -> EtcdCluster {
    bounded(
        EtcdCluster::builder()
            .members(3)
            .network_faults(true)
            .arg("--grpc-keepalive-min-time=200ms")
            .start(),
    )
    .await
    .expect("start etcd cluster")
}

/// Reads through `client` until it has marked `endpoint` unhealthy (a read sent there
/// fails and moves on), checking that every read succeeds meanwhile.
async fn read_until_unhealthy(client: &Client, key: &str, endpoint: &str) {
    bounded(async {
        loop {
            client
                .kv()
                .get(key.to_owned())
                .await
                .expect("reads fail over");
            let health = client.endpoint_health();
            if health.iter().any(|h| h.endpoint == endpoint && !h.healthy) {
                return;
            }
        }
    })
    .await;
}

/// Whether a `Healthy` event for `endpoint` comes within `wait`.
async fn healthy_within(
    events: &mut (impl tokio_stream::Stream<Item = HealthEvent> + Unpin),
    endpoint: &str,
    wait: Duration,
) -> bool {
    tokio::time::timeout(wait, async {
        while let Some(event) = events.next().await {
            if matches!(&event, HealthEvent::Healthy { endpoint: e } if e == endpoint) {
                return;
            }
        }
        std::future::pending::<()>().await;
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn without_a_prober_requests_fail_over_and_bring_a_healed_endpoint_back() {
    let etcd = faulty_cluster().await;
    let endpoints: Vec<String> = etcd.endpoints();
    let probed = bounded(options(endpoints.clone()).connect()).await.unwrap();
    let unprobed = bounded(
        options(endpoints.clone())
            .health_check_interval(Duration::ZERO)
            .connect(),
    )
    .await
    .unwrap();
    bounded(probed.kv().put("co/prober/k", "v")).await.unwrap();

    etcd.isolate_from_clients(0).unwrap();
    let cut = probed.endpoints()[0].clone();
    read_until_unhealthy(&probed, "co/prober/k", &cut).await;
    read_until_unhealthy(&unprobed, "co/prober/k", &cut).await;

    let mut probed_events = probed.health_events();
    let mut unprobed_events = unprobed.health_events();
    etcd.heal_member(0).unwrap();
    // The prober finds the healed member by itself; with the prober off nothing asks it
    // while no request is made.
    assert!(healthy_within(&mut probed_events, &cut, Duration::from_secs(10)).await);
    assert!(!healthy_within(&mut unprobed_events, &cut, Duration::from_secs(2)).await);
    assert!(
        !unprobed
            .endpoint_health()
            .iter()
            .any(|h| h.endpoint == cut && h.healthy)
    );
    // Requests do: once its probe backoff has run out, a request goes there and its
    // answer makes it healthy again.
    bounded(async {
        loop {
            unprobed.kv().get("co/prober/k").await.unwrap();
            if healthy_within(&mut unprobed_events, &cut, Duration::from_millis(50)).await {
                return;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_watch_ends_with_reopens_exhausted_when_its_only_member_is_gone() {
    let etcd = server().await;
    let client = bounded(
        options(vec![etcd.endpoint()])
            .dial_timeout(Duration::from_millis(500))
            .request_timeout(Duration::from_secs(2))
            .max_stream_reopens(Some(2))
            .connect(),
    )
    .await
    .unwrap();
    let mut watcher = bounded(client.watch().prefix("co/reopen/")).await.unwrap();
    let put = bounded(client.kv().put("co/reopen/a", "1")).await.unwrap();
    let first = bounded(watcher.next()).await.unwrap().unwrap();
    assert_eq!(first.events().len(), 1);
    let lease = bounded(client.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap();
    let keep = bounded(client.lease().keep_alive(lease.id()))
        .await
        .unwrap();

    etcd.kill(0).unwrap();
    let ended = bounded(watcher.next()).await.unwrap().unwrap_err();
    assert_eq!(ended.kind(), ErrorKind::StreamReopensExhausted, "{ended}");
    assert_eq!(
        ended.last_delivered_revision(),
        Some(put.header().revision())
    );
    assert!(bounded(watcher.next()).await.is_none());
    // The keepalive stream gives up the same way, long before the lease's TTL.
    assert_eq!(bounded(keep.lost()).await, LostReason::ReopensExhausted);
}

#[tokio::test]
async fn an_election_observer_ends_with_reopens_exhausted_when_its_only_member_is_gone() {
    let etcd = server().await;
    let client = bounded(
        options(vec![etcd.endpoint()])
            .dial_timeout(Duration::from_millis(500))
            .request_timeout(Duration::from_secs(2))
            .max_stream_reopens(Some(1))
            .connect(),
    )
    .await
    .unwrap();
    let lease = bounded(client.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap();
    bounded(client.election().campaign("co/observe", lease.id(), "me"))
        .await
        .unwrap();
    let mut observer = bounded(client.election().observe("co/observe"))
        .await
        .unwrap();
    let leader = bounded(observer.next()).await.unwrap().unwrap();
    assert_eq!(leader.value().as_ref(), b"me");

    etcd.kill(0).unwrap();
    let ended = bounded(observer.next()).await.unwrap().unwrap_err();
    assert_eq!(ended.kind(), ErrorKind::StreamReopensExhausted, "{ended}");
    assert!(bounded(observer.next()).await.is_none());
}

#[tokio::test]
async fn a_caller_chosen_watch_id_is_used_and_a_duplicate_on_the_stream_is_refused() {
    let etcd = server().await;
    let client = common::client(&etcd).await;
    let first = bounded(client.watch().key("co/id/a").watch_id(7))
        .await
        .unwrap();
    let duplicate = bounded(client.watch().key("co/id/b").watch_id(7))
        .await
        .unwrap_err();
    assert_eq!(duplicate.kind(), ErrorKind::WatchIdInUse, "{duplicate}");
    // Watches with ids of the client's own choosing share the stream with it.
    let mut other = bounded(client.watch().key("co/id/b")).await.unwrap();
    let mut first = first;
    bounded(client.kv().put("co/id/a", "1")).await.unwrap();
    bounded(client.kv().put("co/id/b", "2")).await.unwrap();
    let got = bounded(first.next()).await.unwrap().unwrap();
    assert_eq!(got.events()[0].key().as_ref(), b"co/id/a");
    let got = bounded(other.next()).await.unwrap().unwrap();
    assert_eq!(got.events()[0].key().as_ref(), b"co/id/b");

    // Cancelled, the id is free again.
    bounded(first.cancel()).await;
    let mut again = bounded(client.watch().key("co/id/a").watch_id(7))
        .await
        .unwrap();
    bounded(client.kv().put("co/id/a", "3")).await.unwrap();
    let got = bounded(again.next()).await.unwrap().unwrap();
    assert_eq!(got.events()[0].kv().value().as_ref(), b"3");

    for bad in [0, -1, etcdkit::watch::AUTO_WATCH_ID_BASE] {
        let err = bounded(client.watch().key("co/id/c").watch_id(bad))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}: {err}");
    }
}

#[tokio::test]
async fn a_custom_user_agent_keeps_calls_and_streams_working() {
    let etcd = server().await;
    let client = bounded(
        options(vec![etcd.endpoint()])
            .user_agent("co-test/1.0 (etcdkit)")
            .connect(),
    )
    .await
    .unwrap();
    let mut watcher = bounded(client.watch().key("co/ua/k")).await.unwrap();
    bounded(client.kv().put("co/ua/k", "v")).await.unwrap();
    let got = bounded(watcher.next()).await.unwrap().unwrap();
    assert_eq!(got.events()[0].kv().value().as_ref(), b"v");

    let err = bounded(
        options(vec![etcd.endpoint()])
            .user_agent("bad\nagent")
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[tokio::test]
async fn members_older_than_the_minimum_version_are_refused() {
    let etcd = server().await.into_cluster();
    let version = etcd.etcd_version().expect("the test kit knows the version");
    let (major, minor) = (version.major(), version.minor());
    let endpoint = etcd.endpoint(0).unwrap();

    let newer = format!("{major}.{}.0", minor + 1);
    let err = bounded(
        options(vec![endpoint.clone()])
            .min_member_version(newer.clone())
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MemberTooOld, "{err}");
    assert!(err.message().contains(&newer), "{err}");

    let client = bounded(
        options(vec![endpoint.clone()])
            .min_member_version(format!("{major}.{minor}"))
            .connect(),
    )
    .await
    .unwrap();
    bounded(client.kv().put("co/version/k", "v")).await.unwrap();
    // The example minimum, as long as the binary under test is recent enough.
    let old = if version.at_least(3, 5, 0) {
        "3.5.0"
    } else {
        "3.0.0"
    };
    let old_enough = bounded(
        options(vec![endpoint.clone()])
            .min_member_version(old)
            .connect(),
    )
    .await
    .unwrap();
    let got = bounded(old_enough.kv().get("co/version/k")).await.unwrap();
    assert_eq!(got.kvs().len(), 1);

    let err = bounded(
        options(vec![endpoint])
            .min_member_version("three")
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}
