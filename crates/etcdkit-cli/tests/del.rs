//! `del` against real etcd, compared with etcdctl 3.6.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Pair, header};

#[tokio::test]
async fn del_output_and_flags() {
    let pair = Pair::start().await;
    for (key, value) in [("p/a", "1"), ("p/b", "2"), ("p/c", "3"), ("p/d", "vald")] {
        pair.setup(&["put", key, value], b"").await; // revs 2..5
    }
    for key in ["r/a", "r/b", "r/c", "r/d"] {
        pair.setup(&["put", key, "x"], b"").await; // revs 6..9
    }
    pair.check(&["del", "p/a"], b"", 0, "1\n", "").await; // rev 10
    pair.check(&["del", "missing"], b"", 0, "0\n", "").await;
    pair.check(
        &["-w", "json", "del", "p/b"],
        b"",
        0,
        &format!("{{\"header\":{},\"deleted\":1}}\n", header(11)),
        "",
    )
    .await;
    pair.check(
        &["-w", "json", "del", "missing"],
        b"",
        0,
        &format!("{{\"header\":{}}}\n", header(11)),
        "",
    )
    .await;
    pair.check(
        &["del", "--prev-kv", "--prefix", "p/"],
        b"",
        0,
        "2\np/c\n3\np/d\nvald\n",
        "",
    )
    .await; // rev 12
    pair.setup(&["put", "p/a", "1"], b"").await; // rev 13
    pair.setup(&["put", "p/b", "2"], b"").await; // rev 14
    pair.check(
        &["-w", "json", "del", "--prev-kv", "--prefix", "p/"],
        b"",
        0,
        &format!(
            "{{\"header\":{},\"deleted\":2,\"prev_kvs\":[\
             {{\"key\":\"cC9h\",\"create_revision\":13,\"mod_revision\":13,\"version\":1,\"value\":\"MQ==\"}},\
             {{\"key\":\"cC9i\",\"create_revision\":14,\"mod_revision\":14,\"version\":1,\"value\":\"Mg==\"}}]}}\n",
            header(15)
        ),
        "",
    )
    .await;
    pair.check(&["del", "--prev-kv", "nothing"], b"", 0, "0\n", "")
        .await;
    pair.check(
        &["-w", "json", "del", "--prev-kv", "nothing"],
        b"",
        0,
        &format!("{{\"header\":{}}}\n", header(15)),
        "",
    )
    .await;
    // A range without `--range` is deleted after a warning and a 2 s grace, as
    // etcdctl 3.6 does it.
    pair.check(
        &["del", "r/b", "r/c"],
        b"",
        0,
        "1\n",
        "Warning: Keys between \"r/b\" and \"r/c\" will be deleted. Please interrupt the command \
         within next 2 seconds to cancel. You can provide `--range` flag to avoid the delay.",
    )
    .await; // rev 16
    pair.check(&["del", "--range", "r/c", "r/d"], b"", 0, "1\n", "")
        .await; // rev 17
    pair.check(&["del", "--from-key", "r/"], b"", 0, "2\n", "")
        .await; // rev 18
    pair.setup(&["put", "h", "v"], b"").await; // rev 19
    pair.check(
        &["--hex", "del", "--prev-kv", "h"],
        b"",
        0,
        "1\n\\x68\n\\x76\n",
        "",
    )
    .await; // rev 20
    pair.setup(&["put", "x1", "1"], b"").await;
    pair.setup(&["put", "x2", "2"], b"").await;
    pair.check(&["del", "--prefix", ""], b"", 0, "2\n", "")
        .await;
    pair.check(&["get", "--from-key", ""], b"", 0, "", "").await;
}

#[tokio::test]
async fn del_errors() {
    let pair = Pair::start().await;
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["del", "--prefix", "r/", "x"],
            128,
            "Error: too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
        ),
        (
            &["del", "--prefix", "--from-key", "r/"],
            128,
            "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one",
        ),
        (
            &["del"],
            128,
            "Error: del command needs one argument as key and an optional argument as range_end",
        ),
        (
            &["del", "a", "b", "c"],
            128,
            "Error: del command needs one argument as key and an optional argument as range_end",
        ),
        (&["del", ""], 1, "Error: etcdserver: key is not provided"),
    ];
    for (args, code, stderr) in cases {
        pair.check(args, b"", code, "", stderr).await;
    }
}
