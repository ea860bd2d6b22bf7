//! bbolt's two meta pages (pages 0 and 1): which page size the file uses, where the root
//! bucket is, and how many pages the last committed transaction used. bbolt writes them
//! alternately, so the valid one with the higher transaction id is the current one.

use super::page::{HEADER_SIZE, read_u32, read_u64};

/// bbolt's magic number, the first field of a meta page's body.
const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt has written since 2014.
const VERSION: u32 = 2;
/// Bytes of the meta body covered by its checksum (everything before the checksum).
const CHECKSUMMED: usize = 56;
/// Bytes of the whole meta body (the checksummed part, then the checksum).
pub const BODY_SIZE: usize = CHECKSUMMED + 8;
/// Page flag of a meta page.
const META_PAGE: u16 = 0x04;
/// The freelist page id that says the file has no freelist page (bbolt's `pgidNoFreelist`,
/// what etcd's files carry: etcd runs bbolt with `NoFreelistSync`).
pub const NO_FREELIST: u64 = u64::MAX;

/// The fields of a valid meta page that a reader needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    /// The root bucket's root page.
    pub root: u64,
    /// The high water mark: the number of pages in use, so the file's data size is
    /// `pgid * page_size` (a snapshot file may be longer: etcd appends a sha256).
    pub pgid: u64,
    pub txid: u64,
    /// The freelist page, or [`NO_FREELIST`].
    pub freelist: u64,
}

/// Parses the meta page that starts at `page[0]` (its page header, then its body), or
/// `None` when it is not a valid meta page (wrong magic or version, bad checksum, a page
/// size no bbolt writes, too short).
pub fn parse(page: &[u8]) -> Option<Meta> {
    let body = page.get(HEADER_SIZE..HEADER_SIZE + BODY_SIZE)?;
    let checksum = read_u64(body, CHECKSUMMED)?;
    if fnv1a64(&body[..CHECKSUMMED]) != checksum {
        return None;
    }
    if read_u32(body, 0)? != MAGIC || read_u32(body, 4)? != VERSION {
        return None;
    }
    let page_size = read_u32(body, 8)?;
    // bbolt uses the OS page size (or a chosen one); a power of two between 512 bytes and
    // 1 MiB covers every platform, and refusing the rest keeps allocations bounded.
    if !page_size.is_power_of_two() || !(512..=1 << 20).contains(&page_size) {
        return None;
    }
    Some(Meta {
        page_size,
        // 12..16 holds flags, 24..32 the root bucket's sequence, 32..40 the freelist page.
        root: read_u64(body, 16)?,
        freelist: read_u64(body, 32)?,
        pgid: read_u64(body, 40)?,
        txid: read_u64(body, 48)?,
    })
}

/// A whole meta page as bbolt writes one: the page header (its id is the transaction's
/// parity, as bbolt alternates between the two), then the body with its checksum, for a
/// file with no freelist page and a root bucket whose sequence is 0.
pub fn page(page_size: usize, root: u64, pgid: u64, txid: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_SIZE);
    body.extend_from_slice(&MAGIC.to_le_bytes());
    body.extend_from_slice(&VERSION.to_le_bytes());
    // Page sizes are at most 1 MiB (see `parse`), so this does not truncate.
    body.extend_from_slice(&(page_size as u32).to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&root.to_le_bytes());
    body.extend_from_slice(&0u64.to_le_bytes());
    body.extend_from_slice(&NO_FREELIST.to_le_bytes());
    body.extend_from_slice(&pgid.to_le_bytes());
    body.extend_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    let mut page = vec![0u8; page_size];
    page[0..8].copy_from_slice(&(txid % 2).to_le_bytes());
    page[8..10].copy_from_slice(&META_PAGE.to_le_bytes());
    page[HEADER_SIZE..HEADER_SIZE + BODY_SIZE].copy_from_slice(&body);
    page
}

/// 64-bit FNV-1a, bbolt's meta checksum (Go's `hash/fnv.New64a`; the `fnv` crate's
/// hasher is the same function).
fn fnv1a64(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A meta page as bbolt writes one, for the reader's unit tests.
    pub fn meta_page(page_size: u32, root: u64, pgid: u64, txid: u64) -> Vec<u8> {
        page(page_size as usize, root, pgid, txid)
    }

    #[test]
    fn a_written_meta_page_parses_back() {
        let page = meta_page(4096, 3, 7, 42);
        let meta = parse(&page);
        assert_eq!(
            meta,
            Some(Meta {
                page_size: 4096,
                root: 3,
                pgid: 7,
                txid: 42,
                freelist: NO_FREELIST,
            })
        );
    }

    #[test]
    fn a_flipped_bit_or_a_short_page_is_not_a_meta_page() {
        let mut page = meta_page(4096, 3, 7, 42);
        page[HEADER_SIZE + 20] ^= 1;
        assert_eq!(parse(&page), None);
        assert_eq!(parse(&page[..40]), None);
        assert_eq!(parse(&[]), None);
    }
}
