//! Cluster membership against real etcd: a learner joins, is promoted, has its peer URL
//! changed and is removed, and the member list reflects each step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::bounded;
use etcdkit::ErrorKind;
use etcdkit::cluster::Member;

fn find(members: &[Member], peer_url: &str) -> Option<Member> {
    members
        .iter()
        .find(|m| m.peer_urls().iter().any(|u| u == peer_url))
        .cloned()
}

#[tokio::test]
async fn a_learner_is_added_promoted_updated_and_removed() {
    let etcd = common::cluster(3).await;
    let client = bounded(common::options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let cluster = client.cluster();
    let before = bounded(cluster.member_list_linearizable()).await.unwrap();
    assert_eq!(before.members().len(), 3);
    assert!(before.members().iter().all(|m| !m.is_learner()));

    // Add: announced as a learner, listed before its process even starts.
    let new = etcd.new_member().unwrap();
    // etcd refuses membership changes until the member has been connected to all its
    // peers for a while ("unhealthy cluster", a definite refusal): retry until accepted.
    let added = bounded(async {
        loop {
            match cluster.member_add([new.peer_url()]).learner().await {
                Ok(r) => break r,
                Err(e) if e.kind() == ErrorKind::Unavailable && !e.is_outcome_unknown() => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("member add: {e}"),
            }
        }
    })
    .await;
    let member = added.member().unwrap().clone();
    assert!(member.is_learner());
    assert_eq!(member.peer_urls(), [new.peer_url()]);
    assert_eq!(added.members().len(), 4);
    let listed = bounded(cluster.member_list_linearizable()).await.unwrap();
    let id = member.id();
    assert!(listed.member(id).unwrap().is_learner());

    // Start it: once running it publishes its name and client URL.
    bounded(new.start()).await.unwrap();
    bounded(async {
        loop {
            let listed = cluster.member_list_linearizable().await.unwrap();
            let m = listed.member(id).unwrap();
            if m.name() == new.name() {
                assert_eq!(m.client_urls(), [new.endpoint()]);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // Promote: etcd refuses until the learner has caught up; retry until it accepts.
    let promoted = bounded(async {
        loop {
            match cluster.member_promote(id).await {
                Ok(r) => break r,
                Err(e) if e.kind() == ErrorKind::Server || e.kind() == ErrorKind::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("promote: {e}"),
            }
        }
    })
    .await;
    assert!(!promoted.member(id).unwrap().is_learner());
    let listed = bounded(cluster.member_list_linearizable()).await.unwrap();
    assert!(!listed.member(id).unwrap().is_learner());
    assert_eq!(listed.members().len(), 4);

    // Update: the same port under another name for the same address.
    let port = new.peer_url().rsplit(':').next().unwrap().to_string();
    let alias = format!("http://localhost:{port}");
    let updated = bounded(
        cluster
            .member_update(id, [alias.clone()])
            .timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(
        updated.member(id).unwrap().peer_urls(),
        std::slice::from_ref(&alias)
    );
    let listed = bounded(cluster.member_list_linearizable()).await.unwrap();
    assert_eq!(find(listed.members(), &alias).unwrap().id(), id);

    // Remove.
    let removed = bounded(cluster.member_remove(id)).await.unwrap();
    assert!(removed.member(id).is_none());
    let listed = bounded(cluster.member_list_linearizable()).await.unwrap();
    assert_eq!(listed.members().len(), 3);
    assert!(listed.member(id).is_none());
    let again = bounded(cluster.member_remove(id)).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotFound, "{again}");

    // The cluster still works without it.
    bounded(client.kv().put("/cluster-test/after", "ok"))
        .await
        .unwrap();
}
