//! `watch -- COMMAND` (the event in the command's environment), `ETCDCTL_WATCH_KEY` /
//! `ETCDCTL_WATCH_RANGE_END`, and `watch -i`, compared with etcdctl 3.6 on twin servers.
//!
//! Each watch starts at a revision already written (`--rev`), so both tools see the
//! same events however fast they connect, and ends by itself: a failing command ends
//! etcdctl's watch with exit 1, and so it ends etcdkit's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Output, Pair, etcdkit_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Prints the event's variables, then fails on the delete, which ends the watch.
const SCRIPT: &str = "printf '[%s][%s][%s][%s]\\n' \"$ETCD_WATCH_REVISION\" \
    \"$ETCD_WATCH_EVENT_TYPE\" \"$ETCD_WATCH_KEY\" \"$ETCD_WATCH_VALUE\"; \
    [ \"$ETCD_WATCH_EVENT_TYPE\" != '\"DELETE\"' ]";

#[tokio::test]
async fn watch_runs_a_command_per_event_with_etcdctls_environment() {
    let pair = Pair::start().await;
    pair.setup(&["put", "wc/k", "a \"q\"\nb"], b"").await; // rev 2
    pair.setup(&["put", "wc/other", "x"], b"").await;
    pair.setup(&["del", "wc/k"], b"").await; // rev 4
    let out = pair
        .same(
            &["watch", "--rev=2", "wc/k", "--", "sh", "-c", SCRIPT],
            b"",
            &[],
            false,
        )
        .await;
    assert_eq!(
        out.stdout_text(),
        // The history comes in one response: printed whole, then the command runs per
        // event, each with the response's revision.
        "PUT\nwc/k\na \"q\"\nb\nDELETE\nwc/k\n\n\
         [4][\"PUT\"][\"wc/k\"][\"a \\\"q\\\"\\nb\"]\n[4][\"DELETE\"][\"wc/k\"][\"\"]\n"
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.last_stderr_line(),
        format!(
            "command [\"sh\" \"-c\" {}] error (exit status 1)",
            go_quote(SCRIPT)
        )
    );
}

#[tokio::test]
async fn watch_command_that_cannot_start_ends_the_watch_like_etcdctl() {
    let pair = Pair::start().await;
    pair.setup(&["put", "wn/k", "v"], b"").await;
    let out = pair
        .same(
            &["watch", "--rev=2", "wn/k", "--", "no-such-command-here"],
            b"",
            &[],
            false,
        )
        .await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            1,
            "command [\"no-such-command-here\"] error (exec: \"no-such-command-here\": \
             executable file not found in $PATH)"
                .to_owned()
        )
    );
}

#[tokio::test]
async fn watch_reads_its_key_and_range_from_etcdctl_variables() {
    let pair = Pair::start().await;
    pair.setup(&["put", "wk/z", "out"], b"").await; // rev 2, outside [wk/a, wk/c)
    pair.setup(&["put", "wk/b", "in"], b"").await; // rev 3
    let range = [
        ("ETCDCTL_WATCH_KEY", "wk/a"),
        ("ETCDCTL_WATCH_RANGE_END", "wk/c"),
    ];
    let out = pair
        .same(&["watch", "--rev=2", "--", "false"], b"", &range, false)
        .await;
    assert_eq!(
        (out.code, out.stdout_text()),
        (1, "PUT\nwk/b\nin\n".to_owned())
    );
    // A key both ways, a range end without a key: refused.
    let out = pair.same(&["watch", "wk/a"], b"", &range[..1], false).await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: bad number of arguments (found conflicting environment key)".to_owned()
        )
    );
    let out = pair.same(&["watch", "wk/a"], b"", &range[1..], false).await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=\"wk/c\"".to_owned()
        )
    );
    let out = pair.same(&["watch", "wk/a", "--"], b"", &[], false).await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: bad number of arguments (found separator --, but no commands)".to_owned()
        )
    );
}

/// Runs `watch -i` with these input lines, keeping stdin open (its end would end the
/// command) until the command exits by itself.
async fn interactive(program: &Path, endpoint: &str, input: &str) -> Output {
    let mut command = tokio::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(&name);
        }
    }
    let mut child = command
        .arg(format!("--endpoints={endpoint}"))
        .args(["watch", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        let (o, e) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        o.unwrap();
        e.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("watch -i ends in time");
    drop(stdin);
    Output {
        code: status.code().unwrap_or(-1),
        stdout: out,
        stderr: err,
    }
}

#[tokio::test]
async fn interactive_watch_reads_watch_commands_from_stdin() {
    let pair = Pair::start().await;
    pair.setup(&["put", "wi/a", "1"], b"").await; // rev 2
    pair.setup(&["put", "wi/b", "2"], b"").await;
    // The invalid lines are reported and skipped; the last watch's command ends it.
    let input = "\nbogus x\nwatch\nwatch wi/a wi/b --prefix\n\
                 watch --rev=2 --prefix wi/ -- false\n";
    let ours = interactive(&etcdkit_bin(), &pair.kit.endpoint(), input).await;
    assert_eq!(
        (ours.code, ours.stdout_text()),
        (1, "PUT\nwi/a\n1\nPUT\nwi/b\n2\n".to_owned()),
        "{}",
        ours.stderr_text()
    );
    assert_eq!(
        ours.stderr_text(),
        "Invalid command:  (watch and progress supported)\n\
         Invalid command bogus x (only support watch)\n\
         Invalid command watch (command type or key is not provided)\n\
         Invalid command watch wi/a wi/b --prefix (`range_end` and `--prefix` are mutually exclusive)\n\
         command [\"false\"] error (exit status 1)\n"
    );
    if let Some((server, etcdctl)) = &pair.ctl {
        let theirs = interactive(etcdctl, &server.endpoint(), input).await;
        assert_eq!(theirs, ours);
    }
    // A flag that does not parse ends it, as does the end of the input.
    let out = pair
        .same(&["watch", "-i"], b"watch --rev=abc wi/a\n", &[], false)
        .await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: invalid argument \"abc\" for \"--rev\" flag: strconv.ParseInt: parsing \
             \"abc\": invalid syntax"
                .to_owned()
        )
    );
    let out = pair.same(&["watch", "-i"], b"", &[], false).await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (3, "Error: error reading watch request line: EOF".to_owned())
    );
}

/// Go's `%q` of an ASCII string without control characters.
fn go_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
