//! The barrier, double barrier, FIFO queue, priority queue and read/write mutex recipes
//! against real etcd: waits that wake on the change they wait for, items delivered once
//! to racing consumers, readers sharing and writers excluding, and participants or
//! holders whose lease is revoked dropping out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use common::{bounded, server};
use etcdkit::{Client, ErrorKind};
use etcdkit_recipes::barrier::Barrier;
use etcdkit_recipes::double_barrier::{DoubleBarrier, Entered};
use etcdkit_recipes::priority_queue::PriorityQueue;
use etcdkit_recipes::rwmutex::{Mode, RwGuard, RwMutex};
use etcdkit_recipes::session::Session;
use etcdkit_recipes::work_queue::Queue;
use etcdkit_testkit::EtcdServer;
use tokio::task::JoinHandle;

/// How long a waiter is given to (wrongly) finish before the test says it still waits.
const SETTLE: Duration = Duration::from_millis(500);

/// The timeout of a wait that a test expects to end.
const WAIT: Duration = Duration::from_secs(20);

async fn session(client: &Client) -> Session {
    bounded(Session::builder(client).ttl(Duration::from_secs(30)))
        .await
        .unwrap()
}

/// Asserts that `task` is still running after [`SETTLE`].
async fn still_waiting<T>(task: &JoinHandle<T>, what: &str) {
    tokio::time::sleep(SETTLE).await;
    assert!(!task.is_finished(), "{what} finished too early");
}

async fn holds(client: &Client, guard: &RwGuard) -> bool {
    bounded(client.kv().txn().when([guard.compare()]))
        .await
        .unwrap()
        .succeeded()
}

// ---- Barrier ----

#[tokio::test]
async fn barrier_wait_returns_at_once_when_free_and_wakes_on_release() {
    let (_etcd, client) = server().await;
    let barrier = Barrier::new(&client, "sr-barrier/b");
    bounded(barrier.wait()).await.unwrap();
    assert!(!bounded(barrier.is_held()).await.unwrap());

    bounded(barrier.hold()).await.unwrap();
    let err = bounded(barrier.hold()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    let err = bounded(barrier.wait().timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Barrier::new(&client, "sr-barrier/b");
            tokio::spawn(async move { barrier.wait().timeout(WAIT).await })
        })
        .collect();
    for waiter in &waiters {
        still_waiting(waiter, "a wait on a held barrier").await;
    }
    assert!(bounded(barrier.release()).await.unwrap());
    for waiter in waiters {
        bounded(waiter).await.unwrap().unwrap();
    }
    assert!(!bounded(barrier.release()).await.unwrap());
}

#[tokio::test]
async fn barrier_held_with_a_lease_is_released_when_the_lease_is_revoked() {
    let (_etcd, client) = server().await;
    let holder = session(&client).await;
    let barrier = Barrier::new(&client, "sr-barrier-lease/b");
    bounded(barrier.hold_with_lease(holder.lease_id()))
        .await
        .unwrap();
    let waiter = {
        let barrier = barrier.clone();
        tokio::spawn(async move { barrier.wait().timeout(WAIT).await })
    };
    still_waiting(&waiter, "a wait on a held barrier").await;
    bounded(client.lease().revoke(holder.lease_id()))
        .await
        .unwrap();
    bounded(waiter).await.unwrap().unwrap();
    assert!(!bounded(barrier.is_held()).await.unwrap());
}

// ---- Double barrier ----

/// A participant entering `name` (of `count`) on a session of its own, in a task that
/// hands back the session with what `enter` returned.
async fn participant(
    client: &Client,
    name: &'static str,
    count: usize,
) -> JoinHandle<(Session, etcdkit::Result<Entered>)> {
    let session = session(client).await;
    tokio::spawn(async move {
        let entered = DoubleBarrier::new(&session, name, count)
            .enter()
            .timeout(WAIT)
            .await;
        (session, entered)
    })
}

#[tokio::test]
async fn double_barrier_lets_three_participants_in_together_and_out_together() {
    const NAME: &str = "sr-double/b";
    let (_etcd, client) = server().await;
    let first = participant(&client, NAME, 3).await;
    let second = participant(&client, NAME, 3).await;
    still_waiting(&first, "enter with 1 of 3 in").await;
    still_waiting(&second, "enter with 2 of 3 in").await;
    let third = participant(&client, NAME, 3).await;
    let mut inside = Vec::new();
    for task in [first, second, third] {
        let (session, entered) = bounded(task).await.unwrap();
        inside.push((session, entered.unwrap()));
    }

    // A fourth finds the barrier full and takes its key back out.
    let late = session(&client).await;
    let err = bounded(DoubleBarrier::new(&late, NAME, 3).enter())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let waiters = bounded(client.kv().get(format!("{NAME}/waiters/")).prefix())
        .await
        .unwrap();
    assert_eq!(waiters.kvs().len(), 3);

    let (last_session, last) = inside.pop().unwrap();
    let leaving: Vec<_> = inside
        .into_iter()
        .map(|(session, entered)| {
            tokio::spawn(async move { (session, entered.leave().timeout(WAIT).await) })
        })
        .collect();
    for task in &leaving {
        still_waiting(task, "leave with one participant still in").await;
    }
    bounded(last.leave()).await.unwrap();
    for task in leaving {
        bounded(task).await.unwrap().1.unwrap();
    }
    let left = bounded(client.kv().get(format!("{NAME}/")).prefix())
        .await
        .unwrap();
    assert!(left.kvs().is_empty(), "keys left behind: {:?}", left.kvs());
    drop(last_session);
}

#[tokio::test]
async fn double_barrier_leave_ends_when_a_dead_participants_lease_is_revoked() {
    const NAME: &str = "sr-double-dead/b";
    let (_etcd, client) = server().await;
    let one = participant(&client, NAME, 2).await;
    let two = participant(&client, NAME, 2).await;
    let (_one_session, one) = bounded(one).await.unwrap();
    let (two_session, _two) = bounded(two).await.unwrap();
    let leaving = tokio::spawn(one.unwrap().leave().timeout(WAIT).into_future());
    still_waiting(&leaving, "leave while the other participant is in").await;
    // The other participant dies: its key goes with its lease, and the leave ends.
    bounded(client.lease().revoke(two_session.lease_id()))
        .await
        .unwrap();
    bounded(leaving).await.unwrap().unwrap();
}

#[tokio::test]
async fn double_barrier_enter_that_times_out_takes_its_key_back_out() {
    const NAME: &str = "sr-double-timeout/b";
    let (_etcd, client) = server().await;
    let alone = session(&client).await;
    let barrier = DoubleBarrier::new(&alone, NAME, 2);
    let err = bounded(barrier.enter().timeout(Duration::from_millis(300)))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let left = bounded(client.kv().get(format!("{NAME}/")).prefix())
        .await
        .unwrap();
    assert!(left.kvs().is_empty(), "keys left behind: {:?}", left.kvs());
    // A barrier of 0 participants is refused.
    let err = bounded(DoubleBarrier::new(&alone, "sr-double-zero/b", 0).enter())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

// ---- FIFO queue ----

#[tokio::test]
async fn queue_gives_a_single_consumer_its_items_in_fifo_order() {
    let (_etcd, client) = server().await;
    let queue = Queue::new(&client, "sr-fifo/q");
    for i in 0..10 {
        bounded(queue.enqueue(format!("item-{i}"))).await.unwrap();
    }
    assert_eq!(bounded(queue.len()).await.unwrap(), 10);
    for i in 0..10 {
        let item = bounded(queue.dequeue()).await.unwrap();
        assert_eq!(item.value(), format!("item-{i}").as_bytes());
    }
    assert!(bounded(queue.try_dequeue()).await.unwrap().is_none());
    let err = bounded(queue.dequeue().timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn queue_dequeue_waits_for_the_next_enqueue() {
    let (_etcd, client) = server().await;
    let consumer = {
        let queue = Queue::new(&client, "sr-fifo-wait/q");
        tokio::spawn(async move { queue.dequeue().timeout(WAIT).await })
    };
    still_waiting(&consumer, "a dequeue of an empty queue").await;
    bounded(Queue::new(&client, "sr-fifo-wait/q").enqueue("late"))
        .await
        .unwrap();
    let item = bounded(consumer).await.unwrap().unwrap();
    assert_eq!(item.value().as_ref(), b"late");
}

/// Which queue a [`consumer`] takes from.
#[derive(Clone, Copy)]
enum Kind {
    Fifo(&'static str),
    Priority(&'static str),
}

/// A consumer that takes items until none comes within two seconds, and returns their
/// numbers in the order it took them.
fn consumer(client: Client, kind: Kind) -> JoinHandle<Vec<u32>> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            let taken = match kind {
                Kind::Fifo(name) => {
                    Queue::new(&client, name)
                        .dequeue()
                        .timeout(Duration::from_secs(2))
                        .await
                }
                Kind::Priority(name) => {
                    PriorityQueue::new(&client, name)
                        .dequeue()
                        .timeout(Duration::from_secs(2))
                        .await
                }
            };
            match taken {
                Ok(item) => got.push(std::str::from_utf8(item.value()).unwrap().parse().unwrap()),
                Err(e) if e.kind() == ErrorKind::Timeout => return got,
                Err(e) => panic!("dequeue failed: {e}"),
            }
        }
    })
}

/// Another client of `etcd`, for a consumer of its own.
async fn client_of(etcd: &EtcdServer) -> Client {
    bounded(common::options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap()
}

/// Every item delivered once: the two consumers' items together are each number once.
fn assert_each_once(a: &[u32], b: &[u32], n: u32) {
    let mut all: Vec<u32> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let expected: Vec<u32> = (0..n).collect();
    assert_eq!(all, expected, "items lost or delivered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_delivers_each_item_exactly_once_to_two_racing_consumers() {
    const N: u32 = 60;
    const NAME: &str = "sr-fifo-race/q";
    let (etcd, client) = server().await;
    let queue = Queue::new(&client, NAME);
    // Half the items are there before the consumers start (they race for the same
    // oldest item), half arrive while they wait (they race for each new one).
    for i in 0..N / 2 {
        bounded(queue.enqueue(i.to_string())).await.unwrap();
    }
    let (ca, cb) = (client_of(&etcd).await, client_of(&etcd).await);
    let a = consumer(ca, Kind::Fifo(NAME));
    let b = consumer(cb, Kind::Fifo(NAME));
    for i in N / 2..N {
        bounded(queue.enqueue(i.to_string())).await.unwrap();
    }
    let (a, b) = (bounded(a).await.unwrap(), bounded(b).await.unwrap());
    assert_each_once(&a, &b, N);
    // One producer, oldest first: each consumer sees its items in enqueue order.
    assert!(a.windows(2).all(|w| w[0] < w[1]), "out of order: {a:?}");
    assert!(b.windows(2).all(|w| w[0] < w[1]), "out of order: {b:?}");
    assert!(bounded(queue.is_empty()).await.unwrap());
}

// ---- Priority queue ----

#[tokio::test]
async fn priority_queue_gives_the_lowest_priority_first_then_the_oldest() {
    let (_etcd, client) = server().await;
    let queue = PriorityQueue::new(&client, "sr-prio/q");
    for (value, priority) in [
        ("a", 5),
        ("b", 1),
        ("c", 5),
        ("d", 0),
        ("e", 1),
        ("f", u16::MAX),
        ("g", 10),
    ] {
        bounded(queue.enqueue(value, priority)).await.unwrap();
    }
    let mut order = Vec::new();
    while let Some(item) = bounded(queue.try_dequeue()).await.unwrap() {
        order.push((
            String::from_utf8_lossy(item.value()).into_owned(),
            item.priority().unwrap(),
        ));
    }
    let expected: Vec<(String, u16)> = [
        ("d", 0),
        ("b", 1),
        ("e", 1),
        ("a", 5),
        ("c", 5),
        ("g", 10),
        ("f", u16::MAX),
    ]
    .into_iter()
    .map(|(v, p)| (v.to_string(), p))
    .collect();
    assert_eq!(order, expected);

    // A waiting dequeue gets the next item enqueued.
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.dequeue().timeout(WAIT).await })
    };
    still_waiting(&waiting, "a dequeue of an empty priority queue").await;
    bounded(queue.enqueue("h", 3)).await.unwrap();
    let item = bounded(waiting).await.unwrap().unwrap();
    assert_eq!(
        (item.value().as_ref(), item.priority()),
        (&b"h"[..], Some(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn priority_queue_delivers_each_item_exactly_once_to_two_racing_consumers() {
    const N: u32 = 40;
    const NAME: &str = "sr-prio-race/q";
    let (etcd, client) = server().await;
    let queue = PriorityQueue::new(&client, NAME);
    for i in 0..N {
        // Priorities in the reverse order of the values, a few per priority.
        let priority = u16::try_from((N - i) / 4).unwrap();
        bounded(queue.enqueue(i.to_string(), priority))
            .await
            .unwrap();
    }
    let (ca, cb) = (client_of(&etcd).await, client_of(&etcd).await);
    let a = consumer(ca, Kind::Priority(NAME));
    let b = consumer(cb, Kind::Priority(NAME));
    let (a, b) = (bounded(a).await.unwrap(), bounded(b).await.unwrap());
    assert_each_once(&a, &b, N);
}

// ---- Read/write mutex ----

#[tokio::test]
async fn rwmutex_lets_two_readers_hold_at_once() {
    let (_etcd, client) = server().await;
    let (s1, s2) = (session(&client).await, session(&client).await);
    let r1 = bounded(RwMutex::new(&s1, "sr-rw-readers/l").read_lock())
        .await
        .unwrap();
    let r2 = bounded(RwMutex::new(&s2, "sr-rw-readers/l").read_lock())
        .await
        .unwrap();
    assert_eq!((r1.mode(), r2.mode()), (Mode::Read, Mode::Read));
    assert!(holds(&client, &r1).await && holds(&client, &r2).await);
    // A second read lock of the same session's name is refused, not queued.
    let err = bounded(RwMutex::new(&s1, "sr-rw-readers/l").read_lock())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(bounded(r1.unlock()).await.unwrap());
    assert!(bounded(r2.unlock()).await.unwrap());
}

/// A lock of `mode` on `name`, taken on a session of its own in a task that hands back
/// the session with the guard.
async fn locker(
    client: &Client,
    name: &'static str,
    mode: Mode,
) -> JoinHandle<(Session, etcdkit::Result<RwGuard>)> {
    let session = session(client).await;
    tokio::spawn(async move {
        let lock = RwMutex::new(&session, name);
        let guard = match mode {
            Mode::Read => lock.read_lock().timeout(WAIT).await,
            Mode::Write => lock.write_lock().timeout(WAIT).await,
        };
        (session, guard)
    })
}

#[tokio::test]
async fn rwmutex_writer_waits_until_every_reader_unlocked() {
    const NAME: &str = "sr-rw-writer/l";
    let (_etcd, client) = server().await;
    let (s1, s2) = (session(&client).await, session(&client).await);
    let r1 = bounded(RwMutex::new(&s1, NAME).read_lock()).await.unwrap();
    let r2 = bounded(RwMutex::new(&s2, NAME).read_lock()).await.unwrap();
    let writer = locker(&client, NAME, Mode::Write).await;
    still_waiting(&writer, "a write lock while two readers hold").await;
    let other = session(&client).await;
    let err = bounded(RwMutex::new(&other, NAME).try_write_lock())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");

    assert!(bounded(r1.unlock()).await.unwrap());
    still_waiting(&writer, "a write lock while one reader holds").await;
    let reader_token = r2.fencing_token();
    assert!(bounded(r2.unlock()).await.unwrap());
    let (_writer_session, w) = bounded(writer).await.unwrap();
    let w = w.unwrap();
    assert_eq!(w.mode(), Mode::Write);
    assert!(w.fencing_token() > reader_token);
    assert!(holds(&client, &w).await);
    assert!(bounded(w.unlock()).await.unwrap());
}

#[tokio::test]
async fn rwmutex_readers_wait_until_the_writer_unlocked() {
    const NAME: &str = "sr-rw-readers-wait/l";
    let (_etcd, client) = server().await;
    let s = session(&client).await;
    let w = bounded(RwMutex::new(&s, NAME).write_lock()).await.unwrap();
    let readers = [
        locker(&client, NAME, Mode::Read).await,
        locker(&client, NAME, Mode::Read).await,
    ];
    for reader in &readers {
        still_waiting(reader, "a read lock while a writer holds").await;
    }
    let other = session(&client).await;
    let err = bounded(RwMutex::new(&other, NAME).try_read_lock())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    assert!(bounded(w.unlock()).await.unwrap());
    let mut guards = Vec::new();
    for reader in readers {
        let (session, guard) = bounded(reader).await.unwrap();
        guards.push((session, guard.unwrap()));
    }
    // Both readers hold at once.
    for (_, guard) in &guards {
        assert!(holds(&client, guard).await);
    }
}

#[tokio::test]
async fn rwmutex_writer_whose_lease_is_revoked_frees_the_lock_for_a_reader() {
    const NAME: &str = "sr-rw-revoked/l";
    let (_etcd, client) = server().await;
    let s = session(&client).await;
    let w = bounded(RwMutex::new(&s, NAME).write_lock()).await.unwrap();
    let reader = locker(&client, NAME, Mode::Read).await;
    still_waiting(&reader, "a read lock while a writer holds").await;
    bounded(client.lease().revoke(s.lease_id())).await.unwrap();
    let (_reader_session, r) = bounded(reader).await.unwrap();
    let r = r.unwrap();
    assert!(holds(&client, &r).await);
    assert!(
        !holds(&client, &w).await,
        "the revoked writer's compare still holds"
    );
    bounded(w.lost()).await;
}

#[tokio::test]
async fn rwmutex_wait_that_times_out_takes_its_key_back_out() {
    const NAME: &str = "sr-rw-timeout/l";
    let (_etcd, client) = server().await;
    let (s1, s2) = (session(&client).await, session(&client).await);
    let w = bounded(RwMutex::new(&s1, NAME).write_lock()).await.unwrap();
    let err = bounded(
        RwMutex::new(&s2, NAME)
            .read_lock()
            .timeout(Duration::from_millis(300)),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let keys = bounded(client.kv().get(format!("{NAME}/")).prefix())
        .await
        .unwrap();
    assert_eq!(keys.kvs().len(), 1, "the timed-out reader left its key");
    assert!(bounded(w.unlock()).await.unwrap());
    let r = bounded(RwMutex::new(&s2, NAME).try_read_lock())
        .await
        .unwrap();
    assert!(bounded(r.unlock()).await.unwrap());
}

#[tokio::test]
async fn rwmutex_dropped_read_guard_lets_the_waiting_writer_in() {
    const NAME: &str = "sr-rw-drop/l";
    let (_etcd, client) = server().await;
    let s = session(&client).await;
    let r = bounded(RwMutex::new(&s, NAME).read_lock()).await.unwrap();
    let writer = locker(&client, NAME, Mode::Write).await;
    still_waiting(&writer, "a write lock while a reader holds").await;
    // Dropped, not unlocked: the session's releaser deletes the key in the background.
    drop(r);
    let (_writer_session, w) = bounded(writer).await.unwrap();
    let w = w.unwrap();
    assert!(holds(&client, &w).await);
    assert!(bounded(w.unlock()).await.unwrap());
}
