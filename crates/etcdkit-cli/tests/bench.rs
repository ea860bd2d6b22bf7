//! `etcdkit bench` against a real etcd: every workload completes with counts that add up
//! and ordered percentiles, writes the keys it was asked to, honours --rate and --conns,
//! and refuses bad flags cleanly. No assertion on speed (beyond --rate's lower bound).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::future::IntoFuture;
use std::process::Stdio;
use std::time::Duration;

use common::{Output, etcdkit_bin, run, start_server};
use etcdkit::Client;
use etcdkit_testkit::EtcdServer;
use serde_json::Value;

/// Runs `etcdkit bench ARGS` against the server.
async fn bench(server: &EtcdServer, args: &[&str]) -> Output {
    let mut all = vec![format!("--endpoints={}", server.endpoint()), "bench".into()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run(&etcdkit_bin(), &all, b"").await
}

/// Runs a bench with `--json` that must succeed, and returns its report.
async fn bench_json(server: &EtcdServer, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = bench(server, &args).await;
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr_text());
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", out.stdout_text()))
}

/// Checks a summary: `ok` and no errors out of `total`, ordered percentiles, a histogram
/// holding every latency.
fn assert_clean(summary: &Value, total: u64) {
    assert_eq!(summary["total"], total, "{summary}");
    assert_eq!(summary["ok"], total, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(
        summary["errors_by_kind"],
        serde_json::json!({}),
        "{summary}"
    );
    let l = &summary["latency_us"];
    let order = ["min", "p50", "p90", "p99", "p99_9", "max"].map(|p| l[p].as_u64().unwrap());
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{summary}");
    let avg = l["avg"].as_f64().unwrap();
    assert!(
        order[0] as f64 <= avg && avg <= order[5] as f64,
        "{summary}"
    );
    let counted: u64 = summary["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, total, "{summary}");
    assert!(summary["elapsed_seconds"].as_f64().unwrap() > 0.0);
    assert!(summary["ops_per_second"].as_f64().unwrap() > 0.0);
}

async fn client(server: &EtcdServer) -> Client {
    tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect([server.endpoint()]),
    )
    .await
    .expect("connect in time")
    .unwrap()
}

/// The keys and values stored under a prefix.
async fn stored(server: &EtcdServer, prefix: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let client = client(server).await;
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.kv().get(prefix.to_owned()).prefix().into_future(),
    )
    .await
    .expect("get in time")
    .unwrap();
    response
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.value().to_vec()))
        .collect()
}

#[tokio::test]
async fn put_counts_add_up_and_percentiles_are_ordered() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &["put", "--total", "200", "--clients", "4", "--conns", "2"],
    )
    .await;
    assert_eq!(v["workload"], "put");
    assert_eq!(v["config"]["clients"], 4);
    assert_eq!(v["config"]["conns"], 2);
    assert_clean(&v, 200);
}

#[tokio::test]
async fn put_in_a_key_space_of_ten_leaves_at_most_ten_keys_of_the_asked_sizes() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &[
            "put",
            "--total",
            "200",
            "--clients",
            "4",
            "--key-space-size",
            "10",
            "--key-size",
            "6",
            "--val-size",
            "100",
            "--key-prefix",
            "ks10/",
        ],
    )
    .await;
    assert_clean(&v, 200);
    let kvs = stored(&server, "ks10/").await;
    assert!(!kvs.is_empty() && kvs.len() <= 10, "{} keys", kvs.len());
    for (key, value) in kvs {
        let key = String::from_utf8(key).unwrap();
        assert_eq!(key.len(), "ks10/".len() + 6, "{key}");
        let index: u64 = key["ks10/".len()..].parse().unwrap();
        assert!(index < 10, "{key}");
        assert_eq!(value.len(), 100, "{key}");
    }
}

#[tokio::test]
async fn sequential_keys_write_keys_zero_to_total() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &[
            "put",
            "--total",
            "50",
            "--clients",
            "3",
            "--sequential-keys",
            "--key-space-size",
            "1000",
            "--key-size",
            "4",
            "--key-prefix",
            "seq/",
        ],
    )
    .await;
    assert_clean(&v, 50);
    let keys: Vec<String> = stored(&server, "seq/")
        .await
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect();
    let expected: Vec<String> = (0..50).map(|i| format!("seq/{i:04}")).collect();
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn get_reads_existing_keys_in_both_consistencies() {
    let server = start_server().await;
    for consistency in ["l", "s"] {
        let v = bench_json(
            &server,
            &[
                "get",
                "--consistency",
                consistency,
                "--total",
                "200",
                "--clients",
                "4",
                "--key-space-size",
                "20",
                "--key-prefix",
                "get/",
            ],
        )
        .await;
        assert_eq!(v["workload"], "get");
        assert_eq!(v["config"]["consistency"], consistency);
        // A read that found nothing would count as a KeyMissing error.
        assert_clean(&v, 200);
    }
    assert_eq!(stored(&server, "get/").await.len(), 20);
}

#[tokio::test]
async fn txn_put_writes_txn_ops_distinct_keys_per_transaction() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &[
            "txn-put",
            "--txn-ops",
            "3",
            "--total",
            "200",
            "--clients",
            "4",
            "--key-space-size",
            "100",
            "--key-prefix",
            "txn/",
        ],
    )
    .await;
    assert_eq!(v["config"]["txn_ops"], 3);
    assert_clean(&v, 200);
    let kvs = stored(&server, "txn/").await;
    assert!(kvs.len() >= 3 && kvs.len() <= 100, "{} keys", kvs.len());
}

#[tokio::test]
async fn watch_delivers_every_put_to_every_watcher() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &[
            "watch",
            "--watchers",
            "5",
            "--total",
            "200",
            "--clients",
            "4",
            "--conns",
            "2",
            "--key-prefix",
            "w/",
        ],
    )
    .await;
    assert_eq!(v["workload"], "watch");
    assert_eq!(v["config"]["watchers"], 5);
    assert_clean(&v["stages"]["watch_creation"], 5);
    assert_clean(&v["stages"]["put"], 200);
    // Every put is an event for each of the five watchers.
    assert_clean(&v, 1000);
}

#[tokio::test]
async fn lease_keepalive_renews_and_revokes_its_leases() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &["lease-keepalive", "--total", "200", "--clients", "4"],
    )
    .await;
    assert_eq!(v["workload"], "lease-keepalive");
    assert_clean(&v, 200);
    let client = client(&server).await;
    let leases = tokio::time::timeout(
        Duration::from_secs(10),
        client.lease().leases().into_future(),
    )
    .await
    .expect("lease list in time")
    .unwrap();
    assert!(leases.leases().is_empty(), "{:?}", leases.leases());
}

#[tokio::test]
async fn failed_operations_are_counted_by_kind_and_the_run_goes_on() {
    let server = start_server().await;
    // etcd allows 128 operations per transaction by default: every one of these fails.
    let v = bench_json(
        &server,
        &[
            "txn-put",
            "--txn-ops",
            "200",
            "--key-space-size",
            "1000",
            "--total",
            "20",
            "--clients",
            "2",
            "--key-prefix",
            "fail/",
        ],
    )
    .await;
    assert_eq!(v["total"], 20);
    assert_eq!(v["ok"], 0);
    assert_eq!(v["errors"], 20);
    assert_eq!(v["errors_by_kind"], serde_json::json!({"TooManyOps": 20}));
    assert_eq!(v["latency_us"], Value::Null);
    assert!(stored(&server, "fail/").await.is_empty());
}

#[tokio::test]
async fn rate_caps_the_run() {
    let server = start_server().await;
    let v = bench_json(
        &server,
        &["put", "--total", "50", "--clients", "4", "--rate", "100"],
    )
    .await;
    assert_clean(&v, 50);
    // The 50th put may not start before 49/100 s: a property of the limiter, not a
    // measurement of speed.
    let elapsed = v["elapsed_seconds"].as_f64().unwrap();
    assert!(elapsed >= 0.49, "elapsed {elapsed}");
}

/// Established TCP connections from process `pid` to `port` on this machine: its socket
/// inodes (from /proc/PID/fd) matched against the TCP tables of its network namespace.
fn connections_to(pid: u32, port: u16) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) =
                (fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // State 01 is ESTABLISHED.
            if remote_port == Some(port) && *state == "01" && inodes.contains(*inode) {
                count += 1;
            }
        }
    }
    count
}

/// The most connections a rate-limited (so long enough to observe) bench with these
/// `--conns` and `--clients` held to the server at once.
async fn connections_during_bench(conns: &str, clients: &str) -> usize {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let mut child = tokio::process::Command::new(etcdkit_bin())
        .arg(format!("--endpoints={endpoint}"))
        .args(["bench", "put", "--total", "150", "--rate", "50", "--json"])
        .args(["--conns", conns, "--clients", clients])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let most = tokio::time::timeout(Duration::from_secs(30), async {
        let mut most = 0;
        loop {
            most = most.max(connections_to(pid, port));
            if child.try_wait().unwrap().is_some() {
                return most;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("bench finished in time");
    assert!(child.wait().await.unwrap().success());
    most
}

#[tokio::test]
async fn conns_four_opens_four_connections() {
    assert_eq!(connections_during_bench("4", "8").await, 4);
}

#[tokio::test]
async fn conns_one_shares_one_connection_among_all_clients() {
    assert_eq!(connections_during_bench("1", "8").await, 1);
}

#[tokio::test]
async fn bad_flags_fail_with_a_clear_error_and_no_panic() {
    let server = start_server().await;
    let cases: &[(&[&str], &str)] = &[
        (&["put", "--clients", "0"], "--clients"),
        (&["put", "--total", "0"], "--total"),
        (&["put", "--conns", "0"], "--conns"),
        (&["get", "--consistency", "x"], "--consistency"),
        (
            &["put", "--key-size", "2", "--key-space-size", "1000"],
            "--key-size 2 is too small",
        ),
        (
            &["txn-put", "--txn-ops", "5", "--key-space-size", "4"],
            "--txn-ops 5",
        ),
        (&["watch", "--val-size", "4"], "--val-size"),
        (&["nosuch"], "nosuch"),
    ];
    for (args, mentions) in cases {
        let out = bench(&server, args).await;
        let err = out.stderr_text();
        assert_eq!(out.code, 1, "{args:?}: {err}");
        assert!(err.starts_with("Error: "), "{args:?}: {err}");
        assert!(err.contains(mentions), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout_text());
    }
}

#[tokio::test]
async fn text_output_has_the_summary_and_histogram_and_no_progress_off_a_terminal() {
    let server = start_server().await;
    let out = bench(
        &server,
        &[
            "put",
            "--total",
            "200",
            "--clients",
            "4",
            "--val-size",
            "64",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    let text = out.stdout_text();
    assert!(text.starts_with("Workload: put ("), "{text}");
    for part in [
        "Summary:\n",
        "  Total:\t200 ops (200 ok, 0 errors)\n",
        "  Slowest:\t",
        "  Fastest:\t",
        "  Average:\t",
        "  Ops/sec:\t",
        "Response time histogram:\n",
        "|∎",
        "Latency distribution:\n",
        "  50% in ",
        "  90% in ",
        "  99% in ",
        "  99.9% in ",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    // The test's stderr is a pipe: no progress bar.
    assert!(out.stderr.is_empty(), "{}", out.stderr_text());
}
