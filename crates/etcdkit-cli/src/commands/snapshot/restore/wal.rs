//! The restored member's write-ahead log, as etcd's `wal.Create` then `Save` and
//! `SaveSnapshot` leave it: one segment file, `0000000000000000-0000000000000000.wal`,
//! preallocated to etcd's segment size, holding
//!
//! 1. a CRC record carrying the previous segment's CRC (0: there is none),
//! 2. the metadata record (`etcdserverpb.Metadata`: this member's ID, the cluster ID),
//! 3. an empty snapshot record (index 0, term 0),
//! 4. one entry record per member: a raft `ConfChangeAddNode` at term 1, index 1..n,
//! 5. the HardState record (term 1, vote the lowest member ID, commit n),
//! 6. a snapshot record at index n, term 1, with the ConfState listing the members.
//!
//! Each record is a `walpb.Record` whose CRC is CRC-32C over the data of every record so
//! far (a chain; the CRC record itself adds nothing), framed by an 8-byte little-endian
//! length whose top byte, when the record is padded to 8 bytes, holds `0x80 | padding`.
//! The zeros after the last record, up to the preallocated size, end the log for etcd's
//! reader (a zero length).

use super::proto;

/// Record types of etcd's WAL.
const METADATA: u64 = 1;
const ENTRY: u64 = 2;
const STATE: u64 = 3;
const CRC: u64 = 4;
const SNAPSHOT: u64 = 5;

/// etcd's WAL segment size (`wal.SegmentSizeBytes`, 64 MB in decimal), to which a new
/// segment is preallocated. etcd would read a shorter file too, but preallocating as it
/// does keeps later appends from growing the file record by record.
pub const SEGMENT_SIZE: u64 = 64 * 1000 * 1000;

/// The name of the first segment.
pub const FILE_NAME: &str = "0000000000000000-0000000000000000.wal";

static CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// A WAL being written: the bytes so far and the running CRC.
struct Encoder {
    out: Vec<u8>,
    crc: u32,
}

impl Encoder {
    /// Appends a record of `kind`, chaining `data` into the CRC.
    fn record(&mut self, kind: u64, data: Option<&[u8]>) {
        if let Some(data) = data {
            self.crc = update(self.crc, data);
        }
        let record = proto::wal_record(kind, self.crc, data);
        let len = record.len() as u64;
        let pad = (8 - len % 8) % 8;
        let frame = if pad == 0 {
            len
        } else {
            len | ((0x80 | pad) << 56)
        };
        self.out.extend_from_slice(&frame.to_le_bytes());
        self.out.extend_from_slice(&record);
        self.out.resize(self.out.len() + pad as usize, 0);
    }
}

/// Continues a CRC-32C (as Go's `crc32.Update` with the Castagnoli table) over `data`.
fn update(crc: u32, data: &[u8]) -> u32 {
    // Go's Update takes and returns a finished CRC: its register is the CRC inverted.
    // The `crc` crate takes an initial value that it bit-reverses into its register for
    // a reflected algorithm like this one, so the inverted CRC is reversed first.
    let mut digest = CASTAGNOLI.digest_with_initial((crc ^ 0xFFFF_FFFF).reverse_bits());
    digest.update(data);
    digest.finalize()
}

/// What the log says about the new cluster.
pub struct Contents<'a> {
    pub node_id: u64,
    pub cluster_id: u64,
    /// (member ID, member JSON) in ascending ID order.
    pub members: &'a [(u64, String)],
}

/// The WAL segment's bytes, before preallocation; returns them with the raft index and
/// term of the snapshot it ends with.
pub fn encode(contents: &Contents<'_>) -> (Vec<u8>, u64, u64) {
    let mut e = Encoder {
        out: Vec::new(),
        crc: 0,
    };
    e.record(CRC, None);
    let metadata = proto::wal_metadata(contents.node_id, contents.cluster_id);
    e.record(METADATA, Some(&metadata));
    e.record(SNAPSHOT, Some(&proto::wal_snapshot(0, 0, None)));
    let term = 1;
    for (i, (id, json)) in contents.members.iter().enumerate() {
        let change = proto::conf_change_add_node(*id, json.as_bytes());
        let entry = proto::conf_change_entry(term, i as u64 + 1, &change);
        e.record(ENTRY, Some(&entry));
    }
    let commit = contents.members.len() as u64;
    let vote = contents.members.first().map_or(0, |(id, _)| *id);
    e.record(STATE, Some(&proto::hard_state(term, vote, commit)));
    let ids: Vec<u64> = contents.members.iter().map(|(id, _)| *id).collect();
    let conf_state = proto::conf_state(&ids);
    e.record(
        SNAPSHOT,
        Some(&proto::wal_snapshot(commit, term, Some(&conf_state))),
    );
    (e.out, commit, term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_chain_matches_gos_crc32_update() {
        // Go: crc32.Update(0, castagnoli, "123456789") is the CRC-32C check value, and
        // updating in two parts gives the same.
        assert_eq!(update(0, b"123456789"), 0xE306_9283);
        assert_eq!(update(update(0, b"1234"), b"56789"), 0xE306_9283);
    }

    #[test]
    fn records_are_framed_and_padded_to_eight_bytes() {
        let (bytes, commit, term) = encode(&Contents {
            node_id: 1,
            cluster_id: 2,
            members: &[(1, "{}".to_owned())],
        });
        assert_eq!((commit, term), (1, 1));
        // The CRC record: 4 bytes of data, 4 of padding.
        assert_eq!(
            &bytes[..16],
            &[4, 0, 0, 0, 0, 0, 0, 0x84, 8, 4, 16, 0, 0, 0, 0, 0]
        );
        assert_eq!(bytes.len() % 8, 0);
    }
}
