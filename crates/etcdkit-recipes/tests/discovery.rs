//! The go-kit model against real etcd: the `KitClient` contract the in-memory client is
//! also held to, Registrar errors, Instancer across a compaction that happened while it
//! was disconnected, round robin evenness, random choice, retry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kit_contract::registrar_and_instancer_behave_alike;
use common::{BOUND, bounded, options, server};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use etcdkit::Client;
use etcdkit_recipes::discovery::{
    AttemptError, Balancer, Endpointer, Error, GaveUp, Instancer, InstancerEvent, Random,
    Registrar, RoundRobin, Service, TtlOption, retry,
};
use etcdkit_testkit::EtcdCluster;
use tokio_stream::StreamExt;

/// Registers `n` instances `prefix<i>` = `addr-<i>`.
async fn register(client: &Client, prefix: &str, n: usize) -> Vec<Registrar> {
    let mut registrars = Vec::new();
    for i in 0..n {
        let r = Registrar::new(
            client,
            Service::new(format!("{prefix}{i}"), format!("addr-{i}")).ttl(TtlOption::new(
                Duration::from_secs(1),
                Duration::from_secs(5),
            )),
        );
        bounded(r.register().unwrap().registered(1)).await.unwrap();
        registrars.push(r);
    }
    registrars
}

fn endpointer(instancer: &Instancer) -> Endpointer<String> {
    Endpointer::new(instancer, |instance| {
        Ok((instance.value_str().unwrap_or_default().to_owned(), None))
    })
}

async fn until_endpoints(endpointer: &Endpointer<String>, n: usize) {
    let mut updates = endpointer.updates();
    bounded(updates.wait_for(|c| *c == n)).await.unwrap();
}

#[tokio::test]
async fn etcd_client_registers_watches_deregisters_and_expires_like_memory() {
    let (_etcd, client) = server().await;
    registrar_and_instancer_behave_alike(&client, "t-kit/").await;
}

#[tokio::test]
async fn registrar_refuses_empty_key_or_value_and_deregisters_at_once() {
    let (_etcd, client) = server().await;
    assert!(matches!(
        Registrar::new(&client, Service::new("", "v")).register(),
        Err(Error::NoKey)
    ));
    assert!(matches!(
        Registrar::new(&client, Service::new("k", "")).register(),
        Err(Error::NoValue)
    ));
    let registrars = register(&client, "t-reg/", 1).await;
    let instancer = Instancer::new(&client, "t-reg/");
    let mut events = instancer.events();
    let first = bounded(events.next()).await.unwrap();
    assert!(matches!(first, InstancerEvent::Instances(ref s) if s.len() == 1));
    bounded(registrars[0].deregister()).await.unwrap();
    let next = bounded(events.next()).await.unwrap();
    assert!(matches!(next, InstancerEvent::Instances(ref s) if s.is_empty()));
}

#[tokio::test]
async fn round_robin_spreads_300_calls_evenly() {
    let (_etcd, client) = server().await;
    let _registrars = register(&client, "t-rr/", 3).await;
    let instancer = Instancer::new(&client, "t-rr/");
    let endpointer = endpointer(&instancer);
    until_endpoints(&endpointer, 3).await;
    let balancer = RoundRobin::new(endpointer.clone());
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..300 {
        *counts.entry(balancer.endpoint().unwrap()).or_default() += 1;
    }
    assert_eq!(counts.len(), 3);
    for (addr, n) in &counts {
        assert!((99..=101).contains(n), "{addr}: {n}");
    }
    // Random picks only from the set, and eventually every member.
    let random = Random::new(endpointer, 7);
    let picked: BTreeSet<String> = (0..300).map(|_| random.endpoint().unwrap()).collect();
    assert_eq!(picked.len(), 3);
}

#[tokio::test]
async fn balancers_without_endpoints_say_so() {
    let (_etcd, client) = server().await;
    let instancer = Instancer::new(&client, "t-none/");
    let endpointer = endpointer(&instancer);
    endpointer.ready().await;
    assert!(matches!(
        RoundRobin::new(endpointer.clone()).endpoint(),
        Err(Error::NoEndpoints)
    ));
    let r = retry(3, Duration::from_secs(1), RoundRobin::new(endpointer));
    let e = r
        .call(|_: String| async { Ok::<_, String>(()) })
        .await
        .unwrap_err();
    assert_eq!(e.attempts(), 3);
    assert!(matches!(
        e.errors[0],
        AttemptError::Balancer(Error::NoEndpoints)
    ));
}

#[tokio::test]
async fn retry_moves_on_after_a_failure_and_gives_up_after_max_or_timeout() {
    let (_etcd, client) = server().await;
    let _registrars = register(&client, "t-retry/", 3).await;
    let instancer = Instancer::new(&client, "t-retry/");
    let endpointer = endpointer(&instancer);
    until_endpoints(&endpointer, 3).await;

    // addr-0 fails: the call moves on to the next instance and succeeds there.
    let r = retry(3, BOUND, RoundRobin::new(endpointer.clone()));
    let tried = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = tried.clone();
    let answer = r
        .call(move |addr: String| {
            let t = t.clone();
            async move {
                t.lock().unwrap().push(addr.clone());
                if addr == "addr-0" {
                    Err(format!("{addr} is down"))
                } else {
                    Ok(addr)
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(answer, "addr-1");
    assert_eq!(*tried.lock().unwrap(), ["addr-0", "addr-1"]);

    // Every call fails: gives up after max attempts, over distinct instances.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let e = r
        .call(move |addr: String| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Err::<(), _>(format!("{addr} failed")) }
        })
        .await
        .unwrap_err();
    assert_eq!(e.gave_up, GaveUp::MaxAttempts);
    assert_eq!(e.attempts(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(e.to_string().contains("failed"), "{e}");

    // A call that never answers: gives up when the timeout passes.
    let r = retry(100, Duration::from_millis(200), RoundRobin::new(endpointer));
    let e = bounded(r.call(|_: String| std::future::pending::<Result<(), String>>()))
        .await
        .unwrap_err();
    assert_eq!(e.gave_up, GaveUp::Timeout);
}

#[tokio::test]
async fn instancer_stays_correct_across_a_compaction_while_disconnected() {
    let cluster = bounded(
        EtcdCluster::builder()
            .members(3)
            .arg("--grpc-keepalive-min-time=200ms")
            .start(),
    )
    .await
    .unwrap();
    // The instancer talks to member 0 only; the writer to the others.
    let watcher = bounded(options(vec![cluster.endpoint(0).unwrap()]).connect())
        .await
        .unwrap();
    let writer = bounded(
        options(vec![
            cluster.endpoint(1).unwrap(),
            cluster.endpoint(2).unwrap(),
        ])
        .connect(),
    )
    .await
    .unwrap();
    for name in ["a", "b"] {
        bounded(writer.kv().put(format!("t-compact/{name}"), name))
            .await
            .unwrap();
    }
    let instancer = Instancer::new(&watcher, "t-compact/");
    let mut events = instancer.events();
    let first = bounded(events.next()).await.unwrap();
    assert!(matches!(first, InstancerEvent::Instances(ref s) if s.len() == 2));

    cluster.kill(0).unwrap();
    // Member 0 may have been the leader: retry each (idempotent) write until the other
    // two have elected a new one.
    let retried = |op: &'static str, key: &'static str, value: &'static str| {
        let writer = writer.clone();
        async move {
            loop {
                let result = if op == "put" {
                    writer
                        .kv()
                        .put(key, value)
                        .await
                        .map(|r| r.header().revision())
                } else {
                    writer.kv().delete(key).await.map(|r| r.header().revision())
                };
                match result {
                    Ok(revision) => return revision,
                    Err(e) => {
                        eprintln!("{op} {key}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    };
    bounded(retried("delete", "t-compact/a", "")).await;
    bounded(retried("put", "t-compact/c", "c")).await;
    bounded(retried("put", "t-compact/b", "b2")).await;
    let last = bounded(retried("put", "t-compact/d", "d")).await;
    bounded(writer.kv().compact(last).physical()).await.unwrap();
    bounded(cluster.restart(0)).await.unwrap();

    let expected = vec![
        ("t-compact/b".to_owned(), "b2".to_owned()),
        ("t-compact/c".to_owned(), "c".to_owned()),
        ("t-compact/d".to_owned(), "d".to_owned()),
    ];
    let pairs = |set: &[etcdkit_recipes::discovery::Instance]| -> Vec<(String, String)> {
        set.iter()
            .map(|i| {
                (
                    String::from_utf8_lossy(i.key()).into_owned(),
                    i.value_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    bounded(async {
        while let Some(event) = events.next().await {
            if let InstancerEvent::Instances(set) = event
                && pairs(&set) == expected
            {
                return;
            }
        }
        panic!("the instancer's stream ended");
    })
    .await;
    assert_eq!(pairs(&instancer.instances()), expected);
}
