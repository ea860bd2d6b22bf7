//! Resuming an election's leadership after a restart, against real etcd: the resumed
//! leadership proclaims, resigns and sees its loss like a won one; a leader key that no
//! longer leads, or names another election, is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, server};
use etcdkit::election::LeaderKey;
use etcdkit::{Client, ErrorKind, LeaseId, Revision};
use etcdkit_recipes::election::{Election, LostCause};
use etcdkit_recipes::session::Session;

const TTL: Duration = Duration::from_secs(30);

/// Campaigns on a new session, then "crashes": the leadership vanishes without resigning
/// (as in a killed process) and the session stops renewing. Returns what the process
/// would have kept on disk.
async fn lead_and_crash(client: &Client, name: &str) -> LeaderKey {
    let session = bounded(Session::builder(client).ttl(TTL)).await.unwrap();
    let leadership = bounded(Election::new(&session, name.to_string()).campaign("before"))
        .await
        .unwrap();
    let kept = leadership.leader_key();
    // A crashed process runs no destructors: nothing resigns.
    std::mem::forget(leadership);
    drop(session);
    kept
}

/// The restarted process: a session on the same lease, kept alive from now on.
async fn restart(client: &Client, lease: LeaseId) -> Session {
    bounded(Session::builder(client).ttl(TTL).resume(lease))
        .await
        .unwrap()
}

async fn value(client: &Client, key: &[u8]) -> Option<String> {
    bounded(client.kv().get(key.to_vec()))
        .await
        .unwrap()
        .kvs()
        .first()
        .map(|kv| kv.value_str().unwrap().to_string())
}

#[tokio::test]
async fn a_leadership_resumed_after_a_restart_proclaims_and_resigns() {
    let (_etcd, client) = server().await;
    let kept = lead_and_crash(&client, "resume-ok").await;
    let session = restart(&client, kept.lease()).await;
    let election = Election::new(&session, "resume-ok");

    let wrong = LeaderKey::new(
        kept.name().clone(),
        kept.key().clone(),
        Revision(kept.revision().get() + 1),
        kept.lease(),
    );
    let err = bounded(election.resume(&wrong)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader);

    let leadership = bounded(election.resume(&kept)).await.unwrap();
    assert_eq!(leadership.revision(), kept.revision());
    assert_eq!(leadership.leader_key(), kept);
    // Resumed once per session: a second resume of the same key is refused.
    let err = bounded(election.resume(&kept)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);

    bounded(leadership.proclaim("after")).await.unwrap();
    assert_eq!(value(&client, kept.key()).await.as_deref(), Some("after"));
    let leader = bounded(election.leader()).await.unwrap().unwrap();
    assert_eq!(leader.value_str().unwrap(), "after");

    assert!(bounded(leadership.resign()).await.unwrap());
    assert_eq!(value(&client, kept.key()).await, None);
    // Resigned: the leader key no longer exists, so it cannot be resumed again.
    let other = restart(&client, kept.lease()).await;
    let err = bounded(Election::new(&other, "resume-ok").resume(&kept))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader);
}

#[tokio::test]
async fn a_resumed_leadership_sees_its_key_deleted_and_can_no_longer_proclaim() {
    let (_etcd, client) = server().await;
    let kept = lead_and_crash(&client, "resume-lost").await;
    let session = restart(&client, kept.lease()).await;
    let leadership = bounded(Election::new(&session, "resume-lost").resume(&kept))
        .await
        .unwrap();
    bounded(client.kv().delete(kept.key().clone()))
        .await
        .unwrap();
    assert!(matches!(
        bounded(leadership.lost()).await,
        LostCause::KeyGone
    ));
    let err = bounded(leadership.proclaim("too late")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader);
}

#[tokio::test]
async fn resume_refuses_a_waiting_candidate_and_another_elections_key() {
    let (_etcd, client) = server().await;
    let leader = bounded(Session::builder(&client).ttl(TTL)).await.unwrap();
    let _leadership = bounded(Election::new(&leader, "resume-wait").campaign("first"))
        .await
        .unwrap();
    let waiter = bounded(Session::builder(&client).ttl(TTL)).await.unwrap();
    let waiting = Election::new(&waiter, "resume-wait");
    let key = waiting.key().clone();
    let campaign = tokio::spawn({
        let waiting = waiting.clone();
        async move { waiting.campaign("second").await }
    });
    let created = bounded(async {
        loop {
            let r = client.kv().get(key.clone()).await.unwrap();
            if let Some(kv) = r.kvs().first() {
                return kv.create_revision();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let queued = LeaderKey::new("resume-wait", key.clone(), created, waiter.lease_id());

    let restarted = restart(&client, waiter.lease_id()).await;
    let err = bounded(Election::new(&restarted, "resume-wait").resume(&queued))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader);

    let err = bounded(Election::new(&restarted, "resume-other").resume(&queued))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    campaign.abort();
}
