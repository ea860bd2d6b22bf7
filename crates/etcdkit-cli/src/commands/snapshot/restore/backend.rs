//! The restored backend: the snapshot's buckets with the old membership taken out and
//! the new one put in, as etcdutl 3.6 leaves the `member/snap/db` file.
//!
//! etcdutl copies the file and edits it in place through bbolt; here the snapshot is
//! read whole into memory, edited, and written out as a new compact file (see
//! [`crate::bbolt::write`]). The keys and values are the same; the page layout is
//! bbolt's compacted one.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::digest::{Context, SHA256};

use crate::bbolt::write::Buckets;
use crate::bbolt::{self, Bucket, Db, Value};

use super::Error;
use super::cluster::Cluster;

const SHA256_SIZE: u64 = 32;
const MEMBERS: &[u8] = b"members";
const MEMBERS_REMOVED: &[u8] = b"members_removed";
const META: &[u8] = b"meta";
const KEY: &[u8] = b"key";
const CONSISTENT_INDEX: &[u8] = b"consistent_index";
const TERM: &[u8] = b"term";
const SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";

/// Checks the sha256 that `snapshot save` appends, as etcdutl does: a file whose size is
/// 32 past a multiple of 512 carries one (bbolt files are whole pages); it must match
/// the bytes before it unless the check is skipped, and a file without one is refused
/// unless the check is skipped.
///
/// # Errors
///
/// [`Error::Input`] with etcdutl's words for a missing or wrong hash, [`Error::Io`]
/// when the file cannot be read.
pub fn check_hash(path: &Path, skip: bool) -> Result<(), Error> {
    let io = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let has_hash = len >= SHA256_SIZE && len % 512 == SHA256_SIZE;
    if skip {
        return Ok(());
    }
    if !has_hash {
        return Err(Error::Input(
            "snapshot missing hash but --skip-hash-check=false".to_owned(),
        ));
    }
    let mut context = Context::new(&SHA256);
    let mut left = len - SHA256_SIZE;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact(&mut buf[..n]).map_err(io)?;
        context.update(&buf[..n]);
        left -= n as u64;
    }
    let mut expected = [0u8; SHA256_SIZE as usize];
    file.read_exact(&mut expected).map_err(io)?;
    let got = context.finish();
    if got.as_ref() != expected {
        return Err(Error::Input(format!(
            "expected sha256 {}, got {}",
            go_bytes(&expected),
            go_bytes(got.as_ref())
        )));
    }
    Ok(())
}

/// Go's `%v` of a byte slice: `[1 2 3]`.
fn go_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// Reads every top-level bucket of the bbolt file at `path`.
///
/// # Errors
///
/// [`Error::Db`] when the file is not a readable bbolt file, [`Error::Input`] when it
/// holds what etcd's backend never does (data at the top level, nested buckets).
pub fn load(path: &Path) -> Result<Buckets, Error> {
    let db = Db::open(path)?;
    let mut names: Vec<(Vec<u8>, Bucket)> = Vec::new();
    db.for_each(&db.root(), |name, value| {
        match value {
            Value::Bucket(bucket) => names.push((name.to_vec(), bucket)),
            Value::Data(_) => return Err(not_etcd(name, "a value outside any bucket")),
        }
        Ok(())
    })?;
    let mut buckets = Buckets::new();
    for (name, bucket) in names {
        let entries = buckets.entry(name.clone()).or_default();
        db.for_each(&bucket, |key, value| match value {
            Value::Data(data) => {
                entries.insert(key.to_vec(), data.to_vec());
                Ok(())
            }
            Value::Bucket(_) => Err(not_etcd(&name, "a nested bucket")),
        })?;
    }
    Ok(buckets)
}

fn not_etcd(name: &[u8], what: &str) -> bbolt::Error {
    bbolt::Error::Corrupt(format!(
        "not an etcd backend: {what} in {}",
        String::from_utf8_lossy(name)
    ))
}

/// Replaces the membership with `cluster`'s (etcd's `TrimMembershipFromBackend`, then
/// `AddMember` for each member): `members` holds each member's JSON under its hex ID,
/// `members_removed` is emptied. The cluster version is kept, as etcdutl keeps it.
pub fn set_members(buckets: &mut Buckets, cluster: &Cluster) {
    buckets.entry(MEMBERS_REMOVED.to_vec()).or_default().clear();
    let members = buckets.entry(MEMBERS.to_vec()).or_default();
    members.clear();
    for m in &cluster.members {
        members.insert(m.hex_id().into_bytes(), m.json().into_bytes());
    }
}

/// Records the raft index and term the restored member starts from (the WAL's snapshot
/// record) as the backend's consistent index and term, replacing the snapshot's own, as
/// etcdutl does (`UpdateConsistentIndexForce`): the member has applied everything up to
/// the membership entries and nothing of the old cluster's log.
pub fn set_consistent_index(buckets: &mut Buckets, index: u64, term: u64) {
    let meta = buckets.entry(META.to_vec()).or_default();
    // etcd never stores index 0 (it means "not loaded yet").
    if index == 0 {
        return;
    }
    meta.insert(CONSISTENT_INDEX.to_vec(), index.to_be_bytes().to_vec());
    if term > 0 {
        meta.insert(TERM.to_vec(), term.to_be_bytes().to_vec());
    }
}

/// `--bump-revision N --mark-compacted`: adds an empty entry at the latest revision plus
/// `amount` (sub revision 0) to the `key` bucket and schedules a compaction at it, so
/// clients never see the revision go back. Returns the new latest revision.
///
/// # Errors
///
/// [`Error::Input`] when the `key` bucket holds a key too short to be a revision.
pub fn bump_revision(buckets: &mut Buckets, amount: u64) -> Result<i64, Error> {
    let keys = buckets.entry(KEY.to_vec()).or_default();
    let mut latest = 0i64;
    for key in keys.keys() {
        let main = key
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(i64::from_be_bytes)
            .ok_or_else(|| Error::Input("key bucket: a key shorter than a revision".into()))?;
        latest = latest.max(main);
    }
    let amount = i64::try_from(amount)
        .map_err(|_| Error::Input("--bump-revision is too large".to_owned()))?;
    let bumped = latest.saturating_add(amount);
    keys.insert(revision_key(bumped), Vec::new());
    buckets
        .entry(META.to_vec())
        .or_default()
        .insert(SCHEDULED_COMPACT.to_vec(), revision_key(bumped));
    Ok(bumped)
}

/// A revision as etcd keys it: main revision (8 bytes, big-endian), `_`, sub revision 0.
fn revision_key(main: i64) -> Vec<u8> {
    let mut key = main.to_be_bytes().to_vec();
    key.push(b'_');
    key.extend_from_slice(&0i64.to_be_bytes());
    key
}

/// Writes `buckets` as a new bbolt file at `path` (created, not overwritten), synced.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be created or written.
pub fn save(path: &Path, buckets: &Buckets) -> Result<(), Error> {
    let io = |e| Error::io(path, e);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let mut out = io::BufWriter::new(&mut file);
    bbolt::write::write_to(&mut out, buckets, 2).map_err(io)?;
    out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_of(index: u64, term: u64) -> Buckets {
        let mut buckets = Buckets::new();
        let meta = buckets.entry(META.to_vec()).or_default();
        meta.insert(CONSISTENT_INDEX.to_vec(), index.to_be_bytes().to_vec());
        meta.insert(TERM.to_vec(), term.to_be_bytes().to_vec());
        buckets
    }

    #[test]
    fn the_consistent_index_and_term_are_replaced_even_when_lower() {
        let mut buckets = meta_of(5, 2);
        set_consistent_index(&mut buckets, 3, 1);
        assert_eq!(buckets, meta_of(3, 1));
    }

    #[test]
    fn a_bump_adds_an_empty_revision_and_schedules_its_compaction() {
        let mut buckets = Buckets::new();
        buckets
            .entry(KEY.to_vec())
            .or_default()
            .insert(revision_key(7), b"kv".to_vec());
        assert_eq!(bump_revision(&mut buckets, 100).ok(), Some(107));
        assert_eq!(buckets[KEY].get(&revision_key(107)), Some(&Vec::new()));
        assert_eq!(buckets[META][SCHEDULED_COMPACT], revision_key(107));
    }

    #[test]
    fn go_prints_byte_slices_with_spaces() {
        assert_eq!(go_bytes(&[0, 17, 255]), "[0 17 255]");
    }
}
