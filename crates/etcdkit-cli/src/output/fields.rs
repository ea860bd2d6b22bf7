//! etcdctl's `fields` format: one `"Name" : value` line per field, as Go's `fmt.Println`
//! prints a value (numbers in decimal, `true`/`false`), with keys, values and names
//! quoted as Go's `%q` does.
//!
//! A response header gives four lines, without the revision when it is 0 (responses
//! that are not about keys, such as a member list, carry none).

use std::io::{self, Write};

use etcdkit::kv::{DeleteResponse, GetResponse, PutResponse, TxnOpResponse, TxnResponse};
use etcdkit::watch::WatchResponse;
use etcdkit::{KeyValue, ResponseHeader};

use crate::go_compat::quote;

pub fn header(out: &mut Vec<u8>, h: &ResponseHeader) -> io::Result<()> {
    writeln!(out, "\"ClusterID\" : {}", h.cluster_id().0)?;
    writeln!(out, "\"MemberID\" : {}", h.member_id().get())?;
    if h.revision().get() > 0 {
        writeln!(out, "\"Revision\" : {}", h.revision().get())?;
    }
    writeln!(out, "\"RaftTerm\" : {}", h.raft_term())
}

/// A key-value's six lines, each name after `prefix` (`Prev` for previous values).
fn key_value(out: &mut Vec<u8>, prefix: &str, kv: &KeyValue) -> io::Result<()> {
    writeln!(out, "\"{prefix}Key\" : {}", quote(kv.key()))?;
    writeln!(
        out,
        "\"{prefix}CreateRevision\" : {}",
        kv.create_revision().get()
    )?;
    writeln!(out, "\"{prefix}ModRevision\" : {}", kv.mod_revision().get())?;
    writeln!(out, "\"{prefix}Version\" : {}", kv.version())?;
    writeln!(out, "\"{prefix}Value\" : {}", quote(kv.value()))?;
    writeln!(
        out,
        "\"{prefix}Lease\" : {}",
        kv.lease().map_or(0, |l| l.get())
    )
}

pub fn get(out: &mut Vec<u8>, r: &GetResponse) -> io::Result<()> {
    header(out, r.header())?;
    for kv in r.kvs() {
        key_value(out, "", kv)?;
    }
    writeln!(out, "\"More\" : {}", r.more())?;
    writeln!(out, "\"Count\" : {}", r.count())
}

pub fn put(out: &mut Vec<u8>, r: &PutResponse) -> io::Result<()> {
    header(out, r.header())?;
    prev_kvs(out, r.prev_kv())
}

pub fn del(out: &mut Vec<u8>, r: &DeleteResponse) -> io::Result<()> {
    header(out, r.header())?;
    writeln!(out, "\"Deleted\" : {}", r.deleted())?;
    prev_kvs(out, r.prev_kvs())
}

/// The key-values a put or delete replaced (asked for with `--prev-kv`), each as `Prev`.
fn prev_kvs<'a>(out: &mut Vec<u8>, kvs: impl IntoIterator<Item = &'a KeyValue>) -> io::Result<()> {
    for kv in kvs {
        key_value(out, "Prev", kv)?;
    }
    Ok(())
}

/// The outcome, then each result as its own command prints it (header included).
pub fn txn(out: &mut Vec<u8>, r: &TxnResponse) -> io::Result<()> {
    header(out, r.header())?;
    writeln!(out, "\"Succeeded\" : {}", r.succeeded())?;
    for response in r.responses() {
        match response {
            TxnOpResponse::Get(r) => get(out, r)?,
            TxnOpResponse::Put(r) => put(out, r)?,
            TxnOpResponse::Delete(r) => del(out, r)?,
            // The txn input format cannot nest transactions; etcdctl prints an unknown
            // result as one quoted line.
            other => writeln!(
                out,
                "\"Unknown\" : {}",
                quote(format!("{other:?}").as_bytes())
            )?,
        }
    }
    Ok(())
}

pub fn watch(out: &mut Vec<u8>, r: &WatchResponse) -> io::Result<()> {
    header(out, r.header())?;
    for e in r.events() {
        writeln!(out, "\"Type\" : {}", e.event_type())?;
        if let Some(prev) = e.prev_kv() {
            key_value(out, "Prev", prev)?;
        }
        key_value(out, "", e.kv())?;
    }
    Ok(())
}
