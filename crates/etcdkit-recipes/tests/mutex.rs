//! The mutex recipe against real etcd: contention with a fenced counter, a holder whose
//! lease is revoked from outside, a waiter whose session is lost, try_lock, drop, fenced
//! unlock, a lock timeout, an unlock cut off by a frozen member, a 3-member cluster
//! losing members under a held lock, and a holder whose member is partitioned from its
//! peers. (The interleavings of unknown outcomes that need a seam are unit tests in
//! `src/mutex.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::bounded;
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use etcdkit::kv::{Compare, Put};
use etcdkit::{Client, ClientOptions, ErrorKind, Revision};
use etcdkit_recipes::mutex::{LostCause, Mutex, ReleaseState};
use etcdkit_recipes::session::Session;
use etcdkit_testkit::{EtcdCluster, EtcdServer};
use futures_util::FutureExt;

async fn connect(endpoints: Vec<String>) -> Client {
    let options = ClientOptions::new(endpoints.clone())
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(10))
        .keepalive_interval(Duration::from_millis(500))
        .keepalive_timeout(Duration::from_secs(1));
    bounded(common::in_process(options, &endpoints).connect())
        .await
        .unwrap()
}

async fn session(client: &Client, ttl: u64) -> Session {
    bounded(Session::builder(client).ttl(Duration::from_secs(ttl)))
        .await
        .unwrap()
}

/// Reads the counter and writes it plus one, fenced by the lock only (no compare on the
/// counter itself): overlapping holders would lose increments.
async fn fenced_increment(client: &Client, key: &str, fence: Compare) -> bool {
    let current = client.kv().get(key.to_string()).await.unwrap();
    let n: u64 = current
        .first()
        .map(|kv| kv.value_str().unwrap().parse().unwrap())
        .unwrap_or(0);
    client
        .kv()
        .txn()
        .when([fence])
        .and_then([Put::new(key.to_string(), (n + 1).to_string())])
        .await
        .unwrap()
        .succeeded()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_clients_contend_with_an_exact_fenced_counter_in_queue_order() {
    const CLIENTS: usize = 8;
    const CYCLES: usize = 200;
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let grants = Arc::new(std::sync::Mutex::new(Vec::<Revision>::new()));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = connect(vec![etcd.endpoint()]).await;
        let session = session(&client, 30).await;
        let (holders, grants) = (holders.clone(), grants.clone());
        tasks.push(tokio::spawn(async move {
            let mutex = Mutex::new(&session, "mx-cont/lock");
            for _ in 0..CYCLES {
                let guard = bounded(mutex.lock()).await.unwrap();
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                grants.lock().unwrap().push(guard.fencing_token());
                let written = bounded(fenced_increment(
                    &client,
                    "mx-cont/counter",
                    guard.compare(),
                ))
                .await;
                assert!(written, "a fenced write of the holder failed");
                holders.fetch_sub(1, Ordering::SeqCst);
                assert!(bounded(guard.unlock()).await.unwrap());
            }
            session
        }));
    }
    for task in tasks {
        let session = tokio::time::timeout(Duration::from_secs(600), task)
            .await
            .expect("contention did not finish in time")
            .unwrap();
        bounded(session.close()).await.unwrap();
    }
    let client = connect(vec![etcd.endpoint()]).await;
    let counter = bounded(client.kv().get("mx-cont/counter")).await.unwrap();
    assert_eq!(
        counter.first().unwrap().value_str(),
        Some((CLIENTS * CYCLES).to_string().as_str())
    );
    let grants = grants.lock().unwrap().clone();
    assert_eq!(grants.len(), CLIENTS * CYCLES);
    assert!(
        grants.windows(2).all(|w| w[0] < w[1]),
        "grants out of creation-revision order"
    );
    let left = bounded(client.kv().get("mx-cont/lock/").prefix())
        .await
        .unwrap();
    assert!(left.kvs().is_empty(), "lock keys left behind");
}

#[tokio::test]
async fn a_holder_whose_lease_is_revoked_loses_the_lock_to_the_next_waiter() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = connect(vec![etcd.endpoint()]).await;
    let (a, b) = (session(&client, 30).await, session(&client, 30).await);
    let guard_a = bounded(Mutex::new(&a, "mx-rev/lock").lock()).await.unwrap();
    let mutex_b = Mutex::new(&b, "mx-rev/lock");
    let waiting = tokio::spawn(async move { mutex_b.lock().await.map(|g| (g, mutex_b)) });

    bounded(client.lease().revoke(a.lease_id())).await.unwrap();
    let cause = bounded(guard_a.lost()).await;
    assert!(
        matches!(cause, LostCause::KeyGone | LostCause::Session(_)),
        "{cause}"
    );
    let (guard_b, _mutex_b) = bounded(waiting).await.unwrap().unwrap();
    assert!(guard_b.fencing_token() > guard_a.fencing_token());

    // The old holder's fenced write is rejected; the new holder's goes through.
    assert!(
        !bounded(fenced_increment(
            &client,
            "mx-rev/counter",
            guard_a.compare()
        ))
        .await
    );
    assert!(
        bounded(fenced_increment(
            &client,
            "mx-rev/counter",
            guard_b.compare()
        ))
        .await
    );
    // The old holder's unlock deletes nothing.
    assert!(!bounded(guard_a.unlock()).await.unwrap());
    let held = bounded(client.txn_holds(guard_b.compare())).await;
    assert!(held);
    assert!(bounded(guard_b.unlock()).await.unwrap());
}

trait Holds {
    async fn txn_holds(&self, compare: Compare) -> bool;
}

impl Holds for Client {
    async fn txn_holds(&self, compare: Compare) -> bool {
        self.kv().txn().when([compare]).await.unwrap().succeeded()
    }
}

#[tokio::test]
async fn unlock_never_deletes_a_newer_key_of_the_same_session() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = connect(vec![etcd.endpoint()]).await;
    let s = session(&client, 30).await;
    let mutex = Mutex::new(&s, "mx-fence/lock");
    let old = bounded(mutex.lock()).await.unwrap();
    // Someone deletes the key by hand; the session locks again under the same key.
    bounded(client.kv().delete(old.key().clone()))
        .await
        .unwrap();
    assert!(matches!(bounded(old.lost()).await, LostCause::KeyGone));
    let new = bounded(mutex.lock()).await.unwrap();
    assert_eq!(new.key(), old.key());
    assert!(new.fencing_token() > old.fencing_token());
    assert!(!bounded(old.unlock()).await.unwrap());
    assert!(bounded(client.txn_holds(new.compare())).await);
    // A second place in the queue for the same session and name is refused.
    let err = bounded(mutex.try_lock()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(bounded(new.unlock()).await.unwrap());
}

#[tokio::test]
async fn a_dropped_guard_does_not_stand_in_the_way_of_its_sessions_next_lock() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = connect(vec![etcd.endpoint()]).await;
    let s = session(&client, 30).await;
    let mutex = Mutex::new(&s, "mx-relock/lock");
    for _ in 0..20 {
        let guard = bounded(mutex.lock()).await.unwrap();
        drop(guard);
    }
    let guard = bounded(mutex.try_lock()).await.unwrap();
    assert!(bounded(guard.unlock()).await.unwrap());
    let left = bounded(client.kv().get("mx-relock/lock/").prefix())
        .await
        .unwrap();
    assert!(left.kvs().is_empty());
}

#[tokio::test]
async fn try_lock_drop_and_a_waiter_whose_session_is_lost() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = connect(vec![etcd.endpoint()]).await;
    let (a, b, c) = (
        session(&client, 30).await,
        session(&client, 30).await,
        session(&client, 30).await,
    );
    let guard_a = bounded(Mutex::new(&a, "mx-wait/lock").lock())
        .await
        .unwrap();
    let err = bounded(Mutex::new(&b, "mx-wait/lock").try_lock())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    // try_lock left no key behind: the queue holds only the holder.
    let queue = bounded(client.kv().get("mx-wait/lock/").prefix())
        .await
        .unwrap();
    assert_eq!(queue.kvs().len(), 1);

    // B waits; its session's lease is revoked: the wait ends with the typed error.
    let mutex_b = Mutex::new(&b, "mx-wait/lock");
    let waiting_b = tokio::spawn(async move { mutex_b.lock().await.map(|_| ()) });
    bounded(async {
        loop {
            let q = client.kv().get("mx-wait/lock/").prefix().await.unwrap();
            if q.kvs().len() == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    bounded(client.lease().revoke(b.lease_id())).await.unwrap();
    let err = bounded(waiting_b).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionLost, "{err}");

    // C waits; A's guard is dropped: C gets the lock without A unlocking.
    let mutex_c = Mutex::new(&c, "mx-wait/lock");
    let waiting_c = tokio::spawn(async move { mutex_c.lock().await.map(|g| (g, mutex_c)) });
    drop(guard_a);
    let (guard_c, _mutex_c) = bounded(waiting_c).await.unwrap().unwrap();
    assert!(bounded(client.txn_holds(guard_c.compare())).await);

    // A session lost before locking fails at once.
    bounded(client.lease().revoke(c.lease_id())).await.unwrap();
    bounded(c.lost()).await;
    let err = bounded(Mutex::new(&c, "mx-other").lock())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionLost, "{err}");
}

#[tokio::test]
async fn a_lock_is_kept_while_members_are_lost_and_the_session_survives() {
    if etcdkit_testkit::skip_if_embedded("kills members of a three-member cluster") {
        return;
    }
    let etcd = bounded(
        EtcdCluster::builder()
            .members(3)
            .arg("--grpc-keepalive-min-time=200ms")
            .start(),
    )
    .await
    .unwrap();
    let client = connect(etcd.endpoints()).await;
    let observer = connect(etcd.endpoints()).await;
    let s = session(&client, 10).await;
    let guard = bounded(Mutex::new(&s, "mx-ha/lock").lock()).await.unwrap();
    let mut lost = Box::pin(guard.lost());
    // Whichever member the holder's client uses, losing it keeps the lock.
    for i in 0..etcd.len() {
        etcd.kill(i).unwrap();
        let mut written = false;
        bounded(async {
            // Writes may fail while the cluster elects a new leader; retry until one
            // goes through, fenced by the lock.
            loop {
                let fence = guard.compare();
                if let Ok(r) = client
                    .kv()
                    .txn()
                    .when([fence])
                    .and_then([Put::new("mx-ha/data", format!("{i}"))])
                    .await
                {
                    written = r.succeeded();
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(written, "the lock was lost when member {i} went");
        bounded(etcd.start_member(i)).await.unwrap();
        bounded(etcd.wait_all_healthy(Duration::from_secs(20)))
            .await
            .unwrap();
        assert!(bounded(observer.txn_holds(guard.compare())).await);
    }
    assert!(!s.is_lost());
    assert!(lost.as_mut().now_or_never().is_none());
    drop(lost);
    assert!(bounded(guard.unlock()).await.unwrap());
    let gone = bounded(observer.kv().get("mx-ha/lock/").prefix())
        .await
        .unwrap();
    assert!(gone.kvs().is_empty());
}

#[tokio::test]
async fn a_lock_with_a_timeout_gives_up_and_takes_its_key_back_out_of_the_queue() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = connect(vec![etcd.endpoint()]).await;
    let (a, b) = (session(&client, 30).await, session(&client, 30).await);
    let guard_a = bounded(Mutex::new(&a, "mx-timeout/lock").lock())
        .await
        .unwrap();
    let mutex_b = Mutex::new(&b, "mx-timeout/lock");
    let err = bounded(mutex_b.lock().timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The queue holds only the holder again.
    let queue = bounded(client.kv().get("mx-timeout/lock/").prefix())
        .await
        .unwrap();
    assert_eq!(queue.kvs().len(), 1);
    assert_eq!(queue.kvs()[0].key(), guard_a.key());
    bounded(mutex_b.released()).await.unwrap();

    // The same session waits again, with a timeout long enough this time.
    let waiting = tokio::spawn(async move {
        let guard = mutex_b.lock().timeout(Duration::from_secs(20)).await;
        guard.map(|g| (g, mutex_b))
    });
    assert!(bounded(guard_a.unlock()).await.unwrap());
    let (guard_b, _mutex_b) = bounded(waiting).await.unwrap().unwrap();
    assert!(bounded(client.txn_holds(guard_b.compare())).await);
    assert!(bounded(guard_b.unlock()).await.unwrap());
}

/// The randomized fault runs' first step, with real etcd: the member freezes under
/// `unlock()`, whose delete then fails with an unknown outcome. The key goes to the
/// session's background releaser; the mutex shows the release under way, and once the
/// member answers again the release finishes and `released()` says so. The session's
/// next lock has a fencing token of its own.
#[tokio::test]
async fn an_unlock_cut_off_by_a_frozen_member_is_released_in_the_background_and_awaitable() {
    if etcdkit_testkit::skip_if_embedded("freezes the etcd process (SIGSTOP)") {
        return;
    }
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = bounded(common::options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap();
    let observer = connect(vec![etcd.endpoint()]).await;
    let s = session(&client, 60).await;
    let mutex = Mutex::new(&s, "mx-frozen/lock");
    let guard = bounded(mutex.lock()).await.unwrap();
    let token = guard.fencing_token();

    etcd.stop(0).await.unwrap();
    let err = bounded(guard.unlock()).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert!(
        matches!(
            *mutex.release_state().borrow(),
            ReleaseState::Releasing { fencing_token } if fencing_token == token
        ),
        "{:?}",
        *mutex.release_state().borrow()
    );
    etcd.resume(0).unwrap();

    bounded(mutex.released()).await.unwrap();
    assert!(matches!(
        *mutex.release_state().borrow(),
        ReleaseState::Idle
    ));
    let left = bounded(observer.kv().get(mutex.key().clone()))
        .await
        .unwrap();
    assert!(left.kvs().is_empty(), "the released key is still there");
    let next = bounded(mutex.lock()).await.unwrap();
    assert!(next.fencing_token() > token);
    assert!(bounded(next.unlock()).await.unwrap());
}

/// Sends a put of `value` fenced by `fence` through `client` until etcd answers (errors
/// while the member catches up are retried, within the bound); whether it applied.
async fn fenced_put_once_answered(client: &Client, fence: Compare, value: &str) -> bool {
    bounded(async {
        loop {
            let txn = client
                .kv()
                .txn()
                .when([fence.clone()])
                .and_then([Put::new("mx-part/data".to_string(), value.to_string())]);
            match txn.await {
                Ok(response) => return response.succeeded(),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_holder_whose_member_is_partitioned_loses_the_lock_and_its_fenced_writes_are_refused() {
    if etcdkit_testkit::skip_if_embedded("partitions a member of a three-member cluster") {
        return;
    }
    let cluster = bounded(
        EtcdCluster::builder()
            .members(3)
            .network_faults(true)
            .start(),
    )
    .await
    .unwrap();
    // A reaches only m0; B reaches only the other two.
    let client_a = connect(vec![cluster.endpoint(0).unwrap()]).await;
    let client_b = connect(vec![
        cluster.endpoint(1).unwrap(),
        cluster.endpoint(2).unwrap(),
    ])
    .await;
    // A short TTL, so that A's lease runs out soon once its renewals stop committing.
    let a = session(&client_a, 2).await;
    let b = session(&client_b, 30).await;
    let guard_a = bounded(Mutex::new(&a, "mx-part/lock").lock())
        .await
        .unwrap();
    assert!(fenced_put_once_answered(&client_a, guard_a.compare(), "a-before").await);

    cluster.partition(0).unwrap();
    // m0 can commit nothing, so A's lease expires on the majority and B gets the lock.
    let mutex_b = Mutex::new(&b, "mx-part/lock");
    // A lock whose put broke off with its outcome unknown (the partition reshuffles
    // connections) leaves nothing behind that would block the next try, so try again.
    let guard_b = bounded(async {
        loop {
            match mutex_b.lock().await {
                Ok(guard) => return guard,
                Err(e) if e.is_outcome_unknown() || e.is_retryable() => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("B's lock: {e}"),
            }
        }
    })
    .await;
    assert!(guard_b.fencing_token() > guard_a.fencing_token());
    // While cut off, A's fenced write does not apply (it hangs or fails; bounded here).
    let cut_off = tokio::time::timeout(
        Duration::from_secs(3),
        client_a
            .kv()
            .txn()
            .when([guard_a.compare()])
            .and_then([Put::new(
                "mx-part/data".to_string(),
                "a-cut-off".to_string(),
            )])
            .into_future(),
    )
    .await;
    assert!(
        !matches!(&cut_off, Ok(Ok(r)) if r.succeeded()),
        "a partitioned holder's fenced write applied"
    );
    assert!(fenced_put_once_answered(&client_b, guard_b.compare(), "b").await);

    cluster.heal().unwrap();
    // Once its member is back, A learns it lost the lock, and its fenced write is refused.
    let cause = bounded(guard_a.lost()).await;
    assert!(
        matches!(cause, LostCause::KeyGone | LostCause::Session(_)),
        "{cause}"
    );
    assert!(!fenced_put_once_answered(&client_a, guard_a.compare(), "a-after").await);
    let data = bounded(client_b.kv().get("mx-part/data")).await.unwrap();
    assert_eq!(data.first().unwrap().value_str(), Some("b"));
    assert!(bounded(guard_b.unlock()).await.unwrap());
}
