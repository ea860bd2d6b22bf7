//! etcdctl's `protobuf` format: the response message's protobuf encoding, written as is
//! (no newline, no length prefix).
//!
//! The messages are encoded here from etcdkit's response types rather than with the
//! client's prost types (which etcdkit keeps private): etcd's messages are small and
//! proto3, so the encoding is a few rules. Fields go out in field-number order, and a
//! field holding its zero value (0, false, empty bytes or list) is left out, as gogo
//! protobuf (etcdctl) and prost both do; a present sub-message is written even when empty.

use std::io;

use etcdkit::kv::{DeleteResponse, GetResponse, PutResponse, TxnOpResponse, TxnResponse};
use etcdkit::watch::{EventType, WatchResponse};
use etcdkit::{KeyValue, ResponseHeader};

/// A message being encoded.
#[derive(Debug, Default, Clone)]
pub struct Message {
    bytes: Vec<u8>,
}

/// Wire types.
const VARINT: u64 = 0;
const LEN: u64 = 2;

impl Message {
    pub fn new() -> Self {
        Message::default()
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        varint(&mut self.bytes, (u64::from(field) << 3) | wire_type);
    }

    /// A uint64 (or bool, or enum) field, left out when 0.
    pub fn uint(mut self, field: u32, value: u64) -> Self {
        if value != 0 {
            self.key(field, VARINT);
            varint(&mut self.bytes, value);
        }
        self
    }

    /// An int64 field: a negative number takes ten bytes, its two's complement.
    pub fn int(self, field: u32, value: i64) -> Self {
        // The cast keeps the bit pattern, which is the wire form of an int64.
        self.uint(field, value as u64)
    }

    pub fn bool(self, field: u32, value: bool) -> Self {
        self.uint(field, u64::from(value))
    }

    /// A bytes or string field, left out when empty.
    pub fn bytes(mut self, field: u32, value: &[u8]) -> Self {
        if !value.is_empty() {
            self.len_field(field, value);
        }
        self
    }

    /// A sub-message, written whenever present, even when empty.
    pub fn message(mut self, field: u32, value: &Message) -> Self {
        self.len_field(field, &value.bytes);
        self
    }

    pub fn messages(self, field: u32, values: impl IntoIterator<Item = Message>) -> Self {
        values
            .into_iter()
            .fold(self, |m, value| m.message(field, &value))
    }

    pub fn strings<'a>(self, field: u32, values: impl IntoIterator<Item = &'a String>) -> Self {
        // Unlike a single string, an empty string in a list is still written.
        values.into_iter().fold(self, |mut m, value| {
            m.len_field(field, value.as_bytes());
            m
        })
    }

    fn len_field(&mut self, field: u32, value: &[u8]) {
        self.key(field, LEN);
        varint(&mut self.bytes, value.len() as u64);
        self.bytes.extend_from_slice(value);
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }

    #[cfg(test)]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Writes the encoded message.
pub fn write(out: &mut Vec<u8>, message: &Message) -> io::Result<()> {
    out.extend_from_slice(&message.bytes);
    Ok(())
}

/// `etcdserverpb.ResponseHeader`.
pub fn header(h: &ResponseHeader) -> Message {
    Message::new()
        .uint(1, h.cluster_id().0)
        .uint(2, h.member_id().get())
        .int(3, h.revision().get())
        .uint(4, h.raft_term())
}

/// A response message begun with its header: field 1 of every etcd response.
pub fn response(h: &ResponseHeader) -> Message {
    Message::new().message(1, &header(h))
}

/// `mvccpb.KeyValue`.
pub fn key_value(kv: &KeyValue) -> Message {
    Message::new()
        .bytes(1, kv.key())
        .int(2, kv.create_revision().get())
        .int(3, kv.mod_revision().get())
        .int(4, kv.version())
        .bytes(5, kv.value())
        .int(6, kv.lease().map_or(0, |l| l.get()))
}

/// `RangeResponse`.
pub fn range(r: &GetResponse) -> Message {
    response(r.header())
        .messages(2, r.kvs().iter().map(key_value))
        .bool(3, r.more())
        .int(4, r.count())
}

/// `PutResponse`.
pub fn put(r: &PutResponse) -> Message {
    let m = response(r.header());
    match r.prev_kv() {
        Some(kv) => m.message(2, &key_value(kv)),
        None => m,
    }
}

/// `DeleteRangeResponse`.
pub fn delete(r: &DeleteResponse) -> Message {
    response(r.header())
        .int(2, r.deleted())
        .messages(3, r.prev_kvs().iter().map(key_value))
}

/// `TxnResponse`, each result a `ResponseOp` whose oneof field says its kind.
pub fn txn(r: &TxnResponse) -> Message {
    let ops = r.responses().iter().filter_map(|op| {
        let (field, inner) = match op {
            TxnOpResponse::Get(r) => (1, range(r)),
            TxnOpResponse::Put(r) => (2, put(r)),
            TxnOpResponse::Delete(r) => (3, delete(r)),
            TxnOpResponse::Txn(r) => (4, txn(r)),
            _ => return None,
        };
        Some(Message::new().message(field, &inner))
    });
    response(r.header()).bool(2, r.succeeded()).messages(3, ops)
}

/// `WatchResponse` as etcdctl rebuilds it from the client's: header, created, canceled,
/// compact revision and events (no watch id).
pub fn watch(r: &WatchResponse) -> Message {
    let events = r.events().iter().map(|e| {
        let m = Message::new()
            .uint(1, u64::from(e.event_type() == EventType::Delete))
            .message(2, &key_value(e.kv()));
        match e.prev_kv() {
            Some(prev) => m.message(3, &key_value(prev)),
            None => m,
        }
    });
    response(r.header())
        .bool(3, r.is_created())
        .messages(11, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_are_left_out_and_negative_ints_take_ten_bytes() {
        let m = Message::new()
            .uint(1, 0)
            .int(2, -1)
            .bytes(3, b"")
            .uint(4, 300);
        assert_eq!(
            m.into_bytes(),
            [
                0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x20, 0xac, 0x02
            ]
        );
    }

    #[test]
    fn empty_sub_messages_are_written() {
        let m = Message::new().message(1, &Message::new()).bytes(2, b"ab");
        assert_eq!(m.into_bytes(), [0x0a, 0x00, 0x12, 0x02, b'a', b'b']);
    }
}
