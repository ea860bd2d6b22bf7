//! `txn` against real etcd, compared with etcdctl 3.6.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Pair, header};

#[tokio::test]
async fn txn_success_and_failure() {
    let pair = Pair::start().await;
    pair.setup(&["put", "k1", "v1"], b"").await; // rev 2
    pair.setup(&["put", "k2", "v2"], b"").await; // rev 3
    pair.setup(&["put", "k3", "v3"], b"").await; // rev 4
    let txn = &["txn"][..];
    let json = &["txn", "-w", "json"][..];
    pair.check(
        txn,
        b"mod(\"k1\") > \"0\"\n\nput k1 new\nget k2\ndel k3\n\nput f x\n\n",
        0,
        "SUCCESS\n\nOK\n\nk2\nv2\n\n1\n",
        "",
    )
    .await; // rev 5
    pair.check(
        txn,
        b"value(\"k1\") = \"nope\"\n\nput k1 new2\n\nput f x\nget f\nget k1 --prefix\n\n",
        0,
        "FAILURE\n\nOK\n\nf\nx\n\nk1\nnew\n",
        "",
    )
    .await; // rev 6
    pair.check(
        json,
        b"version(\"k1\") = \"2\"\n\nput k1 v1\nget k2\ndel k3\n\n\n",
        0,
        &format!(
            "{{\"header\":{},\"succeeded\":true,\"responses\":[\
             {{\"Response\":{{\"response_put\":{{\"header\":{{\"revision\":7}}}}}}}},\
             {{\"Response\":{{\"response_range\":{{\"header\":{{\"revision\":7}},\"kvs\":[{{\"key\":\"azI=\",\"create_revision\":3,\"mod_revision\":3,\"version\":1,\"value\":\"djI=\"}}],\"count\":1}}}}}},\
             {{\"Response\":{{\"response_delete_range\":{{\"header\":{{\"revision\":7}}}}}}}}]}}\n",
            header(7)
        ),
        "",
    )
    .await; // rev 7
    pair.check(
        json,
        b"create(\"k1\") != \"2\"\n\n\nget f\n\n",
        0,
        &format!(
            "{{\"header\":{},\"responses\":[\
             {{\"Response\":{{\"response_range\":{{\"header\":{{\"revision\":7}},\"kvs\":[{{\"key\":\"Zg==\",\"create_revision\":6,\"mod_revision\":6,\"version\":1,\"value\":\"eA==\"}}],\"count\":1}}}}}}]}}\n",
            header(7)
        ),
        "",
    )
    .await;
    pair.check(txn, b"\n\n\n", 0, "SUCCESS\n", "").await;
    pair.check(
        json,
        b"\n\n\n",
        0,
        &format!("{{\"header\":{},\"succeeded\":true}}\n", header(7)),
        "",
    )
    .await;
    pair.check(
        txn,
        b"value(\"k1\") = \"zz\"\n\nput a b\n\n\n",
        0,
        "FAILURE\n",
        "",
    )
    .await;
    pair.check(
        json,
        b"value(\"k1\") = \"zz\"\n\nput a b\n\n\n",
        0,
        &format!("{{\"header\":{}}}\n", header(7)),
        "",
    )
    .await;
    pair.check(
        txn,
        b"value(\"k1\") = \"zz\"\n\n\nget nothing\nget nothing2\n\n",
        0,
        "FAILURE\n\n\n",
        "",
    )
    .await;
    // Blank lines count as empty, CRLF is fine, and what follows the input is ignored.
    pair.check(
        txn,
        b"m(\"k1\") > \"0\"\r\n \t\r\n\r\n  \nignored",
        0,
        "SUCCESS\n",
        "",
    )
    .await;
}

#[tokio::test]
async fn txn_op_flags_and_hex() {
    let pair = Pair::start().await;
    pair.setup(&["put", "k1", "v1"], b"").await; // rev 2
    pair.setup(&["put", "k2", "v2"], b"").await; // rev 3
    pair.check(
        &["txn"],
        b"mod(\"k1\")  >   \"0\"\nmod(\"k2\") > \"0\"\n\nput k1 v1\nget k1 --prefix --keys-only\ndel k2 --prev-kv\n\nget k2\n\n",
        0,
        "SUCCESS\n\nOK\n\nk1\n\n\n1\nk2\nv2\n",
        "",
    )
    .await; // rev 4
    pair.check(
        &["--hex", "txn"],
        b"value(\"k1\") = \"zz\"\n\n\ndel --prev-kv k1\nput --prev-kv k2 v1\nget k2\n\n",
        0,
        "FAILURE\n\n1\n\\x6b\\x31\n\\x76\\x31\n\nOK\n\n\\x6b\\x32\n\\x76\\x31\n",
        "",
    )
    .await; // rev 5
    pair.setup(&["put", "k1", "v1"], b"").await; // rev 6
    pair.check(
        &["txn", "-w", "json"],
        b"\nput --prev-kv k1 v1b\ndel k2 --prev-kv\nget --count-only k1\nget k1 --keys-only\nget k1 --limit=1\n\n\n",
        0,
        &format!(
            "{{\"header\":{},\"succeeded\":true,\"responses\":[\
             {{\"Response\":{{\"response_put\":{{\"header\":{{\"revision\":7}},\"prev_kv\":{{\"key\":\"azE=\",\"create_revision\":6,\"mod_revision\":6,\"version\":1,\"value\":\"djE=\"}}}}}}}},\
             {{\"Response\":{{\"response_delete_range\":{{\"header\":{{\"revision\":7}},\"deleted\":1,\"prev_kvs\":[{{\"key\":\"azI=\",\"create_revision\":5,\"mod_revision\":5,\"version\":1,\"value\":\"djE=\"}}]}}}}}},\
             {{\"Response\":{{\"response_range\":{{\"header\":{{\"revision\":7}},\"count\":1}}}}}},\
             {{\"Response\":{{\"response_range\":{{\"header\":{{\"revision\":7}},\"kvs\":[{{\"key\":\"azE=\",\"create_revision\":6,\"mod_revision\":7,\"version\":2}}],\"count\":1}}}}}},\
             {{\"Response\":{{\"response_range\":{{\"header\":{{\"revision\":7}},\"kvs\":[{{\"key\":\"azE=\",\"create_revision\":6,\"mod_revision\":7,\"version\":2,\"value\":\"djFi\"}}],\"count\":1}}}}}}]}}\n",
            header(7)
        ),
        "",
    )
    .await; // rev 7
    pair.check(
        &["txn"],
        b"\nput \"a key\" \"esc\\\"aped\"\nget \"a key\"\n\n\n",
        0,
        "SUCCESS\n\nOK\n\na key\nesc\"aped\n",
        "",
    )
    .await;
    pair.check(
        &["txn", "-i"],
        b"\n\n\n",
        0,
        "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n",
        "",
    )
    .await;
}

#[tokio::test]
async fn txn_errors() {
    let pair = Pair::start().await;
    pair.setup(&["put", "k1", "v1"], b"").await;
    let cases: [(&[u8], i32, &str); 16] = [
        (b"", 3, "Error: EOF"),
        (b"mod(\"k1\") > \"0\"\n\nget k1\n\n", 3, "Error: EOF"),
        (b"\n\n\nget k1", 0, ""),
        (
            b"mod(\"k1\")>\"0\"\n\n\n\n",
            3,
            "Error: malformed comparison: mod(\"k1\")>\"0\"; got mod(\"k1\")  \"\"",
        ),
        (
            b"mod(k1) > 0\n\n\n\n",
            3,
            "Error: malformed comparison: mod(k1) > 0; got mod(\"\")  \"\"",
        ),
        (
            b"foo(\"k1\") = \"1\"\n\n\n\n",
            3,
            "Error: malformed comparison: foo(\"k1\") = \"1\" (unknown target foo)",
        ),
        (
            b"mod(\"k1\") = \"abc\"\n\n\n\n",
            3,
            "Error: invalid txn compare request: mod(\"k1\") = \"abc\"",
        ),
        (b"\nfoo k1\n\n\n", 3, "Error: invalid txn request: foo k1"),
        (b"\nfoo k1\n", 3, "Error: invalid txn request: foo k1"),
        (
            b"\nget k1 --bogus\n\n\n",
            3,
            "Error: invalid txn request: get k1 --bogus",
        ),
        (
            b"\n# comment\n\n\n",
            3,
            "Error: invalid txn request: # comment",
        ),
        (b"\nget\n\n\n", 3, "Error: invalid txn compare request: get"),
        (
            b"\nput k1\n\n\n",
            128,
            "Error: put command needs 1 argument and input from stdin or 2 arguments",
        ),
        (
            b"\nget k1 --sort-by=bogus\n\n\n",
            4,
            "Error: bad sort target bogus",
        ),
        (
            b"\nput k9 v9\nput k9 v8\n\n\n",
            1,
            "Error: etcdserver: duplicate key given in txn request",
        ),
        (
            b"\nget k1 --rev=99999\n\n\n",
            1,
            "Error: etcdserver: mvcc: required revision is a future revision",
        ),
    ];
    for (stdin, code, stderr) in cases {
        let stdout = if code == 0 { "SUCCESS\n" } else { "" };
        pair.check(&["txn"], stdin, code, stdout, stderr).await;
    }
    pair.check(
        &["txn", "extra"],
        b"\n\n\n",
        128,
        "",
        "Error: txn command does not accept argument",
    )
    .await;
}

/// Where etcdctl 3.5.1 panics (exit 2), etcdkit supports lease compares and refuses
/// unknown operators with a message.
#[tokio::test]
async fn txn_lease_compares_and_unknown_operators() {
    let pair = Pair::start().await;
    let id: i64 = 0x2040a200b6ba5145;
    common::grant_lease(&pair.kit.endpoint(), id, 600).await;
    let put = pair
        .etcdkit(&["put", "--lease=2040a200b6ba5145", "lk", "v"], b"")
        .await;
    assert_eq!(put.code, 0, "{}", put.stderr_text());
    assert_eq!(pair.etcdkit(&["put", "plain", "v"], b"").await.code, 0);
    let cases: [(&str, &str); 6] = [
        ("lease(\"lk\") = \"2040a200b6ba5145\"", "SUCCESS"),
        ("lease(\"lk\") = \"0x2040a200b6ba5145\"", "SUCCESS"),
        ("lease(\"lk\") = \"2324035531672539461\"", "SUCCESS"),
        ("lease(\"lk\") = \"0\"", "FAILURE"),
        ("lease(\"lk\") != \"0\"", "SUCCESS"),
        ("lease(\"plain\") = \"0\"", "SUCCESS"),
    ];
    for (compare, outcome) in cases {
        let out = pair
            .etcdkit(&["txn"], format!("{compare}\n\n\n\n").as_bytes())
            .await;
        assert_eq!(out.code, 0, "{compare}: {}", out.stderr_text());
        assert_eq!(out.stdout_text(), format!("{outcome}\n"), "{compare}");
    }
    let bad = pair
        .etcdkit(&["txn"], b"lease(\"lk\") = \"zz\"\n\n\n\n")
        .await;
    assert_eq!(
        (bad.code, bad.last_stderr_line().as_str()),
        (
            3,
            "Error: invalid txn compare request: lease(\"lk\") = \"zz\""
        )
    );
    for op in ["==", ">=", "=~"] {
        let out = pair
            .etcdkit(
                &["txn"],
                format!("mod(\"lk\") {op} \"1\"\n\n\n\n").as_bytes(),
            )
            .await;
        assert_eq!(out.code, 3, "{op}");
        assert_eq!(
            out.last_stderr_line(),
            format!(
                "Error: malformed comparison: mod(\"lk\") {op} \"1\" (unknown operator {op}; expected =, !=, < or >)"
            )
        );
        assert!(out.stdout.is_empty());
    }
}
