//! The operations of a run, as plain data: the generator makes them, the executor sends
//! them, and a divergence report prints them. Nothing here talks to a server.

use std::fmt;

use etcdkit::kv::{CompareOp, SortOrder, SortTarget};

/// A key, relative to the run's prefix (the executor puts the prefix in front).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(pub String);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A value to write. Large values are described by their length so that a report of an
/// oversized put stays readable.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// A short text.
    Text(String),
    /// `n` bytes of `x`.
    Big(usize),
}

impl Value {
    /// The bytes to send.
    pub fn bytes(&self) -> bytes::Bytes {
        match self {
            Value::Text(s) => bytes::Bytes::from(s.clone()),
            Value::Big(n) => bytes::Bytes::from(vec![b'x'; *n]),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => fmt::Debug::fmt(s, f),
            Value::Big(n) => write!(f, "<{n} bytes of 'x'>"),
        }
    }
}

/// How a key range ends, as etcd spells the choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The key alone.
    Single,
    /// Every key with the key as prefix.
    Prefix,
    /// Every key from the key on (range end `"\0"`).
    FromKey,
    /// `[key, end)`; an end at or before the key is an empty range.
    To(Key),
}

/// A range read, alone or inside a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeOp {
    /// The first key.
    pub key: Key,
    /// Where the range ends.
    pub end: End,
    /// At most this many keys (0: no limit).
    pub limit: i64,
    /// Read at this revision (0: the current one); may be compacted or in the future.
    pub revision: i64,
    /// Keys without values.
    pub keys_only: bool,
    /// The count alone.
    pub count_only: bool,
    /// A serializable read.
    pub serializable: bool,
    /// Sort target and order, when sorted.
    pub sort: Option<(SortTarget, SortOrder)>,
    /// `min_mod_revision`, `max_mod_revision`, `min_create_revision`,
    /// `max_create_revision` (0: unset).
    pub rev_filters: [i64; 4],
}

/// A write of one key, alone or inside a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct PutOp {
    /// The key.
    pub key: Key,
    /// The value.
    pub value: Value,
    /// The lease to attach (0: none).
    pub lease: i64,
    /// Ask for the previous key-value.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    pub ignore_lease: bool,
}

/// A delete of a key or a range, alone or inside a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteOp {
    /// The first key.
    pub key: Key,
    /// Where the range ends.
    pub end: End,
    /// Ask for the deleted key-values.
    pub prev_kv: bool,
}

/// What a compare reads of a key, with the operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// The value.
    Value(Value),
    /// The version.
    Version(i64),
    /// The creation revision.
    Create(i64),
    /// The last modification revision.
    Mod(i64),
    /// The lease (0: none).
    Lease(i64),
}

/// One compare of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareSpec {
    /// The key (the range's first key).
    pub key: Key,
    /// Where the compared range ends.
    pub end: End,
    /// The relation.
    pub op: CompareOp,
    /// What is compared, against what.
    pub target: Target,
}

/// One operation of a transaction's branch.
#[derive(Clone, Debug, PartialEq)]
pub enum TxnOpSpec {
    /// A range read.
    Range(RangeOp),
    /// A write.
    Put(PutOp),
    /// A delete.
    Delete(DeleteOp),
    /// A nested transaction.
    Txn(TxnSpec),
}

/// A transaction.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TxnSpec {
    /// The compares.
    pub compares: Vec<CompareSpec>,
    /// Run when every compare holds.
    pub success: Vec<TxnOpSpec>,
    /// Run otherwise.
    pub failure: Vec<TxnOpSpec>,
}

/// A watch from a past (or future, or compacted) revision, whose events are collected up
/// to the store's revision when the watch was opened.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchOp {
    /// The first key.
    pub key: Key,
    /// Where the watched range ends.
    pub end: End,
    /// The first revision to deliver.
    pub start_revision: i64,
    /// Include each event's previous key-value.
    pub prev_kv: bool,
    /// Leave out puts.
    pub no_put: bool,
    /// Leave out deletes.
    pub no_delete: bool,
}

/// One step of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A put.
    Put(PutOp),
    /// A range read.
    Range(RangeOp),
    /// A delete.
    Delete(DeleteOp),
    /// A transaction.
    Txn(TxnSpec),
    /// A compaction.
    Compact {
        /// Up to this revision.
        revision: i64,
        /// Wait for the physical compaction.
        physical: bool,
    },
    /// A lease grant with an id of ours, so both sides name it alike.
    Grant {
        /// The id.
        id: i64,
        /// The TTL in seconds.
        ttl: i64,
    },
    /// A lease revoke.
    Revoke {
        /// The lease.
        id: i64,
    },
    /// A lease's time to live.
    TimeToLive {
        /// The lease.
        id: i64,
        /// Also list its keys.
        keys: bool,
    },
    /// One keepalive of a lease.
    KeepAliveOnce {
        /// The lease.
        id: i64,
    },
    /// The list of leases.
    Leases,
    /// A short lease granted, keys attached, then left to expire: the step ends once the
    /// lease and its keys are gone.
    Expire {
        /// The lease.
        id: i64,
        /// The TTL in seconds (short).
        ttl: i64,
        /// The keys put under it.
        keys: Vec<Key>,
    },
    /// A watch from a revision.
    Watch(WatchOp),
    /// A request the client refuses to send, sent around it.
    Raw(crate::raw::RawOp),
}

/// The compare relations, for the generator.
pub(crate) const COMPARE_OPS: [CompareOp; 4] = [
    CompareOp::Equal,
    CompareOp::NotEqual,
    CompareOp::Less,
    CompareOp::Greater,
];

/// The sort targets, for the generator.
pub(crate) const SORT_TARGETS: [SortTarget; 5] = [
    SortTarget::Key,
    SortTarget::Version,
    SortTarget::Create,
    SortTarget::Mod,
    SortTarget::Value,
];

/// The sort orders, for the generator.
pub(crate) const SORT_ORDERS: [SortOrder; 3] =
    [SortOrder::None, SortOrder::Ascend, SortOrder::Descend];
