//! The bytes of a stored revision, of the peer URL list and of the learners (integers
//! big-endian).

use bytes::Bytes;

use crate::core::Learner;
use crate::generated::mvccpb::KeyValue;

const TOMBSTONE: u8 = 0;
const VALUE: u8 = 1;

/// Appends one revision of `key`: `kv` is its value, `None` a tombstone.
pub(super) fn encode_entry(out: &mut Vec<u8>, key: &[u8], kv: Option<&KeyValue>) {
    out.push(if kv.is_some() { VALUE } else { TOMBSTONE });
    put_bytes(out, key);
    if let Some(kv) = kv {
        out.extend_from_slice(&kv.create_revision.to_be_bytes());
        out.extend_from_slice(&kv.version.to_be_bytes());
        out.extend_from_slice(&kv.lease.to_be_bytes());
        out.extend_from_slice(&kv.value);
    }
}

/// Reads back what [`encode_entry`] wrote for revision `main`; `None` when it is not that.
pub(super) fn decode_entry(mut bytes: &[u8], main: i64) -> Option<(Bytes, Option<KeyValue>)> {
    let kind = take(&mut bytes, 1)?[0];
    let key = Bytes::copy_from_slice(take_bytes(&mut bytes)?);
    match kind {
        TOMBSTONE if bytes.is_empty() => Some((key, None)),
        VALUE => {
            let create_revision = take_i64(&mut bytes)?;
            let version = take_i64(&mut bytes)?;
            let lease = take_i64(&mut bytes)?;
            let kv = KeyValue {
                key: key.clone(),
                create_revision,
                mod_revision: main,
                version,
                value: Bytes::copy_from_slice(bytes),
                lease,
            };
            Some((key, Some(kv)))
        }
        _ => None,
    }
}

pub(super) fn encode_strings(list: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&len32(list.len()).to_be_bytes());
    for s in list {
        put_bytes(&mut out, s.as_bytes());
    }
    out
}

pub(super) fn decode_strings(mut bytes: &[u8]) -> Option<Vec<String>> {
    let count = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
    let mut list = Vec::new();
    for _ in 0..count {
        list.push(String::from_utf8(take_bytes(&mut bytes)?.to_vec()).ok()?);
    }
    bytes.is_empty().then_some(list)
}

pub(super) fn encode_learners(learners: &[Learner]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&len32(learners.len()).to_be_bytes());
    for learner in learners {
        out.extend_from_slice(&learner.id.to_be_bytes());
        put_bytes(&mut out, &encode_strings(&learner.peer_urls));
    }
    out
}

pub(super) fn decode_learners(mut bytes: &[u8]) -> Option<Vec<Learner>> {
    let count = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
    let mut learners = Vec::new();
    for _ in 0..count {
        let id = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
        let peer_urls = decode_strings(take_bytes(&mut bytes)?)?;
        learners.push(Learner { id, peer_urls });
    }
    bytes.is_empty().then_some(learners)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&len32(b.len()).to_be_bytes());
    out.extend_from_slice(b);
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Some(head)
}

fn take_bytes<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?);
    take(bytes, usize::try_from(len).ok()?)
}

fn take_i64(bytes: &mut &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(take(bytes, 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_url_lists_read_back_as_written_and_garbage_does_not() {
        let kv = KeyValue {
            key: Bytes::from_static(b"k"),
            create_revision: 3,
            mod_revision: 7,
            version: 2,
            value: Bytes::from_static(b"value"),
            lease: 9,
        };
        let mut buf = Vec::new();
        encode_entry(&mut buf, b"k", Some(&kv));
        assert_eq!(decode_entry(&buf, 7), Some((kv.key.clone(), Some(kv))));
        buf.clear();
        encode_entry(&mut buf, b"gone", None);
        assert_eq!(
            decode_entry(&buf, 8),
            Some((Bytes::from_static(b"gone"), None))
        );
        assert_eq!(decode_entry(&buf[..3], 8), None);
        assert_eq!(decode_entry(&[7, 0, 0, 0, 0], 8), None);
        let urls = vec!["http://a:1".to_owned(), String::new()];
        assert_eq!(decode_strings(&encode_strings(&urls)), Some(urls));
        assert_eq!(decode_strings(&[0, 0, 0, 1]), None);
        let learners = vec![Learner {
            id: 0x1f4a,
            peer_urls: vec!["http://127.0.0.1:24001".to_owned()],
        }];
        let encoded = encode_learners(&learners);
        assert_eq!(decode_learners(&encoded), Some(learners));
        assert_eq!(decode_learners(&encoded[..encoded.len() - 1]), None);
    }
}
