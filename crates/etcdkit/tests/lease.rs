//! The lease API against real etcd: grant, revoke, time-to-live, list, keepalive once, and
//! the shared keepalive stream (10,000 leases over one stream, events, lost leases).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, client, options, server};
use etcdkit::lease::{KeepAliveEvent, KeepAliveState, LostReason};
use etcdkit::{ErrorKind, LeaseId};
use etcdkit_testkit::EtcdServer;
use futures_util::StreamExt;

#[tokio::test]
async fn grant_time_to_live_list_and_revoke() {
    let etcd = server().await;
    let c = client(&etcd).await;
    // 1.2 s is rounded up to 2 s, not truncated to 1 s.
    let short = bounded(c.lease().grant(Duration::from_millis(1200)))
        .await
        .unwrap();
    assert!(short.ttl() >= 2, "granted {}", short.ttl());
    let lease = bounded(
        c.lease()
            .grant(Duration::from_secs(60))
            .timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(lease.ttl(), 60);
    bounded(c.kv().put("gl/a", "1").lease(lease.id()))
        .await
        .unwrap();
    bounded(c.kv().put("gl/b", "2").lease(lease.id()))
        .await
        .unwrap();

    let ttl = bounded(c.lease().time_to_live(lease.id()).keys())
        .await
        .unwrap();
    assert_eq!(ttl.id(), lease.id());
    assert_eq!(ttl.granted_ttl(), 60);
    assert!(ttl.ttl() > 0 && ttl.ttl() <= 60);
    // etcd lists a lease's keys in no particular order.
    let mut keys = ttl.keys().to_vec();
    keys.sort();
    assert_eq!(keys, [&b"gl/a"[..], &b"gl/b"[..]]);
    let no_keys = bounded(c.lease().time_to_live(lease.id())).await.unwrap();
    assert!(no_keys.keys().is_empty());

    let list = bounded(c.lease().leases()).await.unwrap();
    assert!(list.leases().contains(&lease.id()));
    assert!(list.leases().contains(&short.id()));

    let once = bounded(c.lease().keep_alive_once(lease.id()))
        .await
        .unwrap();
    assert_eq!((once.id(), once.ttl()), (lease.id(), 60));

    let revoked = bounded(c.lease().revoke(lease.id())).await.unwrap();
    assert!(revoked.header().is_some());
    let gone = bounded(c.kv().get("gl/").prefix()).await.unwrap();
    assert!(gone.kvs().is_empty(), "keys go with the lease");
    let ttl = bounded(c.lease().time_to_live(lease.id())).await.unwrap();
    assert_eq!(ttl.ttl(), -1);
    assert!(!ttl.exists());

    let err = bounded(c.lease().revoke(lease.id())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound);
    let err = bounded(c.lease().keep_alive_once(lease.id()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound);
}

#[tokio::test]
async fn grant_with_an_id_and_namespaced_keys() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let id = LeaseId(0x1234_5678);
    let lease = bounded(c.lease().grant(Duration::from_secs(30)).id(id))
        .await
        .unwrap();
    assert_eq!(lease.id(), id);
    let err = bounded(c.lease().grant(Duration::from_secs(30)).id(id))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExists);
    let ns = c.namespaced("gi/");
    bounded(ns.kv().put("inside", "1").lease(id)).await.unwrap();
    bounded(c.kv().put("outside", "1").lease(id)).await.unwrap();
    let ttl = bounded(ns.lease().time_to_live(id).keys()).await.unwrap();
    assert_eq!(ttl.keys(), [&b"inside"[..]]);
}

#[tokio::test]
async fn keep_alive_events_arrive_in_order() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let lease = bounded(c.lease().grant(Duration::from_secs(3)))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    let mut events = keep.events();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let event = bounded(events.next()).await.unwrap();
        seen.push(event);
    }
    let names: Vec<&str> = seen
        .iter()
        .map(|e| match e {
            KeepAliveEvent::Established { .. } => "established",
            KeepAliveEvent::Fired => "fired",
            KeepAliveEvent::Succeeded { .. } => "succeeded",
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "established",
            "fired",
            "succeeded",
            "fired",
            "succeeded",
            "fired"
        ]
    );
    match &seen[2] {
        KeepAliveEvent::Succeeded { ttl, .. } => assert_eq!(*ttl, Duration::from_secs(3)),
        _ => unreachable!(),
    }
    assert!(matches!(
        *keep.state().borrow(),
        KeepAliveState::Alive { .. }
    ));
    let ttl = bounded(keep.renew_now()).await.unwrap();
    assert_eq!(ttl, Duration::from_secs(3));
}

#[tokio::test]
async fn a_lease_revoked_elsewhere_is_lost_not_found() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let other = client(&etcd).await;
    let lease = bounded(c.lease().grant(Duration::from_secs(3)))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    let mut state = keep.state();
    bounded(state.wait_for(|s| matches!(s, KeepAliveState::Alive { .. })))
        .await
        .unwrap();
    bounded(other.lease().revoke(lease.id())).await.unwrap();
    assert_eq!(bounded(keep.lost()).await, LostReason::NotFound);
    assert!(matches!(
        *keep.state().borrow(),
        KeepAliveState::Lost(LostReason::NotFound)
    ));
    let err = bounded(keep.renew_now()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound);
}

#[tokio::test]
async fn a_frozen_server_makes_the_lease_expire() {
    if etcdkit_testkit::skip_if_embedded("freezes the etcd process (SIGSTOP)") {
        return;
    }
    let etcd = server().await;
    let c = bounded(
        options(vec![etcd.endpoint()])
            .keepalive_interval(Duration::from_millis(500))
            .keepalive_timeout(Duration::from_secs(1))
            .connect(),
    )
    .await
    .unwrap();
    let lease = bounded(c.lease().grant(Duration::from_secs(2)))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    let mut events = keep.events();
    bounded(async {
        while !matches!(events.next().await, Some(KeepAliveEvent::Succeeded { .. })) {}
    })
    .await;
    etcd.stop(0).await.unwrap();
    let reason = bounded(keep.lost()).await;
    etcd.resume(0).unwrap();
    assert_eq!(reason, LostReason::Expired);
    // A failure was reported before the loss.
    let mut failed = false;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(100), events.next()).await
    {
        match event {
            KeepAliveEvent::Failed { .. } => failed = true,
            KeepAliveEvent::Lost { reason } => {
                assert_eq!(reason, LostReason::Expired);
                break;
            }
            _ => {}
        }
    }
    assert!(failed, "the stuck stream was reported as failed");
}

#[tokio::test]
async fn dropping_the_handle_stops_renewals() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let lease = bounded(c.lease().grant(Duration::from_secs(2)))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    bounded(keep.renew_now()).await.unwrap();
    drop(keep);
    bounded(async {
        loop {
            let ttl = c.lease().time_to_live(lease.id()).await.unwrap();
            if ttl.ttl() == -1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

/// The LeaseKeepAlive streams the server has seen opened, from its /metrics.
async fn keepalive_streams_started(etcd: &EtcdServer) -> u64 {
    let metrics = bounded(etcd.metrics(0)).await.unwrap();
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("grpc_server_started_total")
                && l.contains("grpc_method=\"LeaseKeepAlive\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_leases_over_one_stream() {
    if etcdkit_testkit::skip_if_embedded("counts keepalive streams in etcd's /metrics") {
        return;
    }
    const LEASES: usize = 10_000;
    // Long enough that a loaded 2-core machine renewing 10,000 leases keeps up; the
    // benchmark (examples/lease_bench.rs) measures the 3 s case.
    const TTL: Duration = Duration::from_secs(10);
    let etcd = bounded(
        EtcdServer::builder()
            .arg("--metrics=extensive")
            .data_in_tmpfs(true)
            .start_server(),
    )
    .await
    .unwrap();
    let c = client(&etcd).await;
    assert_eq!(keepalive_streams_started(&etcd).await, 0);

    // Grant with some concurrency (each grant is a raft write), and keep each lease alive
    // from the moment it exists: on a loaded machine granting all of them takes longer
    // than one TTL.
    let (ids, keeps): (Vec<LeaseId>, Vec<_>) =
        tokio::time::timeout(Duration::from_secs(300), async {
            let mut granted = Vec::with_capacity(LEASES);
            let mut pending = futures_util::stream::iter(0..LEASES)
                .map(|_| {
                    let c = c.clone();
                    async move {
                        let id = c.lease().grant(TTL).await.unwrap().id();
                        let keep = c.lease().keep_alive(id).await.unwrap();
                        (id, keep)
                    }
                })
                .buffer_unordered(64);
            while let Some(pair) = pending.next().await {
                granted.push(pair);
            }
            granted.into_iter().unzip()
        })
        .await
        .expect("grants finish");

    // Several TTLs.
    let watch_until = tokio::time::Instant::now() + 3 * TTL;
    let mut states: Vec<_> = keeps.iter().map(|k| k.state()).collect();
    while tokio::time::Instant::now() < watch_until {
        for (i, state) in states.iter_mut().enumerate() {
            assert!(
                !matches!(*state.borrow(), KeepAliveState::Lost(_)),
                "lease {} lost: {:?}",
                ids[i],
                *state.borrow()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (i, state) in states.iter().enumerate() {
        assert!(
            matches!(*state.borrow(), KeepAliveState::Alive { .. }),
            "lease {} is {:?}",
            ids[i],
            *state.borrow()
        );
    }
    let live = bounded(c.lease().leases()).await.unwrap();
    assert_eq!(
        live.leases().len(),
        LEASES,
        "no lease expired on the server"
    );
    assert_eq!(
        keepalive_streams_started(&etcd).await,
        1,
        "every lease is renewed over one stream"
    );
}

/// Freezing the member the keepalive stream runs on (for longer than the lease's TTL)
/// moves the stream to another member, where the lease is renewed: it is never lost,
/// and the server still has time left on it. With the client's production defaults,
/// on etcd's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_survives_the_member_its_keepalive_stream_is_on_freezing() {
    if etcdkit_testkit::skip_if_embedded("freezes a member of a three-member cluster") {
        return;
    }
    let etcd = common::default_cluster(3).await;
    let c = bounded(etcdkit::ClientOptions::new(etcd.endpoints()).connect())
        .await
        .unwrap();
    let lease = bounded(c.lease().grant(Duration::from_secs(5)))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    let mut events = keep.events();
    let endpoint = bounded(async {
        loop {
            if let Some(KeepAliveEvent::Established { endpoint }) = events.next().await {
                break endpoint;
            }
        }
    })
    .await;
    bounded(async {
        while !matches!(events.next().await, Some(KeepAliveEvent::Succeeded { .. })) {}
    })
    .await;
    let frozen = common::member_at(&etcd, &endpoint);

    bounded(etcd.stop(frozen)).await.unwrap();
    // Everything the keeper reports while the member stays frozen (longer than the TTL).
    let mut seen = Vec::new();
    let thaw = tokio::time::Instant::now() + Duration::from_secs(6);
    while let Ok(Some(event)) = tokio::time::timeout_at(thaw, events.next()).await {
        seen.push(event);
    }
    let state = keep.state().borrow().clone();
    etcd.resume(frozen).unwrap();

    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, KeepAliveEvent::Lost { .. })),
        "the lease was lost: {seen:?}"
    );
    assert!(matches!(state, KeepAliveState::Alive { .. }), "{state:?}");
    // It moved, and was renewed where it went, while the member was still frozen.
    let moved = seen
        .iter()
        .position(|e| matches!(e, KeepAliveEvent::Established { endpoint: e } if *e != endpoint));
    let moved = moved.unwrap_or_else(|| panic!("the stream never moved: {seen:?}"));
    assert!(
        seen[moved..]
            .iter()
            .any(|e| matches!(e, KeepAliveEvent::Succeeded { .. })),
        "no renewal after the move: {seen:?}"
    );
    let ttl = bounded(c.lease().time_to_live(lease.id())).await.unwrap();
    assert!(
        ttl.ttl() > 0,
        "the server has no time left on the lease: {ttl:?}"
    );
}
