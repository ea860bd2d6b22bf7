//! The election recipe against real etcd: three candidates, leaders whose sessions end,
//! observers that see every change in order, stale proclaims, a campaign whose session
//! is lost, and the server's Election service seeing the same election.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::bounded;
use std::time::Duration;

use etcdkit::{Client, ClientOptions, ErrorKind};
use etcdkit_recipes::election::{Election, LeaderEvent, Observer};
use etcdkit_recipes::session::Session;
use etcdkit_testkit::EtcdServer;
use futures_util::StreamExt;

async fn setup() -> (EtcdServer, Client) {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = bounded(
        common::in_process(
            ClientOptions::new(vec![etcd.endpoint()]).request_timeout(Duration::from_secs(10)),
            &[etcd.endpoint()],
        )
        .connect(),
    )
    .await
    .unwrap();
    (etcd, client)
}

async fn session(client: &Client) -> Session {
    bounded(Session::builder(client).ttl(Duration::from_secs(30)))
        .await
        .unwrap()
}

/// The next event's value, `None` for no leader.
async fn next_value(observer: &mut Observer) -> Option<String> {
    match bounded(observer.next()).await.unwrap().unwrap() {
        LeaderEvent::Leader(kv) => Some(kv.value_str().unwrap().to_string()),
        LeaderEvent::NoLeader => None,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn three_candidates_succeed_each_other_and_observers_see_every_change() {
    let (_etcd, client) = setup().await;
    let (a, b, c) = (
        session(&client).await,
        session(&client).await,
        session(&client).await,
    );
    let (ea, eb, ec) = (
        Election::new(&a, "el-three"),
        Election::new(&b, "el-three"),
        Election::new(&c, "el-three"),
    );
    let mut observers = [ea.observe(), eb.observe()];
    for o in &mut observers {
        assert_eq!(next_value(o).await, None);
    }
    assert!(bounded(ea.leader()).await.unwrap().is_none());

    let leader_a = bounded(ea.campaign("a")).await.unwrap();
    let campaign_b = tokio::spawn({
        let eb = eb.clone();
        async move { eb.campaign("b").await }
    });
    // B queues before C, so it is elected first.
    bounded(async {
        while client
            .kv()
            .get("el-three/")
            .prefix()
            .await
            .unwrap()
            .kvs()
            .len()
            < 2
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let campaign_c = tokio::spawn({
        let ec = ec.clone();
        async move { ec.campaign("c").await }
    });
    bounded(leader_a.proclaim("a2")).await.unwrap();
    let current = bounded(ea.leader()).await.unwrap().unwrap();
    assert_eq!(current.value_str(), Some("a2"));
    assert_eq!(current.create_revision(), leader_a.revision());

    // The server's Election service sees the same election.
    let server_view = bounded(client.election().leader("el-three")).await.unwrap();
    assert_eq!(server_view.leader_key("el-three"), leader_a.leader_key());

    // A's session ends: B is elected.
    let stale = leader_a.compare();
    bounded(a.close()).await.unwrap();
    bounded(leader_a.lost()).await;
    let leader_b = bounded(campaign_b).await.unwrap().unwrap();
    assert!(leader_b.revision() > leader_a.revision());
    let err = bounded(leader_a.proclaim("stale")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotElectionLeader, "{err}");
    assert!(
        !bounded(client.kv().txn().when([stale]))
            .await
            .unwrap()
            .succeeded()
    );
    // The former leader's resignation ends nothing.
    assert!(!bounded(leader_a.resign()).await.unwrap());
    assert_eq!(
        bounded(eb.leader()).await.unwrap().unwrap().value_str(),
        Some("b")
    );

    // B's session ends: C is elected; then C resigns.
    bounded(b.close()).await.unwrap();
    let leader_c = bounded(campaign_c).await.unwrap().unwrap();
    bounded(leader_c.proclaim("c2")).await.unwrap();
    assert!(bounded(leader_c.resign()).await.unwrap());

    for o in &mut observers {
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(next_value(o).await);
        }
        let expected = [
            Some("a"),
            Some("a2"),
            Some("b"),
            Some("c"),
            Some("c2"),
            None,
        ]
        .map(|v| v.map(str::to_string));
        assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn a_campaign_ends_with_the_typed_error_when_its_session_is_lost() {
    let (_etcd, client) = setup().await;
    let (a, b) = (session(&client).await, session(&client).await);
    let leader = bounded(Election::new(&a, "el-lost").campaign("a"))
        .await
        .unwrap();
    let eb = Election::new(&b, "el-lost");
    let waiting = tokio::spawn(async move { eb.campaign("b").await.map(|_| ()) });
    bounded(async {
        while client
            .kv()
            .get("el-lost/")
            .prefix()
            .await
            .unwrap()
            .kvs()
            .len()
            < 2
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    bounded(client.lease().revoke(b.lease_id())).await.unwrap();
    let err = bounded(waiting).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionLost, "{err}");

    // A dropped leadership resigns in the background.
    let watcher = Election::new(&a, "el-lost");
    let mut observer = watcher.observe();
    assert_eq!(next_value(&mut observer).await, Some("a".to_string()));
    drop(leader);
    assert_eq!(next_value(&mut observer).await, None);
}

#[tokio::test]
async fn a_campaign_with_a_timeout_gives_up_and_withdraws_its_key() {
    let (_etcd, client) = setup().await;
    let (a, b) = (session(&client).await, session(&client).await);
    let leader = bounded(Election::new(&a, "el-timeout").campaign("a"))
        .await
        .unwrap();
    let eb = Election::new(&b, "el-timeout");
    let err = bounded(eb.campaign("b").timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // Only the leader's key is left, and it still leads.
    let queue = bounded(client.kv().get("el-timeout/").prefix())
        .await
        .unwrap();
    assert_eq!(queue.kvs().len(), 1);
    assert_eq!(queue.kvs()[0].key(), leader.key());
    bounded(eb.released()).await.unwrap();

    // The same session campaigns again, with time enough, and leads once `a` resigns.
    let waiting = tokio::spawn(async move {
        let won = eb.campaign("b").timeout(Duration::from_secs(20)).await;
        won.map(|leadership| (leadership, eb))
    });
    assert!(bounded(leader.resign()).await.unwrap());
    let (leadership, eb) = bounded(waiting).await.unwrap().unwrap();
    assert_eq!(
        bounded(eb.leader())
            .await
            .unwrap()
            .map(|kv| kv.value().to_vec()),
        Some(b"b".to_vec())
    );
    assert!(bounded(leadership.resign()).await.unwrap());
}
