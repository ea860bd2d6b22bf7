//! Opening a data directory: ours, new, someone else's, damaged, or in use.

use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use redb::{Database, DatabaseError};

use super::{FILE_NAME, Loaded, Persist, initialize, load};

/// Why a data directory cannot be used ([`crate::StartError::DataDir`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum DataDirError {
    /// Another process (or another server in this one) has the store open: redb's lock
    /// on the file is taken.
    Locked,
    /// Not this server's: a file in the place of the directory, a directory that holds
    /// other files but no store, or a store without this server's format mark.
    NotOurs(String),
    /// Ours, but it cannot be read back.
    Damaged(String),
    /// The directory or file could not be created or read.
    Io(std::io::Error),
}

impl fmt::Display for DataDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDirError::Locked => {
                f.write_str("it is in use by another running server (the store's file is locked)")
            }
            DataDirError::NotOurs(why) => {
                write!(f, "it is not an etcdkit-server data directory: {why}")
            }
            DataDirError::Damaged(why) => write!(f, "it is damaged: {why}"),
            DataDirError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DataDirError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataDirError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A redb error met while reading the store back: the file is damaged.
pub(super) fn damaged(e: impl Into<redb::Error>) -> DataDirError {
    let e: redb::Error = e.into();
    DataDirError::Damaged(e.to_string())
}

/// redb's file mark (`redb`, then PNG-like bytes that catch text-mode mangling).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Opens (or creates) the data directory `dir` and reads it back.
///
/// # Errors
///
/// [`DataDirError`].
pub(crate) fn open(dir: &Path) -> Result<(Persist, Loaded), DataDirError> {
    if dir.exists() && !dir.is_dir() {
        return Err(DataDirError::NotOurs("it is not a directory".to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(DataDirError::Io)?;
    let file = dir.join(FILE_NAME);
    if !file.exists() {
        // A directory with something else in it is someone else's (an etcd member's, say):
        // never start writing into it.
        let mut entries = std::fs::read_dir(dir).map_err(DataDirError::Io)?;
        if let Some(entry) = entries.next() {
            let name = entry.map_err(DataDirError::Io)?.file_name();
            return Err(DataDirError::NotOurs(format!(
                "it holds {name:?} and no {FILE_NAME}"
            )));
        }
    } else {
        check_magic(&file)?;
    }
    // redb asserts on some damage instead of answering an error; a damaged file must not
    // take the caller down, so a panic there is answered as damage.
    let opened = catch_unwind(AssertUnwindSafe(|| -> Result<_, DataDirError> {
        let db = Database::create(&file).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => DataDirError::Locked,
            other => damaged(other),
        })?;
        let loaded = if fresh(&db)? {
            Loaded::default()
        } else {
            load(&db)?
        };
        Ok((db, loaded))
    }));
    let (db, loaded) = opened.map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "no reason given".to_owned());
        DataDirError::Damaged(format!("redb could not open {FILE_NAME} ({why})"))
    })??;
    Ok((
        Persist {
            db: Some(db),
            failed: false,
        },
        loaded,
    ))
}

/// A file that is not empty and does not start with redb's mark is not a store at all.
fn check_magic(file: &Path) -> Result<(), DataDirError> {
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    std::fs::File::open(file)
        .map_err(DataDirError::Io)?
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(DataDirError::Io)?;
    if !head.is_empty() && head != REDB_MAGIC {
        return Err(DataDirError::Damaged(format!(
            "{FILE_NAME} is not a redb file"
        )));
    }
    Ok(())
}

/// True for a store with no tables yet: created, never initialized (a first start that
/// stopped before storing its IDs).
fn fresh(db: &Database) -> Result<bool, DataDirError> {
    let txn = db.begin_read().map_err(damaged)?;
    Ok(txn.list_tables().map_err(damaged)?.next().is_none())
}

impl Persist {
    /// Stores the IDs a new data directory keeps for good, with the format mark.
    ///
    /// # Errors
    ///
    /// [`DataDirError::Damaged`] when the store cannot be written.
    pub(crate) fn initialize(
        &mut self,
        member_id: u64,
        cluster_id: u64,
    ) -> Result<(), DataDirError> {
        match &self.db {
            Some(db) => initialize(db, member_id, cluster_id)
                .map_err(|e| DataDirError::Damaged(e.0.to_string())),
            None => Err(DataDirError::Damaged("the store is closed".to_owned())),
        }
    }
}
