//! A read-only reader of bbolt files, the storage format of etcd's backend and of the
//! snapshots `snapshot save` writes; [`write`] writes whole new files (for `snapshot
//! restore`).
//!
//! Only what `snapshot status` needs: the current meta page, the data size, and an
//! in-order walk of a bucket's keys (nested buckets, inline buckets, branch and overflow
//! pages). It reads pages with positioned reads rather than mapping the file, so a large
//! snapshot costs one page of memory at a time plus the tree path.
//!
//! Written here rather than taken from a crate: the one Rust port of bbolt on crates.io
//! (`bbolt-rs`) is a whole read-write engine with some thirty dependencies, and a reader is
//! a few hundred lines. The format is bbolt's (1.3 and 1.4 write the same one): see
//! [`page`] and [`meta`].
//!
//! Every structural fault (a page past the end of the file or past the high water mark,
//! a page of the wrong kind, a page reached twice, an element outside its page) is an
//! [`Error::Corrupt`] naming the page, never a panic.

mod meta;
mod page;
pub mod write;

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use meta::Meta;
use page::{BRANCH, HEADER_SIZE, LEAF};

/// Deeper trees than this are taken as damage (a B+tree of 64 levels would need more
/// pages than any file holds); it bounds the reader's recursion.
const MAX_DEPTH: usize = 64;

/// Why a file could not be read.
#[derive(Debug)]
pub enum Error {
    /// The file could not be opened or read.
    Io(io::Error),
    /// Neither meta page is valid: not a bbolt file (bbolt's own words).
    Invalid,
    /// The tree is damaged: which page, and how.
    Corrupt(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Invalid => f.write_str("invalid database"),
            Error::Corrupt(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// A bucket: the root page of its tree, or its inline page (a small bucket stored inside
/// its parent's leaf, after the 16-byte bucket header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bucket {
    Root(u64),
    Inline(Vec<u8>),
}

/// One entry of a bucket.
#[derive(Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Data(&'a [u8]),
    Bucket(Bucket),
}

/// What a walk calls with each entry.
type Visit<'f> = dyn FnMut(&[u8], Value<'_>) -> Result<(), Error> + 'f;

/// An open bbolt file.
#[derive(Debug)]
pub struct Db {
    file: File,
    len: u64,
    meta: Meta,
}

impl Db {
    /// Opens `path` read-only and picks its current meta page.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened or read, [`Error::Invalid`] when
    /// neither meta page is valid (not a bbolt file, or both damaged).
    pub fn open(path: &Path) -> Result<Db, Error> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        // A directory opens on Linux but is no database (bbolt's words for it too).
        if !metadata.is_file() {
            return Err(Error::Invalid);
        }
        let len = metadata.len();
        // Page 0 says the page size; page 1 sits one page further. If page 0 is damaged,
        // bbolt looks for page 1 at the OS page size; common sizes are tried here.
        let first = read_up_to(&file, 0, 4096, len)?;
        let meta0 = meta::parse(&first);
        let offsets: Vec<u64> = match meta0 {
            Some(m) => vec![u64::from(m.page_size)],
            None => vec![4096, 8192, 16384, 65536],
        };
        let meta1 = offsets.into_iter().find_map(|offset| {
            let page = read_up_to(&file, offset, HEADER_SIZE + meta::BODY_SIZE, len).ok()?;
            meta::parse(&page)
        });
        let meta = match (meta0, meta1) {
            (Some(a), Some(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Some(m), None) | (None, Some(m)) => m,
            (None, None) => return Err(Error::Invalid),
        };
        Ok(Db { file, len, meta })
    }

    /// The data size bbolt reports (`Tx.Size`): pages in use times the page size. Bytes
    /// after it (etcd's appended sha256, preallocated space) do not count.
    pub fn size(&self) -> u64 {
        self.meta
            .pgid
            .saturating_mul(u64::from(self.meta.page_size))
    }

    /// The root bucket, whose entries are the top-level buckets.
    pub fn root(&self) -> Bucket {
        Bucket::Root(self.meta.root)
    }

    /// Calls `visit` with each entry of `bucket`, in key order. Nested buckets are passed
    /// as [`Value::Bucket`], not entered.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] or [`Error::Io`] when a page cannot be read, or `visit`'s own
    /// error, which stops the walk.
    pub fn for_each<F>(&self, bucket: &Bucket, mut visit: F) -> Result<(), Error>
    where
        F: FnMut(&[u8], Value<'_>) -> Result<(), Error>,
    {
        let mut seen = HashSet::new();
        match bucket {
            Bucket::Root(id) => self.walk(*id, 0, &mut seen, &mut visit),
            Bucket::Inline(page) => {
                let header = page::header(page)
                    .ok_or_else(|| Error::Corrupt("inline bucket: too short".into()))?;
                if header.flags & LEAF == 0 {
                    return Err(Error::Corrupt("inline bucket: not a leaf page".into()));
                }
                visit_leaf(page, header.count, &mut visit).map_err(|e| prefix(e, "inline bucket"))
            }
        }
    }

    /// Visits the subtree under page `id`.
    fn walk(
        &self,
        id: u64,
        depth: usize,
        seen: &mut HashSet<u64>,
        visit: &mut Visit<'_>,
    ) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Corrupt(format!(
                "page {id}: tree deeper than {MAX_DEPTH}"
            )));
        }
        if !seen.insert(id) {
            return Err(Error::Corrupt(format!("page {id}: reached twice")));
        }
        let buf = self.read_page(id)?;
        let header = page::header(&buf).ok_or_else(|| corrupt(id, "short page"))?;
        if header.flags & BRANCH != 0 {
            let children =
                page::branch_children(&buf, header.count).map_err(|e| corrupt(id, &e))?;
            drop(buf);
            for child in children {
                self.walk(child, depth + 1, seen, visit)?;
            }
            Ok(())
        } else if header.flags & LEAF != 0 {
            visit_leaf(&buf, header.count, visit).map_err(|e| prefix(e, &format!("page {id}")))
        } else {
            Err(corrupt(
                id,
                &format!("invalid page type {:#x}", header.flags),
            ))
        }
    }

    /// Reads page `id` with its overflow pages.
    fn read_page(&self, id: u64) -> Result<Vec<u8>, Error> {
        if id < 2 || id >= self.meta.pgid {
            return Err(corrupt(
                id,
                &format!("outside the pages in use (2..{})", self.meta.pgid),
            ));
        }
        let page_size = u64::from(self.meta.page_size);
        let offset = id * page_size;
        let first = self.read_exact(id, offset, page_size)?;
        let header = page::header(&first).ok_or_else(|| corrupt(id, "short page"))?;
        if header.id != id {
            return Err(corrupt(id, &format!("its header says page {}", header.id)));
        }
        if header.overflow == 0 {
            return Ok(first);
        }
        let pages = u64::from(header.overflow) + 1;
        if id + pages > self.meta.pgid {
            return Err(corrupt(id, "overflow runs past the pages in use"));
        }
        self.read_exact(id, offset, pages * page_size)
    }

    fn read_exact(&self, id: u64, offset: u64, n: u64) -> Result<Vec<u8>, Error> {
        if offset.saturating_add(n) > self.len {
            return Err(corrupt(id, "past the end of the file (truncated?)"));
        }
        let n = usize::try_from(n).map_err(|_| corrupt(id, "too large"))?;
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }
}

/// Passes a leaf page's entries to `visit`.
fn visit_leaf(buf: &[u8], count: u16, visit: &mut Visit<'_>) -> Result<(), Error> {
    for element in page::leaf_elements(buf, count).map_err(Error::Corrupt)? {
        let value = if element.is_bucket {
            Value::Bucket(bucket_of(element.value)?)
        } else {
            Value::Data(element.value)
        };
        visit(element.key, value)?;
    }
    Ok(())
}

/// Decodes a nested bucket's value: its header (root page id, sequence), then, when the
/// root is 0, its inline page.
fn bucket_of(value: &[u8]) -> Result<Bucket, Error> {
    let root =
        page::read_u64(value, 0).ok_or_else(|| Error::Corrupt("bucket header too short".into()))?;
    if root != 0 {
        return Ok(Bucket::Root(root));
    }
    match value.get(16..) {
        Some(inline) if inline.len() >= HEADER_SIZE => Ok(Bucket::Inline(inline.to_vec())),
        _ => Err(Error::Corrupt("inline bucket too short".into())),
    }
}

fn corrupt(id: u64, what: &str) -> Error {
    Error::Corrupt(format!("page {id}: {what}"))
}

/// Adds where a corruption was found, once (the innermost place wins).
fn prefix(e: Error, place: &str) -> Error {
    match e {
        Error::Corrupt(what) if !what.starts_with("page ") && !what.starts_with("inline") => {
            Error::Corrupt(format!("{place}: {what}"))
        }
        other => other,
    }
}

/// Reads up to `n` bytes at `offset` (fewer when the file ends first).
fn read_up_to(file: &File, offset: u64, n: usize, len: u64) -> io::Result<Vec<u8>> {
    let available = len.saturating_sub(offset);
    let n = n.min(usize::try_from(available).unwrap_or(n));
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PAGE: usize = 4096;

    /// A bbolt file: two meta pages (the second newer), then `pages` from page 2 on.
    fn file_of(pages: &[Vec<u8>], root: u64) -> tempfile::NamedTempFile {
        let pgid = 2 + pages.len() as u64;
        let mut bytes = meta::tests::meta_page(PAGE as u32, root, pgid, 1);
        bytes.extend(meta::tests::meta_page(PAGE as u32, root, pgid, 2));
        for p in pages {
            bytes.extend_from_slice(p);
        }
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        f
    }

    /// Keys, and values (`None` for a nested bucket).
    type Entries = Vec<(Vec<u8>, Option<Vec<u8>>)>;

    fn entries(db: &Db, bucket: &Bucket) -> Result<Entries, Error> {
        let mut out = Vec::new();
        db.for_each(bucket, |k, v| {
            let v = match v {
                Value::Data(d) => Some(d.to_vec()),
                Value::Bucket(_) => None,
            };
            out.push((k.to_vec(), v));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_a_root_with_an_inline_bucket_and_a_page_bucket() {
        let inline_page = page::tests::leaf_page(0, &[(b"x", b"1", false)], 48);
        let mut inline_value = vec![0u8; 16];
        inline_value.extend_from_slice(&inline_page);
        let mut paged_value = 4u64.to_le_bytes().to_vec();
        paged_value.extend_from_slice(&0u64.to_le_bytes());
        let root = page::tests::leaf_page(
            2,
            &[(b"a", &inline_value, true), (b"b", &paged_value, true)],
            PAGE,
        );
        // Page 3 is a branch over page 4, whose leaf holds two keys.
        let mut branch = vec![0u8; PAGE];
        branch[0..8].copy_from_slice(&3u64.to_le_bytes());
        branch[8..10].copy_from_slice(&BRANCH.to_le_bytes());
        branch[10..12].copy_from_slice(&1u16.to_le_bytes());
        branch[24..32].copy_from_slice(&4u64.to_le_bytes());
        let leaf = page::tests::leaf_page(4, &[(b"k1", b"v1", false), (b"k2", b"v2", false)], PAGE);
        let mut paged_via_branch = 3u64.to_le_bytes().to_vec();
        paged_via_branch.extend_from_slice(&0u64.to_le_bytes());
        let f = file_of(&[root, branch, leaf], 2);
        let db = Db::open(f.path()).unwrap();
        assert_eq!(db.size(), 5 * PAGE as u64);
        let top = entries(&db, &db.root()).unwrap();
        assert_eq!(top, vec![(b"a".to_vec(), None), (b"b".to_vec(), None)]);
        assert_eq!(
            entries(&db, &Bucket::Inline(inline_page)).unwrap(),
            vec![(b"x".to_vec(), Some(b"1".to_vec()))]
        );
        assert_eq!(
            entries(&db, &Bucket::Root(3)).unwrap(),
            vec![
                (b"k1".to_vec(), Some(b"v1".to_vec())),
                (b"k2".to_vec(), Some(b"v2".to_vec()))
            ]
        );
    }

    #[test]
    fn garbage_is_an_invalid_database() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[0xAB; 3 * PAGE]).unwrap();
        assert!(matches!(Db::open(f.path()), Err(Error::Invalid)));
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert!(matches!(Db::open(empty.path()), Err(Error::Invalid)));
    }

    #[test]
    fn a_truncated_file_or_a_page_loop_is_corrupt_not_a_panic() {
        let root = page::tests::leaf_page(2, &[(b"k", b"v", false)], PAGE);
        let f = file_of(&[root], 2);
        // Claim more pages than the file has, by pointing at page 9 of 3.
        let db = Db::open(f.path()).unwrap();
        assert!(matches!(
            entries(&db, &Bucket::Root(9)),
            Err(Error::Corrupt(_))
        ));
        // A branch whose child is itself.
        let mut branch = vec![0u8; PAGE];
        branch[0..8].copy_from_slice(&2u64.to_le_bytes());
        branch[8..10].copy_from_slice(&BRANCH.to_le_bytes());
        branch[10..12].copy_from_slice(&1u16.to_le_bytes());
        branch[24..32].copy_from_slice(&2u64.to_le_bytes());
        let f = file_of(&[branch], 2);
        let db = Db::open(f.path()).unwrap();
        let e = entries(&db, &db.root()).unwrap_err();
        assert!(e.to_string().contains("reached twice"), "{e}");
        // The file cut in the middle of page 2.
        let root = page::tests::leaf_page(2, &[(b"k", b"v", false)], PAGE);
        let f = file_of(&[root], 2);
        let file = f.as_file();
        file.set_len(2 * PAGE as u64 + 100).unwrap();
        let db = Db::open(f.path()).unwrap();
        let e = entries(&db, &db.root()).unwrap_err();
        assert!(e.to_string().contains("past the end of the file"), "{e}");
    }
}
