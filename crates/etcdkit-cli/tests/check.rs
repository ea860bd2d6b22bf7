//! `check perf` and `check datascale` against real etcd: etcdctl's lines and exit codes,
//! cleanup of their keys, and their refusals compared with etcdctl 3.6 when it is found.
//! The loads are shortened by hidden options (`--duration`, `--total`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Output, etcdctl_bin, etcdkit_bin, run, start_server};

async fn tool(bin: &std::path::Path, endpoint: &str, args: &[&str]) -> Output {
    let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    all.push(format!("--endpoints={endpoint}"));
    run(bin, &all, b"").await
}

#[tokio::test]
async fn check_perf_prints_etcdctls_verdict_lines_and_removes_its_keys() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let prefix = "/check-perf-verdict/";
    let out = tool(
        &etcdkit_bin(),
        &endpoint,
        &[
            "check",
            "perf",
            "--load=s",
            "--prefix",
            prefix,
            "--auto-compact",
            "--auto-defrag",
            "--duration=3s",
        ],
    )
    .await;
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    // Whether this machine is fast enough is not the test's business: the shape is.
    assert_eq!(lines.len(), 8, "{text}\n{}", out.stderr_text());
    assert!(lines[0].starts_with("Compacting with revision "), "{text}");
    assert!(lines[1].starts_with("Compacted with revision "), "{text}");
    assert_eq!(lines[2], format!("Defragmenting \"{endpoint}\""));
    assert_eq!(lines[3], format!("Defragmented \"{endpoint}\""));
    assert!(
        lines[4].starts_with("PASS: Throughput is ")
            || lines[4].starts_with("FAIL: Throughput too low: "),
        "{text}"
    );
    assert!(lines[4].ends_with(" writes/s"), "{text}");
    assert!(
        lines[5].starts_with("PASS: Slowest request took ")
            || lines[5].starts_with("Slowest request took too long: "),
        "{text}"
    );
    assert!(
        lines[6].starts_with("PASS: Stddev is ") || lines[6].starts_with("Stddev too high: "),
        "{text}"
    );
    let passed = lines[4..7].iter().all(|l| l.starts_with("PASS"));
    assert_eq!(lines[7], if passed { "PASS" } else { "FAIL" }, "{text}");
    assert_eq!(out.code, if passed { 0 } else { 1 }, "{text}");
    assert_eq!(out.stderr_text(), "");

    let left = tool(
        &etcdkit_bin(),
        &endpoint,
        &["get", prefix, "--prefix", "--count-only", "-w", "fields"],
    )
    .await;
    assert!(
        left.stdout_text().contains("\"Count\" : 0"),
        "{}",
        left.stdout_text()
    );
}

#[tokio::test]
async fn check_perf_refuses_a_used_prefix_and_an_unknown_load_as_etcdctl_does() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let prefix = "/check-perf-used/";
    let put = tool(
        &etcdkit_bin(),
        &endpoint,
        &["put", &format!("{prefix}k"), "v"],
    )
    .await;
    assert_eq!(put.code, 0, "{}", put.stderr_text());
    let etcdctl = etcdctl_bin().await;
    let cases: [(&[&str], i32, String); 2] = [
        (
            &["check", "perf", "--prefix", prefix],
            3,
            format!(
                "Error: prefix \"{prefix}\" has keys. Delete with 'etcdkit del --prefix {prefix}' first"
            ),
        ),
        (
            &["check", "perf", "--load", "q"],
            4,
            "Error: unknown load option q".to_owned(),
        ),
    ];
    for (args, code, last) in cases {
        let out = tool(&etcdkit_bin(), &endpoint, args).await;
        assert_eq!(
            (out.code, out.last_stderr_line(), out.stdout_text()),
            (code, last.clone(), String::new()),
            "{args:?}"
        );
        if let Some(etcdctl) = &etcdctl {
            // etcdctl names itself where etcdkit does.
            let reference = tool(etcdctl, &endpoint, args).await;
            assert_eq!(
                (reference.code, reference.last_stderr_line()),
                (code, last.replace("etcdkit del", "etcdctl del")),
                "etcdctl {args:?}"
            );
        }
    }
    // The key is still there: a refused check writes and deletes nothing.
    let get = tool(
        &etcdkit_bin(),
        &endpoint,
        &["get", &format!("{prefix}k"), "--print-value-only"],
    )
    .await;
    assert_eq!(get.stdout_text(), "v\n");
}

#[tokio::test]
async fn check_datascale_reports_the_memory_growth_and_removes_its_keys() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let prefix = "/check-datascale-run/";
    let out = tool(
        &etcdkit_bin(),
        &endpoint,
        &[
            "check",
            "datascale",
            "--prefix",
            prefix,
            "--auto-compact",
            "--total=300",
        ],
    )
    .await;
    let text = out.stdout_text();
    assert_eq!(out.code, 0, "{text}\n{}", out.stderr_text());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[0],
        "Start data scale check for work load [300 key-value pairs, 1024 bytes per key-value, 50 concurrent clients]."
    );
    assert!(lines[1].starts_with("Compacting with revision "), "{text}");
    assert!(lines[2].starts_with("Compacted with revision "), "{text}");
    let mb = lines[3]
        .strip_prefix("PASS: Approximate system memory used : ")
        .and_then(|rest| rest.strip_suffix(" MB."))
        .unwrap_or_else(|| panic!("{text}"));
    let (_, decimals) = mb.split_once('.').unwrap();
    assert_eq!(decimals.len(), 2, "{text}");
    mb.parse::<f64>().unwrap();

    let left = tool(
        &etcdkit_bin(),
        &endpoint,
        &["get", prefix, "--prefix", "--count-only", "-w", "fields"],
    )
    .await;
    assert!(
        left.stdout_text().contains("\"Count\" : 0"),
        "{}",
        left.stdout_text()
    );
}

#[tokio::test]
async fn check_datascale_refuses_a_used_prefix_as_etcdctl_does() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let prefix = "/check-datascale-used/";
    let put = tool(
        &etcdkit_bin(),
        &endpoint,
        &["put", &format!("{prefix}k"), "v"],
    )
    .await;
    assert_eq!(put.code, 0, "{}", put.stderr_text());
    let args = ["check", "datascale", "--prefix", prefix];
    let last = format!(
        "Error: prefix \"{prefix}\" has keys. Delete with etcdkit del --prefix {prefix} first"
    );
    let out = tool(&etcdkit_bin(), &endpoint, &args).await;
    assert_eq!((out.code, out.last_stderr_line()), (3, last.clone()));
    if let Some(etcdctl) = etcdctl_bin().await {
        let reference = tool(&etcdctl, &endpoint, &args).await;
        assert_eq!(
            (reference.code, reference.last_stderr_line()),
            (3, last.replace("etcdkit del", "etcdctl del"))
        );
    }
}
