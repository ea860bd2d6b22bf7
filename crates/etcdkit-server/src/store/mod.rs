//! The multi-version key-value store: every key's history, numbered exactly as etcd's mvcc
//! numbers it. In memory; no gRPC here (requests and replies are the wire schema's messages,
//! errors are [`EtcdError`]s).
//!
//! Numbering: the store starts at revision 1 (an empty etcd answers with header revision 1).
//! A write (put, delete that deletes something, txn that changes something) takes the next
//! main revision; each change inside it takes the next sub-revision. A key's generation
//! starts with a put (create_revision = that revision, version 1), counts versions with each
//! put, and ends with a delete (a tombstone).

mod dump;
mod key_range;
mod range;
mod txn;
mod write;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::EtcdError;
use crate::generated::mvccpb::KeyValue;

pub(crate) use key_range::KeyRange;
pub(crate) use txn::validate as validate_txn;
pub(crate) use txn::writes as txn_writes;
pub(crate) use write::check_put;

/// Revision of the store before any compaction, as etcd's (`compactMainRev` starts at -1).
const NEVER_COMPACTED: i64 = -1;

/// One revision of one key: its value then, or a tombstone.
#[derive(Clone, Debug)]
struct Entry {
    main: i64,
    /// The change's position within its revision (etcd's sub-revision).
    sub: i64,
    /// `None` is a tombstone: the key was deleted at `main`.
    kv: Option<KeyValue>,
}

/// One change a write made, for lease bookkeeping and watchers.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    /// For a put, the new key-value; for a delete, the key and the delete's revision only
    /// (what etcd sends in a delete event).
    pub(crate) kv: KeyValue,
    /// True for a delete.
    pub(crate) deleted: bool,
    /// The key's value just before this change, if it had one: an earlier change of the
    /// same write included (what the write's own answers and the lease bookkeeping see).
    pub(crate) prev: Option<KeyValue>,
    /// The key's value at the revision before this change's, if it had one: what a watch
    /// event carries as its previous value. etcd reads it at `mod_revision - 1`, so a
    /// change made earlier in the same transaction (a put of a key the transaction then
    /// deletes) is not it.
    pub(crate) before: Option<KeyValue>,
}

/// What a committed write changed, all at one revision.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// The revision the changes were made at (the store's revision when nothing changed).
    pub(crate) revision: i64,
    pub(crate) changes: Vec<Change>,
}

/// The store. One owner at a time (the server keeps it behind a single lock).
#[derive(Debug)]
pub(crate) struct Store {
    keys: BTreeMap<Bytes, Vec<Entry>>,
    current: i64,
    compacted: i64,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            keys: BTreeMap::new(),
            current: 1,
            compacted: NEVER_COMPACTED,
        }
    }
}

impl Store {
    /// The store's revision: the last write's.
    pub(crate) fn revision(&self) -> i64 {
        self.current
    }

    /// (lease, key) of every live key that has a lease.
    pub(crate) fn leased_keys(&self) -> impl Iterator<Item = (i64, &Bytes)> {
        self.keys.iter().filter_map(|(key, history)| {
            let kv = history.last()?.kv.as_ref()?;
            (kv.lease != 0).then_some((kv.lease, key))
        })
    }

    /// The last compaction's revision, or -1.
    pub(crate) fn compacted(&self) -> i64 {
        self.compacted
    }

    /// The live value of `key` at revision `rev`.
    fn get_at(&self, key: &[u8], rev: i64) -> Option<&KeyValue> {
        self.keys.get(key).and_then(|h| value_at(h, rev))
    }

    /// The live key-values in `range` at revision `rev`, in key order.
    fn live_at<'a>(
        &'a self,
        range: &KeyRange,
        rev: i64,
    ) -> impl Iterator<Item = &'a KeyValue> + 'a {
        range
            .iter(&self.keys)
            .filter_map(move |(_, history)| value_at(history, rev))
    }

    /// A store read back from a data directory: `entries` in (main, sub) order, each a
    /// key, its revision and its value (`None`: a tombstone).
    pub(crate) fn restored(
        current: i64,
        compacted: i64,
        entries: impl IntoIterator<Item = (Bytes, i64, i64, Option<KeyValue>)>,
    ) -> Self {
        let mut store = Store {
            current,
            compacted,
            ..Store::default()
        };
        for (key, main, sub, kv) in entries {
            store
                .keys
                .entry(key)
                .or_default()
                .push(Entry { main, sub, kv });
        }
        store
    }

    /// Compacts away every revision older than `rev`, keeping each key's value at `rev`
    /// and the deletes made at `rev`. With `removed`, the (main, sub) of every revision
    /// dropped is added to it (for the data directory; in memory nobody asks).
    /// `physical` makes no difference here: in memory, the compaction is done on return.
    ///
    /// # Errors
    ///
    /// [`EtcdError::Compacted`] when `rev` is not newer than the last compaction,
    /// [`EtcdError::FutureRev`] when it is newer than the store.
    pub(crate) fn compact(
        &mut self,
        rev: i64,
        mut removed: Option<&mut Vec<(i64, i64)>>,
    ) -> Result<(), EtcdError> {
        if rev <= self.compacted {
            return Err(EtcdError::Compacted);
        }
        if rev > self.current {
            return Err(EtcdError::FutureRev);
        }
        self.compacted = rev;
        self.keys.retain(|_, history| {
            // Keep the newest entry at or before `rev`, and everything after it, except a
            // tombstone older than `rev` (the key was already gone before `rev`). A
            // tombstone made at `rev` itself stays, as etcd 3.6 keeps it: a
            // watch from the compaction revision must still see that delete. The next
            // compaction past it drops it.
            let at = history.partition_point(|e| e.main <= rev);
            let keep_from = match at.checked_sub(1) {
                Some(i) if history[i].kv.is_some() || history[i].main == rev => i,
                _ => at,
            };
            let dropped = history.drain(..keep_from);
            match removed.as_deref_mut() {
                Some(out) => out.extend(dropped.map(|e| (e.main, e.sub))),
                None => drop(dropped),
            }
            !history.is_empty()
        });
        Ok(())
    }

    /// The events a watcher of `range` from `start` (inclusive) up to the store's revision
    /// sees, in revision order, each with the key's previous value when it had one.
    ///
    /// The caller checks `start` against the compaction first.
    pub(crate) fn history(&self, range: &KeyRange, start: i64) -> Vec<(i64, Change)> {
        let mut out = Vec::new();
        for (key, history) in range.iter(&self.keys) {
            let from = history.partition_point(|e| e.main < start);
            for i in from..history.len() {
                let entry = &history[i];
                let prev = i.checked_sub(1).and_then(|p| history[p].kv.clone());
                let before = value_at(history, entry.main - 1)
                    .cloned()
                    // etcd reads the previous value at `mod_revision - 1`; a compacted
                    // revision has none.
                    .filter(|_| entry.main > self.compacted);
                let (kv, deleted) = match &entry.kv {
                    Some(kv) => (kv.clone(), false),
                    None => (tombstone(key, entry.main), true),
                };
                out.push((
                    entry.main,
                    entry.sub,
                    Change {
                        kv,
                        deleted,
                        prev,
                        before,
                    },
                ));
            }
        }
        out.sort_by_key(|(main, sub, _)| (*main, *sub));
        out.into_iter().map(|(m, _, c)| (m, c)).collect()
    }
}

/// The key-value a delete event carries: the key and the delete's revision, nothing else.
fn tombstone(key: &Bytes, rev: i64) -> KeyValue {
    KeyValue {
        key: key.clone(),
        mod_revision: rev,
        ..KeyValue::default()
    }
}

/// The live value in `history` at revision `rev`.
fn value_at(history: &[Entry], rev: i64) -> Option<&KeyValue> {
    let at = history.partition_point(|e| e.main <= rev);
    history.get(at.checked_sub(1)?)?.kv.as_ref()
}

/// A write in progress: changes go to the store as they are made and commit together at
/// one revision.
pub(crate) struct Writer<'a> {
    store: &'a mut Store,
    main: i64,
    changes: Vec<Change>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(store: &'a mut Store) -> Self {
        let main = store.current + 1;
        Writer {
            store,
            main,
            changes: Vec::new(),
        }
    }

    /// The revision reads inside this write see: the write's own once it changed something
    /// (etcd's txn reads its own writes).
    pub(crate) fn read_rev(&self) -> i64 {
        if self.changes.is_empty() {
            self.store.current
        } else {
            self.main
        }
    }

    pub(crate) fn store(&self) -> &Store {
        self.store
    }

    /// Puts `value` under `key` with `lease` (0 for none); returns the previous value.
    ///
    /// The store keeps buffers of its own: request bytes are slices of the buffer the
    /// whole message arrived in (prost decodes into it), and a stored slice would keep that
    /// buffer alive for as long as the revision is kept (measured: 5 KiB per 300-byte key
    /// before this copy). A key already present reuses the store's copy.
    pub(crate) fn put(&mut self, key: Bytes, value: Bytes, lease: i64) -> Option<KeyValue> {
        let main = self.main;
        let sub = self.sub();
        let key = match self.store.keys.get_key_value(&key) {
            Some((stored, _)) => stored.clone(),
            None => Bytes::copy_from_slice(&key),
        };
        let value = Bytes::copy_from_slice(&value);
        let history = self.store.keys.entry(key.clone()).or_default();
        let prev = history.last().and_then(|e| e.kv.clone());
        let before = value_at(history, main - 1).cloned();
        let kv = KeyValue {
            key,
            create_revision: prev.as_ref().map_or(main, |p| p.create_revision),
            mod_revision: main,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            value,
            lease,
        };
        history.push(Entry {
            main,
            sub,
            kv: Some(kv.clone()),
        });
        self.changes.push(Change {
            kv,
            deleted: false,
            prev: prev.clone(),
            before,
        });
        prev
    }

    /// Deletes the live keys in `range`; returns their last values, in key order.
    pub(crate) fn delete(&mut self, range: &KeyRange) -> Vec<KeyValue> {
        let main = self.main;
        let live: Vec<Bytes> = range
            .iter(&self.store.keys)
            .filter(|(_, h)| h.last().is_some_and(|e| e.kv.is_some()))
            .map(|(k, _)| k.clone())
            .collect();
        let mut deleted = Vec::with_capacity(live.len());
        for key in live {
            let Some(history) = self.store.keys.get_mut(&key) else {
                continue;
            };
            let prev = history.last().and_then(|e| e.kv.clone());
            let before = value_at(history, main - 1).cloned();
            let sub = i64::try_from(self.changes.len()).unwrap_or(i64::MAX);
            history.push(Entry {
                main,
                sub,
                kv: None,
            });
            self.changes.push(Change {
                kv: tombstone(&key, main),
                deleted: true,
                prev: prev.clone(),
                before,
            });
            deleted.extend(prev);
        }
        deleted
    }

    /// The sub-revision the next change gets.
    fn sub(&self) -> i64 {
        i64::try_from(self.changes.len()).unwrap_or(i64::MAX)
    }

    /// True once this write changed something.
    pub(crate) fn changed(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The revision a change made now gets.
    pub(crate) fn main(&self) -> i64 {
        self.main
    }

    /// Undoes every change made so far, leaving the store as it was before the write.
    pub(crate) fn abort(self) {
        for change in self.changes.iter().rev() {
            let key = &change.kv.key;
            if let Some(history) = self.store.keys.get_mut(key) {
                history.pop();
                if history.is_empty() {
                    self.store.keys.remove(key);
                }
            }
        }
    }

    /// Commits: the store's revision moves to this write's if it changed anything.
    pub(crate) fn commit(self) -> Committed {
        if self.changes.is_empty() {
            return Committed {
                revision: self.store.current,
                changes: Vec::new(),
            };
        }
        self.store.current = self.main;
        Committed {
            revision: self.main,
            changes: self.changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when `part`'s bytes lie inside `whole`'s buffer.
    fn shares(part: &Bytes, whole: &Bytes) -> bool {
        let range = whole.as_ptr_range();
        range.contains(&part.as_ptr())
    }

    #[test]
    fn a_stored_key_and_value_do_not_keep_the_request_buffer_alive() {
        // What prost hands the server: key and value as slices of one received buffer.
        let received = Bytes::from(vec![b'x'; 64 * 1024]);
        let (key, value) = (received.slice(0..3), received.slice(3..259));
        let mut store = Store::default();
        let mut w = Writer::new(&mut store);
        w.put(key.clone(), value.clone(), 0);
        let committed = w.commit();
        let (stored_key, history) = store.keys.first_key_value().unwrap();
        let stored = history[0].kv.as_ref().unwrap();
        assert!(!shares(stored_key, &received));
        assert!(!shares(&stored.key, &received));
        assert!(!shares(&stored.value, &received));
        assert!(!shares(&committed.changes[0].kv.value, &received));
        assert_eq!((&stored.key, &stored.value), (&key, &value));

        // A second put of the same key reuses the store's own copy of the key.
        let again = received.slice(0..3);
        let mut w = Writer::new(&mut store);
        w.put(again, value, 0);
        w.commit();
        let history = &store.keys[&key];
        assert_eq!(
            history[1].kv.as_ref().unwrap().key.as_ptr(),
            stored_key_ptr(&store)
        );
    }

    fn stored_key_ptr(store: &Store) -> *const u8 {
        store.keys.first_key_value().unwrap().0.as_ptr()
    }
}
