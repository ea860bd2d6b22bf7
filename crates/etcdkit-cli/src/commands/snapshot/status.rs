//! `snapshot status <file>`: etcdutl's summary of a snapshot file (hash, revision, total
//! keys, total size, storage version), read with the crate's own bbolt reader.
//!
//! What each number is, as etcdutl 3.6 computes it:
//! - hash: CRC-32C over every top-level bucket's name, then each of its keys and values,
//!   in key order;
//! - revision: the main revision of the last key of the `key` bucket;
//! - total keys: the keys alive at the last revision: in the `key` bucket (in revision
//!   order), the keys whose last entry is not a tombstone (version 0); etcd 3.6 counts
//!   so since etcd-io/etcd#19344 (before, it counted the entries of every bucket);
//! - total size: bbolt's data size (pages in use times the page size), so the sha256
//!   that `snapshot save` appends is not counted;
//! - version: the `storageVersion` of the `meta` bucket (etcd 3.6 and later), as semver.

use std::collections::HashMap;
use std::path::Path;

use crate::args::GlobalArgs;
use crate::bbolt::{self, Db, Value};
use crate::error::CliError;
use crate::output::snapshot::{self as print, SnapshotStatus};
use crate::output::{Format, Supported};

use super::super::write_stdout;
use super::key_value;

static CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Runs `snapshot status`: checks the arguments, the file and the output format in
/// etcdutl's order, then reads and prints.
pub fn run(global: &GlobalArgs, args: &[String]) -> Result<(), CliError> {
    let [path] = args else {
        return Err(CliError::bad_args(
            "snapshot status requires exactly one argument",
        ));
    };
    if let Err(e) = std::fs::metadata(path) {
        return Err(CliError::error(go_stat_error(path, &e)));
    }
    // An unknown format is refused before reading, protobuf (a known format with no form
    // for this answer) only after, as etcdutl does.
    let format = Format::parse(&global.write_out, Supported::ALL)?;
    let status = read(Path::new(path)).map_err(|e| CliError::error(message(path, &e)))?;
    if format == Format::Protobuf {
        return Err(CliError::bad_feature(
            "protobuf not supported as output format",
        ));
    }
    let mut out = Vec::new();
    print::status(&mut out, format, &status)?;
    write_stdout(&out)
}

/// Reads the summary of the snapshot at `path`.
///
/// # Errors
///
/// Whatever the reader finds wrong with the file (see [`bbolt::Error`]), and a top-level
/// entry that is not a bucket or a `key` bucket key too short to be a revision (etcd
/// writes neither).
pub fn read(path: &Path) -> Result<SnapshotStatus, bbolt::Error> {
    let db = Db::open(path)?;
    let mut buckets = Vec::new();
    db.for_each(&db.root(), |name, value| match value {
        Value::Bucket(bucket) => {
            buckets.push((name.to_vec(), bucket));
            Ok(())
        }
        Value::Data(_) => Err(bbolt::Error::Corrupt(format!(
            "cannot get hash of bucket {}",
            String::from_utf8_lossy(name)
        ))),
    })?;
    // etcdutl's hash: CRC-32C (Castagnoli, Go's `crc32.MakeTable(crc32.Castagnoli)`; the
    // `crc` crate calls it CRC-32/ISCSI) over every bucket's name, keys and values.
    let mut hash = CASTAGNOLI.digest();
    // Each user key, and whether its latest entry so far is alive.
    let mut alive: HashMap<Vec<u8>, bool> = HashMap::new();
    let mut status = SnapshotStatus {
        total_size: db.size(),
        ..SnapshotStatus::default()
    };
    for (name, bucket) in buckets {
        hash.update(&name);
        let is_key = name == b"key";
        let is_meta = name == b"meta";
        db.for_each(&bucket, |key, value| {
            hash.update(key);
            if let Value::Data(data) = value {
                hash.update(data);
                if is_meta && key == b"storageVersion" {
                    status.version = semver_string(data).unwrap_or_default();
                }
                if is_key {
                    status.revision = main_revision(key)?;
                    let (user_key, version) =
                        key_value::key_and_version(data).ok_or_else(|| {
                            bbolt::Error::Corrupt(format!(
                                "cannot unmarshal value, key: {}",
                                crate::go_compat::quote(key)
                            ))
                        })?;
                    alive.insert(user_key.to_vec(), version > 0);
                }
            }
            Ok(())
        })?;
    }
    status.total_key = alive.values().filter(|a| **a).count() as u64;
    status.hash = hash.finalize();
    Ok(status)
}

/// The main revision at the start of a `key` bucket key (8 bytes, big-endian, then `_`
/// and the sub revision).
fn main_revision(key: &[u8]) -> Result<i64, bbolt::Error> {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
        .ok_or_else(|| {
            bbolt::Error::Corrupt("key bucket: a key shorter than a revision".to_owned())
        })
}

/// The storage version as etcdutl prints it: parsed as semver (`MAJOR.MINOR.PATCH`, an
/// optional `-pre` and `+build`) and printed back, or `None` when it does not parse
/// (etcdutl then prints nothing).
fn semver_string(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<i64> = core
        .splitn(3, '.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [major, minor, patch] = numbers.as_slice() else {
        return None;
    };
    let identifier = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    let mut out = format!("{major}.{minor}.{patch}");
    for (sep, part) in [('-', pre), ('+', build)] {
        if let Some(part) = part {
            if !identifier(part) {
                return None;
            }
            if !part.is_empty() {
                out.push(sep);
                out.push_str(part);
            }
        }
    }
    Some(out)
}

/// Go's `os.Stat` error text (`stat FILE: no such file or directory`), which etcdutl
/// prints for a file it cannot see.
fn go_stat_error(path: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("stat {path}: no such file or directory"),
        std::io::ErrorKind::PermissionDenied => format!("stat {path}: permission denied"),
        _ => format!("stat {path}: {e}"),
    }
}

/// The `Error:` text for a file that could not be read.
fn message(path: &str, e: &bbolt::Error) -> String {
    match e {
        bbolt::Error::Io(io) => format!("read {path}: {io}"),
        bbolt::Error::Invalid => e.to_string(),
        bbolt::Error::Corrupt(what) => format!("snapshot file integrity check failed. {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_versions_print_as_etcdutls_semver_does() {
        assert_eq!(semver_string(b"3.6.0").as_deref(), Some("3.6.0"));
        assert_eq!(
            semver_string(b"3.7.0-alpha.1+abc").as_deref(),
            Some("3.7.0-alpha.1+abc")
        );
        assert_eq!(semver_string(b"03.6.0").as_deref(), Some("3.6.0"));
        assert_eq!(semver_string(b"3.6"), None);
        assert_eq!(semver_string(b"x.y.z"), None);
        assert_eq!(semver_string(b"\xff"), None);
    }

    #[test]
    fn the_main_revision_is_the_big_endian_prefix() {
        let mut key = 7i64.to_be_bytes().to_vec();
        key.push(b'_');
        key.extend_from_slice(&0i64.to_be_bytes());
        assert_eq!(main_revision(&key).ok(), Some(7));
        assert!(main_revision(b"short").is_err());
    }
}
