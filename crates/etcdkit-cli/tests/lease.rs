//! `etcdkit lease ...` against real etcd, compared with etcdctl 3.6 when it is available
//! (each tool on its own twin server, with the same lease ids).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Output, Pair, etcdkit_bin, run};

/// Remaining TTLs tick down between the two tools' runs: a remaining TTL above 900 s
/// (of a 1000 s lease) reads as `R`. Everything else must match.
fn steady(text: &str) -> String {
    let mut text = text.to_owned();
    for marker in ["remaining(", "\"ttl\":"] {
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(i) = rest.find(marker) {
            out.push_str(&rest[..i + marker.len()]);
            rest = &rest[i + marker.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let n: i64 = rest[..end].parse().unwrap_or(0);
            if n > 900 {
                out.push('R');
                if rest[end..].starts_with('s') {
                    out.push('s');
                    rest = &rest[end + 1..];
                    continue;
                }
            } else {
                out.push_str(&rest[..end]);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        text = out;
    }
    common::normalize(&text)
}

async fn both(pair: &Pair, args: &[&str]) -> Output {
    let ours = pair.etcdkit(args, b"").await;
    if let Some(theirs) = pair.etcdctl(args, b"").await {
        assert_eq!(
            steady(&ours.stdout_text()),
            steady(&theirs.stdout_text()),
            "{args:?}: stdout differs from etcdctl's; ours stderr: {}",
            ours.stderr_text()
        );
        assert_eq!(ours.code, theirs.code, "{args:?}: exit code differs");
        assert_eq!(
            ours.last_stderr_line(),
            theirs.last_stderr_line(),
            "{args:?}"
        );
    }
    ours
}

#[tokio::test]
async fn lease_commands_print_as_etcdctl_does() {
    let pair = Pair::start().await;
    pair.grant_lease(0x1234, 1000).await;
    pair.grant_lease(0x5678, 1000).await;
    pair.setup(&["put", "--lease=1234", "k1", "v1"], b"").await;
    // One key per lease: etcd lists a lease's keys in no particular order.
    pair.setup(&["put", "--lease=5678", "k2", "v2"], b"").await;

    let out = both(&pair, &["lease", "timetolive", "1234"]).await;
    assert_eq!(
        steady(&out.stdout_text()),
        "lease 0000000000001234 granted with TTL(1000s), remaining(Rs)\n"
    );
    let out = both(&pair, &["lease", "timetolive", "1234", "--keys"]).await;
    assert_eq!(
        steady(&out.stdout_text()),
        "lease 0000000000001234 granted with TTL(1000s), remaining(Rs), attached keys([k1])\n"
    );
    let out = both(
        &pair,
        &["lease", "timetolive", "1234", "--keys", "-w", "json"],
    )
    .await;
    assert_eq!(
        steady(&out.stdout_text()),
        "{\"cluster_id\":ID,\"member_id\":ID,\"revision\":3,\"raft_term\":T,\"id\":4660,\"ttl\":R,\"granted-ttl\":1000,\"keys\":[\"azE=\"]}\n"
    );
    let out = both(&pair, &["lease", "timetolive", "5678", "-w", "json"]).await;
    assert!(
        steady(&out.stdout_text())
            .ends_with("\"id\":22136,\"ttl\":R,\"granted-ttl\":1000,\"keys\":null}\n")
    );

    let out = both(&pair, &["lease", "keep-alive", "--once", "1234"]).await;
    assert_eq!(
        out.stdout_text(),
        "lease 0000000000001234 keepalived with TTL(1000)\n"
    );
    let out = both(
        &pair,
        &["lease", "keep-alive", "--once", "1234", "-w", "json"],
    )
    .await;
    assert_eq!(
        steady(&out.stdout_text()),
        "{\"cluster_id\":ID,\"member_id\":ID,\"revision\":3,\"raft_term\":T,\"ID\":4660,\"TTL\":1000}\n"
    );

    let out = both(&pair, &["lease", "list"]).await;
    let text = out.stdout_text();
    assert!(text.starts_with("found 2 leases\n"), "{text}");
    assert!(text.contains("0000000000001234\n") && text.contains("0000000000005678\n"));
    let out = both(&pair, &["lease", "list", "-w", "json"]).await;
    assert!(steady(&out.stdout_text()).starts_with(
        "{\"cluster_id\":ID,\"member_id\":ID,\"revision\":3,\"raft_term\":T,\"leases\":[{\"id\":"
    ));

    let out = both(&pair, &["lease", "revoke", "1234"]).await;
    assert_eq!(out.stdout_text(), "lease 0000000000001234 revoked\n");
    let out = both(&pair, &["lease", "revoke", "5678", "-w", "json"]).await;
    assert_eq!(
        steady(&out.stdout_text()),
        "{\"header\":{\"cluster_id\":ID,\"member_id\":ID,\"revision\":5,\"raft_term\":T}}\n"
    );
    let out = both(&pair, &["get", "k1"]).await;
    assert_eq!(out.stdout_text(), "", "revoked with its lease");

    let out = both(&pair, &["lease", "revoke", "1234"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.last_stderr_line(),
        "Error: failed to revoke lease (etcdserver: requested lease not found)"
    );
    let out = both(&pair, &["lease", "timetolive", "1234"]).await;
    assert_eq!(
        out.stdout_text(),
        "lease 0000000000001234 already expired\n"
    );
    let out = both(&pair, &["lease", "timetolive", "1234", "-w", "json"]).await;
    assert!(
        steady(&out.stdout_text())
            .ends_with("\"id\":4660,\"ttl\":-1,\"granted-ttl\":0,\"keys\":null}\n")
    );
    let out = both(&pair, &["lease", "keep-alive", "--once", "1234"]).await;
    assert_eq!(
        (out.code, out.last_stderr_line().as_str()),
        (2, "Error: etcdserver: requested lease not found")
    );
    let out = both(&pair, &["lease", "keep-alive", "1234"]).await;
    assert_eq!(
        (out.code, out.stdout_text().as_str()),
        (0, "lease 0000000000001234 expired or revoked.\n")
    );
    let out = both(&pair, &["lease", "list"]).await;
    assert_eq!(out.stdout_text(), "found 0 leases\n");
    let out = both(&pair, &["lease", "list", "-w", "json"]).await;
    assert!(out.stdout_text().ends_with(",\"leases\":[]}\n"));
}

#[tokio::test]
async fn lease_arguments_are_checked_as_etcdctl_checks_them() {
    let pair = Pair::start().await;
    let cases: [(&[&str], &str); 8] = [
        (
            &["lease", "grant"],
            "Error: lease grant command needs TTL argument",
        ),
        (
            &["lease", "grant", "1", "2"],
            "Error: lease grant command needs TTL argument",
        ),
        (
            &["lease", "grant", "abc"],
            "Error: bad TTL (strconv.ParseInt: parsing \"abc\": invalid syntax)",
        ),
        (
            &["lease", "revoke"],
            "Error: lease revoke command needs 1 argument",
        ),
        (
            &["lease", "revoke", "zz"],
            "Error: bad lease ID arg (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex",
        ),
        (
            &["lease", "timetolive"],
            "Error: lease timetolive command needs lease ID as argument",
        ),
        (
            &["lease", "timetolive", "8000000000000000"],
            "Error: bad lease ID arg (strconv.ParseInt: parsing \"8000000000000000\": value out of range), expecting ID in Hex",
        ),
        (
            &["lease", "keep-alive"],
            "Error: lease keep-alive command needs lease ID as argument",
        ),
    ];
    for (args, message) in cases {
        let out = both(&pair, args).await;
        assert_eq!(
            (out.code, out.last_stderr_line().as_str()),
            (128, message),
            "{args:?}"
        );
    }
    let out = both(&pair, &["lease", "grant", "99999999999"]).await;
    assert_eq!(
        (out.code, out.last_stderr_line().as_str()),
        (
            1,
            "Error: failed to grant lease (etcdserver: too large lease TTL)"
        )
    );
    let out = both(&pair, &["lease", "grant", "10", "-w", "yaml"]).await;
    assert_eq!(out.code, 4);
}

#[tokio::test]
async fn grant_then_keep_alive_until_revoked() {
    let pair = Pair::start().await;
    let endpoint = format!("--endpoints={}", pair.kit.endpoint());
    // A short TTL: keep-alive learns of the revocation at its next renewal (TTL/3).
    let out = pair.etcdkit(&["lease", "grant", "6"], b"").await;
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    let text = out.stdout_text();
    let id = text
        .strip_prefix("lease ")
        .and_then(|t| t.strip_suffix(" granted with TTL(6s)\n"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    assert_eq!(id.len(), 16);
    let json = pair
        .etcdkit(&["lease", "grant", "100", "-w", "json"], b"")
        .await;
    let json = common::normalize(&json.stdout_text());
    assert!(
        json.starts_with(
            "{\"cluster_id\":ID,\"member_id\":ID,\"revision\":1,\"raft_term\":T,\"ID\":"
        ),
        "{json}"
    );
    assert!(json.ends_with(",\"TTL\":100,\"Error\":\"\"}\n"), "{json}");

    // keep-alive runs until the lease goes; revoke it once the keepalive stream is open.
    let bin = etcdkit_bin();
    let keep_args: Vec<String> = vec![
        endpoint.clone(),
        "lease".into(),
        "keep-alive".into(),
        id.clone(),
    ];
    let keep = run(&bin, &keep_args, b"");
    let revoke = async {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let metrics = pair.kit.metrics(0).await.unwrap();
                let open = metrics.lines().any(|l| {
                    l.starts_with("grpc_server_started_total")
                        && l.contains("grpc_method=\"LeaseKeepAlive\"")
                        && !l.ends_with(" 0")
                });
                if open {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("keep-alive opened its stream");
        let out = run(
            &etcdkit_bin(),
            &[
                endpoint.clone(),
                "lease".into(),
                "revoke".into(),
                id.clone(),
            ],
            b"",
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr_text());
    };
    let (out, ()) = tokio::join!(keep, revoke);
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    let text = out.stdout_text();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.pop(),
        Some(format!("lease {id} expired or revoked.").as_str()),
        "{text}"
    );
    for line in lines {
        assert_eq!(line, format!("lease {id} keepalived with TTL(6)"));
    }
}
