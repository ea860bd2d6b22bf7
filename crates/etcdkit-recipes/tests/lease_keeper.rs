//! The lease keeper against real etcd: events in order, keys under the lease, release and
//! revoke, losses with their reasons, Drop and close, and a 3-member cluster whose leader
//! is killed and whose members are frozen and restarted one by one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, options, server};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use etcdkit::{Client, LeaseId};
use etcdkit_recipes::lease_keeper::{KeeperEvent, KeeperState, LeaseKeeper, LostReason};
use etcdkit_testkit::EtcdCluster;
use tokio_stream::StreamExt;

async fn cluster() -> EtcdCluster {
    bounded(
        EtcdCluster::builder()
            .members(3)
            .arg("--grpc-keepalive-min-time=200ms")
            .start(),
    )
    .await
    .unwrap()
}

/// Waits until the key is gone (or fails the test after the bound).
async fn until_gone(client: &Client, key: &str) {
    bounded(async {
        while !client
            .kv()
            .get(key.to_owned())
            .await
            .unwrap()
            .kvs()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

fn name(event: &KeeperEvent) -> &'static str {
    match event {
        KeeperEvent::KeepaliveEstablished { .. } => "established",
        KeeperEvent::KeepaliveFired => "fired",
        KeeperEvent::KeepaliveSucceeded { .. } => "succeeded",
        KeeperEvent::KeepaliveFailed { .. } => "failed",
        KeeperEvent::Lost { .. } => "lost",
        KeeperEvent::Lagged { .. } => "lagged",
        _ => "other",
    }
}

#[tokio::test]
async fn events_of_a_normal_run_arrive_in_order() {
    let (_etcd, client) = server().await;
    let keeper = LeaseKeeper::new(&client, Duration::from_secs(3));
    let mut events = keeper.events();
    let mut names = Vec::new();
    while names.len() < 7 {
        names.push(name(&bounded(events.next()).await.unwrap()));
    }
    assert_eq!(
        names,
        [
            "established",
            "fired",
            "succeeded",
            "fired",
            "succeeded",
            "fired",
            "succeeded"
        ]
    );
    match &*keeper.state().borrow() {
        KeeperState::Alive { ttl, .. } => assert_eq!(*ttl, Duration::from_secs(3)),
        other => panic!("not alive: {other:?}"),
    }
    assert_eq!(
        bounded(keeper.keepalive_once()).await.unwrap(),
        Duration::from_secs(3)
    );
}

#[tokio::test]
async fn puts_wait_for_the_grant_and_revoke_removes_keys_at_once() {
    let (_etcd, client) = server().await;
    let keeper = LeaseKeeper::new(&client, Duration::from_secs(30));
    assert!(matches!(
        *keeper.state().borrow(),
        KeeperState::Granting | KeeperState::Alive { .. }
    ));
    bounded(keeper.put("lk-revoke/a", "1")).await.unwrap();
    let id = bounded(keeper.id()).await.unwrap();
    let kv = bounded(client.kv().get("lk-revoke/a")).await.unwrap();
    assert_eq!(kv.kvs()[0].lease(), Some(id));

    bounded(keeper.revoke()).await.unwrap();
    assert!(keeper.is_revoked());
    let kv = bounded(client.kv().get("lk-revoke/a")).await.unwrap();
    assert!(kv.kvs().is_empty(), "revoke removes the keys at once");
    assert!(matches!(bounded(keeper.lost()).await, LostReason::Revoked));
    assert!(bounded(keeper.put("lk-revoke/b", "1")).await.is_err());
}

#[tokio::test]
async fn release_passively_lets_the_lease_expire_and_its_keys_vanish() {
    let (_etcd, client) = server().await;
    let keeper = LeaseKeeper::new(&client, Duration::from_secs(2));
    let mut events = keeper.events();
    bounded(keeper.put("lk-release/a", "1")).await.unwrap();
    let id = bounded(keeper.id()).await.unwrap();
    keeper.release_passively();
    assert!(matches!(
        *keeper.state().borrow(),
        KeeperState::Released { .. }
    ));
    assert!(matches!(bounded(keeper.lost()).await, LostReason::Expired));
    until_gone(&client, "lk-release/a").await;
    let ttl = bounded(client.lease().time_to_live(id)).await.unwrap();
    assert!(!ttl.exists());
    assert!(!keeper.is_revoked());
    // No renewal after the release.
    let mut tail = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), events.next()).await
    {
        tail.push(name(&event));
    }
    assert_eq!(tail.last(), Some(&"lost"));
}

#[tokio::test]
async fn a_lease_revoked_by_another_client_is_lost_not_found() {
    let (etcd, client) = server().await;
    let other = bounded(options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap();
    let keeper = LeaseKeeper::new(&client, Duration::from_secs(3));
    let mut events = keeper.events();
    let id = bounded(keeper.id()).await.unwrap();
    bounded(other.lease().revoke(id)).await.unwrap();
    let reason = bounded(keeper.lost()).await;
    assert!(matches!(reason, LostReason::NotFound), "{reason:?}");
    assert!(!keeper.is_revoked());
    match &*keeper.state().borrow() {
        KeeperState::Lost {
            id: Some(lost),
            reason: LostReason::NotFound,
        } => assert_eq!(*lost, id),
        other => panic!("{other:?}"),
    }
    let lost_event = bounded(async {
        loop {
            if let Some(KeeperEvent::Lost { reason }) = events.next().await {
                return reason;
            }
        }
    })
    .await;
    assert!(matches!(lost_event, LostReason::NotFound));
}

#[tokio::test]
async fn drop_lets_the_lease_expire_and_close_revokes() {
    let (_etcd, client) = server().await;
    let dropped = LeaseKeeper::new(&client, Duration::from_secs(2));
    bounded(dropped.put("lk-drop/a", "1")).await.unwrap();
    drop(dropped);
    // Not revoked: the key is still there right after the drop ...
    assert_eq!(
        bounded(client.kv().get("lk-drop/a"))
            .await
            .unwrap()
            .kvs()
            .len(),
        1
    );
    // ... and vanishes once the TTL runs out, since nothing renews it.
    until_gone(&client, "lk-drop/a").await;

    let closed = LeaseKeeper::new(&client, Duration::from_secs(30));
    bounded(closed.put("lk-close/a", "1")).await.unwrap();
    let id = bounded(closed.id()).await.unwrap();
    bounded(closed.close()).await.unwrap();
    assert!(
        bounded(client.kv().get("lk-close/a"))
            .await
            .unwrap()
            .kvs()
            .is_empty()
    );
    assert!(
        !bounded(client.lease().time_to_live(id))
            .await
            .unwrap()
            .exists()
    );
}

#[tokio::test]
async fn every_member_frozen_longer_than_the_ttl_loses_the_lease() {
    let etcd = cluster().await;
    let client = bounded(options(etcd.endpoints()).connect()).await.unwrap();
    let keeper = LeaseKeeper::new(&client, Duration::from_secs(2));
    let mut events = keeper.events();
    bounded(async {
        while !matches!(
            events.next().await,
            Some(KeeperEvent::KeepaliveSucceeded { .. })
        ) {}
    })
    .await;
    for i in 0..3 {
        etcd.stop(i).await.unwrap();
    }
    let reason = bounded(keeper.lost()).await;
    for i in 0..3 {
        etcd.resume(i).unwrap();
    }
    assert!(matches!(reason, LostReason::Expired), "{reason:?}");
    let mut failed = false;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(100), events.next()).await
    {
        failed |= matches!(event, KeeperEvent::KeepaliveFailed { .. });
        if matches!(event, KeeperEvent::Lost { .. }) {
            break;
        }
    }
    assert!(failed, "the failing stream was reported before the loss");
}

/// The index of the member the cluster takes for leader.
async fn leader_index(etcd: &EtcdCluster) -> usize {
    bounded(async {
        loop {
            let mut ids = Vec::new();
            let mut leader = None;
            for endpoint in etcd.endpoints() {
                let c = options(vec![endpoint]).connect().await;
                match c {
                    Ok(c) => match c.maintenance().status().await {
                        Ok(s) => {
                            ids.push(Some(s.header().member_id()));
                            leader = Some(s.leader());
                        }
                        Err(_) => ids.push(None),
                    },
                    Err(_) => ids.push(None),
                }
            }
            if let Some(leader) = leader
                && let Some(i) = ids.iter().position(|id| *id == Some(leader))
            {
                return i;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lease_is_lost_while_a_quorum_holds() {
    const LEASES: usize = 20;
    const TTL: Duration = Duration::from_secs(5);
    let etcd = cluster().await;
    let client = bounded(options(etcd.endpoints()).connect()).await.unwrap();
    let keepers: Vec<LeaseKeeper> = (0..LEASES)
        .map(|_| LeaseKeeper::new(&client, TTL))
        .collect();
    let mut ids: Vec<LeaseId> = Vec::new();
    for k in &keepers {
        ids.push(bounded(k.id()).await.unwrap());
    }
    // A second client watches the remaining TTLs the cluster reports.
    let monitor = bounded(options(etcd.endpoints()).connect()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let min_ttl = Arc::new(AtomicI64::new(i64::MAX));
    let checker = {
        let (stop, min_ttl, ids) = (stop.clone(), min_ttl.clone(), ids.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for id in &ids {
                    if let Ok(r) = monitor
                        .lease()
                        .time_to_live(*id)
                        .timeout(Duration::from_secs(2))
                        .await
                    {
                        min_ttl.fetch_min(r.ttl(), Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Every keeper renews successfully after each fault before the next one.
    let mut events: Vec<_> = keepers.iter().map(|k| k.events()).collect();
    async fn renewed_after(events: &mut [impl tokio_stream::Stream<Item = KeeperEvent> + Unpin]) {
        for e in events.iter_mut() {
            bounded(async {
                loop {
                    match e.next().await {
                        Some(KeeperEvent::KeepaliveSucceeded { .. }) => break,
                        Some(KeeperEvent::Lost { reason }) => panic!("lease lost: {reason:?}"),
                        _ => {}
                    }
                }
            })
            .await;
        }
    }
    renewed_after(&mut events).await;

    let leader = leader_index(&etcd).await;
    etcd.kill(leader).unwrap();
    renewed_after(&mut events).await;
    renewed_after(&mut events).await;
    bounded(etcd.restart(leader)).await.unwrap();
    renewed_after(&mut events).await;

    for i in 0..3 {
        etcd.stop(i).await.unwrap();
        renewed_after(&mut events).await;
        renewed_after(&mut events).await;
        bounded(etcd.restart(i)).await.unwrap();
        renewed_after(&mut events).await;
    }

    stop.store(true, Ordering::Relaxed);
    bounded(checker).await.unwrap();
    for (k, id) in keepers.iter().zip(&ids) {
        assert!(
            matches!(*k.state().borrow(), KeeperState::Alive { .. }),
            "lease {id} is {:?}",
            *k.state().borrow()
        );
    }
    let min = min_ttl.load(Ordering::Relaxed);
    eprintln!("smallest remaining TTL seen: {min}");
    assert!(
        min > 0 && min != i64::MAX,
        "every remaining TTL stayed above zero (min {min})"
    );
}
