//! Snapshots: a member's backend database, streamed chunk by chunk.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::transport::RpcStream;

/// How far a snapshot transfer has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// Bytes received (and, when saving, written) so far.
    pub received: u64,
    /// The size the server announced for the database, when it has said; the snapshot
    /// ends with a 32-byte SHA-256 checksum after it.
    pub total: Option<u64>,
}

/// What a finished snapshot transfer got: from [`Snapshot::write_to`] and the
/// `save_snapshot*` methods of [`Maintenance`](super::Maintenance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSnapshot {
    /// Bytes received and written.
    pub received: u64,
    /// The size the server announced for the database, when it said; the snapshot ends
    /// with a 32-byte SHA-256 checksum after it.
    pub total: Option<u64>,
    /// The member's storage version, which etcd 3.6 and newer send with a snapshot
    /// (etcdctl prints it as `Server version ...`); `None` from older members.
    pub server_version: Option<String>,
}

/// The opening of a snapshot stream; await it. From
/// [`Maintenance::snapshot`](super::Maintenance::snapshot).
#[must_use = "a request does nothing until awaited"]
#[derive(Debug, Clone)]
pub struct OpenSnapshot {
    client: Client,
    endpoint: Option<Arc<str>>,
}

impl OpenSnapshot {
    pub(crate) fn new(client: Client) -> OpenSnapshot {
        OpenSnapshot {
            client,
            endpoint: None,
        }
    }

    /// Takes the snapshot from this member only (`host:port` or `scheme://host:port`),
    /// never from another: a failure there is final.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into().into());
        self
    }
}

request_future! {
    /// Opens the snapshot stream.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidEndpoint`] for a named member that does not parse (before sending);
    /// [`ErrorKind::Unavailable`] when the member does not answer; [`ErrorKind::Timeout`] when the
    /// request timeout passes first; [`ErrorKind::PermissionDenied`] under auth.
    impl for OpenSnapshot => Snapshot, |this| {
        let stream = this.client.transport().snapshot_stream(this.endpoint).await?;
        Ok(Snapshot {
            stream,
            progress: SnapshotProgress {
                received: 0,
                total: None,
            },
            server_version: None,
            done: false,
        })
    }
}

/// A snapshot arriving from a member, chunk by chunk; from [`OpenSnapshot`].
///
/// **Drop**: dropping it cancels the transfer.
pub struct Snapshot {
    stream: RpcStream<pb::SnapshotResponse>,
    progress: SnapshotProgress,
    /// The first non-empty `version` the member sent.
    server_version: Option<String>,
    done: bool,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("endpoint", &self.stream.endpoint())
            .field("progress", &self.progress)
            .field("done", &self.done)
            .finish()
    }
}

impl Snapshot {
    /// The next chunk; `Ok(None)` once the snapshot is complete. A stream that ends
    /// before the server said it was complete fails with [`ErrorKind::Protocol`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Protocol`] when the stream ends before the size the server announced;
    /// [`ErrorKind::Unavailable`] when the connection fails.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        loop {
            let Some(response) = self.stream.message().await? else {
                self.done = true;
                let complete = self
                    .progress
                    .total
                    .is_some_and(|total| self.progress.received >= total);
                if complete {
                    return Ok(None);
                }
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the snapshot stream ended after {} bytes, before the end the server announced",
                        self.progress.received
                    ),
                )
                .with_operation("maintenance.snapshot"));
            };
            if self.server_version.is_none() && !response.version.is_empty() {
                self.server_version = Some(response.version);
            }
            let len = u64::try_from(response.blob.len()).unwrap_or(u64::MAX);
            self.progress.received = self.progress.received.saturating_add(len);
            if self.progress.total.is_none() {
                self.progress.total = Some(
                    self.progress
                        .received
                        .saturating_add(response.remaining_bytes),
                );
            }
            if !response.blob.is_empty() {
                return Ok(Some(response.blob));
            }
        }
    }

    /// How far the transfer has got.
    pub fn progress(&self) -> SnapshotProgress {
        self.progress
    }

    /// The member's storage version, once a chunk has carried it (etcd 3.6 and newer
    /// send it); `None` before that and from older members.
    pub fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    /// The endpoint sending the snapshot.
    pub fn endpoint(&self) -> &str {
        self.stream.endpoint()
    }

    /// Writes the rest of the snapshot to `writer` (flushing it at the end), calling
    /// `progress` after each chunk. Returns the final progress.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when writing fails; otherwise as [`Snapshot::chunk`].
    pub async fn write_to<W, P>(&mut self, writer: &mut W, mut progress: P) -> Result<SavedSnapshot>
    where
        W: AsyncWrite + Unpin + ?Sized,
        P: FnMut(SnapshotProgress),
    {
        while let Some(chunk) = self.chunk().await? {
            writer.write_all(&chunk).await.map_err(write_error)?;
            progress(self.progress);
        }
        writer.flush().await.map_err(write_error)?;
        Ok(SavedSnapshot {
            received: self.progress.received,
            total: self.progress.total,
            server_version: self.server_version.clone(),
        })
    }
}

pub(crate) fn write_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write the snapshot: {e}"))
        .with_operation("maintenance.snapshot")
        .with_source(e)
}

pub(crate) fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}
