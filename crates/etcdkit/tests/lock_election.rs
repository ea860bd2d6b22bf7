//! The server's Lock and Election services against real etcd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, client, cluster, options, server};
use etcdkit::ErrorKind;
use futures_util::StreamExt;

#[tokio::test]
async fn lock_waits_for_the_holder_and_unlock_releases() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let a = bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap();
    let b = bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap()
        .id();
    let held = bounded(c.lock().lock("sl/one", a.id())).await.unwrap();
    assert_eq!(
        held.key().as_ref(),
        format!("sl/one/{:x}", a.id()).as_bytes()
    );
    // The same name and lease find the same key.
    let again = bounded(c.lock().lock("sl/one", a.id())).await.unwrap();
    assert_eq!(again.key(), held.key());

    // A second lease waits; a short timeout gives up.
    let err = bounded(
        c.lock()
            .lock("sl/one", b)
            .timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    // A lock request is a write: cut short, its outcome is unknown.
    assert!(err.is_outcome_unknown(), "{err}");

    // The waiter uses a lease of its own: with `b`, it would share the key `sl/one/<b>`
    // with the request just cut short, whose clean-up on the server (deleting that key)
    // may come after the waiter found it, and fail the waiter with "session is expired".
    let w = bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap()
        .id();
    let waiter = tokio::spawn({
        let c = c.clone();
        async move { c.lock().lock("sl/one", w).await }
    });
    bounded(c.lock().unlock(held.key().clone())).await.unwrap();
    let second = bounded(waiter).await.unwrap().unwrap();
    assert_eq!(second.key().as_ref(), format!("sl/one/{w:x}").as_bytes());

    // A lease that does not exist is refused.
    bounded(c.lease().revoke(a.id())).await.unwrap();
    let err = bounded(c.lock().lock("sl/other", a.id()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound, "{err}");
    let err = bounded(c.lock().lock("", b)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EmptyKey);
}

#[tokio::test]
async fn namespaced_lock_keys_are_relative() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let ns = c.namespaced("tenant/");
    let lease = bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap();
    let held = bounded(ns.lock().lock("job", lease.id())).await.unwrap();
    assert_eq!(
        held.key().as_ref(),
        format!("job/{:x}", lease.id()).as_bytes()
    );
    let raw = bounded(c.kv().get(format!("tenant/job/{:x}", lease.id())))
        .await
        .unwrap();
    assert_eq!(raw.kvs().len(), 1);
    bounded(ns.lock().unlock(held.key().clone())).await.unwrap();
    let raw = bounded(c.kv().get("tenant/job/").prefix()).await.unwrap();
    assert!(raw.kvs().is_empty());
}

#[tokio::test]
async fn election_campaign_proclaim_leader_resign_observe() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let e = c.election();
    let err = bounded(e.leader("se/x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoElectionLeader, "{err}");

    let mut observer = bounded(e.observe("se/x")).await.unwrap();
    let a = bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap();
    let b = bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap()
        .id();
    let first = bounded(e.campaign("se/x", a.id(), "a")).await.unwrap();
    let leader_a = first.into_leader();
    assert_eq!(leader_a.name().as_ref(), b"se/x");
    assert_eq!(leader_a.lease(), a.id());

    let seen = bounded(observer.next()).await.unwrap().unwrap();
    assert_eq!(seen.value().as_ref(), b"a");
    assert_eq!(seen.kv().create_revision(), leader_a.revision());

    bounded(e.proclaim(&leader_a, "a2")).await.unwrap();
    let seen = bounded(observer.next()).await.unwrap().unwrap();
    assert_eq!(seen.value().as_ref(), b"a2");
    let now = bounded(e.leader("se/x")).await.unwrap();
    assert_eq!(now.value().as_ref(), b"a2");
    assert_eq!(now.leader_key("se/x"), leader_a);

    let waiting = tokio::spawn({
        let e = e.clone();
        async move { e.campaign("se/x", b, "b").await }
    });
    bounded(e.resign(&leader_a)).await.unwrap();
    let leader_b = bounded(waiting).await.unwrap().unwrap().into_leader();
    let seen = bounded(observer.next()).await.unwrap().unwrap();
    assert_eq!(seen.value().as_ref(), b"b");

    // The former leader can neither proclaim nor end the new leadership.
    let err = bounded(e.proclaim(&leader_a, "stale")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader, "{err}");
    bounded(e.resign(&leader_a)).await.unwrap();
    let now = bounded(e.leader("se/x")).await.unwrap();
    assert_eq!(now.value().as_ref(), b"b");
    assert_eq!(now.kv().create_revision(), leader_b.revision());
}

#[tokio::test]
async fn observe_survives_losing_its_member() {
    if etcdkit_testkit::skip_if_embedded("kills members of a three-member cluster") {
        return;
    }
    let etcd = cluster(3).await;
    let c = bounded(
        options(etcd.endpoints())
            .keepalive_interval(Duration::from_millis(500))
            .keepalive_timeout(Duration::from_secs(1))
            .connect(),
    )
    .await
    .unwrap();
    let lease = bounded(c.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap();
    let leader = bounded(c.election().campaign("so/x", lease.id(), "v1"))
        .await
        .unwrap()
        .into_leader();
    let mut observer = bounded(c.election().observe("so/x")).await.unwrap();
    let seen = bounded(observer.next()).await.unwrap().unwrap();
    assert_eq!(seen.value().as_ref(), b"v1");

    // Kill whichever member the observe stream uses: it is re-opened elsewhere.
    for i in 0..etcd.len() {
        etcd.kill(i).unwrap();
        // Proclaim through the other members until the observer sees the value.
        let value = format!("after-kill-{i}");
        bounded(async {
            loop {
                if c.election().proclaim(&leader, value.clone()).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let got = bounded(async {
            loop {
                let seen = observer.next().await.unwrap().unwrap();
                if seen.value().as_ref() == value.as_bytes() {
                    return seen;
                }
            }
        })
        .await;
        assert_eq!(got.kv().create_revision(), leader.revision());
        bounded(etcd.start_member(i)).await.unwrap();
        bounded(etcd.wait_all_healthy(Duration::from_secs(20)))
            .await
            .unwrap();
    }
}

/// Lease 0 would have etcd hold the lock or the leadership under a 60-second lease of its
/// own that nobody renews: refused before sending, and nothing is written.
#[tokio::test]
async fn lease_zero_is_refused_for_locks_and_campaigns_before_sending() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let no_lease = etcdkit::LeaseId(0);

    let err = bounded(c.lock().lock("lz/lock", no_lease))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("lease 0"), "{err}");

    let err = bounded(c.election().campaign("lz/election", no_lease, "v"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    // Neither request reached the server: no key, and no lease made on our behalf.
    let keys = bounded(c.kv().get("lz/").prefix()).await.unwrap();
    assert_eq!(keys.count(), 0);
    let leases = bounded(c.lease().leases()).await.unwrap();
    assert!(leases.leases().is_empty(), "{:?}", leases.leases());
}
