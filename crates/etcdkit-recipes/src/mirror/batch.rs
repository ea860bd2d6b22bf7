//! What a syncer hands its sink: the changes of one source revision (or one page of the
//! initial copy), as plain puts and deletes.

use bytes::Bytes;
use etcdkit::Revision;

/// One change to mirror. Only keys and values travel: leases, versions and revisions of
/// the source are not copied (a mirrored key has its own at the destination).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// `key` now holds `value`.
    Put {
        /// The source key.
        key: Bytes,
        /// Its value.
        value: Bytes,
    },
    /// `key` is gone.
    Delete {
        /// The source key.
        key: Bytes,
    },
}

impl Change {
    /// The source key the change is about.
    pub fn key(&self) -> &Bytes {
        match self {
            Change::Put { key, .. } | Change::Delete { key } => key,
        }
    }
}

/// A group of changes a sink applies in order.
///
/// During the initial copy a batch is one page of the prefix as it was at
/// [`revision`](Batch::revision) (the pinned revision); afterwards it is every change of
/// the one source revision [`revision`](Batch::revision), which the source made
/// atomically (a transaction may change several keys at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    revision: Revision,
    changes: Vec<Change>,
    initial: bool,
}

impl Batch {
    pub(crate) fn initial(revision: Revision, changes: Vec<Change>) -> Batch {
        Batch {
            revision,
            changes,
            initial: true,
        }
    }

    pub(crate) fn update(revision: Revision, changes: Vec<Change>) -> Batch {
        Batch {
            revision,
            changes,
            initial: false,
        }
    }

    /// The source revision: the pinned revision of the copy, or the revision whose
    /// changes these are.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The changes, in the source's order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// True for a page of the initial copy (only puts); false for one source revision's
    /// changes.
    pub fn is_initial(&self) -> bool {
        self.initial
    }
}
