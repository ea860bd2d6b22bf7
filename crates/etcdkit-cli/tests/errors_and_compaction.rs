//! `compaction`, connection failures, output formats and global flags, compared with
//! etcdctl 3.6.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{Output, Pair, etcdctl_bin, etcdkit_bin, run};

#[tokio::test]
async fn compaction() {
    let pair = Pair::start().await;
    for i in 0..8 {
        pair.setup(&["put", &format!("c{i}"), "v"], b"").await; // revs 2..9
    }
    pair.check(&["compaction", "3"], b"", 0, "compacted revision 3\n", "")
        .await;
    pair.check(
        &["-w", "json", "compaction", "4"],
        b"",
        0,
        "compacted revision 4\n",
        "",
    )
    .await;
    pair.check(
        &["compaction", "--physical", "5"],
        b"",
        0,
        "compacted revision 5\n",
        "",
    )
    .await;
    pair.check(
        &["-w", "json", "compaction", "--physical", "6"],
        b"",
        0,
        "compacted revision 6\n",
        "",
    )
    .await;
    let compacted = "Error: etcdserver: mvcc: required revision has been compacted";
    pair.check(&["compaction", "5"], b"", 1, "", compacted)
        .await;
    pair.check(&["compaction", "6"], b"", 1, "", compacted)
        .await;
    pair.check(&["compaction", "--", "-1"], b"", 1, "", compacted)
        .await;
    pair.check(&["get", "c0", "--rev", "3"], b"", 1, "", compacted)
        .await;
    pair.check(&["get", "c0", "--rev", "6"], b"", 0, "c0\nv\n", "")
        .await;
    pair.check(
        &["compaction", "99999"],
        b"",
        1,
        "",
        "Error: etcdserver: mvcc: required revision is a future revision",
    )
    .await;
    pair.check(
        &["compaction", "abc"],
        b"",
        1,
        "",
        "Error: strconv.ParseInt: parsing \"abc\": invalid syntax",
    )
    .await;
    pair.check(
        &["compaction"],
        b"",
        128,
        "",
        "Error: compaction command needs 1 argument",
    )
    .await;
}

/// Runs etcdkit, and etcdctl when there is one, with exactly these arguments; both must
/// exit with `code` and end stderr with `stderr_last`, and print `stdout`.
async fn check_both(args: &[&str], code: i32, stdout: &str, stderr_last: &str) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let ours = run(&etcdkit_bin(), &args, b"").await;
    if let Some(etcdctl) = etcdctl_bin().await {
        let theirs = run(&etcdctl, &args, b"").await;
        assert_eq!(
            (theirs.code, theirs.last_stderr_line()),
            (ours.code, ours.last_stderr_line()),
            "{args:?}"
        );
        assert_eq!(theirs.stdout, ours.stdout, "{args:?}");
    }
    assert_eq!(ours.code, code, "{args:?}: {}", ours.stderr_text());
    assert_eq!(ours.last_stderr_line(), stderr_last, "{args:?}");
    assert_eq!(ours.stdout_text(), stdout, "{args:?}");
    ours
}

#[tokio::test]
async fn unreachable_endpoint_fails_with_a_deadline_error() {
    let deadline = "Error: context deadline exceeded";
    let bad = [
        "--endpoints=127.0.0.1:1",
        "--command-timeout=1s",
        "--dial-timeout=1s",
    ];
    for command in [
        &["get", "foo"][..],
        &["-w", "json", "get", "foo"],
        &["put", "foo", "bar"],
        &["compaction", "5"],
    ] {
        let args: Vec<&str> = bad.iter().copied().chain(command.iter().copied()).collect();
        check_both(&args, 1, "", deadline).await;
    }
    check_both(
        &["--endpoints=", "get", "foo"],
        2,
        "",
        "Error: etcdclient: no available endpoints",
    )
    .await;
}

#[tokio::test]
async fn output_formats_and_global_flags() {
    let pair = Pair::start().await;
    // An unsupported format is refused before anything is sent.
    pair.check(
        &["-w", "yaml", "put", "k", "v"],
        b"",
        4,
        "",
        "Error: unsupported output format",
    )
    .await;
    pair.check(&["get", "k"], b"", 0, "", "").await;
    pair.check(
        &["-w", "yaml", "put"],
        b"",
        128,
        "",
        "Error: put command needs 1 argument and input from stdin or 2 arguments",
    )
    .await;
    pair.check(
        &["-w", "yaml", "get", "--sort-by=x", "k"],
        b"",
        4,
        "",
        "Error: bad sort target x",
    )
    .await;
    pair.check(
        &["-w", "table", "get", "k"],
        b"",
        4,
        "",
        "Error: table not supported as output format",
    )
    .await;

    // The endpoints may come from the environment.
    pair.setup(&["put", "env", "fromenv"], b"").await;
    let endpoint = pair.kit.endpoint();
    let with_env = run_env(
        &etcdkit_bin(),
        &["get", "env"],
        &[("ETCDCTL_ENDPOINTS", &endpoint)],
    )
    .await;
    assert_eq!(
        (with_env.code, with_env.stdout_text().as_str()),
        (0, "env\nfromenv\n"),
        "{}",
        with_env.stderr_text()
    );
    let json_env = run_env(
        &etcdkit_bin(),
        &["get", "env", "--print-value-only"],
        &[("ETCDCTL_ENDPOINTS", &endpoint), ("ETCDCTL_HEX", "true")],
    )
    .await;
    assert_eq!(
        json_env.stdout_text(),
        "\\x66\\x72\\x6f\\x6d\\x65\\x6e\\x76\n"
    );

    // Durations are parsed as Go parses them.
    for ok in ["500ms", "1m", "1m30s", "2.5s"] {
        let out = pair
            .etcdkit(
                &["--dial-timeout", ok, "--command-timeout", ok, "get", "env"],
                b"",
            )
            .await;
        assert_eq!(out.code, 0, "{ok}: {}", out.stderr_text());
    }
    let bad = pair
        .etcdkit(&["--command-timeout=5", "get", "env"], b"")
        .await;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr_text().starts_with("Error: "),
        "{}",
        bad.stderr_text()
    );

    // Flag and command errors exit 1, as cobra's do in etcdctl; help exits 0.
    for args in [
        &["get", "--bogus", "k"][..],
        &["bogus"],
        &["get", "--limit", "abc", "k"],
    ] {
        let ours = pair.etcdkit(args, b"").await;
        assert_eq!(ours.code, 1, "{args:?}");
        assert!(
            ours.stderr_text().starts_with("Error: "),
            "{args:?}: {}",
            ours.stderr_text()
        );
        if let Some(theirs) = pair.etcdctl(args, b"").await {
            assert_eq!(theirs.code, 1, "{args:?}");
        }
    }
    let help = pair.etcdkit(&["get", "--help"], b"").await;
    assert_eq!(help.code, 0);
    assert!(help.stdout_text().contains("--print-value-only"));
}

async fn run_env(program: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
        .await
        .expect("timed out")
        .expect("run");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// A request over the client's size limit is refused before sending, and one over the
/// server's gRPC limit by the server; both print grpc-go's status line, as etcdctl does.
#[tokio::test]
async fn oversized_requests_fail_with_grpcs_words_as_in_etcdctl() {
    let pair = Pair::start().await;
    let value = vec![b'x'; 3_000_000];
    // The client's limit (2 MiB by default in both tools).
    pair.check(
        &["put", "big"],
        &value,
        1,
        "",
        "Error: rpc error: code = ResourceExhausted desc = trying to send message larger than max (3000010 vs. 2097152)",
    )
    .await;
    // Past the client's limit, the server's: etcd takes 1.5 MiB requests plus 512 KiB of
    // gRPC headroom.
    pair.check(
        &["--max-request-bytes", "4000000", "put", "big"],
        &value,
        1,
        "",
        "Error: rpc error: code = ResourceExhausted desc = grpc: received message larger than max (3000010 vs. 2097152)",
    )
    .await;
}
