//! `snapshot restore <file> --data-dir DIR ...`: makes a new member's data directory from
//! a snapshot, as etcdutl 3.6 does, without etcdutl.
//!
//! The steps, each in its own module:
//! 1. [`cluster`]: the new cluster from `--initial-cluster`, checked as etcd checks a
//!    bootstrap configuration, with etcd's member and cluster IDs;
//! 2. [`backend`]: the snapshot's sha256 checked, its buckets read, the membership
//!    replaced, the consistent index set, written out as a new bbolt file
//!    (`member/snap/db`);
//! 3. [`wal`]: the WAL segment that bootstraps raft with one ConfChange per member;
//! 4. [`snap`]: the raft snapshot file the WAL's last record points at.
//!
//! Everything is written into a temporary directory beside the target and renamed into
//! place at the end, so a failure (a damaged snapshot, a full disk) leaves nothing
//! behind; a data directory that is not empty, or a WAL directory that exists, is
//! refused before anything is read, with etcdutl's messages.

mod backend;
mod cluster;
mod proto;
mod snap;
mod wal;

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::args::SnapshotRestoreArgs;
use crate::bbolt;
use crate::error::CliError;

/// Why a restore failed; the texts are etcdutl's where it has one.
#[derive(Debug)]
pub enum Error {
    /// A flag or the snapshot is not acceptable (the message says which and why).
    Input(String),
    /// A file could not be read or written: the operation, the path, the cause.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The snapshot is not a readable bbolt file.
    Db(bbolt::Error),
}

impl Error {
    fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            op: "open",
            path: path.to_owned(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(what) => f.write_str(what),
            Error::Io { op, path, source } => {
                write!(f, "{op} {}: {}", path.display(), go_io_text(source))
            }
            Error::Db(bbolt::Error::Corrupt(what)) => {
                write!(f, "snapshot file integrity check failed. {what}")
            }
            Error::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<bbolt::Error> for Error {
    fn from(e: bbolt::Error) -> Self {
        Error::Db(e)
    }
}

/// An I/O error as Go words it: the OS's text, lower case, without Rust's `(os error N)`.
fn go_io_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Runs `snapshot restore`.
pub async fn run(args: &SnapshotRestoreArgs) -> Result<(), CliError> {
    let [file] = args.args.as_slice() else {
        return Err(CliError::bad_args(
            "snapshot restore requires exactly one argument",
        ));
    };
    // The work is file I/O and hashing; keep it off the async workers.
    let plan = Plan::from_args(args, file);
    tokio::task::spawn_blocking(move || plan.and_then(Plan::restore))
        .await
        .map_err(|e| CliError::error(format!("restore stopped: {e}")))?
        .map_err(|e| CliError::error(e.to_string()))
}

/// Everything a restore needs, with etcdutl's defaults filled in.
#[derive(Debug)]
struct Plan {
    snapshot: PathBuf,
    data_dir: PathBuf,
    /// `--wal-dir`, when the WAL goes elsewhere than `DATA_DIR/member/wal`.
    wal_dir: Option<PathBuf>,
    cluster: cluster::Cluster,
    skip_hash_check: bool,
    bump_revision: u64,
}

impl Plan {
    /// Checks the flags in etcdutl's order: the revision bump pair, the cluster, then the
    /// target directories.
    fn from_args(args: &SnapshotRestoreArgs, file: &str) -> Result<Plan, Error> {
        let bump_revision = args.bump_revision.unwrap_or(0);
        let mark_compacted = args.mark_compacted.unwrap_or(false);
        if (bump_revision > 0) != mark_compacted {
            return Err(Error::Input(
                "--mark-compacted required if --revision-bump > 0".to_owned(),
            ));
        }
        let name = args.name.clone().unwrap_or_else(|| "default".to_owned());
        let settings = cluster::Settings {
            name: &name,
            // etcdutl's default names the member `default` whatever `--name` says.
            initial_cluster: args
                .initial_cluster
                .as_deref()
                .unwrap_or("default=http://localhost:2380"),
            token: args
                .initial_cluster_token
                .as_deref()
                .unwrap_or("etcd-cluster"),
            advertise_peer_urls: args
                .initial_advertise_peer_urls
                .as_deref()
                .unwrap_or("http://localhost:2380"),
        };
        let cluster = cluster::build(&settings).map_err(Error::Input)?;
        let data_dir = PathBuf::from(
            args.data_dir
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| format!("{name}.etcd")),
        );
        if !is_missing_or_empty(&data_dir) {
            return Err(Error::Input(format!(
                "data-dir {} not empty or could not be read",
                cluster::go_json_string(&data_dir.to_string_lossy())
            )));
        }
        let wal_dir = args
            .wal_dir
            .clone()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        if let Some(wal_dir) = &wal_dir
            && fs::symlink_metadata(wal_dir).is_ok()
        {
            return Err(Error::Input(format!(
                "wal-dir {} exists",
                cluster::go_json_string(&wal_dir.to_string_lossy())
            )));
        }
        Ok(Plan {
            snapshot: PathBuf::from(file),
            data_dir,
            wal_dir,
            cluster,
            skip_hash_check: args.skip_hash_check.unwrap_or(false),
            bump_revision,
        })
    }

    /// Writes the data directory (and the WAL directory) through temporary ones.
    fn restore(self) -> Result<(), Error> {
        backend::check_hash(&self.snapshot, self.skip_hash_check)?;
        let mut buckets = backend::load(&self.snapshot)?;

        let data_tmp = Staging::new(&self.data_dir)?;
        let wal_tmp = match &self.wal_dir {
            Some(dir) => Some(Staging::new(dir)?),
            None => None,
        };
        let snap_dir = data_tmp.path.join("member/snap");
        let wal_dir = match &wal_tmp {
            Some(w) => w.path.clone(),
            None => data_tmp.path.join("member/wal"),
        };
        create_dir_all(&snap_dir)?;
        create_dir_all(&wal_dir)?;

        backend::set_members(&mut buckets, &self.cluster);
        if self.bump_revision > 0 {
            backend::bump_revision(&mut buckets, self.bump_revision)?;
        }
        let members: Vec<(u64, String)> = self
            .cluster
            .members
            .iter()
            .map(|m| (m.id, m.json()))
            .collect();
        let (wal_bytes, index, term) = wal::encode(&wal::Contents {
            node_id: self.cluster.local,
            cluster_id: self.cluster.id,
            members: &members,
        });
        backend::set_consistent_index(&mut buckets, index, term);
        backend::save(&snap_dir.join("db"), &buckets)?;
        drop(buckets);

        write_file(
            &wal_dir.join(wal::FILE_NAME),
            &wal_bytes,
            Some(wal::SEGMENT_SIZE),
            0o600,
        )?;
        let snap = snap::encode(&self.cluster.members, index, term);
        write_file(
            &snap_dir.join(snap::file_name(term, index)),
            &snap,
            None,
            0o666,
        )?;

        // The WAL directory first: if the data directory then cannot be put in place,
        // the WAL is taken back out.
        if let (Some(tmp), Some(target)) = (&wal_tmp, &self.wal_dir) {
            tmp.commit(target)?;
        }
        if let Err(e) = data_tmp.commit(&self.data_dir) {
            if let Some(target) = &self.wal_dir {
                let _ = fs::remove_dir_all(target);
            }
            return Err(e);
        }
        Ok(())
    }
}

/// Whether `dir` does not exist or is an empty directory (etcd's `Exist` and
/// `DirEmpty`: a directory that cannot be read counts as not empty).
fn is_missing_or_empty(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// A temporary directory beside a target, removed on drop unless renamed into place.
struct Staging {
    path: PathBuf,
    committed: std::cell::Cell<bool>,
}

impl Staging {
    fn new(target: &Path) -> Result<Staging, Error> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        create_dir_all(&parent)?;
        let base = target
            .file_name()
            .map_or_else(|| "restore".into(), |n| n.to_string_lossy().into_owned());
        let path = parent.join(format!(".{base}.restore-{}", std::process::id()));
        // A leftover of an earlier run that died with this process ID.
        let _ = fs::remove_dir_all(&path);
        create_dir_all(&path)?;
        Ok(Staging {
            path,
            committed: std::cell::Cell::new(false),
        })
    }

    /// Renames the staged directory to `target` (which is missing or an empty
    /// directory: rename replaces an empty directory).
    fn commit(&self, target: &Path) -> Result<(), Error> {
        fs::rename(&self.path, target).map_err(|source| Error::Io {
            op: "rename",
            path: target.to_owned(),
            source,
        })?;
        self.committed.set(true);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed.get() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Creates `dir` and its parents with etcd's directory permission (owner only).
fn create_dir_all(dir: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Io {
            op: "mkdir",
            path: dir.to_owned(),
            source,
        })
}

/// Writes a new file with `bytes`, extended with zeros to `size` when given, synced.
fn write_file(path: &Path, bytes: &[u8], size: Option<u64>, mode: u32) -> Result<(), Error> {
    let io = |e| Error::io(path, e);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    if let Some(size) = size {
        file.set_len(size.max(bytes.len() as u64)).map_err(io)?;
    }
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_gos() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(go_io_text(&e), "no such file or directory");
    }

    #[test]
    fn the_revision_bump_and_mark_compacted_go_together() {
        for (bump, mark) in [(Some(5), None), (None, Some(true))] {
            let args = SnapshotRestoreArgs {
                bump_revision: bump,
                mark_compacted: mark,
                ..SnapshotRestoreArgs::default()
            };
            let e = Plan::from_args(&args, "s.db").unwrap_err();
            assert_eq!(
                e.to_string(),
                "--mark-compacted required if --revision-bump > 0"
            );
        }
    }
}
