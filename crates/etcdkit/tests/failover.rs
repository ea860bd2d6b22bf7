//! The connection layer under faults, against real etcd clusters: killed and frozen
//! members, member auto-sync, unreachable and malformed endpoints, unix socket endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, cluster, options, server};
use etcdkit::{Client, ErrorKind, HealthEvent};
use tokio_stream::StreamExt;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

fn fault_tolerant_options(endpoints: Vec<String>) -> etcdkit::ClientOptions {
    options(endpoints)
        .request_timeout(REQUEST_TIMEOUT)
        .keepalive_interval(Duration::from_millis(500))
        .keepalive_timeout(Duration::from_secs(1))
}

/// What the workload saw.
#[derive(Default)]
struct Tally {
    ops: AtomicU64,
    reads_failed: AtomicU64,
    writes_ok: AtomicU64,
    writes_unknown_or_retryable: AtomicU64,
    writes_other: AtomicU64,
    hung: AtomicU64,
    /// Keys whose write failed definitely: none of them may exist afterwards.
    definitely_failed: std::sync::Mutex<Vec<String>>,
}

async fn workload(client: Client, worker: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let slack = REQUEST_TIMEOUT + Duration::from_secs(3);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Every write is to a key of its own, so its effect can be checked afterwards.
        let key = format!("fo/{worker}/{i}");
        let put = client.kv().put(key.clone(), i.to_string()).into_future();
        match tokio::time::timeout(slack, put).await {
            Err(_) => {
                tally.hung.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Ok(_)) => {
                tally.writes_ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) if e.is_outcome_unknown() => {
                tally
                    .writes_unknown_or_retryable
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) if e.is_retryable() => {
                tally
                    .writes_unknown_or_retryable
                    .fetch_add(1, Ordering::Relaxed);
                tally.definitely_failed.lock().unwrap().push(key.clone());
            }
            Ok(Err(e)) => {
                eprintln!("write failed for good: {e:?}");
                tally.writes_other.fetch_add(1, Ordering::Relaxed);
                tally.definitely_failed.lock().unwrap().push(key.clone());
            }
        }
        match tokio::time::timeout(slack, client.kv().get(key).into_future()).await {
            Err(_) => {
                tally.hung.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                eprintln!("read failed: {e:?}");
                tally.reads_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tally.ops.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

/// Waits until the workload has done `n` more rounds.
async fn progress(tally: &Tally, n: u64) {
    let target = tally.ops.load(Ordering::Relaxed) + n;
    bounded(async {
        while tally.ops.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn wait_all_healthy(client: &Client) {
    bounded(async {
        while !client.endpoint_health().iter().all(|h| h.healthy) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_survive_a_killed_then_a_frozen_member() {
    let etcd = cluster(3).await;
    let client = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..3)
        .map(|w| tokio::spawn(workload(client.clone(), w, stop.clone(), tally.clone())))
        .collect();
    progress(&tally, 20).await;

    etcd.kill(0).unwrap();
    progress(&tally, 40).await;
    bounded(etcd.restart(0)).await.unwrap();
    progress(&tally, 20).await;

    etcd.stop(1).await.unwrap();
    progress(&tally, 40).await;
    etcd.resume(1).unwrap();
    progress(&tally, 20).await;

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        bounded(w).await.unwrap();
    }
    let t = &tally;
    eprintln!(
        "ops {} writes ok {} unknown/retryable {} other {} reads failed {} hung {}",
        t.ops.load(Ordering::Relaxed),
        t.writes_ok.load(Ordering::Relaxed),
        t.writes_unknown_or_retryable.load(Ordering::Relaxed),
        t.writes_other.load(Ordering::Relaxed),
        t.reads_failed.load(Ordering::Relaxed),
        t.hung.load(Ordering::Relaxed),
    );
    assert_eq!(
        t.reads_failed.load(Ordering::Relaxed),
        0,
        "every read succeeds"
    );
    assert_eq!(
        t.writes_other.load(Ordering::Relaxed),
        0,
        "writes fail only retryably"
    );
    assert_eq!(
        t.hung.load(Ordering::Relaxed),
        0,
        "nothing hangs past the request timeout"
    );
    assert!(t.writes_ok.load(Ordering::Relaxed) > 0);
    // A write reported as a definite failure was not applied.
    let failed = t.definitely_failed.lock().unwrap().clone();
    for key in failed {
        let r = bounded(client.kv().get(key.clone())).await.unwrap();
        assert_eq!(r.count(), 0, "{key} failed definitely, yet was applied");
    }

    // The restarted and the resumed member serve again: serializable reads are answered
    // by the member they are sent to, and requests go round all healthy members.
    wait_all_healthy(&client).await;
    let mut answered_by = HashSet::new();
    for _ in 0..30 {
        let r = bounded(client.kv().get("fo/0/0").serializable())
            .await
            .unwrap();
        answered_by.insert(r.header().member_id());
    }
    assert_eq!(answered_by.len(), 3, "all three members serve again");
}

#[tokio::test]
async fn client_given_one_endpoint_finds_the_others_and_survives_its_loss() {
    let etcd = cluster(3).await;
    let client = bounded(
        fault_tolerant_options(vec![etcd.endpoint(0).unwrap()])
            .auto_sync_interval(Duration::from_secs(1))
            .connect(),
    )
    .await
    .unwrap();
    let mut found = client.endpoints();
    found.sort();
    let mut all = etcd.endpoints();
    all.sort();
    assert_eq!(found, all, "member sync found every member");

    etcd.kill(0).unwrap();
    for i in 0..10 {
        bounded(client.kv().get("sync/a")).await.unwrap();
        // A write on a connection the kill just broke may end outcome-unknown; it must
        // never fail for good, and one must go through.
        match bounded(client.kv().put("sync/a", i.to_string())).await {
            Ok(_) => {}
            Err(e) => assert!(e.is_retryable() || e.is_outcome_unknown(), "{e:?}"),
        }
    }
    bounded(client.kv().put("sync/b", "after")).await.unwrap();
    let got = bounded(client.kv().get("sync/b")).await.unwrap();
    assert_eq!(got.first().unwrap().value().as_ref(), b"after");
}

#[tokio::test]
async fn health_events_report_a_member_going_down_and_coming_back() {
    let etcd = cluster(3).await;
    let client = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let mut events = Box::pin(client.health_events());
    let victim = etcd.endpoint(2).unwrap();
    etcd.kill(2).unwrap();
    // Requests find the dead member; its failure is reported.
    bounded(async {
        loop {
            client.kv().get("health/a").await.unwrap();
            if client
                .endpoint_health()
                .iter()
                .any(|h| h.endpoint == victim && !h.healthy)
            {
                break;
            }
        }
    })
    .await;
    let down = bounded(events.next()).await.unwrap();
    assert!(
        matches!(&down, HealthEvent::Unhealthy { endpoint, .. } if *endpoint == victim),
        "{down:?}"
    );
    bounded(etcd.restart(2)).await.unwrap();
    let up = bounded(async {
        loop {
            match events.next().await {
                Some(HealthEvent::Healthy { endpoint }) => break endpoint,
                Some(_) => continue,
                None => panic!("event stream ended"),
            }
        }
    })
    .await;
    assert_eq!(up, victim);
}

#[tokio::test]
async fn refused_endpoints_fail_at_connect_with_the_reason() {
    let dial = Duration::from_secs(1);
    let started = Instant::now();
    let err = bounded(
        options(vec!["127.0.0.1:1".into()])
            .dial_timeout(dial)
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    // Bounded by the dial timeout, with room for a slow machine.
    assert!(
        started.elapsed() < dial + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_endpoints_fail_at_connect_within_the_dial_timeout() {
    // A socket that accepts connections (the kernel does) but never answers, like a
    // frozen member.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = silent.local_addr().unwrap().to_string();
    let dial = Duration::from_millis(500);
    let started = Instant::now();
    let err = bounded(options(vec![endpoint.clone()]).dial_timeout(dial).connect())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert!(err.to_string().contains("dial timeout"), "{err}");
    assert!(
        started.elapsed() < dial + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// One silent endpoint (it accepts connections and never answers, like a frozen member)
/// delays neither `connect()` nor any request while another endpoint is healthy.
#[tokio::test]
async fn a_silent_endpoint_delays_neither_connect_nor_requests() {
    let etcd = server().await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = silent.local_addr().unwrap().to_string();
    // Waiting on the silent endpoint would take the dial timeout (connect) or half the
    // request timeout (a read): far beyond the bound below.
    let dial_timeout = Duration::from_secs(30);
    let bound = Duration::from_secs(15);
    for endpoints in [
        vec![silent.clone(), etcd.endpoint()],
        vec![etcd.endpoint(), silent.clone()],
    ] {
        let client = tokio::time::timeout(
            bound,
            options(endpoints)
                .dial_timeout(dial_timeout)
                .request_timeout(Duration::from_secs(60))
                .connect(),
        )
        .await
        .expect("connect waited for the silent endpoint")
        .unwrap();
        let requests = async {
            client.kv().put("sil/k", "v").await?;
            for _ in 0..10 {
                client.kv().get("sil/k").await?;
            }
            Ok::<(), etcdkit::Error>(())
        };
        tokio::time::timeout(bound, requests)
            .await
            .expect("a request waited for the silent endpoint")
            .unwrap();
    }
}

#[tokio::test]
async fn malformed_endpoints_fail_at_connect() {
    for bad in ["", "http://", "h:port", "ftp://h:1", "h:1/path"] {
        let err = bounded(options(vec![bad.into()]).connect())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{bad:?}: {err}");
    }
    let err = bounded(options(Vec::new()).connect()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEndpoint);
}

#[tokio::test]
async fn per_request_timeout_overrides_the_default() {
    let etcd = cluster(1).await;
    let client = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    bounded(client.kv().put("to/a", "1")).await.unwrap();
    etcd.stop(0).await.unwrap();
    let started = Instant::now();
    let err = bounded(client.kv().get("to/a").timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
        "{err:?}"
    );
    assert!(
        started.elapsed() < REQUEST_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    let err = bounded(
        client
            .kv()
            .put("to/a", "2")
            .timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(
        err.is_outcome_unknown() || err.kind() == ErrorKind::Unavailable,
        "{err:?}"
    );
    etcd.resume(0).unwrap();
}

#[tokio::test]
async fn reads_move_on_from_a_frozen_member_within_their_deadline() {
    let etcd = cluster(3).await;
    // Default keepalive (slower than these reads' deadlines): reads must not rely on it.
    let client = bounded(options(etcd.endpoints()).connect()).await.unwrap();
    bounded(client.kv().put("frz/a", "1")).await.unwrap();
    etcd.stop(1).await.unwrap();
    for _ in 0..9 {
        let r = bounded(client.kv().get("frz/a").timeout(Duration::from_secs(4)))
            .await
            .unwrap();
        assert_eq!(r.count(), 1);
    }
    let frozen = etcd.endpoint(1).unwrap();
    let health = client.endpoint_health();
    assert!(
        health.iter().any(|h| h.endpoint == frozen && !h.healthy),
        "the frozen member is avoided: {health:?}"
    );
    etcd.resume(1).unwrap();
}

#[tokio::test]
async fn huge_timeouts_and_intervals_do_not_panic() {
    let etcd = cluster(1).await;
    let client = bounded(
        options(etcd.endpoints())
            .request_timeout(Duration::MAX)
            .dial_timeout(Duration::MAX)
            .retry_backoff(Duration::MAX, Duration::MAX)
            .probe_backoff_max(Duration::MAX)
            .auto_sync_interval(Duration::ZERO)
            .connect(),
    )
    .await
    .unwrap();
    bounded(client.kv().put("huge/a", "1").timeout(Duration::MAX))
        .await
        .unwrap();
    bounded(client.kv().get("huge/a").timeout(Duration::MAX))
        .await
        .unwrap();
}

/// The index of a member that is not the leader (freezing the leader would have writes
/// wait out an election).
async fn a_follower(endpoints: &[String]) -> usize {
    (the_leader(endpoints).await + 1) % endpoints.len()
}

/// Writes more under `prefix` than the socket buffers hold: a frozen process still
/// receives into its kernel buffers, and small writes would reach it that way once it
/// thaws.
async fn overfill(writer: &Client, prefix: &str) {
    let filler = vec![b'x'; 100 * 1024];
    for i in 1..=100 {
        bounded(writer.kv().put(format!("{prefix}{i}"), filler.clone()))
            .await
            .unwrap();
    }
}

/// A member frozen while the others moved on, then thawed while they are frozen, answers
/// serializable reads from its old revision. A client that has seen a newer revision
/// never returns that older one: its reads fail (typed) until an up-to-date member
/// answers again.
#[tokio::test]
async fn reads_never_go_back_in_time_after_failing_over_to_a_lagging_member() {
    let etcd = cluster(3).await;
    let endpoints = etcd.endpoints();
    let lag = a_follower(&endpoints).await;
    let up: Vec<usize> = (0..3).filter(|&i| i != lag).collect();
    // Not requiring a leader: the thawed follower, alone, has none, and would refuse
    // the serializable reads this test is about before answering them from its past.
    let reader = bounded(
        fault_tolerant_options(endpoints.clone())
            .request_timeout(Duration::from_secs(3))
            .require_leader(false)
            .connect(),
    )
    .await
    .unwrap();
    let writer = bounded(options(up.iter().map(|&i| endpoints[i].clone()).collect()).connect())
        .await
        .unwrap();
    bounded(writer.kv().put("mono/k", "0")).await.unwrap();
    // Let the follower have everything so far, then freeze it while the others move on.
    bounded(reader.kv().get("mono/k")).await.unwrap();
    bounded(etcd.stop(lag)).await.unwrap();
    overfill(&writer, "mono/fill/").await;
    bounded(writer.kv().put("mono/k", "last")).await.unwrap();
    // The reader learns the newest revision (a linearizable read, retried past the
    // frozen member as needed).
    let seen = loop {
        if let Ok(r) = bounded(reader.kv().get("mono/k")).await {
            break r.header().revision();
        }
    };

    // The follower thaws while the up-to-date members freeze: it cannot catch up, and
    // serves serializable reads from its old revision.
    for &i in &up {
        bounded(etcd.stop(i)).await.unwrap();
    }
    etcd.resume(lag).unwrap();
    for _ in 0..3 {
        match bounded(reader.kv().get("mono/k").serializable()).await {
            Ok(r) => assert!(
                r.header().revision() >= seen,
                "went back in time: {:?} after {seen:?}",
                r.header().revision()
            ),
            // Refused as stale, or never answered in time (the thawed member may still be
            // taken for silent): either way nothing older than `seen` was returned.
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::StaleRead | ErrorKind::Timeout | ErrorKind::Unavailable
                ),
                "{e}"
            ),
        }
    }
    let err = bounded(reader.kv().get("mono/k").serializable())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::StaleRead | ErrorKind::Timeout | ErrorKind::Unavailable
        ),
        "{err}"
    );

    // Once up-to-date members answer again, reads succeed, never older than seen.
    for &i in &up {
        etcd.resume(i).unwrap();
    }
    let fresh = loop {
        if let Ok(r) = bounded(reader.kv().get("mono/k").serializable()).await {
            break r;
        }
    };
    assert!(fresh.header().revision() >= seen);
    assert_eq!(fresh.kvs()[0].value().as_ref(), b"last");
}

/// With etcd's default settings and the client's defaults, a frozen member is avoided by
/// new requests once its keepalive pings go unanswered: puts sent after the freeze are
/// acknowledged by the other members while it is still frozen. (Puts already in flight on
/// the frozen member wait for their own deadline: giving up on them early would only make
/// their outcome unknown.) The test waits for conditions, not a time window: the frozen
/// member marked unhealthy and 50 puts acknowledged since the freeze, while it lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_sent_after_a_member_freezes_are_acknowledged_while_it_is_frozen() {
    let etcd = common::default_cluster(3).await;
    let client = bounded(etcdkit::ClientOptions::new(etcd.endpoints()).connect())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Puts acknowledged that were sent after the freeze.
    let acked_after = Arc::new(AtomicU64::new(0));
    let frozen_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, stop, acked_after, frozen_at) = (
                client.clone(),
                stop.clone(),
                acked_after.clone(),
                frozen_at.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let put = client.kv().put(format!("freeze/{w}/{i}"), "x");
                    let acked = bounded(put).await.is_ok();
                    let after = frozen_at.lock().unwrap().is_some_and(|at| sent > at);
                    if acked && after {
                        acked_after.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // Every member has had requests (so every connection is open) before the freeze.
    bounded(async {
        while client.kv().get("freeze/").prefix().await.is_err() {}
        for _ in 0..9 {
            client.kv().get("freeze/").await.unwrap();
        }
    })
    .await;
    let frozen = 1;
    bounded(etcd.stop(frozen)).await.unwrap();
    *frozen_at.lock().unwrap() = Some(Instant::now());
    let wanted = 50;
    let kept_up = tokio::time::timeout(common::BOUND, async {
        while acked_after.load(Ordering::Relaxed) < wanted
            || client.endpoint_health()[frozen].healthy
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let acked = acked_after.load(Ordering::Relaxed);
    let health = client.endpoint_health();
    etcd.resume(frozen).unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        bounded(w).await.unwrap();
    }
    assert!(
        kept_up.is_ok(),
        "while the member was frozen: {acked} puts sent after the freeze were acknowledged \
         (wanted {wanted}); endpoint health {health:?}"
    );
}

/// The index of the current leader, as the members say.
async fn the_leader(endpoints: &[String]) -> usize {
    let probe = bounded(options(endpoints.to_vec()).connect())
        .await
        .unwrap();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let status = bounded(probe.maintenance().status().endpoint(endpoint.clone()))
            .await
            .unwrap();
        if status.header().member_id() == status.leader() {
            return i;
        }
    }
    panic!("no member says it is the leader");
}

/// A follower forwards a put to its leader; the leader freezes before it can replicate
/// it, and the others elect a new one. etcd drops the forwarded proposal and would
/// answer only at its own request timeout, so the client, seeing the follower's newer
/// raft term, ends the put as soon as the new leader is there: with its outcome unknown
/// (it may still have been committed), and the kind etcd gives a proposal whose leader
/// changed, not at the client's 25 s deadline. Members here run etcd's default
/// heartbeat and election timeout (100 ms, 1 s), so the put reaches the follower
/// before it notices the leader is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_forwarded_to_a_leader_that_froze_ends_unknown_once_a_new_leader_is_elected() {
    let etcd = bounded(
        etcdkit_testkit::EtcdCluster::builder()
            .members(3)
            .args(["--heartbeat-interval=100", "--election-timeout=1000"])
            .start(),
    )
    .await
    .unwrap();
    let endpoints = etcd.endpoints();
    let leader = the_leader(&endpoints).await;
    let follower = (leader + 1) % endpoints.len();
    let client = bounded(
        options(vec![endpoints[follower].clone()])
            .request_timeout(Duration::from_secs(25))
            .connect(),
    )
    .await
    .unwrap();
    // The client knows the current term from an answer just before the put.
    bounded(client.kv().put("leader-gone/warm", "x"))
        .await
        .unwrap();
    bounded(etcd.stop(leader)).await.unwrap();
    let put = bounded(client.kv().put("leader-gone/k", "v")).await;
    etcd.resume(leader).unwrap();
    let e = put.expect_err(
        "a put whose proposal went to a frozen leader cannot be acknowledged before the election",
    );
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::LeaderChanged, "{e:?}");
    // The follower serves writes under the new leader.
    bounded(client.kv().put("leader-gone/after", "x"))
        .await
        .unwrap();
}

/// A member cut off from its peers has no leader; asked to require one (the default),
/// it refuses a put at once with "no leader", refused before anything was proposed, so
/// the client sends the put to another member: every put is acknowledged, none ends
/// with its outcome unknown, while the member is still cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_through_a_member_cut_off_from_its_peers_are_refused_and_go_elsewhere() {
    let etcd = bounded(
        etcdkit_testkit::EtcdCluster::builder()
            .members(3)
            .network_faults(true)
            .start(),
    )
    .await
    .unwrap();
    let client = bounded(etcdkit::ClientOptions::new(etcd.endpoints()).connect())
        .await
        .unwrap();
    let cut = 2;
    etcd.partition(cut).unwrap();
    // Wait until the member itself says it has no leader (a call aimed at one member
    // does not require one).
    let cut_endpoint = etcd.endpoint(cut).unwrap();
    bounded(async {
        loop {
            let status = client
                .maintenance()
                .status()
                .endpoint(cut_endpoint.clone())
                .timeout(Duration::from_secs(2))
                .await;
            if status.is_ok_and(|s| s.leader().0 == 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    for i in 0..12 {
        bounded(client.kv().put(format!("cut/{i}"), "x"))
            .await
            .unwrap_or_else(|e| panic!("put {i}: {e:?}"));
    }
    etcd.heal().unwrap();
}

/// The revision floor of monotonic reads is fed by watch answers too: a client that saw
/// a revision only through its watch never reads anything older from a lagging member.
#[tokio::test]
async fn a_revision_seen_only_through_a_watch_is_never_read_back_older() {
    let etcd = cluster(3).await;
    let endpoints = etcd.endpoints();
    let lag = a_follower(&endpoints).await;
    let up: Vec<usize> = (0..3).filter(|&i| i != lag).collect();
    let up_endpoints: Vec<String> = up.iter().map(|&i| endpoints[i].clone()).collect();
    // The reader reaches the lagging member only by aimed reads, and learns revisions
    // only from its watch (the writer is another client).
    // Not requiring a leader: the thawed member has none while the others are frozen,
    // and would refuse the read before its revision could be checked.
    let reader = bounded(
        options(up_endpoints.clone())
            .require_leader(false)
            .connect(),
    )
    .await
    .unwrap();
    let writer = bounded(options(up_endpoints).connect()).await.unwrap();
    bounded(writer.kv().put("wmono/k", "0")).await.unwrap();
    let mut watcher = bounded(reader.watch().prefix("wmono/")).await.unwrap();
    bounded(etcd.stop(lag)).await.unwrap();
    overfill(&writer, "wmono/fill/").await;
    let last = bounded(writer.kv().put("wmono/k", "last")).await.unwrap();
    let seen = last.header().revision();
    loop {
        let response = bounded(watcher.next()).await.unwrap().unwrap();
        if response.header().revision() >= seen {
            break;
        }
    }

    // The lagging member thaws while the others freeze: it serves serializable reads
    // from its old revision.
    for &i in &up {
        bounded(etcd.stop(i)).await.unwrap();
    }
    etcd.resume(lag).unwrap();
    let read = bounded(
        reader
            .kv()
            .get("wmono/k")
            .serializable()
            .endpoint(endpoints[lag].clone()),
    )
    .await;
    match read {
        Ok(r) => assert!(
            r.header().revision() >= seen,
            "went back in time: {:?} after {seen:?}",
            r.header().revision()
        ),
        Err(e) => assert_eq!(e.kind(), ErrorKind::StaleRead, "{e}"),
    }
    for &i in &up {
        etcd.resume(i).unwrap();
    }
}

/// Monotonic reads compare an answer with what the client had seen when the read was
/// sent, not when it came back: a revision the client learns while a read is in flight
/// (another answer, say to a write made meanwhile) may be newer than the read, which was
/// concurrent with it, and that is no going back in time. Seen under a steady stream of
/// puts, where reads failed as stale after retrying until their deadline. Here a
/// follower's answers are delayed by 400 ms each way; while a serializable read waits
/// for its answer from there, the same client learns a newer revision from the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_is_not_stale_for_a_revision_learned_while_it_was_in_flight() {
    let etcd = bounded(
        etcdkit_testkit::EtcdCluster::builder()
            .members(3)
            .network_faults(true)
            .start(),
    )
    .await
    .unwrap();
    let endpoints = etcd.endpoints();
    let leader = the_leader(&endpoints).await;
    let follower = (leader + 1) % endpoints.len();
    let client = bounded(options(endpoints.clone()).connect()).await.unwrap();
    let writer = bounded(options(vec![endpoints[leader].clone()]).connect())
        .await
        .unwrap();
    bounded(writer.kv().put("in-flight/k", "1")).await.unwrap();
    // The follower has the put before its answers are delayed.
    bounded(async {
        loop {
            let r = client
                .kv()
                .get("in-flight/k")
                .serializable()
                .endpoint(endpoints[follower].clone())
                .await;
            if r.is_ok_and(|r| r.count() == 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    etcd.delay(follower, Duration::from_millis(400), Duration::ZERO)
        .unwrap();
    let read = tokio::spawn({
        let client = client.clone();
        let at = endpoints[follower].clone();
        async move {
            client
                .kv()
                .get("in-flight/k")
                .serializable()
                .endpoint(at)
                .await
        }
    });
    // After the follower has answered (at 400 ms), before its answer arrives (800 ms).
    tokio::time::sleep(Duration::from_millis(550)).await;
    bounded(writer.kv().put("in-flight/k", "2")).await.unwrap();
    let newer = bounded(
        client
            .kv()
            .get("in-flight/k")
            .endpoint(endpoints[leader].clone()),
    )
    .await
    .unwrap();
    let read = bounded(read).await.unwrap();
    etcd.heal().unwrap();
    let read = read.unwrap_or_else(|e| panic!("the read in flight failed: {e:?}"));
    assert!(
        read.header().revision() <= newer.header().revision(),
        "the read was concurrent with the newer write"
    );
}

/// etcd listening on a unix socket (`--listen-client-urls unix:///path`) serves unary
/// calls and streams through a `unix://` endpoint; a socket nobody listens on is an
/// unreachable endpoint like any other.
#[cfg(unix)]
#[tokio::test]
async fn a_unix_socket_endpoint_serves_calls_and_watches() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("etcd.sock");
    let started = bounded(
        etcdkit_testkit::EtcdServer::builder()
            .arg(format!("--listen-client-urls=unix://{}", socket.display()))
            .start(),
    )
    .await;
    let etcd = match started {
        Ok(etcd) => etcd,
        // etcd 3.4 takes unix listen URLs only as `unix://host:port` (a file of that
        // name in its working directory), not an absolute path.
        Err(e)
            if e.to_string()
                .contains("does not have the form \"host:port\"") =>
        {
            eprintln!("skipped: this etcd does not listen on unix:///absolute/path: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let endpoint = format!("unix://{}", socket.display());
    let client = bounded(options(vec![endpoint.clone()]).connect())
        .await
        .unwrap();
    let mut watcher = bounded(client.watch().prefix("unix/")).await.unwrap();
    let rev = bounded(client.kv().put("unix/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let got = bounded(client.kv().get("unix/a")).await.unwrap();
    assert_eq!(got.first().unwrap().value().as_ref(), b"1");
    let event = bounded(watcher.next()).await.unwrap().unwrap();
    assert_eq!(event.events()[0].revision(), rev);
    assert_eq!(client.endpoints(), vec![endpoint]);

    let nobody = format!("unix://{}", dir.path().join("none.sock").display());
    let err = bounded(
        options(vec![nobody])
            .dial_timeout(Duration::from_millis(500))
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("none.sock"), "{err}");
    drop(etcd);
}
