//! The Election service of the embedded server through `etcdkit::Client::election()`,
//! the recipes' election (KV, watch and lease) on the embedded server, and one election
//! sequence run against real etcd and the embedded server alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, embedded, options};
use etcdkit::{Client, ErrorKind, LeaseId};
use etcdkit_recipes::election::Election;
use etcdkit_recipes::session::Session;
use etcdkit_testkit::EtcdServer;
use tokio_stream::StreamExt;

/// How long a campaigner is given to (wrongly) win before we call it blocked.
const BLOCKED: Duration = Duration::from_millis(300);

async fn grant(c: &Client) -> LeaseId {
    bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap()
        .id()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a client sees of one election sequence, lease IDs replaced by their roles.
async fn election_sequence(c: &Client, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let e = c.election();
    let none = bounded(e.leader(name.to_owned())).await.unwrap_err();
    seen.push(format!("no leader: {:?}", none.kind()));
    let (l1, l2) = (grant(c).await, grant(c).await);
    let mut observer = bounded(e.observe(name.to_owned())).await.unwrap();
    let first = bounded(e.campaign(name.to_owned(), l1, "v1"))
        .await
        .unwrap()
        .into_leader();
    seen.push(text(first.key()).replace(&format!("{:x}", l1.0), "L1"));
    let c2 = c.clone();
    let name2 = name.to_owned();
    let mut second = tokio::spawn(async move { c2.election().campaign(name2, l2, "w1").await });
    let blocked = tokio::time::timeout(BLOCKED, &mut second).await.is_err();
    seen.push(format!("second blocked: {blocked}"));
    bounded(e.proclaim(&first, "v2")).await.unwrap();
    let leader = bounded(e.leader(name.to_owned())).await.unwrap();
    seen.push(format!("leader value: {}", text(leader.value())));
    bounded(e.resign(&first)).await.unwrap();
    let second = bounded(second).await.unwrap().unwrap().into_leader();
    seen.push(text(second.key()).replace(&format!("{:x}", l2.0), "L2"));
    let stale = bounded(e.proclaim(&first, "late")).await.unwrap_err();
    seen.push(format!("stale proclaim: {:?}", stale.kind()));
    // A former leader's resignation does nothing to the new leader.
    bounded(e.resign(&first)).await.unwrap();
    let leader = bounded(e.leader(name.to_owned())).await.unwrap();
    seen.push(format!("leader value: {}", text(leader.value())));
    for _ in 0..3 {
        let r = bounded(observer.next()).await.unwrap().unwrap();
        seen.push(format!("observed: {}", text(r.value())));
    }
    bounded(e.resign(&second)).await.unwrap();
    seen
}

#[tokio::test]
async fn campaign_proclaim_resign_and_observe_follow_the_oldest_key() {
    let (_server, c) = embedded().await;
    let seen = election_sequence(&c, "el1").await;
    assert_eq!(
        seen,
        [
            "no leader: NoElectionLeader",
            "el1/L1",
            "second blocked: true",
            "leader value: v2",
            "el1/L2",
            "stale proclaim: NotElectionLeader",
            "leader value: w1",
            "observed: v1",
            "observed: v2",
            "observed: w1",
        ]
    );
}

#[tokio::test]
async fn the_election_sequence_looks_the_same_on_real_etcd() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let real = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    let (_server, ours) = embedded().await;
    let on_etcd = election_sequence(&real, "elcmp").await;
    let on_ours = election_sequence(&ours, "elcmp").await;
    assert_eq!(on_ours, on_etcd);
}

#[tokio::test]
async fn a_campaign_whose_lease_is_revoked_while_waiting_fails_as_not_leader() {
    let (_server, c) = embedded().await;
    let (l1, l2) = (grant(&c).await, grant(&c).await);
    let _leader = bounded(c.election().campaign("el2", l1, "a"))
        .await
        .unwrap();
    let c2 = c.clone();
    let mut waiter = tokio::spawn(async move { c2.election().campaign("el2", l2, "b").await });
    assert!(tokio::time::timeout(BLOCKED, &mut waiter).await.is_err());
    bounded(c.lease().revoke(l2)).await.unwrap();
    let err = bounded(waiter).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader, "{err:?}");
}

#[tokio::test]
async fn the_leader_lease_expiring_elects_the_next_campaigner() {
    let (_server, c) = embedded().await;
    let short = bounded(c.lease().grant(Duration::from_secs(2)))
        .await
        .unwrap()
        .id();
    let l2 = grant(&c).await;
    let _first = bounded(c.election().campaign("el3", short, "a"))
        .await
        .unwrap();
    let second = bounded(c.election().campaign("el3", l2, "b"))
        .await
        .unwrap();
    assert_eq!(second.leader().lease(), l2);
    let leader = bounded(c.election().leader("el3")).await.unwrap();
    assert_eq!(leader.value().as_ref(), b"b");
}

#[tokio::test]
async fn the_recipes_election_elects_one_session_at_a_time() {
    let (_server, c) = embedded().await;
    let s1 = bounded(Session::new(&c)).await.unwrap();
    let s2 = bounded(Session::new(&c)).await.unwrap();
    let e1 = Election::new(&s1, "rel");
    let e2 = Election::new(&s2, "rel");
    let lead1 = bounded(e1.campaign("one")).await.unwrap();
    let waiter = tokio::spawn(async move {
        let l = e2.campaign("two").await;
        (e2, l)
    });
    tokio::time::sleep(BLOCKED).await;
    assert!(!waiter.is_finished(), "the second session was elected too");
    bounded(lead1.proclaim("one again")).await.unwrap();
    let kv = bounded(e1.leader()).await.unwrap().unwrap();
    assert_eq!(kv.value().as_ref(), b"one again");
    assert!(bounded(lead1.resign()).await.unwrap());
    let (e2, lead2) = bounded(waiter).await.unwrap();
    let lead2 = lead2.unwrap();
    let kv = bounded(e2.leader()).await.unwrap().unwrap();
    assert_eq!(kv.value().as_ref(), b"two");
    assert!(bounded(lead2.resign()).await.unwrap());
}

#[tokio::test]
async fn a_campaign_given_up_by_the_client_resigns_its_key() {
    let (_server, c) = embedded().await;
    let (l1, l2) = (grant(&c).await, grant(&c).await);
    let _leader = bounded(c.election().campaign("el4", l1, "a"))
        .await
        .unwrap();
    let mut events = bounded(c.watch().key(format!("el4/{:x}", l2.0)))
        .await
        .unwrap();
    let err = bounded(
        c.election()
            .campaign("el4", l2, "b")
            .timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    // The campaigner's key was put, then deleted when the call went away.
    common::assert_given_up_and_key_removed(err, &mut events).await;
}
