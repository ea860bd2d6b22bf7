//! The whole store as bytes: its size against the space quota, a hash of its contents
//! (Maintenance.Hash and HashKV) and the snapshot format (Maintenance.Snapshot).
//!
//! # Snapshot format (version 1)
//!
//! All integers big-endian.
//!
//! ```text
//! magic    "etcdkit-server snapshot 1\n"  (26 bytes)
//! revision i64    the store's revision
//! compact  i64    the last compaction's revision, -1 if none
//! then one record per retained revision of each key, keys in byte order, each key's
//! revisions oldest first:
//!   key_len u32, key, main i64, sub i64, kind u8 (0 tombstone, 1 value), and for a value:
//!   create_revision i64, version i64, lease i64, value_len u32, value
//! end      u32    0 (a key length no key has: etcd keys are never empty)
//! hash     u32    the hash below over everything before it
//! padding         zero bytes up to a multiple of 512 bytes
//! sha256   32 bytes, SHA-256 of everything before it
//! ```
//!
//! The padding and the SHA-256 are what etcd's clients check a snapshot stream for
//! (`etcdctl snapshot save` refuses a stream whose length is not 32 past a multiple of
//! 512), as etcd appends a SHA-256 to its bbolt file.
//!
//! The hash is 64-bit FNV-1a folded to 32 bits (high half XOR low half). It is not etcd's
//! CRC-32 over its bbolt file: two servers agree with each other on equal contents, never
//! with etcd.

use super::{Entry, Store};

/// The snapshot's first bytes.
pub(crate) const SNAPSHOT_MAGIC: &[u8] = b"etcdkit-server snapshot 1\n";
/// What the body before the SHA-256 is padded to a multiple of.
const SNAPSHOT_ALIGN: usize = 512;

/// What the quota charges each retained revision besides its key and value (etcd's
/// `kvOverhead`: the revision key and the key-value's fields in its bbolt file).
const ENTRY_OVERHEAD: u64 = 256;

impl Store {
    /// An estimate of the space the store takes: every retained revision's key and value
    /// plus a fixed overhead. It walks the store: the quota check that uses it costs a
    /// walk per write, which only servers built with a quota pay.
    pub(crate) fn size_bytes(&self) -> u64 {
        let mut size = 0u64;
        for (key, history) in &self.keys {
            for entry in history {
                let value = entry.kv.as_ref().map_or(0, |kv| kv.value.len());
                size = size
                    .saturating_add(ENTRY_OVERHEAD)
                    .saturating_add(as_u64(key.len()))
                    .saturating_add(as_u64(value));
            }
        }
        size
    }

    /// Writes the store's revisions up to `upto` in the snapshot's record layout (header
    /// included) to `out`.
    pub(crate) fn dump(&self, upto: i64, out: &mut dyn FnMut(&[u8])) {
        out(SNAPSHOT_MAGIC);
        out(&self.current.min(upto).to_be_bytes());
        out(&self.compacted.to_be_bytes());
        for (key, history) in &self.keys {
            for entry in history.iter().take_while(|e| e.main <= upto) {
                dump_entry(key, entry, out);
            }
        }
    }

    /// The hash of the store's revisions up to `upto`: equal contents, equal hash.
    pub(crate) fn hash_upto(&self, upto: i64) -> u32 {
        let mut h = Fnv::default();
        self.dump(upto, &mut |b| h.write(b));
        h.finish32()
    }

    /// The whole store as a snapshot (the format in this module's docs).
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.dump(self.current, &mut |b| bytes.extend_from_slice(b));
        bytes.extend_from_slice(&0u32.to_be_bytes());
        let mut h = Fnv::default();
        h.write(&bytes);
        bytes.extend_from_slice(&h.finish32().to_be_bytes());
        bytes.resize(bytes.len().next_multiple_of(SNAPSHOT_ALIGN), 0);
        let sha = ring::digest::digest(&ring::digest::SHA256, &bytes);
        bytes.extend_from_slice(sha.as_ref());
        bytes
    }
}

fn dump_entry(key: &[u8], entry: &Entry, out: &mut dyn FnMut(&[u8])) {
    out(&as_u32(key.len()).to_be_bytes());
    out(key);
    out(&entry.main.to_be_bytes());
    out(&entry.sub.to_be_bytes());
    match &entry.kv {
        None => out(&[0]),
        Some(kv) => {
            out(&[1]);
            out(&kv.create_revision.to_be_bytes());
            out(&kv.version.to_be_bytes());
            out(&kv.lease.to_be_bytes());
            out(&as_u32(kv.value.len()).to_be_bytes());
            out(&kv.value);
        }
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Keys and values are bounded by the request size limit, far below 4 GiB.
fn as_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// 64-bit FNV-1a: simple, stable across versions and platforms, no dependency.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish32(&self) -> u32 {
        // The halves XORed: both fit in 32 bits after the shift and the mask.
        let folded = (self.0 >> 32) ^ (self.0 & 0xffff_ffff);
        u32::try_from(folded).unwrap_or(0)
    }
}
