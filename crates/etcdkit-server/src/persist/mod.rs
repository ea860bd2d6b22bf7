//! The data directory: every acknowledged change written to a redb file before its answer
//! is sent, and read back into memory at start. The in-memory store stays the serving
//! structure; this module only mirrors it.
//!
//! The core calls [`Persist::step`] once per acknowledged step, with the lock over the
//! state held, so the file's order of transactions is the order changes were applied.
//! Inside a step, [`Step`] has one call per kind of change (a committed write, a lease
//! granted or revoked, a compaction, an alarm, the peer URLs, the auth store); a new kind
//! of state adds a table and one more call here.
//!
//! Layout: one file, `DIR/etcdkit-server.redb`, with four tables:
//!
//! - `meta` (name → bytes): `format` (`"etcdkit-server data 1"`), `member_id` and
//!   `cluster_id` (u64), `revision` and `compacted` (i64), `peer_urls` (a u32 count, then
//!   each URL as a u32 length and its bytes), `learners` (a u32 count, then each learner's
//!   ID (u64) and its peer URLs as `peer_urls` has them), `auth` (users, roles, permissions, whether
//!   auth is on and its revision: see `auth/codec.rs`; tokens are not kept, as etcd
//!   keeps none); integers big-endian;
//! - `revisions` ((main, sub) → entry): every retained revision of every key, as the
//!   in-memory store keeps them: kind (u8: 0 tombstone, 1 value), key length (u32), key,
//!   and for a value its create revision, version and lease (i64 each) and the value;
//! - `leases` (ID → TTL in seconds);
//! - `alarms` ((member ID, alarm type) → nothing).

mod codec;
mod open;

use bytes::Bytes;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use crate::auth::AuthStore;
use crate::core::Learner;
use crate::error::EtcdError;
use crate::generated::mvccpb::KeyValue;
use crate::store::Committed;

pub use open::DataDirError;
pub(crate) use open::open;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const REVISIONS: TableDefinition<(i64, i64), &[u8]> = TableDefinition::new("revisions");
const LEASES: TableDefinition<i64, i64> = TableDefinition::new("leases");
const ALARMS: TableDefinition<(u64, i32), ()> = TableDefinition::new("alarms");

/// The `format` a data directory of this server carries; anything else is not ours.
const FORMAT: &[u8] = b"etcdkit-server data 1";
/// The file inside the data directory.
pub(crate) const FILE_NAME: &str = "etcdkit-server.redb";

/// An open data directory. Holding it holds redb's lock on the file.
pub(crate) struct Persist {
    /// `None` once closed (the server stopped): the file's lock is released then.
    db: Option<Database>,
    /// Set by the first step that could not be written: from then on every step is
    /// refused, so the file never skips a change the memory has.
    failed: bool,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// What a data directory held at start.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The member and cluster IDs, once a first start stored them.
    pub(crate) ids: Option<(u64, u64)>,
    pub(crate) revision: Option<i64>,
    pub(crate) compacted: Option<i64>,
    /// Every retained revision, in (main, sub) order: key, main, sub, value (`None`: a
    /// tombstone).
    pub(crate) entries: Vec<(Bytes, i64, i64, Option<KeyValue>)>,
    /// (ID, TTL) of every lease.
    pub(crate) leases: Vec<(i64, i64)>,
    pub(crate) alarms: Vec<(u64, i32)>,
    pub(crate) peer_urls: Vec<String>,
    pub(crate) learners: Vec<Learner>,
    /// The auth store, once an auth change stored it.
    pub(crate) auth: Option<AuthStore>,
}

/// Why a step could not be written: redb's error, boxed (it is large).
#[derive(Debug)]
pub(crate) struct StepError(pub(super) Box<redb::Error>);

/// `?` on each of redb's error types a step meets.
macro_rules! step_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StepError {
            fn from(e: $t) -> Self {
                StepError(Box::new(e.into()))
            }
        }
    )*};
}
step_error_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One acknowledged step, inside one redb write transaction.
pub(crate) struct Step<'a> {
    txn: &'a WriteTransaction,
}

impl Persist {
    /// Writes one step durably (redb commits with fsync). The step is all or nothing.
    ///
    /// # Errors
    ///
    /// [`EtcdError::StorageFailed`] when the step could not be written, or an earlier one
    /// could not.
    pub(crate) fn step(
        &mut self,
        f: impl FnOnce(&mut Step<'_>) -> Result<(), StepError>,
    ) -> Result<(), EtcdError> {
        if self.failed {
            return Err(EtcdError::StorageFailed);
        }
        let Some(db) = &self.db else {
            return Err(EtcdError::StorageFailed);
        };
        let done = (|| -> Result<(), StepError> {
            let txn = db.begin_write()?;
            f(&mut Step { txn: &txn })?;
            txn.commit()?;
            Ok(())
        })();
        done.map_err(|_| {
            self.failed = true;
            EtcdError::StorageFailed
        })
    }

    /// Closes the file (releasing its lock, so a new server may open the directory at
    /// once) and refuses every later step: a stopped server acknowledges nothing more.
    pub(crate) fn close(&mut self) {
        self.failed = true;
        self.db = None;
    }
}

impl Step<'_> {
    /// A committed write: its revisions and the store's new revision.
    pub(crate) fn committed(&mut self, committed: &Committed) -> Result<(), StepError> {
        if committed.changes.is_empty() {
            return Ok(());
        }
        let mut revisions = self.txn.open_table(REVISIONS)?;
        let mut buf = Vec::new();
        for (sub, change) in committed.changes.iter().enumerate() {
            let sub = i64::try_from(sub).unwrap_or(i64::MAX);
            buf.clear();
            let kv = (!change.deleted).then_some(&change.kv);
            codec::encode_entry(&mut buf, &change.kv.key, kv);
            revisions.insert((committed.revision, sub), buf.as_slice())?;
        }
        self.meta_i64("revision", committed.revision)
    }

    pub(crate) fn lease_granted(&mut self, id: i64, ttl: i64) -> Result<(), StepError> {
        self.txn.open_table(LEASES)?.insert(id, ttl)?;
        Ok(())
    }

    pub(crate) fn lease_revoked(&mut self, id: i64) -> Result<(), StepError> {
        self.txn.open_table(LEASES)?.remove(id)?;
        Ok(())
    }

    /// A compaction at `rev` that dropped the `removed` (main, sub) revisions.
    pub(crate) fn compacted(&mut self, rev: i64, removed: &[(i64, i64)]) -> Result<(), StepError> {
        let mut revisions = self.txn.open_table(REVISIONS)?;
        for &at in removed {
            revisions.remove(at)?;
        }
        drop(revisions);
        self.meta_i64("compacted", rev)
    }

    pub(crate) fn alarm_raised(&mut self, member_id: u64, alarm: i32) -> Result<(), StepError> {
        self.txn
            .open_table(ALARMS)?
            .insert((member_id, alarm), ())?;
        Ok(())
    }

    pub(crate) fn alarm_cleared(&mut self, member_id: u64, alarm: i32) -> Result<(), StepError> {
        self.txn.open_table(ALARMS)?.remove((member_id, alarm))?;
        Ok(())
    }

    pub(crate) fn peer_urls(&mut self, urls: &[String]) -> Result<(), StepError> {
        let encoded = codec::encode_strings(urls);
        self.txn
            .open_table(META)?
            .insert("peer_urls", encoded.as_slice())?;
        Ok(())
    }

    /// The learners after a change of them (written whole).
    pub(crate) fn learners(&mut self, learners: &[Learner]) -> Result<(), StepError> {
        let encoded = codec::encode_learners(learners);
        self.txn
            .open_table(META)?
            .insert("learners", encoded.as_slice())?;
        Ok(())
    }

    /// The auth store after a change of it (written whole).
    pub(crate) fn auth(&mut self, auth: &AuthStore) -> Result<(), StepError> {
        self.txn
            .open_table(META)?
            .insert("auth", auth.to_bytes().as_slice())?;
        Ok(())
    }

    fn meta_i64(&mut self, name: &str, value: i64) -> Result<(), StepError> {
        self.txn
            .open_table(META)?
            .insert(name, value.to_be_bytes().as_slice())?;
        Ok(())
    }
}

/// Reads everything back. Used once, at open.
fn load(db: &Database) -> Result<Loaded, DataDirError> {
    let txn = db.begin_read().map_err(open::damaged)?;
    let mut loaded = Loaded::default();
    let meta = txn.open_table(META).map_err(open::damaged)?;
    let get = |name: &str| -> Result<Option<Vec<u8>>, DataDirError> {
        Ok(meta
            .get(name)
            .map_err(open::damaged)?
            .map(|v| v.value().to_vec()))
    };
    let int = |name: &str| -> Result<Option<[u8; 8]>, DataDirError> {
        get(name)?
            .map(|v| {
                <[u8; 8]>::try_from(v.as_slice())
                    .map_err(|_| DataDirError::Damaged(format!("meta {name:?} is not 8 bytes")))
            })
            .transpose()
    };
    if get("format")?.as_deref() != Some(FORMAT) {
        return Err(DataDirError::NotOurs(
            "the file has no etcdkit-server format mark".to_owned(),
        ));
    }
    loaded.ids = match (int("member_id")?, int("cluster_id")?) {
        (Some(m), Some(c)) => Some((u64::from_be_bytes(m), u64::from_be_bytes(c))),
        _ => None,
    };
    loaded.revision = int("revision")?.map(i64::from_be_bytes);
    loaded.compacted = int("compacted")?.map(i64::from_be_bytes);
    if let Some(urls) = get("peer_urls")? {
        loaded.peer_urls = codec::decode_strings(&urls)
            .ok_or_else(|| DataDirError::Damaged("meta \"peer_urls\" does not decode".into()))?;
    }
    if let Some(learners) = get("learners")? {
        loaded.learners = codec::decode_learners(&learners)
            .ok_or_else(|| DataDirError::Damaged("meta \"learners\" does not decode".into()))?;
    }
    if let Some(auth) = get("auth")? {
        loaded.auth = Some(
            AuthStore::from_bytes(&auth)
                .ok_or_else(|| DataDirError::Damaged("meta \"auth\" does not decode".into()))?,
        );
    }
    drop(meta);
    let revisions = txn.open_table(REVISIONS).map_err(open::damaged)?;
    for row in revisions.iter().map_err(open::damaged)? {
        let (at, entry) = row.map_err(open::damaged)?;
        let (main, sub) = at.value();
        let (key, kv) = codec::decode_entry(entry.value(), main).ok_or_else(|| {
            DataDirError::Damaged(format!(
                "the entry at revision {main}/{sub} does not decode"
            ))
        })?;
        loaded.entries.push((key, main, sub, kv));
    }
    drop(revisions);
    // Each step writes its revisions and the store's revision together: a revision
    // past the stored one is not a state this server ever wrote.
    let newest = loaded.entries.iter().map(|e| e.1).max();
    if newest.is_some_and(|newest| newest > loaded.revision.unwrap_or(1)) {
        return Err(DataDirError::Damaged(
            "it holds revisions past its stored revision".to_owned(),
        ));
    }
    let leases = txn.open_table(LEASES).map_err(open::damaged)?;
    for row in leases.iter().map_err(open::damaged)? {
        let (id, ttl) = row.map_err(open::damaged)?;
        loaded.leases.push((id.value(), ttl.value()));
    }
    drop(leases);
    let alarms = txn.open_table(ALARMS).map_err(open::damaged)?;
    for row in alarms.iter().map_err(open::damaged)? {
        let (at, ()) = row.map(|(k, _)| (k, ())).map_err(open::damaged)?;
        loaded.alarms.push(at.value());
    }
    Ok(loaded)
}

/// Marks a new data directory as ours and stores the IDs it keeps for good; creates the
/// tables so a later read finds them.
fn initialize(db: &Database, member_id: u64, cluster_id: u64) -> Result<(), StepError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert("format", FORMAT)?;
        meta.insert("member_id", member_id.to_be_bytes().as_slice())?;
        meta.insert("cluster_id", cluster_id.to_be_bytes().as_slice())?;
        txn.open_table(REVISIONS)?;
        txn.open_table(LEASES)?;
        txn.open_table(ALARMS)?;
    }
    txn.commit()?;
    Ok(())
}
