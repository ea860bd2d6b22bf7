//! The STM recipe against real etcd: concurrent transfers that never change the total
//! under the three isolation levels that promise it, what read committed promises,
//! retried conflicts, how the levels differ on one interleaving, aborts, prefetching and
//! a namespaced client, and a commit whose reply is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use common::{bounded, server};
use etcdkit::{Client, ErrorKind};
use etcdkit_recipes::stm::{self, Isolation, Options, StmError};
use etcdkit_testkit::EtcdCluster;

const ACCOUNTS: usize = 5;
const START: i64 = 100;
const TASKS: usize = 4;
const TRANSFERS: usize = 12;

fn number(value: Option<Bytes>) -> i64 {
    value
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
        .unwrap_or(0)
}

async fn value(client: &Client, key: &str) -> Option<Bytes> {
    bounded(client.kv().get(key.to_string()))
        .await
        .unwrap()
        .into_kvs()
        .into_iter()
        .next()
        .map(|kv| kv.value().clone())
}

/// Sums every account in one transaction of `isolation`.
async fn total(client: &Client, isolation: Isolation, accounts: &Arc<Vec<String>>) -> i64 {
    let accounts = accounts.clone();
    let options = Options::new().isolation(isolation);
    bounded(stm::run_with(client, options, move |stm| {
        let accounts = accounts.clone();
        async move {
            let mut sum = 0;
            for account in accounts.iter() {
                sum += number(stm.get(account.clone()).await?);
            }
            Ok::<_, etcdkit::Error>(sum)
        }
    }))
    .await
    .unwrap()
}

/// Several tasks move random amounts between random accounts while a reader sums them;
/// every sum, and the final one, is the starting total.
async fn transfers_keep_the_total(isolation: Isolation, prefix: &str) {
    let (_etcd, client) = server().await;
    let accounts: Arc<Vec<String>> =
        Arc::new((0..ACCOUNTS).map(|i| format!("{prefix}/acct{i}")).collect());
    for account in accounts.iter() {
        bounded(client.kv().put(account.clone(), START.to_string()))
            .await
            .unwrap();
    }
    let expected = START * ACCOUNTS as i64;
    let attempts = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (client, accounts, attempts) = (client.clone(), accounts.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..TRANSFERS {
                let from = fastrand::usize(..ACCOUNTS);
                let to = (from + 1 + fastrand::usize(..ACCOUNTS - 1)) % ACCOUNTS;
                let amount = fastrand::i64(1..=10);
                let (a, b) = (accounts[from].clone(), accounts[to].clone());
                let attempts = attempts.clone();
                let options = Options::new().isolation(isolation);
                bounded(stm::run_with(&client, options, move |stm| {
                    let (a, b) = (a.clone(), b.clone());
                    attempts.fetch_add(1, Ordering::Relaxed);
                    async move {
                        let from = number(stm.get(a.clone()).await?);
                        let to = number(stm.get(b.clone()).await?);
                        stm.put(a, (from - amount).to_string());
                        stm.put(b, (to + amount).to_string());
                        Ok::<_, etcdkit::Error>(())
                    }
                }))
                .await
                .unwrap();
            }
        }));
    }
    let reader = {
        let (client, accounts) = (client.clone(), accounts.clone());
        tokio::spawn(async move {
            let mut sums = 0;
            loop {
                assert_eq!(total(&client, isolation, &accounts).await, expected);
                sums += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                if sums > 1000 {
                    return;
                }
            }
        })
    };
    for task in tasks {
        bounded(task).await.unwrap();
    }
    reader.abort();
    assert_eq!(total(&client, isolation, &accounts).await, expected);
    // The final state also adds up when read outside any transaction.
    let mut sum = 0;
    for account in accounts.iter() {
        sum += number(value(&client, account).await);
    }
    assert_eq!(sum, expected);
    let made = attempts.load(Ordering::Relaxed);
    assert!(made >= (TASKS * TRANSFERS) as u32);
    eprintln!(
        "{isolation:?}: {made} attempts for {} transfers",
        TASKS * TRANSFERS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_keep_the_total_under_serializable_snapshot() {
    transfers_keep_the_total(Isolation::SerializableSnapshot, "stm-snap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_keep_the_total_under_serializable() {
    transfers_keep_the_total(Isolation::Serializable, "stm-ser").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_keep_the_total_under_repeatable_reads() {
    transfers_keep_the_total(Isolation::RepeatableReads, "stm-rr").await;
}

/// Runs a one-key increment of `key` under `options`; in the attempts `interfere` says,
/// after the attempt's read, someone else sets the key to 10. Returns the result and the
/// number of attempts.
async fn increment_with_interference(
    client: &Client,
    key: &'static str,
    options: Options,
    interfere: impl Fn(u32) -> bool + Send + Sync + 'static,
) -> (Result<i64, StmError>, u32) {
    let attempts = Arc::new(AtomicU32::new(0));
    let interfere = Arc::new(interfere);
    let result = bounded(stm::run_with(client, options, {
        let (client, attempts) = (client.clone(), attempts.clone());
        move |stm| {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let (client, interfere) = (client.clone(), interfere.clone());
            async move {
                let read = number(stm.get(key).await?);
                if interfere(n) {
                    client.kv().put(key, "10").await?;
                }
                stm.put(key, (read + 1).to_string());
                Ok(read + 1)
            }
        }
    }))
    .await;
    (result, attempts.load(Ordering::Relaxed))
}

#[tokio::test]
async fn a_conflict_is_retried_and_the_retry_reads_the_new_value() {
    let (_etcd, client) = server().await;
    let (result, attempts) =
        increment_with_interference(&client, "stm-retry/n", Options::new(), |n| n == 1).await;
    assert_eq!(result.unwrap(), 11);
    assert_eq!(attempts, 2);
    assert_eq!(number(value(&client, "stm-retry/n").await), 11);
}

#[tokio::test]
async fn max_attempts_gives_up_with_a_conflict_and_writes_nothing() {
    let (_etcd, client) = server().await;
    let options = Options::new().max_attempts(3);
    let (result, attempts) =
        increment_with_interference(&client, "stm-max/n", options, |_| true).await;
    match result {
        Err(StmError::Conflict { attempts: 3 }) => {}
        other => panic!("expected a conflict after 3 attempts, got {other:?}"),
    }
    assert_eq!(attempts, 3);
    assert_eq!(number(value(&client, "stm-max/n").await), 10);
}

#[tokio::test]
async fn read_committed_never_conflicts_and_its_writes_apply_together() {
    let (_etcd, client) = server().await;
    let options = Options::new().isolation(Isolation::ReadCommitted);
    // The read key changes before the commit: read committed does not check, so the
    // increment is based on the old value (a lost update; why it is no good for
    // transfers).
    let (result, attempts) =
        increment_with_interference(&client, "stm-rc/n", options.clone(), |_| true).await;
    assert_eq!(result.unwrap(), 1);
    assert_eq!(attempts, 1);
    assert_eq!(number(value(&client, "stm-rc/n").await), 1);

    // What it promises: committed values only, an attempt's own writes read back, a key
    // read once per attempt, and all writes of an attempt in one revision.
    let outside = client.clone();
    bounded(stm::run_with(&client, options, move |stm| {
        let outside = outside.clone();
        async move {
            let first = stm.get("stm-rc/n").await?;
            outside.kv().put("stm-rc/n", "99").await?;
            assert_eq!(stm.get("stm-rc/n").await?, first);
            stm.put("stm-rc/a", "1");
            stm.put("stm-rc/b", "2");
            stm.delete("stm-rc/n");
            assert_eq!(stm.get("stm-rc/a").await?, Some(Bytes::from("1")));
            assert_eq!(stm.get("stm-rc/n").await?, None);
            Ok::<_, etcdkit::Error>(())
        }
    }))
    .await
    .unwrap();
    let a = bounded(client.kv().get("stm-rc/a")).await.unwrap();
    let b = bounded(client.kv().get("stm-rc/b")).await.unwrap();
    assert_eq!(a.kvs()[0].mod_revision(), b.kvs()[0].mod_revision());
    assert_eq!(value(&client, "stm-rc/n").await, None);
}

/// Reads `a`, lets someone else write `b` in the first attempt, then writes `b` without
/// reading it. Returns the number of attempts.
async fn blind_write_attempts(client: &Client, isolation: Isolation, prefix: &str) -> u32 {
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    let attempts = Arc::new(AtomicU32::new(0));
    let outside = client.clone();
    let counter = attempts.clone();
    bounded(stm::run_with(
        client,
        Options::new().isolation(isolation),
        move |stm| {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let (a, b, outside) = (a.clone(), b.clone(), outside.clone());
            async move {
                stm.get(a).await?;
                if n == 1 {
                    outside.kv().put(b.clone(), "theirs").await?;
                }
                stm.put(b, "ours");
                Ok::<_, etcdkit::Error>(())
            }
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        value(client, &format!("{prefix}/b")).await,
        Some(Bytes::from("ours"))
    );
    attempts.load(Ordering::Relaxed)
}

#[tokio::test]
async fn serializable_snapshot_conflicts_on_a_written_key_changed_since_the_first_read() {
    let (_etcd, client) = server().await;
    assert_eq!(
        blind_write_attempts(&client, Isolation::SerializableSnapshot, "stm-blind-snap").await,
        2
    );
    assert_eq!(
        blind_write_attempts(&client, Isolation::Serializable, "stm-blind-ser").await,
        1
    );
}

/// Reads `a`, lets someone else change `b` (first attempt only), then reads `b`.
async fn second_read(client: &Client, isolation: Isolation, prefix: &str) -> (Bytes, u32) {
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    bounded(client.kv().put(b.clone(), "old")).await.unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let (outside, counter) = (client.clone(), attempts.clone());
    let seen = bounded(stm::run_with(
        client,
        Options::new().isolation(isolation),
        move |stm| {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let (a, b, outside) = (a.clone(), b.clone(), outside.clone());
            async move {
                stm.get(a).await?;
                if n == 1 {
                    outside.kv().put(b.clone(), "new").await?;
                }
                Ok::<_, etcdkit::Error>(stm.get(b).await?.unwrap_or_default())
            }
        },
    ))
    .await
    .unwrap();
    (seen, attempts.load(Ordering::Relaxed))
}

#[tokio::test]
async fn serializable_reads_stay_at_the_first_reads_revision_and_repeatable_reads_do_not() {
    let (_etcd, client) = server().await;
    // A snapshot: the second read sees the store as the first did; read-only, nothing
    // to check.
    assert_eq!(
        second_read(&client, Isolation::Serializable, "stm-pin-ser").await,
        (Bytes::from("old"), 1)
    );
    // Unpinned: the second read sees the latest value, still current at the commit.
    assert_eq!(
        second_read(&client, Isolation::RepeatableReads, "stm-pin-rr").await,
        (Bytes::from("new"), 1)
    );
}

#[tokio::test]
async fn prefetched_keys_are_read_before_the_attempt_at_one_revision() {
    let (_etcd, client) = server().await;
    bounded(client.kv().put("stm-pre/b", "old")).await.unwrap();
    let outside = client.clone();
    let options = Options::new()
        .isolation(Isolation::Serializable)
        .prefetch(["stm-pre/a", "stm-pre/b"]);
    let seen = bounded(stm::run_with(&client, options, move |stm| {
        let outside = outside.clone();
        async move {
            // Changed after the prefetch: the attempt still sees the prefetched value.
            outside.kv().put("stm-pre/b", "new").await?;
            let a = stm.get("stm-pre/a").await?;
            let b = stm.get("stm-pre/b").await?;
            Ok::<_, etcdkit::Error>((a, b))
        }
    }))
    .await
    .unwrap();
    assert_eq!(seen, (None, Some(Bytes::from("old"))));
}

#[tokio::test]
async fn the_closures_error_aborts_and_nothing_is_written() {
    let (_etcd, client) = server().await;
    let result = bounded(stm::run(&client, |stm| async move {
        stm.put("stm-abort/k", "v");
        Err::<(), _>("insufficient funds")
    }))
    .await;
    assert!(matches!(
        result,
        Err(StmError::Aborted("insufficient funds"))
    ));
    assert_eq!(value(&client, "stm-abort/k").await, None);
}

#[tokio::test]
async fn a_handle_kept_past_its_attempt_is_dead() {
    let (_etcd, client) = server().await;
    let kept = bounded(stm::run(&client, |stm| async move {
        Ok::<_, etcdkit::Error>(stm.clone())
    }))
    .await
    .unwrap();
    let err = bounded(kept.get("stm-dead/k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    kept.put("stm-dead/k", "ignored");
    assert_eq!(value(&client, "stm-dead/k").await, None);
}

#[tokio::test]
async fn a_namespaced_client_keeps_the_transaction_under_its_prefix() {
    let (_etcd, client) = server().await;
    let ns = client.namespaced("stm-ns/");
    let (result, attempts) =
        increment_with_interference(&ns, "counter", Options::new(), |n| n == 1).await;
    assert_eq!(result.unwrap(), 11);
    assert_eq!(attempts, 2);
    // Seen from outside the namespace, the key is under the prefix and nowhere else.
    assert_eq!(number(value(&client, "stm-ns/counter").await), 11);
    assert_eq!(value(&client, "counter").await, None);
}

#[tokio::test]
async fn a_commit_whose_reply_is_lost_is_returned_as_an_unknown_outcome_and_not_retried() {
    let cluster = bounded(
        EtcdCluster::builder()
            .members(1)
            .network_faults(true)
            .start(),
    )
    .await
    .unwrap();
    let client = bounded(common::options(vec![cluster.endpoint(0).unwrap()]).connect())
        .await
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let (faults, counter) = (&cluster, attempts.clone());
    let result = bounded(stm::run(&client, move |stm| {
        counter.fetch_add(1, Ordering::Relaxed);
        async move {
            let n = number(stm.get("stm-lost/n").await?);
            stm.put("stm-lost/n", (n + 1).to_string());
            // The commit, sent when this returns, goes into a network that passes nothing.
            faults.blackhole(0).unwrap();
            Ok::<_, etcdkit::Error>(())
        }
    }))
    .await;
    cluster.heal().unwrap();
    match result {
        Err(e @ StmError::OutcomeUnknown(_)) => assert!(e.is_outcome_unknown()),
        other => panic!("expected an unknown outcome, got {other:?}"),
    }
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
}
