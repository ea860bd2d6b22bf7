//! etcdctl's `simple` format: raw key and value lines (`printKV`), `OK` for a put, the
//! deleted count for a delete, `SUCCESS`/`FAILURE` and the branch's results for a txn.
//!
//! Bytes are written unchanged, without escaping or UTF-8 checks, one `\n` after each
//! line, as Go's `fmt.Println` does.

use std::io::{self, Write};

use etcdkit::KeyValue;
use etcdkit::kv::{DeleteResponse, GetResponse, PutResponse, TxnOpResponse, TxnResponse};
use etcdkit::watch::WatchResponse;

pub fn get(out: &mut Vec<u8>, r: &GetResponse, hex: bool, value_only: bool) -> io::Result<()> {
    for kv in r.kvs() {
        key_value(out, kv, hex, value_only)?;
    }
    Ok(())
}

pub fn put(out: &mut Vec<u8>, r: &PutResponse, hex: bool) -> io::Result<()> {
    out.write_all(b"OK\n")?;
    if let Some(kv) = r.prev_kv() {
        key_value(out, kv, hex, false)?;
    }
    Ok(())
}

pub fn del(out: &mut Vec<u8>, r: &DeleteResponse, hex: bool) -> io::Result<()> {
    writeln!(out, "{}", r.deleted())?;
    for kv in r.prev_kvs() {
        key_value(out, kv, hex, false)?;
    }
    Ok(())
}

/// The outcome, then an empty line before each operation's own output.
pub fn txn(out: &mut Vec<u8>, r: &TxnResponse, hex: bool) -> io::Result<()> {
    out.write_all(if r.succeeded() {
        b"SUCCESS\n"
    } else {
        b"FAILURE\n"
    })?;
    for response in r.responses() {
        out.write_all(b"\n")?;
        match response {
            TxnOpResponse::Get(r) => get(out, r, hex, false)?,
            TxnOpResponse::Put(r) => put(out, r, hex)?,
            TxnOpResponse::Delete(r) => del(out, r, hex)?,
            // The txn input format cannot nest transactions, but print one sensibly.
            TxnOpResponse::Txn(r) => txn(out, r, hex)?,
            other => writeln!(out, "unexpected response {other:?}")?,
        }
    }
    Ok(())
}

/// Each event: its type, then the previous key-value (when asked for), then the key-value.
pub fn watch(out: &mut Vec<u8>, r: &WatchResponse, hex: bool) -> io::Result<()> {
    for e in r.events() {
        writeln!(out, "{}", e.event_type())?;
        if let Some(prev) = e.prev_kv() {
            key_value(out, prev, hex, false)?;
        }
        key_value(out, e.kv(), hex, false)?;
    }
    Ok(())
}

fn key_value(out: &mut Vec<u8>, kv: &KeyValue, hex: bool, value_only: bool) -> io::Result<()> {
    if !value_only {
        bytes_line(out, kv.key(), hex)?;
    }
    bytes_line(out, kv.value(), hex)
}

fn bytes_line(out: &mut Vec<u8>, bytes: &[u8], hex: bool) -> io::Result<()> {
    if hex {
        for b in bytes {
            write!(out, "\\x{b:02x}")?;
        }
    } else {
        out.write_all(bytes)?;
    }
    out.write_all(b"\n")
}
