//! The Lock service of the embedded server (etcd's server-side mutex) through
//! `etcdkit::Client::lock()`, the recipes' mutex (KV, watch and lease) on the embedded
//! server, and one lock sequence run against real etcd and the embedded server alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, embedded, options};
use etcdkit::{Client, LeaseId};
use etcdkit_recipes::mutex::Mutex;
use etcdkit_recipes::session::Session;
use etcdkit_testkit::EtcdServer;

/// How long a waiter is given to (wrongly) get through before we call it blocked.
const BLOCKED: Duration = Duration::from_millis(300);

async fn grant(c: &Client) -> LeaseId {
    bounded(c.lease().grant(Duration::from_secs(30)))
        .await
        .unwrap()
        .id()
}

/// What a client sees of one lock sequence, with lease IDs replaced by their roles so
/// two servers' runs compare equal.
async fn lock_sequence(c: &Client, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let (l1, l2) = (grant(c).await, grant(c).await);
    let first = bounded(c.lock().lock(name.to_owned(), l1)).await.unwrap();
    let key1 = String::from_utf8(first.key().to_vec()).unwrap();
    seen.push(key1.replace(&format!("{:x}", l1.0), "L1"));
    let kv = bounded(c.kv().get(key1.clone())).await.unwrap();
    seen.push(format!(
        "held key: lease {}, value {:?}, created at header {}",
        kv.kvs()[0].lease() == Some(l1),
        kv.kvs()[0].value(),
        kv.kvs()[0].create_revision() == first.header().revision()
    ));
    let c2 = c.clone();
    let name2 = name.to_owned();
    let mut second = tokio::spawn(async move { c2.lock().lock(name2, l2).await });
    let blocked = tokio::time::timeout(BLOCKED, &mut second).await.is_err();
    seen.push(format!("second blocked while first held: {blocked}"));
    bounded(c.lock().unlock(first.key().clone())).await.unwrap();
    let got = bounded(second).await.unwrap().unwrap();
    seen.push(
        String::from_utf8(got.key().to_vec())
            .unwrap()
            .replace(&format!("{:x}", l2.0), "L2"),
    );
    let missing = bounded(c.lock().lock(name.to_owned(), LeaseId(0x1234_5678)))
        .await
        .unwrap_err();
    seen.push(format!("missing lease: {:?}", missing.kind()));
    bounded(c.lock().unlock(got.key().clone())).await.unwrap();
    seen
}

#[tokio::test]
async fn a_second_lock_waits_until_the_first_is_unlocked() {
    let (_server, c) = embedded().await;
    let seen = lock_sequence(&c, "lk1").await;
    assert_eq!(
        seen,
        [
            "lk1/L1",
            "held key: lease true, value b\"\", created at header true",
            "second blocked while first held: true",
            "lk1/L2",
            "missing lease: LeaseNotFound",
        ]
    );
}

#[tokio::test]
async fn the_lock_sequence_looks_the_same_on_real_etcd() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let real = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    let (_server, ours) = embedded().await;
    let on_etcd = lock_sequence(&real, "lkcmp").await;
    let on_ours = lock_sequence(&ours, "lkcmp").await;
    assert_eq!(on_ours, on_etcd);
}

#[tokio::test]
async fn a_waiting_lock_ends_with_an_error_when_its_lease_is_revoked() {
    let (_server, c) = embedded().await;
    let (l1, l2) = (grant(&c).await, grant(&c).await);
    let _held = bounded(c.lock().lock("lk2", l1)).await.unwrap();
    let c2 = c.clone();
    let mut waiter = tokio::spawn(async move { c2.lock().lock("lk2", l2).await });
    assert!(tokio::time::timeout(BLOCKED, &mut waiter).await.is_err());
    bounded(c.lease().revoke(l2)).await.unwrap();
    let err = bounded(waiter).await.unwrap().unwrap_err();
    assert!(
        err.message().contains("mutex: session is expired"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_lock_wait_given_up_by_the_client_deletes_its_key() {
    let (_server, c) = embedded().await;
    common::given_up_lock_wait_deletes_its_key(&c, "lk3").await;
}

#[tokio::test]
async fn the_same_lease_locking_again_gets_the_same_key_at_once() {
    let (_server, c) = embedded().await;
    let l1 = grant(&c).await;
    let a = bounded(c.lock().lock("lk4", l1)).await.unwrap();
    let b = bounded(c.lock().lock("lk4", l1)).await.unwrap();
    assert_eq!(a.key(), b.key());
}

#[tokio::test]
async fn the_recipes_mutex_excludes_a_second_session_until_unlocked() {
    let (_server, c) = embedded().await;
    let s1 = bounded(Session::new(&c)).await.unwrap();
    let s2 = bounded(Session::new(&c)).await.unwrap();
    let m1 = Mutex::new(&s1, "rmx");
    let m2 = Mutex::new(&s2, "rmx");
    let g1 = bounded(m1.lock()).await.unwrap();
    let waiter = tokio::spawn(async move {
        let g = m2.lock().await;
        (m2, g)
    });
    tokio::time::sleep(BLOCKED).await;
    assert!(!waiter.is_finished(), "the second session got the mutex");
    assert!(bounded(g1.unlock()).await.unwrap());
    let (_m2, g2) = bounded(waiter).await.unwrap();
    let g2 = g2.unwrap();
    assert!(bounded(g2.unlock()).await.unwrap());
}
