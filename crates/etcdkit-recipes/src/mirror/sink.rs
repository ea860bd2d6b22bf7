//! Where mirrored changes go: the [`MirrorSink`] trait, and [`ClientSink`], which writes
//! them into another etcd cluster through an etcdkit [`Client`].

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use etcdkit::kv::{Delete, Put, TxnOp};
use etcdkit::{Client, ErrorKind};

use super::batch::{Batch, Change};
use crate::backoff::Backoff;

/// The destination of a [`Syncer`](super::Syncer): applies batches of changes in the
/// order it gets them.
///
/// The syncer calls [`apply`](MirrorSink::apply) for one batch at a time and waits for
/// it; an error ends the mirroring with [`MirrorError::Sink`](super::MirrorError::Sink).
/// A sink that can wait out a failure (a destination briefly unreachable) should retry
/// inside `apply` rather than fail.
pub trait MirrorSink: Send {
    /// Why a batch could not be applied.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies every change of `batch`, in order. A batch of one source revision should
    /// land atomically where the destination allows it.
    fn apply(&mut self, batch: &Batch) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Where a [`ClientSink`] puts a mirrored key, as etcdctl's `make-mirror` flags say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DestPrefix {
    /// The same key as at the source (the default; etcdctl without `--dest-prefix`).
    #[default]
    Keep,
    /// The source prefix replaced by this one (`--dest-prefix`).
    Replace(Bytes),
    /// The source prefix removed: keys land at the root (`--no-dest-prefix`).
    Strip,
}

/// Above this many bytes of keys and values, a transaction is split even when it has
/// fewer operations than the limit: etcd refuses requests over its `--max-request-bytes`
/// (1.5 MiB by default), and a page of large values would reach it.
const MAX_TXN_BYTES: usize = 1024 * 1024;

/// The waits between attempts to write a batch while the destination fails.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// A [`MirrorSink`] writing into an etcd cluster through `client`.
///
/// Each batch becomes transactions of at most [`max_txn_ops`](ClientSink::max_txn_ops)
/// operations (and about 1 MiB of keys and values), so the changes of one source
/// revision land together unless there are more of them than that limit (as in
/// etcdctl, such a revision is split; the server would refuse it whole).
///
/// Failures the destination may recover from (unreachable, no leader, timeouts, an
/// outcome left unknown) are retried with backoff until they succeed: the changes are
/// plain puts and deletes of final values, so writing them again is harmless. Other
/// failures (permission denied, a key made empty by [`DestPrefix::Strip`], a request
/// too large) are returned.
#[derive(Debug, Clone)]
pub struct ClientSink {
    client: Client,
    keys: KeyMap,
    max_txn_ops: usize,
}

/// Maps source keys to destination keys.
#[derive(Debug, Clone)]
struct KeyMap {
    source_prefix: Bytes,
    dest: DestPrefix,
}

impl KeyMap {
    fn dest_key(&self, key: &[u8]) -> Bytes {
        let rest = key.strip_prefix(self.source_prefix.as_ref());
        match (&self.dest, rest) {
            (DestPrefix::Keep, _) | (_, None) => Bytes::copy_from_slice(key),
            (DestPrefix::Strip, Some(rest)) => Bytes::copy_from_slice(rest),
            (DestPrefix::Replace(prefix), Some(rest)) => {
                let mut out = BytesMut::with_capacity(prefix.len() + rest.len());
                out.extend_from_slice(prefix);
                out.extend_from_slice(rest);
                out.freeze()
            }
        }
    }
}

/// Splits `changes` into the transactions that carry them: at most `max_ops` operations
/// each (0: no limit) and about [`MAX_TXN_BYTES`] of keys and values.
fn transactions(keys: &KeyMap, max_ops: usize, changes: &[Change]) -> Vec<Vec<TxnOp>> {
    let mut txns = Vec::new();
    let mut ops: Vec<TxnOp> = Vec::new();
    let mut bytes = 0usize;
    for change in changes {
        let size = match change {
            Change::Put { key, value } => key.len() + value.len(),
            Change::Delete { key } => key.len(),
        };
        let full = max_ops > 0 && ops.len() >= max_ops;
        if !ops.is_empty() && (full || bytes + size > MAX_TXN_BYTES) {
            txns.push(std::mem::take(&mut ops));
            bytes = 0;
        }
        bytes += size;
        ops.push(match change {
            Change::Put { key, value } => Put::new(keys.dest_key(key), value.clone()).into(),
            Change::Delete { key } => Delete::new(keys.dest_key(key)).into(),
        });
    }
    if !ops.is_empty() {
        txns.push(ops);
    }
    txns
}

impl ClientSink {
    /// Writes into `client`; keys under `source_prefix` (the syncer's prefix) are placed
    /// as `dest` says.
    pub fn new(client: &Client, source_prefix: impl Into<Bytes>, dest: DestPrefix) -> ClientSink {
        ClientSink {
            client: client.clone(),
            keys: KeyMap {
                source_prefix: source_prefix.into(),
                dest,
            },
            max_txn_ops: 128,
        }
    }

    /// The most operations in one transaction (etcd's `--max-txn-ops`, 128 by default).
    /// 0 means no limit of the sink's own (the server's still applies).
    pub fn max_txn_ops(mut self, ops: usize) -> Self {
        self.max_txn_ops = ops;
        self
    }

    /// The destination key of a source key.
    pub fn dest_key(&self, key: &[u8]) -> Bytes {
        self.keys.dest_key(key)
    }

    /// One transaction, retried while the failure is one the destination recovers from.
    async fn commit(&self, ops: Vec<TxnOp>) -> etcdkit::Result<()> {
        let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
        loop {
            match self.client.kv().txn().and_then(ops.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if recoverable(&e) => {
                    tracing::warn!(error = %e, "mirror: writing to the destination failed; retrying");
                    tokio::time::sleep(backoff.next_pause()).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether writing the same changes again later may succeed.
fn recoverable(e: &etcdkit::Error) -> bool {
    e.is_retryable()
        || e.is_outcome_unknown()
        || matches!(e.kind(), ErrorKind::Timeout | ErrorKind::OutcomeUnknown)
}

impl MirrorSink for ClientSink {
    type Error = etcdkit::Error;

    async fn apply(&mut self, batch: &Batch) -> Result<(), etcdkit::Error> {
        for ops in transactions(&self.keys, self.max_txn_ops, batch.changes()) {
            self.commit(ops).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(dest: DestPrefix) -> KeyMap {
        KeyMap {
            source_prefix: Bytes::from_static(b"src/"),
            dest,
        }
    }

    fn puts(n: usize, value: &Bytes) -> Vec<Change> {
        (0..n)
            .map(|i| Change::Put {
                key: Bytes::from(format!("src/{i}")),
                value: value.clone(),
            })
            .collect()
    }

    #[test]
    fn dest_keys_keep_replace_or_strip_the_source_prefix() {
        assert_eq!(keys(DestPrefix::Keep).dest_key(b"src/a").as_ref(), b"src/a");
        let replace = keys(DestPrefix::Replace(Bytes::from_static(b"dst/")));
        assert_eq!(replace.dest_key(b"src/a/b").as_ref(), b"dst/a/b");
        let strip = keys(DestPrefix::Strip);
        assert_eq!(strip.dest_key(b"src/a").as_ref(), b"a");
        assert_eq!(strip.dest_key(b"src/").as_ref(), b"");
    }

    #[test]
    fn transactions_split_at_the_op_limit() {
        let changes = puts(5, &Bytes::from_static(b"v"));
        let k = keys(DestPrefix::Keep);
        let sizes: Vec<usize> = transactions(&k, 2, &changes).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(transactions(&k, 0, &changes).len(), 1, "0: no limit");
    }

    #[test]
    fn transactions_split_before_a_megabyte_of_values() {
        let changes = puts(3, &Bytes::from(vec![b'x'; 600 * 1024]));
        assert_eq!(
            transactions(&keys(DestPrefix::Keep), 128, &changes).len(),
            3
        );
    }
}
