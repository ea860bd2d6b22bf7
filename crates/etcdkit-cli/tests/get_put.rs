//! `get` and `put` against real etcd, compared with etcdctl 3.6.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Pair, header};

/// Keys p/a..p/d and q, written as in the captured formats; returns at revision 8.
async fn seeded() -> Pair {
    let pair = Pair::start().await;
    pair.check(&["put", "p/a", "vala"], b"", 0, "OK\n", "")
        .await;
    pair.check(
        &["-w", "json", "put", "p/b", "valb"],
        b"",
        0,
        &format!("{{\"header\":{}}}\n", header(3)),
        "",
    )
    .await;
    pair.setup(&["put", "p/c", "valc"], b"").await;
    pair.setup(&["put", "p/d", "vald"], b"").await;
    pair.check(
        &["-w", "json", "put", "--prev-kv", "p/b", "valb2"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"prev_kv\":{{\"key\":\"cC9i\",\"create_revision\":3,\"mod_revision\":3,\"version\":1,\"value\":\"dmFsYg==\"}}}}\n",
            header(6)
        ),
        "",
    )
    .await;
    pair.check(&["put", "--prev-kv", "q", "x"], b"", 0, "OK\n", "")
        .await;
    pair.check(&["put", "--prev-kv", "q", "x"], b"", 0, "OK\nq\nx\n", "")
        .await;
    pair
}

const ALL_P: &str = "p/a\nvala\np/b\nvalb2\np/c\nvalc\np/d\nvald\n";

/// The server's revision filters, as etcdctl sends them: a value that is not positive
/// sets no filter.
#[tokio::test]
async fn get_filters_by_create_and_mod_revision() {
    let pair = seeded().await;
    let check = |args: &'static [&'static str], stdout: &'static str| {
        let pair = &pair;
        async move { pair.check(args, b"", 0, stdout, "").await }
    };
    check(
        &["get", "--prefix", "p/", "--min-create-rev", "4"],
        "p/c\nvalc\np/d\nvald\n",
    )
    .await;
    check(
        &["get", "--prefix", "p/", "--max-create-rev", "3"],
        "p/a\nvala\np/b\nvalb2\n",
    )
    .await;
    check(
        &["get", "--prefix", "p/", "--min-mod-rev", "6"],
        "p/b\nvalb2\n",
    )
    .await;
    check(
        &["get", "--prefix", "p/", "--max-mod-rev", "4"],
        "p/a\nvala\np/c\nvalc\n",
    )
    .await;
    check(
        &[
            "get",
            "--prefix",
            "p/",
            "--min-mod-rev",
            "3",
            "--max-mod-rev",
            "5",
        ],
        "p/c\nvalc\np/d\nvald\n",
    )
    .await;
    check(&["get", "--prefix", "p/", "--max-mod-rev", "-1"], ALL_P).await;
}

#[tokio::test]
async fn get_simple_output_and_flags() {
    let pair = seeded().await;
    let check = |args: &'static [&'static str], stdout: &'static str| {
        let pair = &pair;
        async move { pair.check(args, b"", 0, stdout, "").await }
    };
    check(&["get", "p/a"], "p/a\nvala\n").await;
    check(&["get", "missing"], "").await;
    check(&["get", "--prefix", "p/"], ALL_P).await;
    check(
        &["get", "--prefix", "p/", "--limit", "2"],
        "p/a\nvala\np/b\nvalb2\n",
    )
    .await;
    check(&["get", "--prefix", "p/", "--limit", "-1"], ALL_P).await;
    check(
        &["get", "--from-key", "p/c"],
        "p/c\nvalc\np/d\nvald\nq\nx\n",
    )
    .await;
    check(&["get", "p/a", "p/c"], "p/a\nvala\np/b\nvalb2\n").await;
    check(&["get", "p/b", "--rev", "3"], "p/b\nvalb\n").await;
    check(&["get", "p/b", "--rev", "2"], "").await;
    check(&["get", "p/b", "--rev", "0"], "p/b\nvalb2\n").await;
    check(
        &["get", "--prefix", "p/", "--keys-only"],
        "p/a\n\np/b\n\np/c\n\np/d\n\n",
    )
    .await;
    check(
        &["get", "--prefix", "p/", "--print-value-only"],
        "vala\nvalb2\nvalc\nvald\n",
    )
    .await;
    check(
        &["get", "--prefix", "p/", "--keys-only", "--print-value-only"],
        "\n\n\n\n",
    )
    .await;
    check(
        &[
            "get",
            "--prefix",
            "p/",
            "--sort-by=MODIFY",
            "--order=DESCEND",
        ],
        "p/b\nvalb2\np/d\nvald\np/c\nvalc\np/a\nvala\n",
    )
    .await;
    check(
        &["get", "--prefix", "p/", "--order=descend"],
        "p/d\nvald\np/c\nvalc\np/b\nvalb2\np/a\nvala\n",
    )
    .await;
    check(&["get", "--prefix", "p/", "--sort-by=value"], ALL_P).await;
    check(
        &[
            "get",
            "--prefix",
            "p/",
            "--sort-by=CREATE",
            "--order=DESCEND",
        ],
        "p/d\nvald\np/c\nvalc\np/b\nvalb2\np/a\nvala\n",
    )
    .await;
    check(&["get", "--consistency=s", "p/a"], "p/a\nvala\n").await;
    check(
        &["get", "--prefix", ""],
        "p/a\nvala\np/b\nvalb2\np/c\nvalc\np/d\nvald\nq\nx\n",
    )
    .await;
    check(
        &["get", "--from-key", ""],
        "p/a\nvala\np/b\nvalb2\np/c\nvalc\np/d\nvald\nq\nx\n",
    )
    .await;
    check(
        &["--hex", "get", "p/a"],
        "\\x70\\x2f\\x61\n\\x76\\x61\\x6c\\x61\n",
    )
    .await;
    // Global flags after the command work too.
    check(
        &["get", "p/a", "--hex"],
        "\\x70\\x2f\\x61\n\\x76\\x61\\x6c\\x61\n",
    )
    .await;
}

#[tokio::test]
async fn get_json_output() {
    let pair = seeded().await;
    let h = header(8);
    let kv_a = "{\"key\":\"cC9h\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\"value\":\"dmFsYQ==\"}";
    let kv_b = "{\"key\":\"cC9i\",\"create_revision\":3,\"mod_revision\":6,\"version\":2,\"value\":\"dmFsYjI=\"}";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["-w", "json", "get", "p/a"],
            format!("{{\"header\":{h},\"kvs\":[{kv_a}],\"count\":1}}\n"),
        ),
        (
            vec!["get", "p/a", "-w", "json", "--hex"],
            format!("{{\"header\":{h},\"kvs\":[{kv_a}],\"count\":1}}\n"),
        ),
        (
            vec!["-w", "json", "get", "missing"],
            format!("{{\"header\":{h}}}\n"),
        ),
        (
            vec!["-w", "json", "get", "--prefix", "p/", "--limit", "2"],
            format!("{{\"header\":{h},\"kvs\":[{kv_a},{kv_b}],\"more\":true,\"count\":4}}\n"),
        ),
        (
            vec!["-w", "json", "get", "p/b", "--rev", "3"],
            format!(
                "{{\"header\":{h},\"kvs\":[{{\"key\":\"cC9i\",\"create_revision\":3,\"mod_revision\":3,\"version\":1,\"value\":\"dmFsYg==\"}}],\"count\":1}}\n"
            ),
        ),
        (
            vec!["-w", "json", "get", "p/a", "--keys-only"],
            format!(
                "{{\"header\":{h},\"kvs\":[{{\"key\":\"cC9h\",\"create_revision\":2,\"mod_revision\":2,\"version\":1}}],\"count\":1}}\n"
            ),
        ),
        (
            vec![
                "-w",
                "json",
                "get",
                "--prefix",
                "p/",
                "--sort-by=MODIFY",
                "--order=DESCEND",
                "--limit",
                "1",
            ],
            format!("{{\"header\":{h},\"kvs\":[{kv_b}],\"more\":true,\"count\":4}}\n"),
        ),
        (
            vec!["-w", "json", "get", "--consistency=s", "p/a"],
            format!("{{\"header\":{h},\"kvs\":[{kv_a}],\"count\":1}}\n"),
        ),
    ];
    for (args, expected) in cases {
        pair.check(&args, b"", 0, &expected, "").await;
    }
}

#[tokio::test]
async fn get_errors() {
    let pair = seeded().await;
    let cases: [(&[&str], i32, &str); 11] = [
        (
            &["get", "--prefix", "p/", "--count-only"],
            128,
            "Error: --count-only is only for `--write-out=fields`",
        ),
        (
            &["-w", "json", "get", "--prefix", "p/", "--print-value-only"],
            128,
            "Error: print-value-only is only for `--write-out=simple`",
        ),
        (
            &["get", "--keys-only", "--count-only", "p/"],
            128,
            "Error: `--keys-only` and `--count-only` cannot be set at the same time, choose one",
        ),
        (
            &["get", "--prefix", "p/", "--sort-by=bogus"],
            4,
            "Error: bad sort target bogus",
        ),
        (
            &["get", "--prefix", "p/", "--order=bogus"],
            4,
            "Error: bad sort order bogus",
        ),
        (
            &["get", "--consistency=x", "p/a"],
            4,
            "Error: unknown consistency flag \"x\"",
        ),
        (
            &["get", "--prefix", "p/", "p/c"],
            128,
            "Error: too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
        ),
        (
            &["get", "--prefix", "--from-key", "p/"],
            128,
            "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one",
        ),
        (
            &["get"],
            128,
            "Error: get command needs one argument as key and an optional argument as range_end",
        ),
        (
            &["get", "p/b", "--rev", "999"],
            1,
            "Error: etcdserver: mvcc: required revision is a future revision",
        ),
        (&["get", ""], 1, "Error: etcdserver: key is not provided"),
    ];
    for (args, code, stderr) in cases {
        pair.check(args, b"", code, "", stderr).await;
    }
}

#[tokio::test]
async fn put_values_from_stdin_and_special_bytes() {
    let pair = Pair::start().await;
    pair.check(&["put", "s1"], b"fromstdin", 0, "OK\n", "")
        .await;
    pair.check(&["get", "s1"], b"", 0, "s1\nfromstdin\n", "")
        .await;
    pair.check(&["put", "s2"], b"a\nb\n", 0, "OK\n", "").await;
    pair.check(&["get", "s2"], b"", 0, "s2\na\nb\n\n", "").await;
    let needs = "Error: put command needs 1 argument and input from stdin or 2 arguments";
    pair.check(&["put", "s3"], b"", 128, "", needs).await;
    pair.check(&["put"], b"", 128, "", needs).await;
    // With two arguments stdin is ignored; extra arguments are too.
    pair.check(&["put", "s4", "v"], b"x", 0, "OK\n", "").await;
    pair.check(&["get", "s4", "--print-value-only"], b"", 0, "v\n", "")
        .await;
    pair.check(&["put", "empty", ""], b"", 0, "OK\n", "").await;
    pair.check(&["get", "empty"], b"", 0, "empty\n\n", "").await;
    pair.check(
        &["-w", "json", "get", "empty"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"kvs\":[{{\"key\":\"ZW1wdHk=\",\"create_revision\":5,\"mod_revision\":5,\"version\":1}}],\"count\":1}}\n",
            header(5)
        ),
        "",
    )
    .await;
    pair.check(
        &["--hex", "get", "empty"],
        b"",
        0,
        "\\x65\\x6d\\x70\\x74\\x79\n\n",
        "",
    )
    .await;
    pair.check(&["put", "bin"], b"\xff\xfe\x01a", 0, "OK\n", "")
        .await;
    pair.check_bytes(&["get", "bin"], b"", b"bin\n\xff\xfe\x01a\n")
        .await;
    pair.check(
        &["--hex", "get", "bin"],
        b"",
        0,
        "\\x62\\x69\\x6e\n\\xff\\xfe\\x01\\x61\n",
        "",
    )
    .await;
    pair.check(
        &["-w", "json", "get", "bin"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"kvs\":[{{\"key\":\"Ymlu\",\"create_revision\":6,\"mod_revision\":6,\"version\":1,\"value\":\"//4BYQ==\"}}],\"count\":1}}\n",
            header(6)
        ),
        "",
    )
    .await;
    pair.check(
        &["--hex", "put", "--prev-kv", "bin", "x"],
        b"",
        0,
        "OK\n\\x62\\x69\\x6e\n\\xff\\xfe\\x01\\x61\n",
        "",
    )
    .await;
    pair.check(&["put", "nl\nkey", "line1\nline2"], b"", 0, "OK\n", "")
        .await;
    pair.check(&["get", "nl\nkey"], b"", 0, "nl\nkey\nline1\nline2\n", "")
        .await;
    pair.check(&["put", "a", "b", "c"], b"", 0, "OK\n", "")
        .await;
    pair.check(&["get", "a"], b"", 0, "a\nb\n", "").await;
    pair.check(&["put", "--", "-dash", "-val"], b"", 0, "OK\n", "")
        .await;
    pair.check(&["get", "--", "-dash"], b"", 0, "-dash\n-val\n", "")
        .await;
}

#[tokio::test]
async fn put_flags_and_errors() {
    let pair = Pair::start().await;
    pair.setup(&["put", "s1", "fromstdin"], b"").await; // rev 2
    pair.check(&["put", "--ignore-value", "s1"], b"", 0, "OK\n", "")
        .await; // rev 3
    pair.check(&["get", "s1"], b"", 0, "s1\nfromstdin\n", "")
        .await;
    pair.check(
        &["put", "--ignore-value", "s1", "v9"],
        b"",
        128,
        "",
        "Error: put command needs only 1 argument when 'ignore-value' is set",
    )
    .await;
    pair.check(
        &["put", "--ignore-value", "nokey"],
        b"",
        1,
        "",
        "Error: etcdserver: key not found",
    )
    .await;
    pair.check(
        &["-w", "json", "put", "--ignore-value", "--prev-kv", "s1"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"prev_kv\":{{\"key\":\"czE=\",\"create_revision\":2,\"mod_revision\":3,\"version\":2,\"value\":\"ZnJvbXN0ZGlu\"}}}}\n",
            header(4)
        ),
        "",
    )
    .await;
    pair.check(
        &["put", "--lease=zz", "lk", "lv"],
        b"",
        128,
        "",
        "Error: bad lease ID (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex",
    )
    .await;
    pair.check(
        &["put", "--lease=0x2040a200b6ba5145", "lk", "lv"],
        b"",
        128,
        "",
        "Error: bad lease ID (strconv.ParseInt: parsing \"0x2040a200b6ba5145\": invalid syntax), expecting ID in Hex",
    )
    .await;
    pair.check(
        &["put", "--lease=1234", "lk", "lv"],
        b"",
        1,
        "",
        "Error: etcdserver: requested lease not found",
    )
    .await;
    pair.grant_lease(0x2040a200b6ba5145, 600).await;
    pair.check(
        &["put", "--lease=2040a200b6ba5145", "lk", "lv"],
        b"",
        0,
        "OK\n",
        "",
    )
    .await; // rev 5
    pair.check(
        &["-w", "json", "get", "lk"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"kvs\":[{{\"key\":\"bGs=\",\"create_revision\":5,\"mod_revision\":5,\"version\":1,\"value\":\"bHY=\",\"lease\":2324035531672539461}}],\"count\":1}}\n",
            header(5)
        ),
        "",
    )
    .await;
    pair.check(&["put", "--ignore-lease", "lk", "lv3"], b"", 0, "OK\n", "")
        .await; // rev 6
    pair.check(
        &["-w", "json", "put", "--prev-kv", "--ignore-lease", "lk", "lv4"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"prev_kv\":{{\"key\":\"bGs=\",\"create_revision\":5,\"mod_revision\":6,\"version\":2,\"value\":\"bHYz\",\"lease\":2324035531672539461}}}}\n",
            header(7)
        ),
        "",
    )
    .await;
    pair.check(
        &["put", "", "v"],
        b"",
        1,
        "",
        "Error: etcdserver: key is not provided",
    )
    .await;
    pair.check(
        &["-w", "json", "put", "", "v"],
        b"",
        1,
        "",
        "Error: etcdserver: key is not provided",
    )
    .await;
}
