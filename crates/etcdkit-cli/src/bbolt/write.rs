//! A writer of whole, new, compact bbolt files from an in-memory model: top-level buckets
//! holding sorted key/value pairs (etcd's backend has no nested buckets).
//!
//! The file is laid out as bbolt lays out a freshly compacted database: pages 0 and 1 are
//! the two meta pages, then each bucket's B+tree (leaves first, then the branch levels
//! above them), then the root bucket's tree, whose leaf entries point at each bucket's
//! root page. Pages are filled up to the page size (bbolt's own compaction fills to
//! `FillPercent`; a fuller page is as valid, and bbolt splits it on its next write). A
//! value that does not fit a page gets a leaf of its own that spans overflow pages.
//!
//! No freelist page is written: the meta page carries bbolt's "no freelist" sentinel, as
//! etcd's files do (etcd opens bbolt with `NoFreelistSync`, and bbolt rebuilds the free
//! list by scanning when it opens such a file). A compact file has no free pages anyway.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::meta;
use super::page::{BRANCH, HEADER_SIZE, LEAF};

/// The page size written: the Linux page size, which is what etcd's files use.
pub const PAGE_SIZE: usize = 4096;
/// Size of one branch or leaf element.
const ELEMENT_SIZE: usize = 16;
/// Leaf element flag of a nested bucket's entry.
const BUCKET_LEAF: u32 = 0x01;
/// Size of a bucket's header in its parent's leaf: root page id, then sequence.
const BUCKET_HEADER_SIZE: usize = 16;

/// Top-level buckets by name, each its keys and values in key order.
pub type Buckets = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>;

/// One entry of a leaf: key, value, and whether the value is a bucket header.
struct LeafEntry<'a> {
    key: &'a [u8],
    value: Vec<u8>,
    bucket: bool,
}

/// The pages of a file being built, in page-id order from page 2 on.
struct Pages {
    bytes: Vec<u8>,
    next: u64,
}

impl Pages {
    /// Appends a node of `len` bytes starting with a header naming `flags` and `count`,
    /// padded to whole pages; returns its page id and its bytes to fill.
    fn allocate(&mut self, body: &[u8], flags: u16, count: usize) -> io::Result<u64> {
        let count = u16::try_from(count)
            .map_err(|_| invalid("more elements in one page than bbolt can count"))?;
        let pages = body.len().div_ceil(PAGE_SIZE).max(1);
        let overflow =
            u32::try_from(pages - 1).map_err(|_| invalid("a value too large for bbolt"))?;
        let id = self.next;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(body);
        self.bytes.resize(start + pages * PAGE_SIZE, 0);
        let header = &mut self.bytes[start..start + HEADER_SIZE];
        header[0..8].copy_from_slice(&id.to_le_bytes());
        header[8..10].copy_from_slice(&flags.to_le_bytes());
        header[10..12].copy_from_slice(&count.to_le_bytes());
        header[12..16].copy_from_slice(&overflow.to_le_bytes());
        self.next += pages as u64;
        Ok(id)
    }

    /// Writes a B+tree holding `entries` (in key order) and returns its root page id. An
    /// empty tree is one empty leaf, as bbolt keeps an empty bucket.
    fn tree(&mut self, entries: &[LeafEntry<'_>]) -> io::Result<u64> {
        // Each level: (first key, page id) of its nodes, left to right.
        let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
        for group in groups(entries, |e| ELEMENT_SIZE + e.key.len() + e.value.len()) {
            let id = self.allocate(&leaf_body(group)?, LEAF, group.len())?;
            let first = group.first().map(|e| e.key.to_vec()).unwrap_or_default();
            level.push((first, id));
        }
        if level.is_empty() {
            let id = self.allocate(&[0u8; HEADER_SIZE], LEAF, 0)?;
            return Ok(id);
        }
        while level.len() > 1 {
            let mut above = Vec::new();
            for group in groups(&level, |(key, _)| ELEMENT_SIZE + key.len()) {
                let id = self.allocate(&branch_body(group)?, BRANCH, group.len())?;
                above.push((group[0].0.clone(), id));
            }
            level = above;
        }
        Ok(level[0].1)
    }
}

/// Splits `items` into runs whose node (header, elements and data) fits one page; an item
/// bigger than a page gets a run of its own (an overflow page).
fn groups<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = HEADER_SIZE;
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && used + n > PAGE_SIZE {
            out.push(&items[start..i]);
            start = i;
            used = HEADER_SIZE;
        }
        used += n;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// A leaf node's bytes: a blank header, the elements, then each key and its value.
fn leaf_body(entries: &[LeafEntry<'_>]) -> io::Result<Vec<u8>> {
    let mut body = vec![0u8; HEADER_SIZE + entries.len() * ELEMENT_SIZE];
    for (i, entry) in entries.iter().enumerate() {
        let at = HEADER_SIZE + i * ELEMENT_SIZE;
        let flags = if entry.bucket { BUCKET_LEAF } else { 0 };
        // Positions are relative to the element itself.
        let pos = u32_of(body.len() - at)?;
        body[at..at + 4].copy_from_slice(&flags.to_le_bytes());
        body[at + 4..at + 8].copy_from_slice(&pos.to_le_bytes());
        body[at + 8..at + 12].copy_from_slice(&u32_of(entry.key.len())?.to_le_bytes());
        body[at + 12..at + 16].copy_from_slice(&u32_of(entry.value.len())?.to_le_bytes());
        body.extend_from_slice(entry.key);
        body.extend_from_slice(&entry.value);
    }
    Ok(body)
}

/// A branch node's bytes: a blank header, the elements (key position, key size, child
/// page), then the keys; each key is the first key under its child.
fn branch_body(children: &[(Vec<u8>, u64)]) -> io::Result<Vec<u8>> {
    let mut body = vec![0u8; HEADER_SIZE + children.len() * ELEMENT_SIZE];
    for (i, (key, child)) in children.iter().enumerate() {
        let at = HEADER_SIZE + i * ELEMENT_SIZE;
        let pos = u32_of(body.len() - at)?;
        body[at..at + 4].copy_from_slice(&pos.to_le_bytes());
        body[at + 4..at + 8].copy_from_slice(&u32_of(key.len())?.to_le_bytes());
        body[at + 8..at + 16].copy_from_slice(&child.to_le_bytes());
        body.extend_from_slice(key);
    }
    Ok(body)
}

fn u32_of(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| invalid("a key or value too large for bbolt (over 4 GiB)"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// Writes the bbolt file holding `buckets` to `out`: meta pages with transaction ids
/// `txid` and `txid + 1` (bbolt takes the valid one with the higher id), then the trees.
///
/// # Errors
///
/// The writer's own I/O error, or [`io::ErrorKind::InvalidInput`] for a key or value
/// bbolt cannot hold (over 4 GiB, or a page with more than 65535 elements).
pub fn write_to(out: &mut impl Write, buckets: &Buckets, txid: u64) -> io::Result<()> {
    let mut pages = Pages {
        bytes: Vec::new(),
        next: 2,
    };
    let mut top = Vec::with_capacity(buckets.len());
    for (name, entries) in buckets {
        let entries: Vec<LeafEntry<'_>> = entries
            .iter()
            .map(|(key, value)| LeafEntry {
                key,
                value: value.clone(),
                bucket: false,
            })
            .collect();
        let root = pages.tree(&entries)?;
        let mut header = Vec::with_capacity(BUCKET_HEADER_SIZE);
        header.extend_from_slice(&root.to_le_bytes());
        header.extend_from_slice(&0u64.to_le_bytes());
        top.push(LeafEntry {
            key: name,
            value: header,
            bucket: true,
        });
    }
    let root = pages.tree(&top)?;
    let high_water = pages.next;
    // Page 0 holds the even transaction id, page 1 the odd one, as bbolt alternates.
    let even = txid & !1;
    out.write_all(&meta::page(PAGE_SIZE, root, high_water, even))?;
    out.write_all(&meta::page(PAGE_SIZE, root, high_water, even + 1))?;
    out.write_all(&pages.bytes)
}

#[cfg(test)]
mod tests {
    use super::super::{Bucket, Db, Value};
    use super::*;

    /// Writes `buckets` to a temporary file and reads every bucket back with the reader.
    fn round_trip(buckets: &Buckets) -> (Buckets, u64) {
        let mut bytes = Vec::new();
        write_to(&mut bytes, buckets, 7).unwrap_or_else(|e| panic!("{e}"));
        let file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(file.path(), &bytes).unwrap_or_else(|e| panic!("{e}"));
        let db = Db::open(file.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(db.size(), bytes.len() as u64);
        let mut names: Vec<(Vec<u8>, Bucket)> = Vec::new();
        db.for_each(&db.root(), |k, v| {
            match v {
                Value::Bucket(b) => names.push((k.to_vec(), b)),
                Value::Data(_) => panic!("data at the top level"),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Buckets::new();
        for (name, bucket) in names {
            let mut entries = BTreeMap::new();
            db.for_each(&bucket, |k, v| {
                match v {
                    Value::Data(d) => entries.insert(k.to_vec(), d.to_vec()),
                    Value::Bucket(_) => panic!("nested bucket"),
                };
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
            out.insert(name, entries);
        }
        (out, db.size())
    }

    #[test]
    fn empty_small_large_and_overflowing_buckets_read_back_as_written() {
        let mut buckets = Buckets::new();
        buckets.insert(b"empty".to_vec(), BTreeMap::new());
        let small: BTreeMap<_, _> = [(b"a".to_vec(), b"1".to_vec())].into_iter().collect();
        buckets.insert(b"small".to_vec(), small);
        // Enough keys for two branch levels (about 200 leaves of ~40 keys).
        let many: BTreeMap<_, _> = (0..20_000u32)
            .map(|i| {
                (
                    format!("key-{i:08}").into_bytes(),
                    vec![b'v'; (i % 90) as usize],
                )
            })
            .collect();
        buckets.insert(b"many".to_vec(), many);
        let mut big = BTreeMap::new();
        big.insert(b"big".to_vec(), vec![7u8; 3 * PAGE_SIZE + 5]);
        big.insert(b"empty-value".to_vec(), Vec::new());
        big.insert(b"exactly-a-page".to_vec(), vec![1u8; PAGE_SIZE]);
        buckets.insert(b"big".to_vec(), big);
        let (back, size) = round_trip(&buckets);
        assert_eq!(back, buckets);
        assert_eq!(size % PAGE_SIZE as u64, 0);
    }

    #[test]
    fn no_buckets_is_an_empty_root() {
        let (back, size) = round_trip(&Buckets::new());
        assert!(back.is_empty());
        assert_eq!(size, 3 * PAGE_SIZE as u64);
    }

    #[test]
    fn the_meta_pages_name_the_root_the_high_water_mark_and_no_freelist() {
        let mut bytes = Vec::new();
        write_to(&mut bytes, &Buckets::new(), 4).unwrap_or_else(|e| panic!("{e}"));
        let m0 = meta::parse(&bytes[..PAGE_SIZE]).unwrap_or_else(|| panic!("meta 0"));
        let m1 = meta::parse(&bytes[PAGE_SIZE..]).unwrap_or_else(|| panic!("meta 1"));
        assert_eq!((m0.txid, m1.txid), (4, 5));
        assert_eq!((m0.root, m0.pgid, m0.page_size), (2, 3, 4096));
        assert_eq!(m0.freelist, meta::NO_FREELIST);
    }
}
