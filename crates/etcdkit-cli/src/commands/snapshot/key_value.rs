//! The two fields of a stored `mvccpb.KeyValue` (the values of the backend's `key`
//! bucket) that `snapshot status` needs: the user key (field 1) and its version (field 4,
//! 0 in a tombstone). A hand-written protobuf walk: the CLI has no generated etcd
//! messages of its own, and two fields do not need them.

/// The user key and version of an encoded `KeyValue`, or `None` when the bytes are not a
/// valid message (a truncated field, a wire type protobuf does not have).
pub fn key_and_version(mut bytes: &[u8]) -> Option<(&[u8], i64)> {
    let mut key: &[u8] = &[];
    let mut version = 0i64;
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        let field = tag >> 3;
        match tag & 7 {
            0 => {
                let value = varint(&mut bytes)?;
                if field == 4 {
                    // int64 on the wire: two's complement in 64 bits.
                    version = value as i64;
                }
            }
            1 => bytes = bytes.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let (data, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                if field == 1 {
                    key = data;
                }
                bytes = rest;
            }
            5 => bytes = bytes.get(4..)?,
            _ => return None,
        }
    }
    Some((key, version))
}

/// Reads one base-128 varint from the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_key_and_version_and_skips_the_other_fields() {
        // key "ab", create_revision 2, mod_revision 300, version 3, value "v", lease 1.
        let message = [
            0x0a, 2, b'a', b'b', 0x10, 2, 0x18, 0xac, 0x02, 0x20, 3, 0x2a, 1, b'v', 0x30, 1,
        ];
        assert_eq!(key_and_version(&message), Some((&b"ab"[..], 3)));
        // A tombstone: the key only.
        assert_eq!(key_and_version(&[0x0a, 1, b'k']), Some((&b"k"[..], 0)));
    }

    #[test]
    fn truncated_or_invalid_messages_are_none() {
        assert_eq!(key_and_version(&[0x0a, 5, b'a']), None);
        assert_eq!(key_and_version(&[0x20, 0x80]), None);
        assert_eq!(key_and_version(&[0x0f]), None);
    }
}
