//! Sessions against real etcd: default TTL, close revokes, resume, lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::bounded;
use std::time::Duration;

use etcdkit::{ClientOptions, ErrorKind, LeaseId};
use etcdkit_recipes::lease_keeper::LostReason;
use etcdkit_recipes::session::Session;
use etcdkit_testkit::EtcdServer;

async fn setup() -> (EtcdServer, etcdkit::Client) {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = bounded(
        ClientOptions::new(vec![etcd.endpoint()])
            .request_timeout(Duration::from_secs(5))
            .connect(),
    )
    .await
    .unwrap();
    (etcd, client)
}

#[tokio::test]
async fn a_session_has_a_60s_lease_and_close_revokes_it() {
    let (_etcd, client) = setup().await;
    let session = bounded(Session::new(&client)).await.unwrap();
    let id = session.lease_id();
    let ttl = bounded(client.lease().time_to_live(id)).await.unwrap();
    assert_eq!(ttl.granted_ttl(), 60);
    bounded(client.kv().put("sess/a", "1").lease(id))
        .await
        .unwrap();
    assert!(!session.is_lost());
    bounded(session.close()).await.unwrap();
    assert!(
        bounded(client.kv().get("sess/a"))
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
async fn a_session_resumes_an_existing_lease_and_reports_its_loss() {
    let (_etcd, client) = setup().await;
    let first = bounded(Session::builder(&client).ttl(Duration::from_secs(3)))
        .await
        .unwrap();
    let id = first.lease_id();
    drop(first);
    let resumed = bounded(Session::builder(&client).resume(id)).await.unwrap();
    assert_eq!(resumed.lease_id(), id);
    // Kept alive past its TTL by the resumed session.
    let mut events = resumed.events();
    let mut renewals = 0;
    bounded(async {
        use tokio_stream::StreamExt;
        while renewals < 4 {
            if let Some(etcdkit_recipes::lease_keeper::KeeperEvent::KeepaliveSucceeded { .. }) =
                events.next().await
            {
                renewals += 1;
            }
        }
    })
    .await;
    assert!(
        bounded(client.lease().time_to_live(id))
            .await
            .unwrap()
            .ttl()
            > 0
    );
    bounded(client.lease().revoke(id)).await.unwrap();
    assert!(matches!(
        bounded(resumed.lost()).await,
        LostReason::NotFound
    ));
    assert!(resumed.is_lost());

    let err = bounded(Session::builder(&client).resume(LeaseId(0x7777)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound);
}
