//! What an attempt read (the read set, with the revision of each read) and what it will
//! write (the write set), and the compares and operations the commit makes of them.

use std::collections::BTreeMap;

use bytes::Bytes;
use etcdkit::kv::{Compare, CompareOp, Delete, Put, TxnOp};
use etcdkit::{KeyValue, Revision};

/// One key as read.
#[derive(Debug, Clone)]
pub(super) struct Read {
    /// The key-value, `None` when the key did not exist.
    pub kv: Option<KeyValue>,
    /// The store revision the read saw.
    pub at: Revision,
}

impl Read {
    /// The last modification revision (0 for a missing key, as etcd compares it).
    pub fn mod_revision(&self) -> Revision {
        self.kv.as_ref().map_or(Revision(0), KeyValue::mod_revision)
    }

    pub fn value(&self) -> Option<Bytes> {
        self.kv.as_ref().map(|kv| kv.value().clone())
    }
}

/// What an attempt recorded per key, in key order: the read set and the write set.
#[derive(Debug)]
pub(super) struct ByKey<T> {
    entries: BTreeMap<Bytes, T>,
}

impl<T> Default for ByKey<T> {
    fn default() -> Self {
        ByKey {
            entries: BTreeMap::new(),
        }
    }
}

impl<T> ByKey<T> {
    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.entries.get(key)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.entries.keys()
    }
}

/// Every key an attempt read, as first read.
pub(super) type ReadSet = ByKey<Read>;

impl ReadSet {
    /// Records a read unless the key was read already (a key is read once per attempt),
    /// and returns the read that counts.
    pub fn insert(&mut self, key: Bytes, read: Read) -> Read {
        self.entries.entry(key).or_insert(read).clone()
    }

    /// The revision of the earliest read.
    pub fn first(&self) -> Option<Revision> {
        self.entries.values().map(|r| r.at).min()
    }

    /// Whether every read saw the same revision.
    pub fn at_one_revision(&self) -> bool {
        let mut revisions = self.entries.values().map(|r| r.at);
        match revisions.next() {
            Some(first) => revisions.all(|r| r == first),
            None => true,
        }
    }

    /// Compares that hold while every key read is as it was read (a missing key: still
    /// missing).
    pub fn unchanged(&self) -> Vec<Compare> {
        self.entries
            .iter()
            .map(|(key, read)| {
                Compare::mod_revision(key.clone(), CompareOp::Equal, read.mod_revision())
            })
            .collect()
    }
}

/// One pending write.
#[derive(Debug, Clone)]
pub(super) enum Write {
    Put(Bytes),
    Delete,
}

impl Write {
    /// The value a read of the key sees within the attempt.
    pub fn value(&self) -> Option<Bytes> {
        match self {
            Write::Put(value) => Some(value.clone()),
            Write::Delete => None,
        }
    }
}

/// The last write of every key an attempt wrote.
pub(super) type WriteSet = ByKey<Write>;

impl WriteSet {
    /// Records a write of the key, replacing an earlier one: the last write wins.
    pub fn insert(&mut self, key: Bytes, write: Write) {
        self.entries.insert(key, write);
    }

    /// Compares that hold while no key written was modified after revision `rev`.
    pub fn unmodified_since(&self, rev: Revision) -> impl Iterator<Item = Compare> + '_ {
        self.entries
            .keys()
            .map(move |key| Compare::mod_revision(key.clone(), CompareOp::Less, rev.next()))
    }

    /// The writes as transaction operations.
    pub fn ops(&self) -> Vec<TxnOp> {
        self.entries
            .iter()
            .map(|(key, write)| match write {
                Write::Put(value) => Put::new(key.clone(), value.clone()).into(),
                Write::Delete => Delete::new(key.clone()).into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(at: i64) -> Read {
        Read {
            kv: None,
            at: Revision(at),
        }
    }

    #[test]
    fn a_key_counts_as_first_read_and_the_first_revision_is_the_earliest() {
        let mut reads = ReadSet::default();
        assert!(reads.first().is_none() && reads.at_one_revision());
        reads.insert(Bytes::from("b"), missing(9));
        let kept = reads.insert(Bytes::from("b"), missing(12));
        assert_eq!(kept.at, Revision(9));
        reads.insert(Bytes::from("a"), missing(7));
        assert_eq!(reads.first(), Some(Revision(7)));
        assert!(!reads.at_one_revision());
        assert_eq!(reads.unchanged().len(), 2);
    }

    #[test]
    fn the_last_write_of_a_key_wins() {
        let mut writes = WriteSet::default();
        writes.insert(Bytes::from("k"), Write::Put(Bytes::from("1")));
        writes.insert(Bytes::from("k"), Write::Delete);
        assert!(writes.get(b"k").is_some_and(|w| w.value().is_none()));
        assert_eq!(writes.ops().len(), 1);
        assert_eq!(writes.unmodified_since(Revision(4)).count(), 1);
    }
}
