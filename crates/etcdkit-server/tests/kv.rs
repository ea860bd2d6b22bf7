//! The KV service of the embedded server through the etcdkit client: revisions, every
//! range option, txns, etcd's errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{bounded, embedded, embedded_with};
use etcdkit::kv::{Compare, CompareOp, Delete, Get, Put, SortOrder, SortTarget, Txn, TxnOp};
use etcdkit::{ErrorKind, Revision};
use etcdkit_server::Server;

fn keys(r: &etcdkit::kv::GetResponse) -> Vec<String> {
    r.kvs()
        .iter()
        .map(|kv| kv.key_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_empty_server_is_at_revision_one_and_each_put_adds_one() {
    let (_server, c) = embedded().await;
    let got = bounded(c.kv().get("empty/x")).await.unwrap();
    assert_eq!(got.header().revision(), Revision(1));
    assert_eq!(got.count(), 0);
    let a = bounded(c.kv().put("empty/x", "1")).await.unwrap();
    assert_eq!(a.header().revision(), Revision(2));
    let b = bounded(c.kv().put("empty/x", "2")).await.unwrap();
    assert_eq!(b.header().revision(), Revision(3));
    let got = bounded(c.kv().get("empty/x")).await.unwrap();
    let kv = got.first().unwrap();
    assert_eq!(kv.create_revision(), Revision(2));
    assert_eq!(kv.mod_revision(), Revision(3));
    assert_eq!(kv.version(), 2);
    assert_ne!(got.header().member_id().get(), 0);
    assert_ne!(got.header().cluster_id().0, 0);
}

#[tokio::test]
async fn delete_ends_a_generation_and_a_new_put_starts_one() {
    let (_server, c) = embedded().await;
    bounded(c.kv().put("gen/a", "1")).await.unwrap();
    bounded(c.kv().put("gen/a", "2")).await.unwrap();
    let del = bounded(c.kv().delete("gen/a").prev_kv()).await.unwrap();
    assert_eq!(del.deleted(), 1);
    assert_eq!(del.prev_kvs()[0].value().as_ref(), b"2");
    let deleted_at = del.header().revision();
    // Deleting nothing does not move the revision.
    let none = bounded(c.kv().delete("gen/a")).await.unwrap();
    assert_eq!(none.deleted(), 0);
    assert_eq!(none.header().revision(), deleted_at);
    let put = bounded(c.kv().put("gen/a", "3")).await.unwrap();
    let kv = bounded(c.kv().get("gen/a")).await.unwrap().kvs()[0].clone();
    assert_eq!(kv.version(), 1);
    assert_eq!(kv.create_revision(), put.header().revision());
}

#[tokio::test]
async fn range_options_limit_count_sort_filters_and_history() {
    let (_server, c) = embedded().await;
    let mut revs = Vec::new();
    for (k, v) in [("r/a", "3"), ("r/b", "1"), ("r/c", "2"), ("r/d", "0")] {
        revs.push(bounded(c.kv().put(k, v)).await.unwrap().header().revision());
    }
    bounded(c.kv().put("r/b", "9")).await.unwrap();
    bounded(c.kv().put("s/outside", "x")).await.unwrap();

    let page = bounded(c.kv().get("r/").prefix().limit(2)).await.unwrap();
    assert_eq!(keys(&page), ["r/a", "r/b"]);
    assert!(page.more());
    assert_eq!(page.count(), 4);

    let from = bounded(c.kv().get("r/c").from_key()).await.unwrap();
    assert_eq!(keys(&from), ["r/c", "r/d", "s/outside"]);

    let by_value = bounded(
        c.kv()
            .get("r/")
            .prefix()
            .sort(SortTarget::Value, SortOrder::Descend),
    )
    .await
    .unwrap();
    assert_eq!(keys(&by_value), ["r/b", "r/a", "r/c", "r/d"]);

    let by_version = bounded(
        c.kv()
            .get("r/")
            .prefix()
            .sort(SortTarget::Version, SortOrder::None),
    )
    .await
    .unwrap();
    assert_eq!(keys(&by_version).last().unwrap(), "r/b");

    let only = bounded(c.kv().get("r/").prefix().keys_only())
        .await
        .unwrap();
    assert!(only.kvs().iter().all(|kv| kv.value().is_empty()));
    let counted = bounded(c.kv().get("r/").prefix().count_only())
        .await
        .unwrap();
    assert!(counted.kvs().is_empty());
    assert_eq!(counted.count(), 4);

    let recent = bounded(c.kv().get("r/").prefix().min_mod_revision(revs[2]))
        .await
        .unwrap();
    assert_eq!(keys(&recent), ["r/b", "r/c", "r/d"]);
    let old = bounded(c.kv().get("r/").prefix().max_create_revision(revs[1]))
        .await
        .unwrap();
    assert_eq!(keys(&old), ["r/a", "r/b"]);

    // A historical read sees the store as it was, under today's header revision.
    let then = bounded(c.kv().get("r/").prefix().revision(revs[1]))
        .await
        .unwrap();
    assert_eq!(keys(&then), ["r/a", "r/b"]);
    assert_eq!(then.kvs()[1].value().as_ref(), b"1");
    assert!(then.header().revision() > revs[3]);
}

#[tokio::test]
async fn future_and_compacted_revisions_are_etcds_errors() {
    let (_server, c) = embedded().await;
    let first = bounded(c.kv().put("cmp/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let last = bounded(c.kv().put("cmp/a", "2"))
        .await
        .unwrap()
        .header()
        .revision();
    let err = bounded(c.kv().get("cmp/a").revision(Revision(last.get() + 5)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FutureRevision, "{err:?}");
    assert_eq!(
        err.message(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    bounded(c.kv().compact(last).physical()).await.unwrap();
    let err = bounded(c.kv().get("cmp/a").revision(first))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compacted, "{err:?}");
    assert_eq!(
        err.message(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    // The compact revision itself is still readable; compacting it again is refused.
    let at = bounded(c.kv().get("cmp/a").revision(last)).await.unwrap();
    assert_eq!(at.kvs()[0].value().as_ref(), b"2");
    let err = bounded(c.kv().compact(last)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compacted, "{err:?}");
}

#[tokio::test]
async fn put_options_ignore_value_and_lease_and_their_errors() {
    let (_server, c) = embedded().await;
    let err = bounded(c.kv().put("ign/missing", "").ignore_value())
        .await
        .unwrap_err();
    assert_eq!(err.message(), "etcdserver: key not found", "{err:?}");
    bounded(c.kv().put("ign/a", "kept")).await.unwrap();
    let r = bounded(c.kv().put("ign/a", "").ignore_value().prev_kv())
        .await
        .unwrap();
    assert_eq!(r.prev_kv().unwrap().value().as_ref(), b"kept");
    let got = bounded(c.kv().get("ign/a")).await.unwrap();
    assert_eq!(got.kvs()[0].value().as_ref(), b"kept");
    assert_eq!(got.kvs()[0].version(), 2);
    let err = bounded(c.kv().put("ign/a", "x").lease(etcdkit::LeaseId(12345)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseNotFound, "{err:?}");
    assert_eq!(err.message(), "etcdserver: requested lease not found");
}

#[tokio::test]
async fn txn_compares_branches_nesting_and_one_revision() {
    let (_server, c) = embedded().await;
    let base = bounded(c.kv().put("txn/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let r = bounded(
        c.kv()
            .txn()
            .when([Compare::value("txn/a", CompareOp::Equal, "1")])
            .and_then([
                TxnOp::from(Put::new("txn/b", "2")),
                Put::new("txn/c", "3").into(),
                Get::new("txn/").prefix().into(),
            ])
            .or_else([Delete::new("txn/a")]),
    )
    .await
    .unwrap();
    assert!(r.succeeded());
    assert_eq!(r.header().revision(), Revision(base.get() + 1));
    // The read inside the txn sees the txn's own writes.
    assert_eq!(r.get(2).unwrap().count(), 3);
    let got = bounded(c.kv().get("txn/").prefix()).await.unwrap();
    assert!(
        got.kvs()
            .iter()
            .skip(1)
            .all(|kv| kv.mod_revision() == r.header().revision())
    );

    // Range compare over a prefix, failing; the failure branch has a nested txn.
    let r = bounded(
        c.kv()
            .txn()
            .when([Compare::version("txn/", CompareOp::Greater, 1).prefix()])
            .and_then([Put::new("txn/never", "x")])
            .or_else([Txn::new()
                .when([Compare::create_revision("txn/a", CompareOp::Equal, base)])
                .and_then([Put::new("txn/nested", "y")])]),
    )
    .await
    .unwrap();
    assert!(!r.succeeded());
    assert!(r.txn(0).unwrap().succeeded());
    assert_eq!(bounded(c.kv().get("txn/nested")).await.unwrap().count(), 1);
    // A read-only txn does not move the revision.
    let before = bounded(c.kv().get("txn/a"))
        .await
        .unwrap()
        .header()
        .revision();
    let r = bounded(c.kv().txn().and_then([Get::new("txn/a")]))
        .await
        .unwrap();
    assert_eq!(r.header().revision(), before);
}

#[tokio::test]
async fn txn_refusals_are_etcds() {
    let (_server, c) = embedded_with(Server::builder().max_txn_ops(4)).await;
    // A key put at one level and again in a nested txn: the server's rule (the client
    // catches only duplicates at one level).
    let err = bounded(c.kv().txn().and_then([
        TxnOp::from(Put::new("dup/a", "1")),
        Txn::new().and_then([Put::new("dup/a", "2")]).into(),
    ]))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateKey, "{err:?}");
    assert_eq!(
        err.message(),
        "etcdserver: duplicate key given in txn request"
    );
    let err = bounded(c.kv().txn().and_then([
        TxnOp::from(Delete::new("dup/").prefix()),
        Txn::new().and_then([Put::new("dup/b", "1")]).into(),
    ]))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateKey, "{err:?}");
    let ops: Vec<Put> = (0..5).map(|i| Put::new(format!("dup/{i}"), "x")).collect();
    let err = bounded(c.kv().txn().and_then(ops)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyOps, "{err:?}");
    assert_eq!(
        err.message(),
        "etcdserver: too many operations in txn request"
    );
}

#[tokio::test]
async fn a_write_over_the_size_limit_is_refused() {
    let (_server, c) = embedded_with(Server::builder().max_request_bytes(1024)).await;
    let err = bounded(c.kv().put("big/a", Bytes::from(vec![7u8; 2048])))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "etcdserver: request is too large", "{err:?}");
    bounded(c.kv().put("big/a", Bytes::from(vec![7u8; 512])))
        .await
        .unwrap();
}

/// Over gRPC's own limit (the request limit plus 512 KiB) the message is refused whole, as
/// etcd's grpc-go refuses it: RESOURCE_EXHAUSTED in its words, which clients read as "too
/// large" (the client suite's requests_over_the_servers_grpc_limit_are_typed_too_large).
#[tokio::test]
async fn a_message_over_grpcs_limit_is_refused_in_grpc_gos_words() {
    let (server, _) = embedded().await;
    let c = bounded(
        common::options(server.url())
            .max_send_size(16 * 1024 * 1024)
            .connect(),
    )
    .await
    .unwrap();
    let err = bounded(
        c.kv()
            .put("grpcmax/a", Bytes::from(vec![b'x'; 4 * 1024 * 1024])),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestTooLarge, "{err:?}");
    assert_eq!(
        err.code(),
        Some(etcdkit::Code::ResourceExhausted),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        "grpc: received message larger than max (4194320 vs. 2097152)"
    );
    // The connection stays usable.
    bounded(c.kv().put("grpcmax/a", "small")).await.unwrap();
}

#[tokio::test]
async fn a_txn_failing_on_its_own_delete_applies_nothing() {
    let (_server, c) = embedded().await;
    bounded(c.kv().put("ab/k9", "kept")).await.unwrap();
    let before = bounded(c.kv().get("ab/k9"))
        .await
        .unwrap()
        .header()
        .revision();
    // The open-ended delete takes ab/k9 away before the put that needs it runs.
    let err = bounded(c.kv().txn().and_then([
        TxnOp::from(Delete::new("ab/k8").from_key()),
        Put::new("ab/k9", "").ignore_value().into(),
    ]))
    .await
    .unwrap_err();
    assert_eq!(err.message(), "etcdserver: key not found", "{err:?}");
    let got = bounded(c.kv().get("ab/k9")).await.unwrap();
    assert_eq!(got.header().revision(), before);
    assert_eq!(got.kvs()[0].value().as_ref(), b"kept");
    let next = bounded(c.kv().put("ab/k9", "new")).await.unwrap();
    assert_eq!(next.header().revision(), before.next());
}
