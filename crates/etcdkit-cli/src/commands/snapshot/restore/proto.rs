//! The few protobuf messages a restore writes (etcd's `walpb`, `raftpb`, `snappb` and
//! `etcdserverpb.Metadata`), encoded by hand.
//!
//! etcd generates these with gogoproto from proto2 files whose scalar fields are not
//! nullable, so its encoder writes every scalar field, zero or not, in field-number
//! order (`ConfChange`'s `ID: 0` is on the wire as `08 00`). prost follows proto3 and
//! leaves zeros out; a byte-for-byte match with etcdutl's files is easier to keep, and to
//! test, with an encoder that writes exactly the fields listed here.

/// Appends `value` as a base-128 varint.
fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A message being encoded.
#[derive(Default)]
pub struct Message(Vec<u8>);

impl Message {
    pub fn new() -> Message {
        Message::default()
    }

    /// A varint field (uint64, uint32, int64, enum, bool).
    pub fn uint(mut self, field: u32, value: u64) -> Message {
        varint(&mut self.0, u64::from(field) << 3);
        varint(&mut self.0, value);
        self
    }

    /// A length-delimited field (bytes, string, embedded message).
    pub fn bytes(mut self, field: u32, value: &[u8]) -> Message {
        varint(&mut self.0, (u64::from(field) << 3) | 2);
        varint(&mut self.0, value.len() as u64);
        self.0.extend_from_slice(value);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// `raftpb.ConfState`: the voters (a repeated uint64, not packed in proto2), then
/// `auto_leave` (always written).
pub fn conf_state(voters: &[u64]) -> Vec<u8> {
    let mut m = Message::new();
    for &id in voters {
        m = m.uint(1, id);
    }
    m.uint(5, 0).into_bytes()
}

/// `raftpb.HardState { term = 1, vote = 2, commit = 3 }`.
pub fn hard_state(term: u64, vote: u64, commit: u64) -> Vec<u8> {
    Message::new()
        .uint(1, term)
        .uint(2, vote)
        .uint(3, commit)
        .into_bytes()
}

/// `raftpb.ConfChange { id = 1, type = 2 (ConfChangeAddNode = 0), node_id = 3,
/// context = 4 }`.
pub fn conf_change_add_node(node_id: u64, context: &[u8]) -> Vec<u8> {
    Message::new()
        .uint(1, 0)
        .uint(2, 0)
        .uint(3, node_id)
        .bytes(4, context)
        .into_bytes()
}

/// `raftpb.Entry { type = 1, term = 2, index = 3, data = 4 }`, of type
/// `EntryConfChange` (1).
pub fn conf_change_entry(term: u64, index: u64, data: &[u8]) -> Vec<u8> {
    Message::new()
        .uint(1, 1)
        .uint(2, term)
        .uint(3, index)
        .bytes(4, data)
        .into_bytes()
}

/// `etcdserverpb.Metadata { NodeID = 1, ClusterID = 2 }`, the WAL's metadata.
pub fn wal_metadata(node_id: u64, cluster_id: u64) -> Vec<u8> {
    Message::new()
        .uint(1, node_id)
        .uint(2, cluster_id)
        .into_bytes()
}

/// `walpb.Snapshot { index = 1, term = 2, conf_state = 3 (optional) }`.
pub fn wal_snapshot(index: u64, term: u64, conf_state: Option<&[u8]>) -> Vec<u8> {
    let m = Message::new().uint(1, index).uint(2, term);
    match conf_state {
        Some(cs) => m.bytes(3, cs),
        None => m,
    }
    .into_bytes()
}

/// `walpb.Record { type = 1, crc = 2, data = 3 (optional, left out when absent) }`.
pub fn wal_record(kind: u64, crc: u32, data: Option<&[u8]>) -> Vec<u8> {
    let m = Message::new().uint(1, kind).uint(2, u64::from(crc));
    match data {
        Some(d) => m.bytes(3, d),
        None => m,
    }
    .into_bytes()
}

/// `raftpb.Snapshot { data = 1, metadata = 2 { conf_state = 1, index = 2, term = 3 } }`.
pub fn raft_snapshot(data: &[u8], conf_state: &[u8], index: u64, term: u64) -> Vec<u8> {
    let metadata = Message::new()
        .bytes(1, conf_state)
        .uint(2, index)
        .uint(3, term)
        .into_bytes();
    Message::new()
        .bytes(1, data)
        .bytes(2, &metadata)
        .into_bytes()
}

/// `snappb.Snapshot { crc = 1, data = 2 }`.
pub fn snap_file(crc: u32, data: &[u8]) -> Vec<u8> {
    Message::new()
        .uint(1, u64::from(crc))
        .bytes(2, data)
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_are_written_as_gogoproto_writes_them() {
        // etcdutl's empty WAL snapshot record body and a HardState, taken from its files.
        assert_eq!(wal_snapshot(0, 0, None), [0x08, 0x00, 0x10, 0x00]);
        assert_eq!(hard_state(1, 300, 2), [0x08, 1, 0x10, 0xac, 0x02, 0x18, 2]);
        assert_eq!(conf_state(&[1, 2]), [0x08, 1, 0x08, 2, 0x28, 0]);
        assert_eq!(
            conf_change_add_node(5, b"x"),
            [0x08, 0, 0x10, 0, 0x18, 5, 0x22, 1, b'x']
        );
    }
}
