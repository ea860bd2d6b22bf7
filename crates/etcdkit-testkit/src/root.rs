//! Where a cluster's files live: a throwaway directory removed on drop, or a directory the
//! caller chose ([`crate::ClusterBuilder::data_dir`]) and keeps.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{Error, saved};

/// Room wanted on /dev/shm per member before data goes there: etcd preallocates a 64 MiB
/// WAL segment, and the bbolt file grows after it.
const TMPFS_BYTES_PER_MEMBER: u64 = 256 * 1024 * 1024;
/// Where tmpfs data directories go.
const TMPFS_DIR: &str = "/dev/shm";

/// The directory that holds a cluster's member directories.
#[derive(Debug)]
pub(crate) enum Root {
    /// Removed, with everything in it, on drop.
    Temp(TempDir),
    /// Kept on drop.
    Kept(KeptDir),
}

/// A directory the caller chose. Kept on drop, except for what a first start that never
/// finished created in it: that start's cluster never ran, so its half-made data is
/// nothing anyone wants back, and leaving it would make the next start fail.
#[derive(Debug)]
pub(crate) struct KeptDir {
    path: PathBuf,
    /// What this cluster created in the directory, in creation order.
    created: Vec<PathBuf>,
    /// Whether `created` is removed on drop.
    unfinished: bool,
}

impl Root {
    /// A fresh throwaway directory: under /dev/shm when asked, possible and roomy enough,
    /// else in the system temp directory.
    pub(crate) fn temp(tmpfs: bool, members: usize) -> Result<Root, Error> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("etcdkit-testkit-");
        if tmpfs
            && tmpfs_has_room(members)
            && let Ok(dir) = builder.tempdir_in(TMPFS_DIR)
        {
            return Ok(Root::Temp(dir));
        }
        builder
            .tempdir()
            .map(Root::Temp)
            .map_err(|e| Error::io("cannot create a temporary directory", e))
    }

    /// The kept directory `path` (absolute), holding a cluster started there before.
    pub(crate) fn kept_existing(path: PathBuf) -> Root {
        Root::Kept(KeptDir {
            path,
            created: Vec::new(),
            unfinished: false,
        })
    }

    /// The kept directory `path` (absolute, empty) for a cluster's first start; what is
    /// recorded with [`Root::created`] goes again on drop until [`Root::finished`].
    pub(crate) fn kept_fresh(path: PathBuf) -> Root {
        Root::Kept(KeptDir {
            path,
            created: Vec::new(),
            unfinished: true,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Root::Temp(dir) => dir.path(),
            Root::Kept(kept) => &kept.path,
        }
    }

    pub(crate) fn is_kept(&self) -> bool {
        matches!(self, Root::Kept(_))
    }

    /// Records a file or directory this cluster created in its directory.
    pub(crate) fn created(&mut self, path: PathBuf) {
        if let Root::Kept(kept) = self {
            kept.created.push(path);
        }
    }

    /// The first start succeeded: from now on everything is kept.
    pub(crate) fn finished(&mut self) {
        if let Root::Kept(kept) = self {
            kept.unfinished = false;
        }
    }
}

impl Drop for KeptDir {
    fn drop(&mut self) {
        if !self.unfinished {
            return;
        }
        // Best effort, newest first: a drop must not fail.
        for path in self.created.iter().rev() {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
        }
    }
}

/// Opens the directory a cluster is kept in: makes it absolute, creates it if missing,
/// and reads the cluster saved there. A directory with no saved cluster must be empty,
/// so that the test kit never mixes its files with someone else's.
pub(crate) fn open_kept(dir: &Path) -> Result<(PathBuf, Option<saved::SavedCluster>), Error> {
    let dir = std::path::absolute(dir)
        .map_err(|e| Error::io(format!("cannot resolve {}", dir.display()), e))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let saved = saved::load(&dir)?;
    if saved.is_none() {
        let mut entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
        if entries.next().is_some() {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "{} is not empty and holds no cluster the test kit kept there (no {})",
                    dir.display(),
                    saved::FILE_NAME
                ),
            });
        }
    }
    Ok((dir, saved))
}

fn tmpfs_has_room(members: usize) -> bool {
    let wanted = TMPFS_BYTES_PER_MEMBER.saturating_mul(u64::try_from(members).unwrap_or(u64::MAX));
    match nix::sys::statvfs::statvfs(TMPFS_DIR) {
        Ok(st) => {
            // The field types are u64 on 64-bit Linux but narrower elsewhere.
            #[allow(clippy::useless_conversion)]
            let available =
                u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size()));
            available >= wanted
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_kept_dir_loses_only_what_it_created() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("m0");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("x"), "x").unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "f").unwrap();
        let mut root = Root::kept_fresh(dir.path().to_path_buf());
        root.created(mine.clone());
        root.created(file.clone());
        drop(root);
        assert!(!mine.exists() && !file.exists());
        assert!(dir.path().exists());
    }

    #[test]
    fn finished_kept_dir_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("m0");
        std::fs::create_dir(&mine).unwrap();
        let mut root = Root::kept_fresh(dir.path().to_path_buf());
        root.created(mine.clone());
        root.finished();
        assert!(root.is_kept());
        drop(root);
        assert!(mine.exists());
    }

    #[test]
    fn a_foreign_directory_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (path, saved) = open_kept(&dir.path().join("new/nested")).unwrap();
        assert!(path.is_dir() && saved.is_none());
        std::fs::write(dir.path().join("new/nested/someone-elses"), "").unwrap();
        let err = open_kept(&path).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        assert!(err.to_string().contains("not empty"), "{err}");
    }
}
