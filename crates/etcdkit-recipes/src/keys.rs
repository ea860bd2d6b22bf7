//! A recipe's keys: naming them (a name and a suffix) and counting those under a prefix.

use bytes::{Bytes, BytesMut};
use etcdkit::{Client, Result, Revision};

/// `name` followed by `part`: a recipe's keys are its name and a suffix.
pub(crate) fn join(name: &[u8], part: &[u8]) -> Bytes {
    let mut key = BytesMut::with_capacity(name.len() + part.len());
    key.extend_from_slice(name);
    key.extend_from_slice(part);
    key.freeze()
}

/// How many keys there are under `prefix`, and the revision at which they were counted
/// (a wait for that count to change watches from the revision after it).
///
/// # Errors
///
/// The client's.
pub(crate) async fn count_under(client: &Client, prefix: &Bytes) -> Result<(u64, Revision)> {
    let response = client
        .kv()
        .get(prefix.clone())
        .prefix()
        .count_only()
        .await?;
    let count = u64::try_from(response.count()).unwrap_or(0);
    Ok((count, response.header().revision()))
}
