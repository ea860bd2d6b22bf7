//! bbolt's page layout: a 16-byte header (id, flags, element count, overflow count), then
//! fixed-size elements whose keys and values live further on in the same page, found by
//! an offset relative to the element itself.
//!
//! Every read is bounds-checked: a damaged file gives an error naming the page, never a
//! panic.

/// Size of a page header: id (u64), flags (u16), count (u16), overflow (u32).
pub const HEADER_SIZE: usize = 16;
/// Size of a branch element (pos u32, ksize u32, pgid u64) and of a leaf element (flags
/// u32, pos u32, ksize u32, vsize u32).
const ELEMENT_SIZE: usize = 16;

pub const BRANCH: u16 = 0x01;
pub const LEAF: u16 = 0x02;
/// Leaf element flag: the value is a nested bucket's header, not data.
const BUCKET_LEAF: u32 = 0x01;

/// A page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u64,
    pub flags: u16,
    pub count: u16,
    /// How many pages after this one the page spans.
    pub overflow: u32,
}

/// One key of a leaf page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafElement<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Whether `value` is a nested bucket's header (and inline page).
    pub is_bucket: bool,
}

/// The header at the start of `page`, or `None` if it is shorter than a header.
pub fn header(page: &[u8]) -> Option<Header> {
    Some(Header {
        id: read_u64(page, 0)?,
        flags: read_u16(page, 8)?,
        count: read_u16(page, 10)?,
        overflow: read_u32(page, 12)?,
    })
}

/// The child page ids of a branch page, in key order.
///
/// # Errors
///
/// A description of the damage when an element lies outside the page.
pub fn branch_children(page: &[u8], count: u16) -> Result<Vec<u64>, String> {
    (0..usize::from(count))
        .map(|i| {
            let at = HEADER_SIZE + i * ELEMENT_SIZE;
            read_u64(page, at + 8).ok_or_else(|| format!("branch element {i} is outside the page"))
        })
        .collect()
}

/// The elements of a leaf page, in key order.
///
/// # Errors
///
/// A description of the damage when an element, key or value lies outside the page.
pub fn leaf_elements(page: &[u8], count: u16) -> Result<Vec<LeafElement<'_>>, String> {
    (0..usize::from(count))
        .map(|i| {
            let at = HEADER_SIZE + i * ELEMENT_SIZE;
            let fields = (
                read_u32(page, at),
                read_u32(page, at + 4),
                read_u32(page, at + 8),
                read_u32(page, at + 12),
            );
            let (Some(flags), Some(pos), Some(ksize), Some(vsize)) = fields else {
                return Err(format!("leaf element {i} is outside the page"));
            };
            // Offsets are relative to the element; sizes are u32, so the sums fit in usize
            // on 64-bit targets and are checked anyway.
            let key_start = at.checked_add(pos as usize);
            let key_end = key_start.and_then(|s| s.checked_add(ksize as usize));
            let value_end = key_end.and_then(|e| e.checked_add(vsize as usize));
            let (Some(key_start), Some(key_end), Some(value_end)) = (key_start, key_end, value_end)
            else {
                return Err(format!("leaf element {i} has an impossible size"));
            };
            match (page.get(key_start..key_end), page.get(key_end..value_end)) {
                (Some(key), Some(value)) => Ok(LeafElement {
                    key,
                    value,
                    is_bucket: flags & BUCKET_LEAF != 0,
                }),
                _ => Err(format!(
                    "leaf element {i}'s key or value is outside the page"
                )),
            }
        })
        .collect()
}

pub fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A leaf page holding these (key, value, is_bucket) entries, laid out as bbolt does:
    /// all elements first, then keys and values in the same order.
    pub fn leaf_page(id: u64, entries: &[(&[u8], &[u8], bool)], size: usize) -> Vec<u8> {
        let mut page = vec![0u8; size];
        page[0..8].copy_from_slice(&id.to_le_bytes());
        page[8..10].copy_from_slice(&LEAF.to_le_bytes());
        page[10..12].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        let mut data = HEADER_SIZE + entries.len() * ELEMENT_SIZE;
        for (i, (key, value, bucket)) in entries.iter().enumerate() {
            let at = HEADER_SIZE + i * ELEMENT_SIZE;
            let flags = if *bucket { BUCKET_LEAF } else { 0 };
            page[at..at + 4].copy_from_slice(&flags.to_le_bytes());
            page[at + 4..at + 8].copy_from_slice(&((data - at) as u32).to_le_bytes());
            page[at + 8..at + 12].copy_from_slice(&(key.len() as u32).to_le_bytes());
            page[at + 12..at + 16].copy_from_slice(&(value.len() as u32).to_le_bytes());
            page[data..data + key.len()].copy_from_slice(key);
            data += key.len();
            page[data..data + value.len()].copy_from_slice(value);
            data += value.len();
        }
        page
    }

    #[test]
    fn leaf_elements_read_back_in_order() {
        let page = leaf_page(5, &[(b"a", b"1", false), (b"bb", b"", true)], 128);
        let h = header(&page).unwrap_or_else(|| panic!("header"));
        assert_eq!((h.id, h.flags, h.count, h.overflow), (5, LEAF, 2, 0));
        let elements = leaf_elements(&page, h.count).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(elements.len(), 2);
        assert_eq!((elements[0].key, elements[0].value), (&b"a"[..], &b"1"[..]));
        assert!(elements[1].is_bucket);
    }

    #[test]
    fn elements_pointing_outside_the_page_are_errors() {
        let mut page = leaf_page(5, &[(b"a", b"1", false)], 64);
        // A value size far past the page's end.
        page[HEADER_SIZE + 12..HEADER_SIZE + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(leaf_elements(&page, 1).is_err());
        // More elements than the page holds.
        assert!(leaf_elements(&page, 100).is_err());
        assert!(branch_children(&page, 100).is_err());
        assert_eq!(header(&page[..10]), None);
    }
}
