//! The key-value API against a real etcd: every option of get, put, delete, txn, compact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bounded, client, server};
use etcdkit::kv::{
    Compare, CompareOp, Delete, Get, Put, SortOrder, SortTarget, Txn, TxnOpResponse,
};
use etcdkit::{ErrorKind, LeaseId, Revision};

fn keys(r: &etcdkit::kv::GetResponse) -> Vec<String> {
    r.kvs()
        .iter()
        .map(|kv| kv.key_str().unwrap().to_string())
        .collect()
}

fn values(r: &etcdkit::kv::GetResponse) -> Vec<String> {
    r.kvs()
        .iter()
        .map(|kv| kv.value_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn put_then_get_returns_value_and_metadata() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let put = bounded(c.kv().put("meta/a", "1")).await.unwrap();
    let rev = put.header().revision();
    assert!(rev.get() > 1);
    bounded(c.kv().put("meta/a", "2")).await.unwrap();
    let got = bounded(c.kv().get("meta/a")).await.unwrap();
    let kv = got.first().unwrap();
    assert_eq!(kv.key().as_ref(), b"meta/a");
    assert_eq!(kv.value().as_ref(), b"2");
    assert_eq!(kv.create_revision(), rev);
    assert_eq!(kv.mod_revision(), rev.next());
    assert_eq!(kv.version(), 2);
    assert_eq!(kv.lease(), None);
    assert_eq!(got.count(), 1);
    assert!(!got.more());
    let h = got.header();
    assert_ne!(h.cluster_id().0, 0);
    assert_ne!(h.member_id().get(), 0);
    assert_eq!(h.revision(), rev.next());
    assert!(h.raft_term() >= 1);
}

#[tokio::test]
async fn values_are_bytes_not_text() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let key = Bytes::from_static(b"bin/\xff\x00k");
    let value = Bytes::from_static(b"\x00\x01\xfe\xff");
    bounded(c.kv().put(key.clone(), value.clone()))
        .await
        .unwrap();
    let got = bounded(c.kv().get(key.clone())).await.unwrap();
    assert_eq!(got.first().unwrap().key(), &key);
    assert_eq!(got.first().unwrap().value(), &value);
    assert_eq!(got.first().unwrap().key_str(), None);
}

#[tokio::test]
async fn missing_key_gives_empty_response() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let got = bounded(c.kv().get("missing/none")).await.unwrap();
    assert!(got.kvs().is_empty());
    assert_eq!(got.count(), 0);
}

async fn seed(c: &etcdkit::Client, prefix: &str, n: usize) -> Vec<Revision> {
    let mut revs = Vec::new();
    for i in 0..n {
        let r = bounded(c.kv().put(format!("{prefix}{i}"), format!("v{}", n - i)))
            .await
            .unwrap();
        revs.push(r.header().revision());
    }
    revs
}

#[tokio::test]
async fn get_ranges_prefix_range_end_and_from_key() {
    let etcd = server().await;
    let c = client(&etcd).await;
    seed(&c, "rng/", 5).await;
    bounded(c.kv().put("rnh", "outside")).await.unwrap();
    let prefix = bounded(c.kv().get("rng/").prefix()).await.unwrap();
    assert_eq!(keys(&prefix), ["rng/0", "rng/1", "rng/2", "rng/3", "rng/4"]);
    let range = bounded(c.kv().get("rng/1").range_end("rng/3"))
        .await
        .unwrap();
    assert_eq!(keys(&range), ["rng/1", "rng/2"]);
    let from = bounded(c.kv().get("rng/3").from_key()).await.unwrap();
    assert_eq!(keys(&from), ["rng/3", "rng/4", "rnh"]);
    let all = bounded(c.kv().get("").prefix()).await.unwrap();
    assert_eq!(all.count(), 6);
}

#[tokio::test]
async fn get_limit_reports_more_and_full_count() {
    let etcd = server().await;
    let c = client(&etcd).await;
    seed(&c, "lim/", 5).await;
    let got = bounded(c.kv().get("lim/").prefix().limit(2)).await.unwrap();
    assert_eq!(keys(&got), ["lim/0", "lim/1"]);
    assert!(got.more());
    assert_eq!(got.count(), 5);
}

#[tokio::test]
async fn get_at_revision_sees_the_past() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let first = bounded(c.kv().put("hist/a", "old")).await.unwrap();
    bounded(c.kv().put("hist/a", "new")).await.unwrap();
    let past = bounded(c.kv().get("hist/a").revision(first.header().revision()))
        .await
        .unwrap();
    assert_eq!(values(&past), ["old"]);
}

#[tokio::test]
async fn get_keys_only_and_count_only() {
    let etcd = server().await;
    let c = client(&etcd).await;
    seed(&c, "ko/", 3).await;
    let ko = bounded(c.kv().get("ko/").prefix().keys_only())
        .await
        .unwrap();
    assert_eq!(keys(&ko), ["ko/0", "ko/1", "ko/2"]);
    assert!(ko.kvs().iter().all(|kv| kv.value().is_empty()));
    let co = bounded(c.kv().get("ko/").prefix().count_only())
        .await
        .unwrap();
    assert!(co.kvs().is_empty());
    assert_eq!(co.count(), 3);
}

#[tokio::test]
async fn get_sorts_by_every_target_and_order() {
    let etcd = server().await;
    let c = client(&etcd).await;
    // Keys ascend while values descend, and key 1 is written twice (higher version and
    // mod revision, same create revision).
    seed(&c, "sort/", 3).await;
    bounded(c.kv().put("sort/1", "v2")).await.unwrap();
    let get = |t, o| bounded(c.kv().get("sort/").prefix().sort(t, o));
    assert_eq!(
        keys(&get(SortTarget::Key, SortOrder::Descend).await.unwrap()),
        ["sort/2", "sort/1", "sort/0"]
    );
    assert_eq!(
        keys(&get(SortTarget::Key, SortOrder::Ascend).await.unwrap()),
        ["sort/0", "sort/1", "sort/2"]
    );
    assert_eq!(
        keys(&get(SortTarget::Value, SortOrder::Ascend).await.unwrap()),
        ["sort/2", "sort/1", "sort/0"]
    );
    assert_eq!(
        keys(&get(SortTarget::Create, SortOrder::Descend).await.unwrap()),
        ["sort/2", "sort/1", "sort/0"]
    );
    assert_eq!(
        keys(&get(SortTarget::Mod, SortOrder::Descend).await.unwrap())[0],
        "sort/1"
    );
    assert_eq!(
        keys(&get(SortTarget::Version, SortOrder::Descend).await.unwrap())[0],
        "sort/1"
    );
    assert_eq!(
        keys(&get(SortTarget::Key, SortOrder::None).await.unwrap()),
        ["sort/0", "sort/1", "sort/2"]
    );
}

#[tokio::test]
async fn get_serializable_reads_locally() {
    let etcd = server().await;
    let c = client(&etcd).await;
    bounded(c.kv().put("ser/a", "1")).await.unwrap();
    let got = bounded(c.kv().get("ser/a").serializable()).await.unwrap();
    assert_eq!(values(&got), ["1"]);
}

#[tokio::test]
async fn get_filters_by_mod_and_create_revision() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let revs = seed(&c, "flt/", 4).await;
    let modified = bounded(c.kv().put("flt/0", "again"))
        .await
        .unwrap()
        .header()
        .revision();
    let min_mod = bounded(c.kv().get("flt/").prefix().min_mod_revision(revs[2]))
        .await
        .unwrap();
    assert_eq!(keys(&min_mod), ["flt/0", "flt/2", "flt/3"]);
    let max_mod = bounded(c.kv().get("flt/").prefix().max_mod_revision(revs[1]))
        .await
        .unwrap();
    assert_eq!(keys(&max_mod), ["flt/1"]);
    let min_create = bounded(c.kv().get("flt/").prefix().min_create_revision(revs[2]))
        .await
        .unwrap();
    assert_eq!(keys(&min_create), ["flt/2", "flt/3"]);
    let max_create = bounded(c.kv().get("flt/").prefix().max_create_revision(revs[1]))
        .await
        .unwrap();
    assert_eq!(keys(&max_create), ["flt/0", "flt/1"]);
    assert!(modified > revs[3]);
}

#[tokio::test]
async fn put_returns_prev_kv_when_asked() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let none = bounded(c.kv().put("pkv/a", "1").prev_kv()).await.unwrap();
    assert!(none.prev_kv().is_none());
    let some = bounded(c.kv().put("pkv/a", "2").prev_kv()).await.unwrap();
    assert_eq!(some.prev_kv().unwrap().value().as_ref(), b"1");
    let not_asked = bounded(c.kv().put("pkv/a", "3")).await.unwrap();
    assert!(not_asked.prev_kv().is_none());
}

#[tokio::test]
async fn put_with_lease_ignore_value_and_ignore_lease() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let lease = bounded(c.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap()
        .id();
    bounded(c.kv().put("lease/a", "v1").lease(lease))
        .await
        .unwrap();
    let kv = bounded(c.kv().get("lease/a")).await.unwrap().kvs()[0].clone();
    assert_eq!(kv.lease(), Some(lease));

    // ignore_lease: new value, lease kept.
    bounded(c.kv().put("lease/a", "v2").ignore_lease())
        .await
        .unwrap();
    let kv = bounded(c.kv().get("lease/a")).await.unwrap().kvs()[0].clone();
    assert_eq!((kv.value().as_ref(), kv.lease()), (&b"v2"[..], Some(lease)));

    // ignore_value: value kept, lease changed (here: detached).
    bounded(c.kv().put("lease/a", "").ignore_value())
        .await
        .unwrap();
    let kv = bounded(c.kv().get("lease/a")).await.unwrap().kvs()[0].clone();
    assert_eq!((kv.value().as_ref(), kv.lease()), (&b"v2"[..], None));

    // ignore_value on a missing key is etcd's "key not found".
    let err = bounded(c.kv().put("lease/missing", "").ignore_value())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound, "{err}");

    // A key under a revoked lease is gone.
    bounded(c.kv().put("lease/b", "x").lease(lease))
        .await
        .unwrap();
    bounded(c.lease().revoke(lease)).await.unwrap();
    assert_eq!(bounded(c.kv().get("lease/b")).await.unwrap().count(), 0);
    let err = bounded(c.kv().put("lease/c", "x").lease(LeaseId(lease.get())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound, "{err}");
}

#[tokio::test]
async fn delete_key_range_prefix_and_from_key() {
    let etcd = server().await;
    let c = client(&etcd).await;
    seed(&c, "del/", 6).await;
    let one = bounded(c.kv().delete("del/0")).await.unwrap();
    assert_eq!(one.deleted(), 1);
    assert!(one.prev_kvs().is_empty());
    let missing = bounded(c.kv().delete("del/0")).await.unwrap();
    assert_eq!(missing.deleted(), 0);
    let range = bounded(c.kv().delete("del/1").range_end("del/3").prev_kv())
        .await
        .unwrap();
    assert_eq!(range.deleted(), 2);
    let prev: Vec<_> = range
        .prev_kvs()
        .iter()
        .map(|kv| kv.key_str().unwrap())
        .collect();
    assert_eq!(prev, ["del/1", "del/2"]);
    let from = bounded(c.kv().delete("del/4").from_key()).await.unwrap();
    assert_eq!(from.deleted(), 2);
    let rest = bounded(c.kv().delete("del/").prefix()).await.unwrap();
    assert_eq!(rest.deleted(), 1);
}

#[tokio::test]
async fn txn_compares_every_target_with_every_operator() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let lease = bounded(c.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap()
        .id();
    let first = bounded(c.kv().put("cmp/k", "m").lease(lease))
        .await
        .unwrap()
        .header()
        .revision();
    let second = bounded(c.kv().put("cmp/k", "m").lease(lease))
        .await
        .unwrap()
        .header()
        .revision();
    // Now: value "m", version 2, create revision `first`, mod revision `second`, lease.
    use CompareOp::*;
    let cases: Vec<(Compare, bool)> = vec![
        (Compare::value("cmp/k", Equal, "m"), true),
        (Compare::value("cmp/k", NotEqual, "m"), false),
        (Compare::value("cmp/k", Less, "n"), true),
        (Compare::value("cmp/k", Greater, "n"), false),
        (Compare::version("cmp/k", Equal, 2), true),
        (Compare::version("cmp/k", NotEqual, 2), false),
        (Compare::version("cmp/k", Less, 3), true),
        (Compare::version("cmp/k", Greater, 2), false),
        (Compare::create_revision("cmp/k", Equal, first), true),
        (Compare::create_revision("cmp/k", NotEqual, first), false),
        (Compare::create_revision("cmp/k", Less, second), true),
        (Compare::create_revision("cmp/k", Greater, first), false),
        (Compare::mod_revision("cmp/k", Equal, second), true),
        (Compare::mod_revision("cmp/k", NotEqual, second), false),
        (Compare::mod_revision("cmp/k", Less, second), false),
        (Compare::mod_revision("cmp/k", Greater, first), true),
        (Compare::lease("cmp/k", Equal, Some(lease)), true),
        (Compare::lease("cmp/k", NotEqual, Some(lease)), false),
        (Compare::lease("cmp/k", Greater, None), true),
        (Compare::lease("cmp/k", Less, Some(lease)), false),
        (Compare::version("cmp/none", Equal, 0), true),
    ];
    for (compare, want) in cases {
        let label = format!("{compare:?}");
        let r = bounded(c.kv().txn().when([compare])).await.unwrap();
        assert_eq!(r.succeeded(), want, "{label}");
    }
}

#[tokio::test]
async fn revision_arguments_take_plain_integers_too() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let rev = bounded(c.kv().put("rint/k", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let n: i64 = rev.get();
    let r = bounded(c.kv().txn().when([
        Compare::create_revision("rint/k", CompareOp::Equal, n),
        Compare::mod_revision("rint/k", CompareOp::Equal, n),
        Compare::mod_revision("rint/k", CompareOp::Equal, rev),
    ]))
    .await
    .unwrap();
    assert!(r.succeeded());
    let hash = bounded(c.maintenance().hash_kv(n)).await.unwrap();
    // etcd 3.5 leaves the response's hash_revision unset (0); 3.6 says which it hashed.
    if hash.hash_revision().get() != 0 {
        assert_eq!(hash.hash_revision(), rev);
    }
    bounded(c.kv().compact(n)).await.unwrap();
    let again = bounded(c.kv().compact(n)).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Compacted, "{again}");
}

#[tokio::test]
async fn txn_compares_over_a_range() {
    let etcd = server().await;
    let c = client(&etcd).await;
    seed(&c, "crng/", 3).await;
    let all_created = Compare::version("crng/", CompareOp::Greater, 0).prefix();
    assert!(
        bounded(c.kv().txn().when([all_created]))
            .await
            .unwrap()
            .succeeded()
    );
    let some_value = Compare::value("crng/0", CompareOp::Equal, "v3").range_end("crng/2");
    assert!(
        !bounded(c.kv().txn().when([some_value]))
            .await
            .unwrap()
            .succeeded()
    );
}

#[tokio::test]
async fn txn_runs_success_or_failure_ops_including_nested() {
    let etcd = server().await;
    let c = client(&etcd).await;
    bounded(c.kv().put("txn/flag", "on")).await.unwrap();
    bounded(c.kv().put("txn/gone", "x")).await.unwrap();
    let r = bounded(
        c.kv()
            .txn()
            .when([Compare::value("txn/flag", CompareOp::Equal, "on")])
            .and_then([
                etcdkit::kv::TxnOp::from(Put::new("txn/a", "1").prev_kv()),
                Get::new("txn/flag").into(),
                Delete::new("txn/gone").prev_kv().into(),
                Txn::new()
                    .when([Compare::version("txn/a", CompareOp::Equal, 0)])
                    .and_then([Put::new("txn/nested", "y")])
                    .or_else([Put::new("txn/never", "x")])
                    .into(),
            ])
            .or_else([Put::new("txn/b", "2")]),
    )
    .await
    .unwrap();
    assert!(r.succeeded());
    let responses = r.responses();
    assert_eq!(responses.len(), 4);
    assert!(matches!(&responses[0], TxnOpResponse::Put(p) if p.prev_kv().is_none()));
    assert!(matches!(&responses[1], TxnOpResponse::Get(g) if g.kvs()[0].value().as_ref() == b"on"));
    assert!(
        matches!(&responses[2], TxnOpResponse::Delete(d) if d.deleted() == 1 && d.prev_kvs().len() == 1)
    );
    // etcd evaluates every compare, nested ones included, before any write: the nested
    // compare does not see the outer put.
    assert!(matches!(&responses[3], TxnOpResponse::Txn(t) if t.succeeded()));
    assert_eq!(bounded(c.kv().get("txn/nested")).await.unwrap().count(), 1);
    assert_eq!(bounded(c.kv().get("txn/never")).await.unwrap().count(), 0);
    assert_eq!(bounded(c.kv().get("txn/b")).await.unwrap().count(), 0);

    let r = bounded(
        c.kv()
            .txn()
            .when([Compare::value("txn/flag", CompareOp::Equal, "off")])
            .and_then([Put::new("txn/c", "1")])
            .or_else([Put::new("txn/b", "2")]),
    )
    .await
    .unwrap();
    assert!(!r.succeeded());
    assert_eq!(bounded(c.kv().get("txn/b")).await.unwrap().count(), 1);
    assert_eq!(bounded(c.kv().get("txn/c")).await.unwrap().count(), 0);
}

#[tokio::test]
async fn txn_results_are_read_by_index_and_kind() {
    let etcd = server().await;
    let c = client(&etcd).await;
    bounded(c.kv().put("tix/cfg", "old")).await.unwrap();
    bounded(c.kv().put("tix/gone", "x")).await.unwrap();
    // The compare fails, so the else branch runs: a put, a get, a delete and a nested txn.
    let r = bounded(
        c.kv()
            .txn()
            .when([Compare::version("tix/cfg", CompareOp::Equal, 0)])
            .and_then([Put::new("tix/cfg", "default")])
            .or_else([
                etcdkit::kv::TxnOp::from(Put::new("tix/seen", "1")),
                Get::new("tix/cfg").into(),
                Delete::new("tix/gone").into(),
                Txn::new().and_then([Get::new("tix/cfg")]).into(),
            ]),
    )
    .await
    .unwrap();
    assert!(!r.succeeded());
    assert_eq!(r.len(), 4);
    assert!(!r.is_empty());
    assert!(r.put(0).is_some());
    assert_eq!(r.get(1).unwrap().first().unwrap().value().as_ref(), b"old");
    assert_eq!(r.delete(2).unwrap().deleted(), 1);
    let nested = r.txn(3).unwrap();
    assert!(nested.succeeded());
    assert_eq!(nested.get(0).unwrap().count(), 1);
    // Asking for the wrong kind, or past the end, is `None`, not a panic.
    assert!(r.get(0).is_none());
    assert!(r.put(1).is_none());
    assert!(r.txn(2).is_none());
    assert!(r.delete(3).is_none());
    assert!(r.get(4).is_none());
    assert!(r.responses()[1].as_get().is_some());
    assert!(r.responses()[1].as_put().is_none());
}

#[tokio::test]
async fn compaction_makes_old_revisions_unreadable() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let old = bounded(c.kv().put("cpt/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let new = bounded(c.kv().put("cpt/a", "2"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(c.kv().compact(new)).await.unwrap();
    let err = bounded(c.kv().get("cpt/a").revision(old))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compacted, "{err}");
    assert!(!err.is_retryable());
    let again = bounded(c.kv().compact(old)).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Compacted, "{again}");
    let newest = bounded(c.kv().put("cpt/a", "3"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(c.kv().compact(newest).physical()).await.unwrap();
    let future = bounded(c.kv().get("cpt/a").revision(Revision(newest.get() + 100)))
        .await
        .unwrap_err();
    assert_eq!(future.kind(), ErrorKind::FutureRevision, "{future}");
}

#[tokio::test]
async fn server_errors_carry_the_grpc_code_number_and_name() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let now = bounded(c.kv().put("gcode/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let err = bounded(c.kv().get("gcode/a").revision(Revision(now.get() + 100)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FutureRevision, "{err}");
    // etcd reports a future revision as gRPC OUT_OF_RANGE (11).
    assert_eq!(err.code(), Some(etcdkit::Code::OutOfRange));
    assert_eq!(err.grpc_code(), Some(11));
    assert_eq!(err.code().unwrap().as_str(), "OUT_OF_RANGE");
    assert_eq!(err.code().unwrap().to_string(), "OUT_OF_RANGE");
    // An error the client raised itself, before sending, has no gRPC code.
    let local = bounded(c.kv().get("")).await.unwrap_err();
    assert_eq!(local.grpc_code(), None);
}

#[tokio::test]
async fn empty_keys_are_refused_before_sending() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let before = bounded(c.kv().get("x")).await.unwrap().header().revision();
    let errors = [
        bounded(c.kv().get("")).await.unwrap_err(),
        bounded(c.kv().put("", "v")).await.unwrap_err(),
        bounded(c.kv().delete("")).await.unwrap_err(),
        bounded(c.kv().txn().and_then([Put::new("", "v")]))
            .await
            .unwrap_err(),
        bounded(
            c.kv()
                .txn()
                .when([Compare::version("", CompareOp::Equal, 0)]),
        )
        .await
        .unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::EmptyKey, "{err}");
        assert!(err.code().is_none(), "sent to the server: {err:?}");
    }
    let after = bounded(c.kv().get("x")).await.unwrap().header().revision();
    assert_eq!(before, after);
}

#[tokio::test]
async fn oversized_requests_are_refused_before_sending() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let big = vec![b'x'; 3 * 1024 * 1024];
    let err = bounded(c.kv().put("big/a", big)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestTooLarge, "{err}");
    // Refused as gRPC's own client refuses it (grpc-go's words and code), never sent.
    assert_eq!(err.code(), Some(etcdkit::Code::ResourceExhausted));
    assert_eq!(
        err.message(),
        // The encoded PutRequest: key field 1 + 1 + 5 bytes, value field 1 + 4 + 3 MiB.
        format!(
            "trying to send message larger than max ({} vs. 2097152)",
            3 * 1024 * 1024 + 12
        )
    );
    assert_eq!(bounded(c.kv().get("big/a")).await.unwrap().count(), 0);
    // Under our limit but over etcd's default 1.5 MiB: the server's typed refusal.
    let medium = vec![b'x'; 1800 * 1024];
    let err = bounded(c.kv().put("big/b", medium)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestTooLarge, "{err}");
    assert!(err.code().is_some());
}

#[tokio::test]
async fn duplicate_txn_keys_are_refused_before_sending() {
    let etcd = server().await;
    let c = client(&etcd).await;
    let err = bounded(
        c.kv()
            .txn()
            .and_then([Put::new("dup/a", "1"), Put::new("dup/a", "2")]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateKey, "{err}");
    assert!(err.code().is_none());
}

#[tokio::test]
async fn namespaced_view_prefixes_and_strips_keys() {
    let etcd = server().await;
    let root = client(&etcd).await;
    let ns = root.namespaced("tenant-a/");
    bounded(root.kv().put("tenant-b/x", "other")).await.unwrap();
    bounded(ns.kv().put("x", "1")).await.unwrap();
    bounded(ns.kv().put("y", "2")).await.unwrap();
    let raw = bounded(root.kv().get("tenant-a/x")).await.unwrap();
    assert_eq!(raw.first().unwrap().value().as_ref(), b"1");
    let all = bounded(ns.kv().get("").prefix()).await.unwrap();
    assert_eq!(keys(&all), ["x", "y"]);
    let from = bounded(ns.kv().get("").from_key()).await.unwrap();
    assert_eq!(keys(&from), ["x", "y"]);
    let range = bounded(ns.kv().get("x").range_end("y")).await.unwrap();
    assert_eq!(keys(&range), ["x"]);
    let put = bounded(ns.kv().put("x", "3").prev_kv()).await.unwrap();
    assert_eq!(put.prev_kv().unwrap().key().as_ref(), b"x");
    let txn = bounded(
        ns.kv()
            .txn()
            .when([Compare::value("x", CompareOp::Equal, "3")])
            .and_then([Get::new("y")]),
    )
    .await
    .unwrap();
    assert!(txn.succeeded());
    assert!(
        matches!(&txn.responses()[0], TxnOpResponse::Get(g) if g.kvs()[0].key().as_ref() == b"y")
    );
    let nested = ns.namespaced("inner/");
    bounded(nested.kv().put("z", "4")).await.unwrap();
    assert_eq!(
        bounded(root.kv().get("tenant-a/inner/z"))
            .await
            .unwrap()
            .count(),
        1
    );
    let deleted = bounded(ns.kv().delete("").prefix().prev_kv())
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 3);
    assert_eq!(
        bounded(root.kv().get("tenant-b/x")).await.unwrap().count(),
        1
    );
}

#[tokio::test]
async fn unreadable_responses_leave_a_write_outcome_unknown() {
    let etcd = server().await;
    let c = bounded(
        common::options(vec![etcd.endpoint()])
            .max_recv_size(200)
            .connect(),
    )
    .await
    .unwrap();
    bounded(c.kv().put("unread/a", vec![b'x'; 1000]))
        .await
        .unwrap();
    // The answer carries the 1000-byte previous value: over our receive limit.
    let err = bounded(c.kv().put("unread/a", "small").prev_kv())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert!(err.is_outcome_unknown(), "{err:?}");
    // It was applied.
    let got = bounded(c.kv().get("unread/a").keys_only()).await.unwrap();
    assert_eq!(got.first().unwrap().version(), 2);
}

#[tokio::test]
async fn requests_over_the_servers_grpc_limit_are_typed_too_large() {
    let etcd = server().await;
    let c = bounded(
        common::options(vec![etcd.endpoint()])
            .max_send_size(16 * 1024 * 1024)
            .connect(),
    )
    .await
    .unwrap();
    let err = bounded(c.kv().put("grpcmax/a", vec![b'x'; 4 * 1024 * 1024]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestTooLarge, "{err:?}");
    assert!(!err.is_retryable());
}

/// One key-range type serves get, delete and watch alike.
#[tokio::test]
async fn key_ranges_select_the_same_keys_for_get_delete_and_watch() {
    use etcdkit::KeyRange;
    use futures_util::StreamExt;
    let etcd = server().await;
    let c = client(&etcd).await;
    for k in ["kr/a/1", "kr/a/2", "kr/b"] {
        bounded(c.kv().put(k, "v")).await.unwrap();
    }
    let got = bounded(c.kv().get("").range(KeyRange::prefix("kr/a/")))
        .await
        .unwrap();
    assert_eq!(got.count(), 2);
    let from = bounded(c.kv().get("").range(KeyRange::from_key("kr/a/2")))
        .await
        .unwrap();
    assert_eq!(from.count(), 2);

    let mut watcher = bounded(c.watch().range(KeyRange::range("kr/a/", "kr/a0")))
        .await
        .unwrap();
    let deleted = bounded(c.kv().delete("").range(KeyRange::prefix("kr/a/")))
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 2);
    let mut seen = 0;
    while seen < 2 {
        let response = bounded(watcher.next()).await.unwrap().unwrap();
        seen += response.events().len();
    }
    assert_eq!(seen, 2);
}

#[tokio::test]
async fn a_prefix_reads_into_a_map_of_keys_to_values() {
    let etcd = server().await;
    let c = client(&etcd).await;
    bounded(c.kv().put("pmap/b", "2")).await.unwrap();
    bounded(c.kv().put("pmap/a", "1")).await.unwrap();
    bounded(c.kv().put("pmapx", "outside")).await.unwrap();
    let map = bounded(c.kv().get_prefix_map("pmap/")).await.unwrap();
    let entries: Vec<(&str, &[u8])> = map.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
    assert_eq!(entries, [("pmap/a", &b"1"[..]), ("pmap/b", &b"2"[..])]);
    bounded(c.kv().put(Bytes::from_static(b"pmap/\xff"), "x"))
        .await
        .unwrap();
    let err = bounded(c.kv().get_prefix_map("pmap/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(
        bounded(c.kv().get_prefix_map("pmap-none/"))
            .await
            .unwrap()
            .is_empty()
    );
    // An empty prefix would be the whole store: refused before sending.
    let err = bounded(c.kv().get_prefix_map("")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EmptyKey, "{err}");
}

#[cfg(feature = "json")]
#[tokio::test]
async fn values_are_written_and_read_as_json() {
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Service {
        host: String,
        port: u16,
    }

    let etcd = server().await;
    let c = client(&etcd).await;
    let api = Service {
        host: "10.0.0.1".into(),
        port: 8080,
    };
    let put = c.kv().put_json("json/svc/api", &api).unwrap().prev_kv();
    bounded(put).await.unwrap();
    let raw = bounded(c.kv().get("json/svc/api")).await.unwrap();
    assert_eq!(
        raw.first().unwrap().value_str(),
        Some(r#"{"host":"10.0.0.1","port":8080}"#)
    );
    let back: Option<Service> = bounded(c.kv().get_json("json/svc/api")).await.unwrap();
    assert_eq!(back, Some(api));
    let missing: Option<Service> = bounded(c.kv().get_json("json/svc/none")).await.unwrap();
    assert_eq!(missing, None);

    let db = Service {
        host: "10.0.0.2".into(),
        port: 5432,
    };
    bounded(c.kv().put_json("json/svc/db", &db).unwrap())
        .await
        .unwrap();
    let all: BTreeMap<String, Service> =
        bounded(c.kv().get_prefix_json("json/svc/")).await.unwrap();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["json/svc/api", "json/svc/db"]
    );
    assert_eq!(all["json/svc/db"], db);

    // Bad JSON is a typed error naming the key, for one key and for a prefix.
    bounded(c.kv().put("json/svc/broken", "{not json"))
        .await
        .unwrap();
    let err = bounded(c.kv().get_json::<Service>("json/svc/broken"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("json/svc/broken"), "{err}");
    assert_eq!(err.kind().as_str(), "decode");
    let err = bounded(c.kv().get_prefix_json::<Service>("json/svc/"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    // JSON of another shape is as bad as no JSON.
    let err = bounded(c.kv().get_json::<u64>("json/svc/api"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");

    // What cannot be written as JSON is refused before sending.
    let mut bad_keys = BTreeMap::new();
    bad_keys.insert(vec![1u8], 1);
    let err = c.kv().put_json("json/bad", &bad_keys).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}
