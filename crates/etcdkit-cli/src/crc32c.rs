//! CRC-32C (Castagnoli), the checksum etcdutl's `snapshot status` reports as the hash of
//! a snapshot's contents (Go's `crc32.MakeTable(crc32.Castagnoli)`).
//!
//! A table-driven byte-at-a-time implementation: snapshot status reads each page once from
//! disk, so the checksum is never the slow part, and no crate is needed for it.

/// The reversed Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// The 256-entry lookup table, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// A running CRC-32C over everything written to it, like Go's `hash.Hash32`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32c {
    /// The complemented state (Go keeps it the same way between writes).
    state: u32,
}

impl Crc32c {
    pub fn new() -> Self {
        Crc32c::default()
    }

    /// Adds `bytes` to the checksum.
    pub fn write(&mut self, bytes: &[u8]) {
        let mut crc = !self.state;
        for &b in bytes {
            crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
        }
        self.state = !crc;
    }

    /// The checksum of everything written so far.
    pub fn sum(&self) -> u32 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_check_value() {
        // The standard check value of CRC-32C over "123456789".
        let mut crc = Crc32c::new();
        crc.write(b"123456789");
        assert_eq!(crc.sum(), 0xE306_9283);
    }

    #[test]
    fn split_writes_give_the_same_sum_as_one_write() {
        let mut whole = Crc32c::new();
        whole.write(b"hello, snapshot");
        let mut parts = Crc32c::new();
        parts.write(b"hello, ");
        parts.write(b"");
        parts.write(b"snapshot");
        assert_eq!(whole.sum(), parts.sum());
        assert_eq!(Crc32c::new().sum(), 0);
    }
}
