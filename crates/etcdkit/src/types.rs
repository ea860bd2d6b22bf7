//! Small value types shared by every API: revisions, ids, response headers, key-values.

use std::fmt;

use bytes::Bytes;

use crate::generated::{etcdserverpb, mvccpb};

/// A revision of the key-value store. Every change increments it by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub i64);

impl Revision {
    /// The revision number.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The next revision.
    pub fn next(self) -> Revision {
        Revision(self.0.saturating_add(1))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A lease id. Displayed in hexadecimal, as etcd's tools print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub i64);

impl LeaseId {
    /// Refuses lease 0 where the server would read it as "make a lease of your own":
    /// the Lock and Election services then hold the key under a 60-second lease that
    /// nobody renews, so the lock or leadership silently vanishes a minute later while
    /// its holder believes it holds it.
    pub(crate) fn require_granted(self, op: &'static str) -> crate::Result<()> {
        if self.0 != 0 {
            return Ok(());
        }
        Err(crate::Error::new(
            crate::ErrorKind::InvalidArgument,
            "lease 0 is not a lease: the server would attach the key to a 60-second lease \
             of its own that nobody renews, and it would vanish a minute later; \
             grant a lease and keep it alive",
        )
        .with_operation(op))
    }
    /// The raw id.
    pub fn get(self) -> i64 {
        self.0
    }
}

// Revisions and lease ids convert from the raw numbers etcd sends; one macro, since
// trait impls cannot be shared by a function.
macro_rules! from_raw {
    ($($id:ident($raw:ty)),*) => {
        $(
            impl From<$raw> for $id {
                fn from(value: $raw) -> Self {
                    $id(value)
                }
            }
        )*
    };
}

from_raw!(Revision(i64), LeaseId(i64));

/// A cluster member id. Displayed in hexadecimal, as etcd's tools print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u64);

impl MemberId {
    /// The raw id.
    pub fn get(self) -> u64 {
        self.0
    }
}

// Lease, member and cluster ids print in hexadecimal, as etcd's tools print them, with `{}` as
// with `{:x}`; one macro, since trait impls cannot be shared by a function.
macro_rules! hex_id_formats {
    ($($id:ident),*) => {
        $(
            impl fmt::Display for $id {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{:x}", self.0)
                }
            }

            impl fmt::LowerHex for $id {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    fmt::LowerHex::fmt(&self.0, f)
                }
            }
        )*
    };
}

hex_id_formats!(LeaseId, MemberId, ClusterId);

/// A cluster id. Displayed in hexadecimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u64);

/// The header of every response: which cluster and member answered, at which revision and
/// raft term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    cluster_id: u64,
    member_id: u64,
    revision: i64,
    raft_term: u64,
}

impl ResponseHeader {
    /// The cluster that answered.
    pub fn cluster_id(&self) -> ClusterId {
        ClusterId(self.cluster_id)
    }

    /// The member that answered.
    pub fn member_id(&self) -> MemberId {
        MemberId(self.member_id)
    }

    /// The store's revision when the request was served.
    pub fn revision(&self) -> Revision {
        Revision(self.revision)
    }

    /// The raft term when the request was served.
    pub fn raft_term(&self) -> u64 {
        self.raft_term
    }
}

impl From<Option<etcdserverpb::ResponseHeader>> for ResponseHeader {
    fn from(h: Option<etcdserverpb::ResponseHeader>) -> Self {
        let h = h.unwrap_or_default();
        ResponseHeader {
            cluster_id: h.cluster_id,
            member_id: h.member_id,
            revision: h.revision,
            raft_term: h.raft_term,
        }
    }
}

/// A key with its value and metadata, as stored at some revision.
///
/// Keys and values are bytes; nothing forces them through UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue(pub(crate) mvccpb::KeyValue);

impl KeyValue {
    /// The key.
    pub fn key(&self) -> &Bytes {
        &self.0.key
    }

    /// The value (empty when the request asked for keys only).
    pub fn value(&self) -> &Bytes {
        &self.0.value
    }

    /// The key as UTF-8, when it is.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0.key).ok()
    }

    /// The value as UTF-8, when it is.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0.value).ok()
    }

    /// The revision at which the key was last created.
    pub fn create_revision(&self) -> Revision {
        Revision(self.0.create_revision)
    }

    /// The revision of the key's last modification.
    pub fn mod_revision(&self) -> Revision {
        Revision(self.0.mod_revision)
    }

    /// How many times the key was written since it was created (1 after creation).
    pub fn version(&self) -> i64 {
        self.0.version
    }

    /// The lease the key is attached to, if any.
    pub fn lease(&self) -> Option<LeaseId> {
        (self.0.lease != 0).then_some(LeaseId(self.0.lease))
    }

    /// Takes the key and value out.
    pub fn into_key_value(self) -> (Bytes, Bytes) {
        (self.0.key, self.0.value)
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &crate::util::BytesDebug(&self.0.key))
            .field("value", &crate::util::BytesDebug(&self.0.value))
            .field("create_revision", &self.0.create_revision)
            .field("mod_revision", &self.0.mod_revision)
            .field("version", &self.0.version)
            .field("lease", &self.0.lease)
            .finish()
    }
}

pub(crate) fn wrap_kvs(kvs: Vec<mvccpb::KeyValue>) -> Vec<KeyValue> {
    // Same layout, so this collect reuses the allocation.
    kvs.into_iter().map(KeyValue).collect()
}
