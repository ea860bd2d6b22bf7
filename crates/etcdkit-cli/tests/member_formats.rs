//! `member add / update / promote / remove` in every output format (`simple`, `json`,
//! `fields`, `protobuf`, `table`), and their failures, compared with etcdctl 3.6 run
//! against a twin server.
//!
//! Each tool changes the membership of its own one-member cluster: it adds a learner (a
//! real etcd process from the test kit, so that it can catch up and be promoted without
//! the cluster losing its quorum), updates it to the same peer URL, fails to promote it
//! before it runs, promotes it once it runs, fails to promote it again, and removes it.
//! What differs between the twins is masked: ids (and the header's term), every URL
//! (replaced by its role), and the order of the members (the server lists them by id).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Output, Pair, etcdkit_bin, normalize, run};
use etcdkit_testkit::{EtcdServer, NewMember};

const FORMATS: [&str; 5] = ["simple", "json", "fields", "protobuf", "table"];
/// How long a new member may take to start, and then to catch up with the leader.
const START_DEADLINE: Duration = Duration::from_secs(60);
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(30);
/// etcd's health interval (5 s), and a margin.
const REMOVABLE_AFTER: Duration = Duration::from_secs(7);

/// One tool and its server.
struct Side<'a> {
    server: &'a EtcdServer,
    bin: PathBuf,
    /// The member being added, once it is.
    new: Option<NewMember>,
}

impl Side<'_> {
    async fn run(&self, args: &[&str]) -> Output {
        let mut all = vec![format!("--endpoints={}", self.server.endpoint())];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        run(&self.bin, &all, b"").await
    }

    /// Masks what differs between the twins in `out`'s stdout: URLs become their role,
    /// ids and the term `X`; protobuf is decoded first, and members are sorted.
    fn mask(&self, out: &Output, format: &str) -> String {
        let mut urls = vec![
            (self.server.endpoint(), "CLIENT0".to_owned()),
            (self.server.peer_url(0).unwrap(), "PEER0".to_owned()),
        ];
        if let Some(new) = &self.new {
            urls.push((new.endpoint(), "CLIENT_NEW".to_owned()));
            urls.push((new.peer_url(), "PEER_NEW".to_owned()));
        }
        // Longest first: one URL may begin another (`:2379` and `:23790`).
        urls.sort_by_key(|(url, _)| std::cmp::Reverse(url.len()));
        let text = if format == "protobuf" && out.code == 0 {
            decode_response(&out.stdout)
        } else {
            out.stdout_text()
        };
        let mut text = text;
        for (url, role) in &urls {
            text = text.replace(url.as_str(), role);
        }
        if format == "json" && out.code == 0 {
            text = sort_json_members(&text);
        }
        mask_ids(&normalize(&text))
    }
}

/// The two sides: etcdkit's, and etcdctl's when it is there.
fn sides(pair: &Pair) -> Vec<Side<'_>> {
    let mut sides = vec![Side {
        server: &pair.kit,
        bin: etcdkit_bin(),
        new: None,
    }];
    if let Some((server, bin)) = &pair.ctl {
        sides.push(Side {
            server,
            bin: bin.clone(),
            new: None,
        });
    }
    sides
}

/// Runs one step on every side (its arguments made by `args` from the side) and checks
/// that etcdkit exits with `code` and ends stderr with `stderr_last`, and that etcdctl
/// printed and exited alike. Returns etcdkit's masked stdout.
async fn step(
    sides: &[Side<'_>],
    format: &str,
    args: impl Fn(&Side<'_>) -> Vec<String>,
    code: i32,
    stderr_last: &str,
) -> String {
    let mut seen: Vec<(String, i32, String)> = Vec::new();
    for side in sides {
        let args = args(side);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = side.run(&args).await;
        seen.push((side.mask(&out, format), out.code, out.last_stderr_line()));
        if seen.len() == 1 {
            assert_eq!(
                (out.code, out.last_stderr_line().as_str()),
                (code, stderr_last),
                "etcdkit {args:?}: stdout {:?}\nstderr {}",
                out.stdout_text(),
                out.stderr_text()
            );
        }
    }
    if let [ours, theirs] = &seen[..] {
        assert_eq!(ours, theirs, "{format}: etcdkit (left) and etcdctl differ");
    }
    seen.swap_remove(0).0
}

/// The added learner's hex id on `side`, from `member list`.
async fn learner_id(side: &Side<'_>) -> String {
    let out = side.run(&["member", "list"]).await;
    let line = out
        .stdout_text()
        .lines()
        .find(|l| l.ends_with(", true"))
        .unwrap_or_else(|| panic!("no learner in {}", out.stdout_text()))
        .to_owned();
    line.split(',').next().unwrap().to_owned()
}

/// The first member's hex id on `side`.
async fn first_member_id(side: &Side<'_>) -> String {
    let out = side.run(&["member", "list"]).await;
    out.stdout_text()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// What each format prints for a change that succeeded: (exit code, last stderr line).
/// etcdctl makes the change, then refuses `fields` and `table`.
fn outcome(format: &str) -> (i32, String) {
    match format {
        "fields" | "table" => (4, format!("Error: {format} not supported as output format")),
        _ => (0, String::new()),
    }
}

#[tokio::test]
async fn member_add_update_promote_remove_print_every_format_as_etcdctl_does() {
    let pair = Pair::start().await;
    let mut sides = sides(&pair);
    for format in FORMATS {
        let (code, refusal) = outcome(format);
        for side in &mut sides {
            side.new = Some(side.server.new_member().expect("new member"));
        }
        let new = |side: &Side<'_>| {
            let new = side.new.as_ref().unwrap();
            (new.name().to_owned(), new.peer_url())
        };
        let added = step(
            &sides,
            format,
            |side| {
                let (name, peer) = new(side);
                strings(&[
                    "-w",
                    format,
                    "member",
                    "add",
                    &name,
                    "--learner",
                    &format!("--peer-urls={peer}"),
                ])
            },
            code,
            &refusal,
        )
        .await;
        let mut ids = Vec::new();
        for side in &sides {
            ids.push(learner_id(side).await);
        }
        let id_of = |side: &Side<'_>| {
            let i = usize::from(!std::ptr::eq(side.server, &pair.kit));
            ids[i].clone()
        };
        step(
            &sides,
            format,
            |side| {
                let (_, peer) = new(side);
                strings(&[
                    "-w",
                    format,
                    "member",
                    "update",
                    &id_of(side),
                    &format!("--peer-urls={peer}"),
                ])
            },
            code,
            &refusal,
        )
        .await;
        let promote = |side: &Side<'_>| strings(&["-w", format, "member", "promote", &id_of(side)]);
        step(
            &sides,
            format,
            promote,
            1,
            "Error: etcdserver: can only promote a learner member which is in sync with leader",
        )
        .await;
        let mut started = tokio::time::Instant::now();
        for side in &sides {
            let new = side.new.as_ref().unwrap();
            started = tokio::time::Instant::now();
            tokio::time::timeout(START_DEADLINE, new.start())
                .await
                .expect("new member did not start in time")
                .expect("start new member");
            wait_until_promotable(side).await;
        }
        let promoted = step(&sides, format, promote, code, &refusal).await;
        step(
            &sides,
            format,
            promote,
            1,
            "Error: etcdserver: can only promote a learner member",
        )
        .await;
        // etcd removes a voting member only if the members left that it has heard from for
        // 5 s (its health interval) keep a quorum, and counts the leaving one among those
        // it checks: give the newest one that long.
        tokio::time::sleep_until(started + REMOVABLE_AFTER).await;
        let removed = step(
            &sides,
            format,
            |side| strings(&["-w", format, "member", "remove", &id_of(side)]),
            code,
            &refusal,
        )
        .await;
        // Removed in every format, even those refused after the change.
        for side in &sides {
            let list = side.run(&["member", "list"]).await;
            assert_eq!(list.stdout_text().lines().count(), 1, "{format}: {list:?}");
        }
        // What etcdkit prints, for when etcdctl is not there to compare with.
        let name = new(&sides[0]).0;
        match format {
            "simple" => {
                assert_eq!(
                    added,
                    format!(
                        "Member X added as learner to cluster X\n\nETCD_NAME=\"{name}\"\n\
                         ETCD_INITIAL_CLUSTER=\"m0=PEER0,{name}=PEER_NEW\"\n\
                         ETCD_INITIAL_ADVERTISE_PEER_URLS=\"PEER_NEW\"\n\
                         ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
                    )
                );
                assert_eq!(promoted, "Member X promoted in cluster X\n");
                assert_eq!(removed, "Member X removed from cluster X\n");
            }
            "json" => {
                assert_eq!(
                    added,
                    "{\"header\":{\"cluster_id\":ID,\"member_id\":ID,\"raft_term\":T},\
                     \"member\":{\"ID\":X,\"peerURLs\":[\"PEER_NEW\"],\"isLearner\":true},\
                     \"members\":[{\"ID\":X,\"name\":\"m0\",\"peerURLs\":[\"PEER0\"],\"clientURLs\":[\"CLIENT0\"]},\
                     {\"ID\":X,\"peerURLs\":[\"PEER_NEW\"],\"isLearner\":true}]}\n"
                );
            }
            "protobuf" => {
                assert_eq!(
                    promoted,
                    format!(
                        "header[1,2,4] 2:{{1:X 2:\"m0\" 3:\"PEER0\" 4:\"CLIENT0\"}} \
                         2:{{1:X 2:\"{name}\" 3:\"PEER_NEW\" 4:\"CLIENT_NEW\"}}"
                    )
                );
            }
            _ => assert_eq!(added, ""),
        }
        for side in &mut sides {
            // Removed from the cluster, it stops on its own; this reaps it.
            side.new = None;
        }
    }
}

/// Waits (bounded) until the learner has caught up, as etcd wants before it promotes
/// one: it has applied the leader's log up to the leader's index when asked. Read with
/// `endpoint status`, which a learner serves (`member list` it refuses).
async fn wait_until_promotable(side: &Side<'_>) {
    let new = side.new.as_ref().unwrap();
    let target = status_index(&side.server.endpoint(), "raftIndex")
        .await
        .expect("leader status");
    let deadline = tokio::time::Instant::now() + CATCH_UP_DEADLINE;
    loop {
        let applied = status_index(&new.endpoint(), "raftAppliedIndex").await;
        if applied.is_some_and(|applied| applied >= target) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "learner did not catch up to {target}: {applied:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A number of `endpoint status -w json`'s answer from `endpoint`, if it answered.
async fn status_index(endpoint: &str, field: &str) -> Option<u64> {
    let out = run(
        &etcdkit_bin(),
        &strings(&[
            &format!("--endpoints={endpoint}"),
            "-w",
            "json",
            "endpoint",
            "status",
        ]),
        b"",
    )
    .await;
    let value: serde_json::Value = serde_json::from_str(&out.stdout_text()).ok()?;
    value.get(0)?.get("Status")?.get(field)?.as_u64()
}

#[tokio::test]
async fn member_change_failures_print_and_exit_as_etcdctl_does_in_every_format() {
    let pair = Pair::start().await;
    let sides = sides(&pair);
    let mut first = Vec::new();
    for side in &sides {
        first.push(first_member_id(side).await);
    }
    let first_of =
        |side: &Side<'_>| first[usize::from(!std::ptr::eq(side.server, &pair.kit))].clone();
    for format in FORMATS {
        let fixed = |args: &[&str]| {
            let mut all = strings(&["-w", format]);
            all.extend(strings(args));
            move |_: &Side<'_>| all.clone()
        };
        for (args, code, stderr) in [
            (
                &["member", "remove", "1234"][..],
                1,
                "Error: etcdserver: member not found",
            ),
            (
                &["member", "update", "1234", "--peer-urls=http://127.0.0.1:5"],
                1,
                "Error: etcdserver: member not found",
            ),
            (
                &["member", "promote", "1234"],
                1,
                "Error: etcdserver: member not found",
            ),
            (
                &["member", "add", "x", "--peer-urls=bad"],
                1,
                "Error: URL scheme must be http, https, unix, or unixs: bad",
            ),
            (
                &["member", "add", "x", "--peer-urls=http://127.0.0.1:5,"],
                1,
                "Error: URL scheme must be http, https, unix, or unixs: ",
            ),
            (
                &["member", "add", "x", "--peer-urls=http://127.0.0.1"],
                1,
                "Error: URL address does not have the form \"host:port\": http://127.0.0.1",
            ),
            (
                &["member", "add", "x", "--peer-urls=http://127.0.0.1:5/p"],
                1,
                "Error: URL must not contain a path: http://127.0.0.1:5/p",
            ),
            (
                &["member", "update", "1234", "--peer-urls=http://127.0.0.1:x"],
                1,
                "Error: parse \"http://127.0.0.1:x\": invalid port \":x\" after host",
            ),
            (
                &["member", "add", "x", "http://127.0.0.1:5"],
                128,
                "Error: too many arguments, did you mean --peer-urls=http://127.0.0.1:5",
            ),
            (
                &["member", "remove", "1", "2"],
                128,
                "Error: member ID is not provided",
            ),
            (
                &["member", "promote", "zz"],
                128,
                "Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex",
            ),
        ] {
            let out = step(&sides, format, fixed(args), code, stderr).await;
            assert_eq!(out, "", "{format} {args:?}");
        }
        // The cluster's own (voting) member.
        step(
            &sides,
            format,
            |side| strings(&["-w", format, "member", "promote", &first_of(side)]),
            1,
            "Error: etcdserver: can only promote a learner member",
        )
        .await;
        // Its own peer URL again: etcd takes it, and answers with the unchanged list.
        let (code, refusal) = outcome(format);
        step(
            &sides,
            format,
            |side| {
                strings(&[
                    "-w",
                    format,
                    "member",
                    "update",
                    &first_of(side),
                    &format!("--peer-urls={}", side.server.peer_url(0).unwrap()),
                ])
            },
            code,
            &refusal,
        )
        .await;
    }
    // An unknown format is refused before anything else but the arguments.
    let out = step(
        &sides,
        "yaml",
        |_| strings(&["-w", "yaml", "member", "add", "x", "--peer-urls=bad"]),
        4,
        "Error: unsupported output format",
    )
    .await;
    assert_eq!(out, "");
    step(
        &sides,
        "yaml",
        |_| strings(&["-w", "yaml", "member", "remove", "zz"]),
        128,
        "Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex",
    )
    .await;
}

/// Ids as `X`: runs of 12 or more hex digits (hex ids, and decimal ones in json), then
/// the spaces Go's `%16x` pads a shorter one with.
fn mask_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 12 {
            out.push('X');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    while out.contains("  X") {
        out = out.replace("  X", " X");
    }
    // `ETCD_INITIAL_CLUSTER` lists the members in id order.
    let prefix = "ETCD_INITIAL_CLUSTER=\"";
    out.split_inclusive('\n')
        .map(|line| match line.strip_prefix(prefix) {
            Some(rest) => {
                let mut items: Vec<&str> =
                    rest.trim_end().trim_end_matches('"').split(',').collect();
                items.sort_unstable();
                format!("{prefix}{}\"\n", items.join(","))
            }
            None => line.to_owned(),
        })
        .collect()
}

/// A json response with its `members` sorted by their masked text. Members hold no
/// objects, so `},{` separates them, and the list is the response's last field.
fn sort_json_members(text: &str) -> String {
    const LIST: &str = "\"members\":[{";
    let (Some(start), Some(end)) = (text.find(LIST), text.rfind("}]}")) else {
        return text.to_owned();
    };
    let body_start = start + LIST.len();
    if end < body_start {
        return text.to_owned();
    }
    let mut members: Vec<&str> = text[body_start..end].split("},{").collect();
    members.sort_by_key(|m| mask_ids(m));
    format!(
        "{}{}{}",
        &text[..body_start],
        members.join("},{"),
        &text[end..]
    )
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

/// A protobuf message's fields in order: (field number, wire type, varint value or bytes).
fn fields_of(bytes: &[u8]) -> Vec<(u64, u64, u64, Vec<u8>)> {
    let mut at = 0;
    let mut fields = Vec::new();
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at);
        match key & 7 {
            0 => {
                let v = read_varint(bytes, &mut at);
                fields.push((key >> 3, 0, v, Vec::new()));
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)).unwrap();
                fields.push((key >> 3, 2, 0, bytes[at..at + len].to_vec()));
                at += len;
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    fields
}

/// A member response (`MemberAddResponse` and the others) as text: the header as the
/// list of its fields' numbers (their values differ between twins), each `Member` as
/// `{1:X 2:"name" 3:"peer" 4:"client" 5:1}` (the id masked), members sorted within
/// their field. Field numbers and wire types are all kept.
fn decode_response(bytes: &[u8]) -> String {
    let mut parts: Vec<(u64, String)> = Vec::new();
    for (field, wire, _, payload) in fields_of(bytes) {
        assert_eq!(wire, 2, "field {field} of a member response is a message");
        if field == 1 {
            let keys: Vec<String> = fields_of(&payload)
                .iter()
                .map(|(f, _, _, _)| f.to_string())
                .collect();
            parts.push((field, format!("header[{}]", keys.join(","))));
            continue;
        }
        let member: Vec<String> = fields_of(&payload)
            .into_iter()
            .map(|(f, wire, value, text)| match (f, wire) {
                (1, 0) => "1:X".to_owned(),
                (_, 0) => format!("{f}:{value}"),
                _ => format!("{f}:{:?}", String::from_utf8_lossy(&text)),
            })
            .collect();
        parts.push((field, format!("{field}:{{{}}}", member.join(" "))));
    }
    // Fields come in number order; members are sorted within theirs.
    assert!(
        parts.windows(2).all(|w| w[0].0 <= w[1].0),
        "fields out of order: {parts:?}"
    );
    parts.sort();
    parts
        .into_iter()
        .map(|(_, p)| p)
        .collect::<Vec<_>>()
        .join(" ")
}
