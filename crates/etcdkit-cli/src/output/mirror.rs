//! What `make-mirror` prints: etcdctl's progress line, the number of keys mirrored so far
//! alone on a line.

/// The progress line for `total` changes mirrored (keys copied, puts, deletes).
pub fn progress_line(total: u64) -> Vec<u8> {
    format!("{total}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_is_the_bare_count() {
        assert_eq!(progress_line(0), b"0\n");
        assert_eq!(progress_line(1234), b"1234\n");
    }
}
