//! The Lease service of the embedded server: expiry deletes keys on time (with delete
//! events), keepalives keep a lease, revoke, time-to-live with keys, list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{bounded, embedded};
use etcdkit::watch::EventType;
use etcdkit::{ErrorKind, LeaseId};
use tokio_stream::StreamExt;

#[tokio::test]
async fn an_expired_lease_deletes_its_keys_with_delete_events() {
    let (_server, c) = embedded().await;
    let lease = bounded(c.lease().grant(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(lease.ttl(), 2);
    bounded(c.kv().put("exp/a", "1").lease(lease.id()))
        .await
        .unwrap();
    bounded(c.kv().put("exp/b", "2").lease(lease.id()))
        .await
        .unwrap();
    let mut w = bounded(c.watch().prefix("exp/")).await.unwrap();
    let granted = Instant::now();
    let r = bounded(w.next()).await.unwrap().unwrap();
    let elapsed = granted.elapsed();
    // Both keys go in one revision, in one response.
    assert_eq!(r.events().len(), 2, "{r:?}");
    assert!(
        r.events()
            .iter()
            .all(|e| e.event_type() == EventType::Delete)
    );
    assert_eq!(r.events()[0].revision(), r.events()[1].revision());
    assert!(
        elapsed <= Duration::from_secs(3),
        "expired after {elapsed:?}"
    );
    assert_eq!(bounded(c.kv().get("exp/a")).await.unwrap().count(), 0);
    let ttl = bounded(c.lease().time_to_live(lease.id())).await.unwrap();
    assert!(!ttl.exists());
}

#[tokio::test]
async fn a_kept_alive_lease_outlives_its_ttl() {
    let (_server, c) = embedded().await;
    let lease = bounded(c.lease().grant(Duration::from_secs(2)))
        .await
        .unwrap();
    bounded(c.kv().put("keep/a", "1").lease(lease.id()))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(bounded(c.kv().get("keep/a")).await.unwrap().count(), 1);
    let ttl = bounded(c.lease().time_to_live(lease.id()).keys())
        .await
        .unwrap();
    assert!(ttl.exists());
    assert_eq!(ttl.granted_ttl(), 2);
    assert_eq!(ttl.keys(), [bytes::Bytes::from_static(b"keep/a")]);
    drop(keep);
}

#[tokio::test]
async fn grant_with_an_id_list_revoke_and_refusals() {
    let (_server, c) = embedded().await;
    let lease = bounded(c.lease().grant(Duration::from_secs(60)).id(LeaseId(4242)))
        .await
        .unwrap();
    assert_eq!(lease.id(), LeaseId(4242));
    let err = bounded(c.lease().grant(Duration::from_secs(60)).id(LeaseId(4242)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExists, "{err:?}");
    let auto = bounded(c.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(auto.id().0 > 0);
    let listed = bounded(c.lease().leases()).await.unwrap();
    assert!(listed.leases().contains(&LeaseId(4242)));
    assert!(listed.leases().contains(&auto.id()));

    bounded(c.kv().put("rev/a", "1").lease(lease.id()))
        .await
        .unwrap();
    let mut w = bounded(c.watch().prefix("rev/")).await.unwrap();
    bounded(c.lease().revoke(lease.id())).await.unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].event_type(), EventType::Delete);
    assert_eq!(bounded(c.kv().get("rev/a")).await.unwrap().count(), 0);
    let err = bounded(c.lease().revoke(lease.id())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound, "{err:?}");
    assert_eq!(err.message(), "etcdserver: requested lease not found");
}

#[tokio::test]
async fn a_short_ttl_is_raised_to_etcds_minimum() {
    let (_server, c) = embedded().await;
    let lease = bounded(c.lease().grant(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(lease.ttl(), 2);
}
