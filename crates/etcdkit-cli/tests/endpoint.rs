//! `endpoint health` and `endpoint status` against real etcd, compared with etcdctl
//! 3.6 run against the same server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Output, etcdctl_bin, etcdkit_bin, normalize, run, start_server};
use etcdkit_testkit::EtcdServer;

async fn both(args: &[String]) -> (Output, Option<Output>) {
    let ours = run(&etcdkit_bin(), args, b"").await;
    let theirs = match etcdctl_bin().await {
        Some(etcdctl) => Some(run(&etcdctl, args, b"").await),
        None => None,
    };
    (ours, theirs)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

#[tokio::test]
async fn health_of_healthy_and_unreachable_endpoints() {
    let server = start_server().await;
    let ep = server.endpoint();
    let eps = format!("--endpoints={ep}");

    let (ours, theirs) = both(&args(&[&eps, "endpoint", "health"])).await;
    let expected = format!("{ep} is healthy: successfully committed proposal: took = TOOK\n");
    assert_eq!(
        (ours.code, normalize(&ours.stdout_text())),
        (0, expected.clone()),
        "{}",
        ours.stderr_text()
    );
    assert!(ours.stderr.is_empty());
    if let Some(theirs) = theirs {
        assert_eq!(
            (theirs.code, normalize(&theirs.stdout_text())),
            (0, expected)
        );
    }

    let (ours, theirs) = both(&args(&[&eps, "-w", "json", "endpoint", "health"])).await;
    let expected = format!("[{{\"endpoint\":\"{ep}\",\"health\":true,\"took\":\"TOOK\"}}]\n");
    assert_eq!(
        (ours.code, normalize(&ours.stdout_text())),
        (0, expected.clone())
    );
    if let Some(theirs) = theirs {
        assert_eq!(
            (theirs.code, normalize(&theirs.stdout_text())),
            (0, expected)
        );
    }

    // One endpoint down: the healthy one is still reported, in the given order.
    let two = format!("--endpoints={ep},127.0.0.1:1");
    let (ours, theirs) = both(&args(&[&two, "--command-timeout=1s", "endpoint", "health"])).await;
    assert_eq!(ours.code, 1);
    assert_eq!(
        normalize(&ours.stdout_text()),
        format!("{ep} is healthy: successfully committed proposal: took = TOOK\n")
    );
    assert!(
        ours.stderr_text().contains(
            "127.0.0.1:1 is unhealthy: failed to commit proposal: context deadline exceeded\n"
        ),
        "{}",
        ours.stderr_text()
    );
    assert_eq!(ours.last_stderr_line(), "Error: unhealthy cluster");
    if let Some(theirs) = theirs {
        assert_eq!(
            (theirs.code, theirs.last_stderr_line()),
            (1, ours.last_stderr_line())
        );
        assert_eq!(
            normalize(&theirs.stdout_text()),
            normalize(&ours.stdout_text())
        );
        assert!(theirs.stderr_text().contains(
            "127.0.0.1:1 is unhealthy: failed to commit proposal: context deadline exceeded\n"
        ));
    }

    let (ours, _) = both(&args(&[
        &two,
        "--command-timeout=1s",
        "-w",
        "json",
        "endpoint",
        "health",
    ]))
    .await;
    assert_eq!(ours.code, 1);
    assert_eq!(
        normalize(&ours.stdout_text()),
        format!(
            "[{{\"endpoint\":\"{ep}\",\"health\":true,\"took\":\"TOOK\"}},\
             {{\"endpoint\":\"127.0.0.1:1\",\"health\":false,\"took\":\"TOOK\",\"error\":\"context deadline exceeded\"}}]\n"
        )
    );
    assert_eq!(ours.last_stderr_line(), "Error: unhealthy cluster");
}

#[tokio::test]
async fn status_simple_and_json() {
    let server = start_server().await;
    let ep = server.endpoint();
    let eps = format!("--endpoints={ep}");

    let (ours, theirs) = both(&args(&[&eps, "endpoint", "status"])).await;
    assert_eq!(ours.code, 0, "{}", ours.stderr_text());
    let text = ours.stdout_text();
    let fields: Vec<&str> = text.trim_end_matches('\n').split(", ").collect();
    // etcdctl 3.6's columns: endpoint, ID, version, storage version, db size, in use,
    // percentage not in use, quota, is leader, is learner, raft term, raft index, raft
    // applied index, errors, downgrade target version, downgrade enabled.
    assert_eq!(fields.len(), 16, "{text:?}");
    assert_eq!(fields[0], ep);
    assert!(u64::from_str_radix(fields[1], 16).is_ok(), "{text:?}");
    assert!(fields[2].starts_with("3."), "{text:?}");
    for size in [fields[4], fields[5], fields[7]] {
        assert!(size.ends_with("B"), "{text:?}");
    }
    assert!(fields[6].ends_with('%'), "{text:?}");
    assert_eq!(
        (fields[8], fields[9], fields[13], fields[14], fields[15]),
        ("true", "false", "", "", "false"),
        "{text:?}"
    );
    if let Some(theirs) = theirs {
        // Nothing is written in between, so every column agrees but those a young
        // member's own housekeeping moves (raft indexes, backend size).
        assert_eq!(stable_columns(&theirs.stdout_text()), stable_columns(&text));
        assert_eq!(theirs.code, 0);
    }

    let (ours, theirs) = both(&args(&[&eps, "-w", "json", "endpoint", "status"])).await;
    assert_eq!(ours.code, 0);
    let json = normalize(&ours.stdout_text());
    assert!(
        json.starts_with(&format!(
            "[{{\"Endpoint\":\"{ep}\",\"Status\":{{\"header\":{{\"cluster_id\":ID,\"member_id\":ID,\"revision\":1,\"raft_term\":T}},\"version\":\"3."
        )),
        "{json}"
    );
    assert!(json.contains(",\"leader\":ID,\"raftIndex\":"), "{json}");
    assert!(json.ends_with("}}]\n"), "{json}");
    if let Some(theirs) = theirs {
        assert_eq!(
            stable_json(&theirs.stdout_text()),
            stable_json(&ours.stdout_text())
        );
    }

    // A failing endpoint is reported on stderr, the others are printed, and it exits 1
    // without an `Error:` line.
    let two = format!("--endpoints={ep},127.0.0.1:1");
    let (ours, theirs) = both(&args(&[&two, "--command-timeout=1s", "endpoint", "status"])).await;
    assert_eq!(ours.code, 1);
    assert_eq!(stable_columns(&ours.stdout_text()), stable_columns(&text));
    assert_eq!(
        ours.last_stderr_line(),
        "Failed to get the status of endpoint 127.0.0.1:1 (context deadline exceeded)"
    );
    if let Some(theirs) = theirs {
        assert_eq!(
            (theirs.code, theirs.last_stderr_line()),
            (1, ours.last_stderr_line())
        );
        assert_eq!(stable_columns(&theirs.stdout_text()), stable_columns(&text));
    }
    let (ours, _) = both(&args(&[
        "--endpoints=127.0.0.1:1",
        "--dial-timeout=1s",
        "-w",
        "json",
        "endpoint",
        "status",
    ]))
    .await;
    assert_eq!((ours.code, ours.stdout_text().as_str()), (1, "[]\n"));
}

/// A NOSPACE alarm makes an endpoint unhealthy and shows in its status.
#[tokio::test]
async fn an_alarm_makes_the_endpoint_unhealthy() {
    let server: EtcdServer = tokio::time::timeout(
        Duration::from_secs(60),
        EtcdServer::builder()
            .arg("--quota-backend-bytes=2000000")
            .start_server(),
    )
    .await
    .expect("etcd did not start in time")
    .expect("start etcd");
    let eps = format!("--endpoints={}", server.endpoint());
    let value = vec![b'x'; 1_400_000];
    let mut filled = false;
    for i in 0..10 {
        let out = run(
            &etcdkit_bin(),
            &args(&[&eps, "put", &format!("big{i}")]),
            &value,
        )
        .await;
        if out.code != 0 {
            assert_eq!(
                out.last_stderr_line(),
                "Error: etcdserver: mvcc: database space exceeded"
            );
            filled = true;
            break;
        }
    }
    assert!(filled, "the quota was never exceeded");

    let (ours, theirs) = both(&args(&[&eps, "endpoint", "health"])).await;
    assert_eq!(ours.code, 1);
    assert!(ours.stdout.is_empty());
    assert_eq!(
        ours.stderr_text(),
        format!(
            "{} is unhealthy: failed to commit proposal: Active Alarm(s): NOSPACE \nError: unhealthy cluster\n",
            server.endpoint()
        )
    );
    if let Some(theirs) = theirs {
        assert_eq!(theirs.stderr_text(), ours.stderr_text());
    }
    let (ours, theirs) = both(&args(&[&eps, "endpoint", "status"])).await;
    assert!(
        ours.stdout_text().contains(" alarm:NOSPACE , , false\n"),
        "{}",
        ours.stdout_text()
    );
    if let Some(theirs) = theirs {
        // The backend file may still be growing after the big writes.
        assert_eq!(
            stable_columns(&theirs.stdout_text()),
            stable_columns(&ours.stdout_text())
        );
    }
}

/// A simple status output without the columns that move on their own: storage version
/// (empty until the member settles its cluster version), the database size, in use and
/// percentage not in use, raft index and raft applied index.
fn stable_columns(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            line.split(", ")
                .enumerate()
                .filter(|(i, _)| ![3, 4, 5, 6, 11, 12].contains(i))
                .map(|(_, field)| field.to_owned())
                .collect()
        })
        .collect()
}

/// A json status output with the numbers that move on their own blanked out.
fn stable_json(text: &str) -> String {
    let mut out = normalize(text);
    // The storage version appears once the member has settled its cluster version.
    if let Some(i) = out.find(",\"storageVersion\":\"") {
        let value = &out[i + ",\"storageVersion\":\"".len()..];
        let end = value
            .find('"')
            .map_or(out.len(), |e| out.len() - value.len() + e + 1);
        out.replace_range(i..end, "");
    }
    for field in [
        "\"dbSize\":",
        "\"dbSizeInUse\":",
        "\"raftIndex\":",
        "\"raftAppliedIndex\":",
    ] {
        let mut masked = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(field) {
            masked.push_str(&rest[..i + field.len()]);
            rest = rest[i + field.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
            masked.push('N');
        }
        masked.push_str(rest);
        out = masked;
    }
    out
}
