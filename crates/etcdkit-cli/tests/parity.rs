//! etcdctl parity of the command line itself: global flags before and after the command,
//! `ETCDCTL_*` variables (and a flag given both ways), exit codes and messages of each
//! failure class, and `version`; compared with etcdctl 3.6 on twin servers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Pair, etcdkit_bin, normalize, run};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn every_global_flag_works_before_and_after_the_command() {
    let pair = Pair::start().await;
    pair.setup(&["put", "gf/k", "v"], b"").await;
    let flags: &[&[&str]] = &[
        &["--dial-timeout=3s"],
        &["--command-timeout", "4s"],
        &["--keepalive-time=3s"],
        &["--keepalive-timeout=7s"],
        &["-w", "json"],
        &["--write-out=json"],
        &["--hex"],
        &["--hex=false"],
        &["--debug=false"],
        &["--insecure-transport"],
        &["--insecure-transport=true"],
        &["--insecure-discovery=false"],
        &["--discovery-srv-name=x"],
        &["--max-recv-bytes=100000"],
        &["--max-request-bytes=100000"],
        &["--password=ignored-without-user"],
    ];
    for flag in flags {
        let mut before: Vec<&str> = flag.to_vec();
        before.extend(["get", "gf/k"]);
        let mut after: Vec<&str> = vec!["get", "gf/k"];
        after.extend(flag.iter());
        let out = pair.same(&before, b"", &[], false).await;
        assert_eq!(out.code, 0, "{before:?}: {}", out.stderr_text());
        let out_after = pair.same(&after, b"", &[], false).await;
        assert_eq!(
            (out_after.code, normalize(&out_after.stdout_text())),
            (0, normalize(&out.stdout_text())),
            "{after:?}: {}",
            out_after.stderr_text()
        );
    }
}

#[tokio::test]
async fn global_flags_are_read_from_etcdctl_variables() {
    let pair = Pair::start().await;
    pair.setup(&["put", "ge/k", "v"], b"").await;
    // The endpoints themselves from ETCDCTL_ENDPOINTS.
    let out = pair.same(&["get", "ge/k"], b"", &[], true).await;
    assert_eq!(out.stdout_text(), "ge/k\nv\n");
    let out = pair
        .same(&["get", "ge/k"], b"", &[("ETCDCTL_HEX", "true")], true)
        .await;
    assert_eq!(out.stdout_text(), "\\x67\\x65\\x2f\\x6b\n\\x76\n");
    let out = pair
        .same(
            &["get", "ge/k"],
            b"",
            &[("ETCDCTL_WRITE_OUT", "json")],
            false,
        )
        .await;
    assert!(out.stdout_text().starts_with("{\"header\":"), "{out:?}");
    // A value that does not parse is ignored, as by etcdctl.
    let out = pair
        .same(&["get", "ge/k"], b"", &[("ETCDCTL_HEX", "maybe")], false)
        .await;
    assert_eq!((out.code, out.stdout_text()), (0, "ge/k\nv\n".to_owned()));
    let out = pair
        .same(
            &["get", "ge/k"],
            b"",
            &[
                ("ETCDCTL_KEEPALIVE_TIME", "3s"),
                ("ETCDCTL_DIAL_TIMEOUT", "4s"),
            ],
            false,
        )
        .await;
    assert_eq!(out.code, 0);
    // An empty variable sets nothing, but still conflicts with its flag.
    let (ours, theirs) = pair
        .both(&["get", "ge/k"], b"", &[("ETCDCTL_HEX", "")], true)
        .await;
    assert_eq!((ours.code, ours.stdout_text()), (0, "ge/k\nv\n".to_owned()));
    assert!(ours.stderr_text().contains("\"ETCDCTL_HEX=\""), "{ours:?}");
    if let Some(theirs) = theirs {
        assert_eq!((theirs.code, &theirs.stdout), (ours.code, &ours.stdout));
        assert!(theirs.stderr_text().contains("\"ETCDCTL_HEX=\""));
    }
    let (ours, theirs) = pair
        .both(&["get", "ge/k"], b"", &[("ETCDCTL_ENDPOINTS", "")], false)
        .await;
    assert_eq!(ours.code, 1, "{ours:?}");
    if let Some(theirs) = theirs {
        assert_eq!(theirs.code, 1);
    }
    // An unknown ETCDCTL_ variable is reported and ignored.
    let (ours, theirs) = pair
        .both(&["get", "ge/k"], b"", &[("ETCDCTL_BOGUS", "1")], false)
        .await;
    assert_eq!((ours.code, ours.stdout_text()), (0, "ge/k\nv\n".to_owned()));
    assert!(
        ours.stderr_text()
            .contains("\"msg\":\"unrecognized environment variable\",\"environment-variable\":\"ETCDCTL_BOGUS=1\""),
        "{ours:?}"
    );
    if let Some(theirs) = theirs {
        assert_eq!((theirs.code, &theirs.stdout), (ours.code, &ours.stdout));
        assert!(theirs.stderr_text().contains("\"ETCDCTL_BOGUS=1\""));
    }
    // The watch variables are watch's own, not unrecognized.
    let (ours, _) = pair
        .both(&["get", "ge/k"], b"", &[("ETCDCTL_WATCH_KEY", "x")], false)
        .await;
    assert_eq!((ours.code, ours.stderr_text()), (0, String::new()));
}

#[tokio::test]
async fn flag_given_also_as_its_variable_is_refused_like_etcdctl() {
    let pair = Pair::start().await;
    for (args, var) in [
        (&["get", "k", "--hex"][..], ("ETCDCTL_HEX", "true")),
        (
            &["--dial-timeout=3s", "get", "k"][..],
            ("ETCDCTL_DIAL_TIMEOUT", "2s"),
        ),
        (&["get", "k"][..], ("ETCDCTL_ENDPOINTS", "127.0.0.1:2379")),
    ] {
        let (ours, theirs) = pair.both(args, b"", &[var], false).await;
        assert_eq!(ours.code, 1, "{ours:?}");
        assert!(ours.stdout.is_empty());
        assert_eq!(
            ours.last_stderr_line(),
            format!(
                "Error: conflicting environment variable \"{}\" is shadowed by corresponding \
                 command-line flag (either unset environment variable or disable flag)",
                var.0
            )
        );
        if let Some(theirs) = theirs {
            assert_eq!(theirs.code, ours.code);
            let text = theirs.stderr_text();
            assert!(text.contains("conflicting environment variable"), "{text}");
            assert!(text.contains(var.0), "{text}");
        }
    }
}

#[tokio::test]
async fn exit_codes_and_messages_match_etcdctl_for_each_class() {
    let pair = Pair::start().await;
    for i in 0..4 {
        pair.setup(&["put", "ex/k", &i.to_string()], b"").await; // revs 2..5
    }
    pair.setup(&["compaction", "4"], b"").await;
    // 0: success.
    pair.same(&["get", "ex/k"], b"", &[], false).await;
    // 1: a failed request; an unknown command.
    let out = pair
        .same(&["get", "ex/k", "--rev=2"], b"", &[], false)
        .await;
    assert_eq!(out.code, 1);
    // (etcdctl names itself where etcdkit names itself.)
    let (ours, theirs) = pair.both(&["bogus"], b"", &[], false).await;
    assert_eq!(
        (ours.code, ours.stderr_text()),
        (
            1,
            "Error: unknown command \"bogus\" for \"etcdkit\"\nRun 'etcdkit --help' for usage.\n"
                .to_owned()
        )
    );
    if let Some(theirs) = theirs {
        assert_eq!(
            (
                theirs.code,
                theirs.stderr_text().replace("etcdctl", "etcdkit")
            ),
            (ours.code, ours.stderr_text())
        );
    }
    // 2: no client (no endpoints); a keep-alive --once of an unknown lease.
    let args = vec!["--endpoints=".to_owned(), "get".to_owned(), "k".to_owned()];
    let out = run(&etcdkit_bin(), &args, b"").await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (2, "Error: etcdclient: no available endpoints".to_owned())
    );
    if let Some((_, etcdctl)) = &pair.ctl {
        let theirs = run(etcdctl, &args, b"").await;
        assert_eq!(
            (theirs.code, theirs.last_stderr_line()),
            (out.code, out.last_stderr_line())
        );
    }
    let out = pair
        .same(&["lease", "keep-alive", "--once", "1234"], b"", &[], false)
        .await;
    assert_eq!(out.code, 2);
    // 3: txn input that does not parse.
    let (ours, theirs) = pair.both(&["txn"], b"bad\n", &[], false).await;
    assert_eq!(ours.code, 3, "{ours:?}");
    if let Some(theirs) = theirs {
        assert_eq!(theirs.code, 3);
    }
    // 4: an unsupported output format.
    let out = pair
        .same(&["-w", "bogus", "get", "k"], b"", &[], false)
        .await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (4, "Error: unsupported output format".to_owned())
    );
    // 5: a watch the server cancels (its start revision is compacted).
    let (ours, theirs) = pair
        .both(&["watch", "ex/k", "--rev=2"], b"", &[], false)
        .await;
    assert_eq!(
        (ours.code, ours.stderr_text()),
        (
            5,
            "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n\
             Error: watch is canceled by the server\n"
                .to_owned()
        )
    );
    if let Some(theirs) = theirs {
        assert_eq!(
            (theirs.code, theirs.stderr_text()),
            (ours.code, ours.stderr_text())
        );
    }
    // 128: wrong arguments.
    let out = pair.same(&["watch"], b"", &[], false).await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (128, "Error: bad number of arguments".to_owned())
    );
    let out = pair.same(&["lease", "revoke", "zz"], b"", &[], false).await;
    assert_eq!(out.code, 128);
}

#[tokio::test]
async fn version_prints_etcdctls_two_line_shape() {
    let pair = Pair::start().await;
    let (ours, theirs) = pair.both(&["version"], b"", &[], false).await;
    let text = ours.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(ours.code, 0);
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        format!("etcdkit version: {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(lines[1], "API version: 3.6");
    if let Some(theirs) = theirs {
        let their_text = theirs.stdout_text();
        let their_lines: Vec<&str> = their_text.lines().collect();
        assert_eq!(their_lines.len(), 2);
        assert!(their_lines[0].starts_with("etcdctl version: "));
        assert_eq!(their_lines[1], lines[1]);
    }
}

#[tokio::test]
async fn insecure_transport_false_and_skip_verify_speak_tls_like_etcdctl() {
    // Both make etcdctl 3.6 speak TLS to a plain member, which cannot answer.
    let pair = Pair::start().await;
    for flag in ["--insecure-transport=false", "--insecure-skip-tls-verify"] {
        let out = pair
            .same(
                &[
                    "--command-timeout=1s",
                    "--dial-timeout=1s",
                    flag,
                    "get",
                    "k",
                ],
                b"",
                &[],
                false,
            )
            .await;
        assert_eq!(
            (out.code, out.last_stderr_line()),
            (1, "Error: context deadline exceeded".to_owned()),
            "{flag}"
        );
    }
}

/// `registry join` with `--registry` after the subcommand, as the README writes it.
#[tokio::test]
async fn registry_flag_works_after_the_subcommand() {
    let server = common::start_server().await;
    let url = format!("{}/regafter", server.endpoint());
    let mut child = tokio::process::Command::new(etcdkit_bin())
        .args([
            "registry",
            "join",
            "api",
            "--port",
            "8080",
            "--registry",
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("join prints in time")
        .unwrap()
        .unwrap_or_default();
    assert!(first.starts_with("joined regafter/api/"), "{first}");
    for args in [
        vec!["registry", "list", "api", "--registry", url.as_str()],
        vec!["registry", "--registry", url.as_str(), "list", "api"],
    ] {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let out = common::run(&etcdkit_bin(), &args, b"").await;
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr_text());
        assert!(out.stdout_text().contains("\"port\":8080"), "{out:?}");
    }
    let _ = child.kill().await;
}

#[tokio::test]
async fn lock_ttl_sets_the_session_ttl_and_the_command_runs_as_in_etcdctl() {
    let pair = Pair::start().await;
    let out = pair
        .same(&["lock", "--ttl=3", "pl/l", "true"], b"", &[], false)
        .await;
    assert_eq!((out.code, out.stdout_text()), (0, String::new()));
    let (ours, theirs) = pair
        .both(&["lock", "--ttl=abc", "pl/l", "true"], b"", &[], false)
        .await;
    assert_eq!(ours.code, 1, "{ours:?}");
    if let Some(theirs) = theirs {
        assert_eq!(theirs.code, 1);
    }
    // The TTL reaches the lease: a holder that runs `lease list` sees one lease; its
    // time-to-live is at most the asked 3 s.
    let client = etcdkit::Client::connect([pair.kit.endpoint()])
        .await
        .unwrap();
    let args = vec![
        format!("--endpoints={}", pair.kit.endpoint()),
        "lock".to_owned(),
        "--ttl=3".to_owned(),
        "pl/t".to_owned(),
        "sleep".to_owned(),
        "2".to_owned(),
    ];
    let holder = tokio::spawn(async move { run(&etcdkit_bin(), &args, b"").await });
    let ttl = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let leases = client.lease().leases().await.unwrap();
            if let Some(lease) = leases.leases().first() {
                let info = client.lease().time_to_live(*lease).await.unwrap();
                break info.granted_ttl();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the lock's lease appears in time");
    assert_eq!(ttl, 3);
    let held = tokio::time::timeout(Duration::from_secs(20), holder)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.code, 0, "{}", held.stderr_text());
}

#[tokio::test]
async fn discovery_srv_of_a_domain_without_records_fails_as_etcdctl() {
    let pair = Pair::start().await;
    for (args, ssl, plain) in [
        (
            &["-d", "example.invalid", "get", "k"][..],
            "_etcd-client-ssl._tcp.example.invalid",
            "_etcd-client._tcp.example.invalid",
        ),
        (
            &[
                "-d",
                "example.invalid",
                "--discovery-srv-name",
                "prod",
                "get",
                "k",
            ][..],
            "_etcd-client-ssl-prod._tcp.example.invalid",
            "_etcd-client-prod._tcp.example.invalid",
        ),
    ] {
        let (ours, theirs) = pair.both(args, b"", &[], false).await;
        // etcdctl adds the name server it asked ("on 10.0.0.1:53"); the rest is the same.
        for out in std::iter::once(&ours).chain(theirs.as_ref()) {
            assert_eq!(out.code, 1, "{args:?}: {}", out.stderr_text());
            let line = out.last_stderr_line();
            assert!(
                line.starts_with(&format!("Error: dns lookup errors: lookup {ssl}")),
                "{args:?}: {line}"
            );
            assert!(
                line.contains(&format!(" and lookup {plain}")),
                "{args:?}: {line}"
            );
        }
    }
}

/// `completion SHELL` prints a script for etcdkit's own commands that the shell loads
/// (bash is checked by loading it); a missing, extra or unknown shell fails as etcdctl's
/// does (exit 1, its message).
#[tokio::test]
async fn completion_prints_a_script_the_shell_loads() {
    let bin = etcdkit_bin();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(&bin, &args(&["completion", shell]), b"").await;
        assert_eq!(out.code, 0, "completion {shell}: {}", out.stderr_text());
        let script = out.stdout_text();
        assert!(
            script.contains("etcdkit") && script.contains("downgrade"),
            "completion {shell} names the binary and its commands"
        );
    }
    let script = run(&bin, &args(&["completion", "bash"]), b"").await;
    let loaded = run(
        std::path::Path::new("bash"),
        &args(&["-c", "eval \"$(cat)\" && complete -p etcdkit"]),
        &script.stdout,
    )
    .await;
    assert!(
        loaded.stdout_text().contains("-F _etcdkit etcdkit"),
        "bash registers the completion function: {}",
        loaded.stderr_text()
    );
    for (given, message) in [
        (&[][..], "Error: accepts 1 arg(s), received 0"),
        (&["bash", "zsh"][..], "Error: accepts 1 arg(s), received 2"),
        (
            &["foo"][..],
            "Error: invalid argument \"foo\" for \"etcdkit completion\"",
        ),
    ] {
        let mut a = vec!["completion"];
        a.extend_from_slice(given);
        let out = run(&bin, &args(&a), b"").await;
        assert_eq!(out.code, 1, "completion {given:?}");
        assert_eq!(out.last_stderr_line(), message, "completion {given:?}");
    }
}

/// Help read by a reader that stops early (`etcdkit make-mirror --help | head -1`) is no
/// reason to panic: the command exits 0 and says nothing on stderr.
#[tokio::test]
async fn help_into_a_closed_pipe_does_not_panic() {
    let bin = etcdkit_bin();
    let script = format!(
        "'{}' make-mirror --help | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
        bin.display()
    );
    let out = run(
        std::path::Path::new("bash"),
        &["-c".to_string(), script],
        b"",
    )
    .await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr_text());
    assert!(
        !out.stderr_text().contains("panicked"),
        "{}",
        out.stderr_text()
    );
}

/// A flag given twice takes its last value, as etcdctl's flags do; `--endpoints` given
/// twice keeps both lists.
#[tokio::test]
async fn a_flag_given_twice_takes_its_last_value() {
    let pair = Pair::start().await;
    pair.setup(&["put", "tw/a", "1"], b"").await;
    pair.setup(&["put", "tw/b", "2"], b"").await;
    pair.check(
        &["-w", "json", "-w", "simple", "get", "tw/a"],
        b"",
        0,
        "tw/a\n1\n",
        "",
    )
    .await;
    pair.check(
        &["get", "tw/a", "-w", "json", "-w", "simple"],
        b"",
        0,
        "tw/a\n1\n",
        "",
    )
    .await;
    pair.check(
        &["get", "--prefix", "tw/", "--limit", "5", "--limit", "1"],
        b"",
        0,
        "tw/a\n1\n",
        "",
    )
    .await;
}
