//! `-w fields`, `-w protobuf` and `-w table` compared byte for byte with etcdctl 3.6.
//!
//! Reads run with both tools against one server, so their output must be identical
//! (only `took` durations are masked). Writes run on twin servers (see `common`), where
//! only the ids and term in the top-level response header may differ.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Output, Pair, etcdctl_bin, etcdkit_bin, normalize, run, start_server};
use tokio::io::AsyncReadExt;

const FORMATS: [&str; 5] = ["simple", "json", "fields", "protobuf", "table"];

fn with_endpoint(endpoint: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec![format!("--endpoints={endpoint}")];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all
}

/// Runs `args` with both tools against `endpoint` and asserts the same stdout (after
/// `mask`), exit code and last stderr line. Returns etcdkit's output.
async fn same_as_etcdctl(endpoint: &str, args: &[&str], mask: fn(&[u8]) -> Vec<u8>) -> Output {
    let args = with_endpoint(endpoint, args);
    let ours = run(&etcdkit_bin(), &args, b"").await;
    if let Some(etcdctl) = etcdctl_bin().await {
        let theirs = run(&etcdctl, &args, b"").await;
        assert_eq!(
            String::from_utf8_lossy(&mask(&ours.stdout)),
            String::from_utf8_lossy(&mask(&theirs.stdout)),
            "{args:?}: stdout differs from etcdctl's\nours stderr: {}",
            ours.stderr_text()
        );
        assert_eq!(ours.code, theirs.code, "{args:?}: exit code");
        assert_eq!(
            ours.last_stderr_line(),
            theirs.last_stderr_line(),
            "{args:?}: last stderr line"
        );
    }
    ours
}

fn unmasked(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

/// Blanks the `took` of `endpoint health` in fields (`"Took" : 1.2ms`) and in a table
/// (its third column, whose width follows the durations).
fn mask_took(bytes: &[u8]) -> Vec<u8> {
    // The simple and json forms are masked as the other tests do.
    let text = normalize(&String::from_utf8_lossy(bytes));
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("\"Took\" : ") {
            out.push_str("\"Took\" : TOOK\n");
        } else if line.starts_with('|') || line.starts_with('+') {
            let sep = if line.starts_with('|') { '|' } else { '+' };
            let mut cells: Vec<String> = line.trim_end().split(sep).map(str::to_owned).collect();
            if cells.len() > 4 {
                cells[3] = "TOOK".to_owned();
            }
            out.push_str(&cells.join(&sep.to_string()));
            out.push('\n');
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// Blanks the ids and term that differ between twin servers in `fields` output.
fn mask_fields_header(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        match line.split_once(" : ") {
            Some((name @ ("\"ClusterID\"" | "\"MemberID\"" | "\"RaftTerm\""), _)) => {
                out.push_str(name);
                out.push_str(" : X\n");
            }
            _ => out.push_str(line),
        }
    }
    out.into_bytes()
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return value;
        }
        shift += 7;
    }
}

/// Splits a protobuf message into its fields: (key, payload bytes as they were).
fn fields_of(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut at = 0;
    let mut fields = Vec::new();
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at);
        let start = at;
        match key & 7 {
            0 => {
                read_varint(bytes, &mut at);
            }
            2 => {
                let len = read_varint(bytes, &mut at) as usize;
                at += len;
            }
            other => panic!("unexpected wire type {other}"),
        }
        fields.push((key, bytes[start..at].to_vec()));
    }
    fields
}

/// Keeps only the revision of the top-level response header (field 1) of a protobuf
/// response: cluster id, member id and term differ between twin servers.
fn mask_pb_header(bytes: &[u8]) -> Vec<u8> {
    // `user get --detail` writes `User: <name>\n` and `\n` before each role's message.
    if let Some(rest) = bytes.strip_prefix(b"User: ") {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let mut out = b"User: ".to_vec();
        out.extend_from_slice(&rest[..end]);
        let rest = &rest[end..];
        let rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        out.extend(mask_pb_header(rest));
        return out;
    }
    let mut out = Vec::new();
    for (key, payload) in fields_of(bytes) {
        if key == (1 << 3 | 2) {
            let mut at = 0;
            let len = read_varint(&payload, &mut at) as usize;
            let header = &payload[at..at + len];
            let revision: Vec<u8> = fields_of(header)
                .into_iter()
                .filter(|(k, _)| *k == (3 << 3))
                .flat_map(|(_, v)| v)
                .collect();
            out.extend_from_slice(format!("header(rev {revision:?})").as_bytes());
        } else {
            out.extend_from_slice(format!("{key}:{payload:?};").as_bytes());
        }
    }
    out
}

#[tokio::test]
async fn reads_print_every_format_as_etcdctl_does() {
    let server = start_server().await;
    let ep = server.endpoint();
    let kit = |args: &'static [&'static str]| {
        let args = with_endpoint(&ep, args);
        async move {
            let out = run(&etcdkit_bin(), &args, b"").await;
            assert_eq!(out.code, 0, "{args:?}: {}", out.stderr_text());
        }
    };
    kit(&["put", "fr/a", "1"]).await;
    kit(&["put", "fr/b", "quote\"tab\t\u{e9}"]).await;
    kit(&["put", "fr/a", "2"]).await;

    for format in FORMATS {
        for args in [
            &["get", "fr/a"][..],
            &["get", "fr/", "--prefix"],
            &["get", "fr/", "--prefix", "--keys-only"],
            &["get", "fr/", "--prefix", "--limit", "1"],
            &["get", "fr/", "--prefix", "--count-only"],
            &["get", "fr/", "--prefix", "--print-value-only"],
            &["get", "fr/none"],
            &["member", "list"],
            &["endpoint", "status"],
            &["endpoint", "hashkv"],
            &["alarm", "list"],
        ] {
            let mut all = vec!["-w", format];
            all.extend_from_slice(args);
            same_as_etcdctl(&ep, &all, unmasked).await;
        }
        same_as_etcdctl(&ep, &["-w", format, "endpoint", "health"], mask_took).await;
    }

    // What etcdkit prints, for when etcdctl is not there to compare with.
    let fields = same_as_etcdctl(
        &ep,
        &["-w", "fields", "get", "fr/", "--prefix", "--count-only"],
        unmasked,
    )
    .await;
    let text = fields.stdout_text();
    assert!(
        text.ends_with("\"Revision\" : 4\n\"RaftTerm\" : 2\n\"More\" : false\n\"Count\" : 2\n"),
        "{text}"
    );
    let table = same_as_etcdctl(&ep, &["-w", "table", "member", "list"], unmasked).await;
    let lines: Vec<String> = table.stdout_text().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    // The ID column is as wide as the member's hex ID, which has no leading zeros (so it
    // may be narrower than 16 digits): the header names it, centred, then STATUS.
    let header: Vec<&str> = lines[1].split('|').map(str::trim).collect();
    assert_eq!(header[..3], ["", "ID", "STATUS"], "{lines:?}");
    assert!(lines[3].ends_with("|      false |"), "{lines:?}");
    let refused = same_as_etcdctl(&ep, &["-w", "protobuf", "endpoint", "status"], unmasked).await;
    assert_eq!(
        (refused.code, refused.last_stderr_line()),
        (
            4,
            "Error: protobuf not supported as output format".to_owned()
        )
    );
    let count_only = same_as_etcdctl(
        &ep,
        &["-w", "json", "get", "fr/", "--prefix", "--count-only"],
        unmasked,
    )
    .await;
    assert_eq!(
        (count_only.code, count_only.last_stderr_line()),
        (
            128,
            "Error: --count-only is only for `--write-out=fields`".to_owned()
        )
    );
}

/// Runs one command on the twin servers and asserts the same stdout (after `mask`), exit
/// code and last stderr line (after [`mask_stderr`]). Returns etcdkit's output.
async fn on_twins(pair: &Pair, args: &[&str], stdin: &[u8], mask: fn(&[u8]) -> Vec<u8>) -> Output {
    let ours = pair.etcdkit(args, stdin).await;
    if let Some(theirs) = pair.etcdctl(args, stdin).await {
        assert_eq!(
            String::from_utf8_lossy(&mask(&ours.stdout)),
            String::from_utf8_lossy(&mask(&theirs.stdout)),
            "{args:?}: stdout differs from etcdctl's\nours stderr: {}",
            ours.stderr_text()
        );
        assert_eq!(ours.code, theirs.code, "{args:?}: exit code");
        assert_eq!(
            mask_stderr(&ours.last_stderr_line()),
            mask_stderr(&theirs.last_stderr_line()),
            "{args:?}: last stderr line"
        );
    }
    ours
}

#[tokio::test]
async fn writes_print_fields_and_protobuf_as_etcdctl_does() {
    let pair = Pair::start().await;
    let both = |args: Vec<&'static str>, stdin: &'static [u8], mask: fn(&[u8]) -> Vec<u8>| {
        let pair = &pair;
        async move { on_twins(pair, &args, stdin, mask).await }
    };
    let txn: &[u8] =
        b"value(\"fw/a\") = \"2\"\n\nput fw/b x\nget fw/a\ndel fw/none\n\nget fw/a\n\n";
    for (format, mask) in [
        ("fields", mask_fields_header as fn(&[u8]) -> Vec<u8>),
        ("protobuf", mask_pb_header),
    ] {
        let out = both(vec!["-w", format, "put", "fw/a", "1"], b"", mask).await;
        assert_eq!(out.code, 0, "{}", out.stderr_text());
        both(
            vec!["-w", format, "put", "--prev-kv", "fw/a", "2"],
            b"",
            mask,
        )
        .await;
        both(vec!["-w", format, "txn"], txn, mask).await;
        both(vec!["-w", format, "del", "--prev-kv", "fw/b"], b"", mask).await;
        both(vec!["-w", format, "del", "fw/none"], b"", mask).await;
    }
    let put = both(
        vec!["-w", "fields", "put", "--prev-kv", "fw/a", "3"],
        b"",
        mask_fields_header,
    )
    .await;
    let text = put.stdout_text();
    assert!(
        text.contains("\"RaftTerm\" : 2\n\"PrevKey\" : \"fw/a\"\n\"PrevCreateRevision\" : 2\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\"PrevVersion\" : 4\n\"PrevValue\" : \"2\"\n\"PrevLease\" : 0\n"),
        "{text}"
    );
    // Formats etcdctl has no printer for: refused with its message and exit code 4.
    for args in [
        vec!["-w", "table", "put", "fw/t", "1"],
        vec!["-w", "table", "get", "fw/a"],
        vec!["-w", "table", "del", "fw/a"],
        vec!["-w", "table", "txn"],
        vec!["-w", "table", "alarm", "list"],
        vec!["-w", "yaml", "get", "fw/a"],
    ] {
        let out = both(args.clone(), b"\n\n\n", unmasked).await;
        assert_eq!(out.code, 4, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// The header values in etcdctl's failure to encode a revoke differ between twin servers.
fn mask_stderr(line: &str) -> String {
    match line.find("LeaseRevokeResponse (") {
        Some(at) => line[..at].to_owned(),
        None => line.to_owned(),
    }
}

/// Blanks what differs between twin servers in lease output: the header's ids and term
/// (fields or protobuf) and the remaining TTL (a second may pass between the two runs).
fn mask_lease(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    if text.starts_with('"') {
        let masked = mask_fields_header(bytes);
        let masked = String::from_utf8_lossy(&masked)
            .lines()
            .map(|l| {
                if l.starts_with("\"TTL\" : ") {
                    "\"TTL\" : X"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        return masked.into_bytes();
    }
    // A protobuf header: keep only the revision.
    let revision: Vec<u8> = fields_of(bytes)
        .into_iter()
        .filter(|(k, _)| *k == (3 << 3))
        .flat_map(|(_, v)| v)
        .collect();
    revision
}

#[tokio::test]
async fn leases_users_and_roles_print_fields_and_protobuf_as_etcdctl_does() {
    let pair = Pair::start().await;
    for (n, format) in ["fields", "protobuf"].into_iter().enumerate() {
        let id = 0x1000 + i64::try_from(n).unwrap();
        let hex = format!("{id:x}");
        pair.grant_lease(id, 300).await;
        pair.setup(&["put", "--lease", &hex, "fl/key", "v"], b"")
            .await;
        for args in [
            &["lease", "timetolive", &hex][..],
            &["lease", "timetolive", "--keys", &hex],
            &["lease", "keep-alive", "--once", &hex],
            &["lease", "list"],
            &["lease", "revoke", &hex],
        ] {
            let mut all = vec!["-w", format];
            all.extend_from_slice(args);
            let out = on_twins(&pair, &all, b"", mask_lease).await;
            if args[1] != "revoke" || format == "fields" {
                assert_eq!(out.code, 0, "{all:?}: {}", out.stderr_text());
            }
        }
        let mask = if format == "fields" {
            mask_fields_header as fn(&[u8]) -> Vec<u8>
        } else {
            mask_pb_header
        };
        let role = format!("fr-{format}");
        let user = format!("fu-{format}");
        let user_pw = format!("{user}:pw");
        for args in [
            &["role", "add", &role][..],
            &["role", "grant-permission", &role, "readwrite", "a", "b"],
            &[
                "role",
                "grant-permission",
                "--prefix",
                &role,
                "read",
                "p\tq",
            ],
            &["role", "get", &role],
            &["role", "list"],
            &["role", "revoke-permission", &role, "a", "b"],
            &["user", "add", &user_pw],
            &["user", "grant-role", &user, &role],
            &["user", "get", &user],
            &["user", "get", "--detail", &user],
            &["-w", "table", "user", "get", "--detail", &user],
            &["user", "list"],
            &["user", "revoke-role", &user, &role],
            &["user", "delete", &user],
            &["role", "delete", &role],
            &["auth", "status"],
            &["alarm", "disarm"],
        ] {
            if format == "fields" && args == ["alarm", "disarm"] {
                // etcdctl crashes on a disarm without alarms in fields.
                continue;
            }
            // An entry with its own `-w` keeps it.
            let mut all = if args[0] == "-w" {
                vec![]
            } else {
                vec!["-w", format]
            };
            all.extend_from_slice(args);
            on_twins(&pair, &all, b"", mask).await;
        }
    }
    // What etcdkit prints, for when etcdctl is not there to compare with.
    pair.setup(&["role", "add", "fr-x"], b"").await;
    pair.setup(&["role", "grant-permission", "fr-x", "write", "k"], b"")
        .await;
    let out = on_twins(
        &pair,
        &["-w", "fields", "role", "get", "fr-x"],
        b"",
        mask_fields_header,
    )
    .await;
    assert!(
        out.stdout_text()
            .ends_with("\"PermType\" :  WRITE\n\"Key\" : \"k\"\n\"RangeEnd\" : \"\"\n"),
        "{}",
        out.stdout_text()
    );
    let out = on_twins(&pair, &["-w", "fields", "user", "list"], b"", unmasked).await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (4, "Error: fields not supported as output format".to_owned())
    );
}

/// What `watch -w FORMAT --rev REV fwatch/ --prefix` prints with this program until it
/// has been quiet for a second.
async fn watch_output(
    program: &std::path::Path,
    endpoint: &str,
    format: &str,
    rev: &str,
) -> Vec<u8> {
    let args = with_endpoint(
        endpoint,
        &["-w", format, "watch", "--rev", rev, "fwatch/", "--prefix"],
    );
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn watch");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut quiet_for = Duration::from_secs(10);
    // Bounded: at most 10 s for the first bytes, then 1 s of quiet ends it.
    while let Ok(Ok(n)) = tokio::time::timeout(quiet_for, stdout.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        quiet_for = Duration::from_secs(1);
    }
    let _ = child.kill().await;
    seen
}

#[tokio::test]
async fn watch_prints_fields_and_protobuf_as_etcdctl_does() {
    let server = start_server().await;
    let ep = server.endpoint();
    // The changes come first; both watchers replay them from their revision, so neither
    // can miss one by starting late.
    for args in [
        &["put", "fwatch/k", "1"][..],
        &["put", "fwatch/k", "2"],
        &["del", "fwatch/k"],
    ] {
        let out = run(&etcdkit_bin(), &with_endpoint(&ep, args), b"").await;
        assert_eq!(out.code, 0, "{}", out.stderr_text());
    }
    for format in ["fields", "protobuf"] {
        let ours = watch_output(&etcdkit_bin(), &ep, format, "2").await;
        assert!(!ours.is_empty(), "{format}: no watch output");
        if let Some(etcdctl) = etcdctl_bin().await {
            let theirs = watch_output(&etcdctl, &ep, format, "2").await;
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{format}: watch output differs from etcdctl's"
            );
        }
    }
}
