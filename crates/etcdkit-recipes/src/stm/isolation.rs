//! The four isolation levels, and what each one checks when an attempt commits.

use etcdkit::kv::Compare;

use super::sets::{ReadSet, WriteSet};

/// How much a transaction is protected from the transactions running beside it (the
/// levels of etcd's Go `concurrency.NewSTM`). From strongest to weakest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// Every read of an attempt sees the store at the revision of its first read, and the
    /// commit fails when a key read was modified since it was read, or a key written was
    /// modified since that first read. No lost updates, no write skew, no read skew.
    #[default]
    SerializableSnapshot,
    /// Every read of an attempt sees the store at the revision of its first read, and the
    /// commit fails when a key read was modified since it was read. Keys written without
    /// being read are not checked: blind writes may overwrite a newer value.
    Serializable,
    /// Each key is read at the latest revision when first read (so two keys may be read at
    /// different revisions), and the commit fails when a key read was modified since.
    /// Because every key read must still be current at the commit, the committed attempt
    /// saw one consistent state, the commit's.
    RepeatableReads,
    /// Each key is read at the latest revision when first read, and nothing is checked at
    /// the commit: an attempt never conflicts, and a write may be based on a value that
    /// changed meanwhile (lost updates). The writes of one attempt still apply
    /// atomically, and a key is read once per attempt.
    ReadCommitted,
}

impl Isolation {
    /// Whether the reads after an attempt's first one are made at the first one's
    /// revision.
    pub(super) fn pins_reads(self) -> bool {
        matches!(
            self,
            Isolation::SerializableSnapshot | Isolation::Serializable
        )
    }

    /// The compares of the commit's transaction: the conditions under which the attempt
    /// may apply its writes.
    pub(super) fn conflicts(self, reads: &ReadSet, writes: &WriteSet) -> Vec<Compare> {
        match self {
            Isolation::SerializableSnapshot => {
                let mut compares = reads.unchanged();
                // Nothing read: nothing to be consistent with.
                if let Some(first) = reads.first() {
                    compares.extend(writes.unmodified_since(first));
                }
                compares
            }
            Isolation::Serializable | Isolation::RepeatableReads => reads.unchanged(),
            Isolation::ReadCommitted => Vec::new(),
        }
    }

    /// Whether an attempt that wrote nothing must still send its compares to the server
    /// to know that what it read was consistent. Reads pinned to one revision are a
    /// snapshot already; unpinned reads are consistent only if they are all still current.
    pub(super) fn checks_read_only(self, reads: &ReadSet) -> bool {
        match self {
            Isolation::SerializableSnapshot | Isolation::Serializable => !reads.at_one_revision(),
            Isolation::RepeatableReads => !reads.is_empty(),
            Isolation::ReadCommitted => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use etcdkit::Revision;

    use super::*;
    use crate::stm::sets::{Read, Write};

    /// Two keys read (at revisions 5 and 7), one of them and one other key written.
    fn sets() -> (ReadSet, WriteSet) {
        let mut reads = ReadSet::default();
        for (key, at) in [("r1", 5), ("r2", 7)] {
            reads.insert(
                Bytes::from(key),
                Read {
                    kv: None,
                    at: Revision(at),
                },
            );
        }
        let mut writes = WriteSet::default();
        writes.insert(Bytes::from("r1"), Write::Delete);
        writes.insert(Bytes::from("w"), Write::Put(Bytes::from("v")));
        (reads, writes)
    }

    #[test]
    fn each_level_checks_what_it_promises_at_the_commit() {
        let (reads, writes) = sets();
        let count = |level: Isolation| level.conflicts(&reads, &writes).len();
        assert_eq!(count(Isolation::SerializableSnapshot), 4);
        assert_eq!(count(Isolation::Serializable), 2);
        assert_eq!(count(Isolation::RepeatableReads), 2);
        assert_eq!(count(Isolation::ReadCommitted), 0);
        assert!(Isolation::default().pins_reads() && Isolation::Serializable.pins_reads());
        assert!(!Isolation::RepeatableReads.pins_reads());
        // Reads at two revisions are not a snapshot: even a read-only attempt checks.
        assert!(Isolation::Serializable.checks_read_only(&reads));
        assert!(!Isolation::ReadCommitted.checks_read_only(&reads));
        let nothing = ReadSet::default();
        assert!(!Isolation::RepeatableReads.checks_read_only(&nothing));
        assert!(
            Isolation::SerializableSnapshot
                .conflicts(&nothing, &writes)
                .is_empty()
        );
    }
}
