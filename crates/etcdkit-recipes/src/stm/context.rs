//! The transaction context an attempt works through: its reads, buffered writes and the
//! revision its reads are pinned to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use etcdkit::{Client, Error, ErrorKind, Result, Revision};

use super::Isolation;
use super::sets::{Read, ReadSet, Write, WriteSet};

/// Keys read ahead (prefetched, or read by the failed commit of the previous attempt),
/// all at one revision. A key moves into the read set when the attempt reads it.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    pub at: Option<Revision>,
    pub reads: BTreeMap<Bytes, Read>,
}

/// What one attempt did.
#[derive(Debug, Default)]
pub(super) struct Attempt {
    pub reads: ReadSet,
    pub writes: WriteSet,
    /// A read at the pinned revision failed because that revision was compacted: the
    /// attempt cannot go on, and is retried.
    pub compacted: bool,
    ahead: Ahead,
    pinned: Option<Revision>,
    over: bool,
}

/// One attempt of a transaction, handed to the closure of [`run`](super::run): read
/// with [`get`](Stm::get) and [`rev`](Stm::rev), write with [`put`](Stm::put) and
/// [`delete`](Stm::delete). Writes are buffered and sent, all at once and only if the
/// isolation level's checks pass, when the closure's future returns `Ok`.
///
/// Cheap to clone, so that the closure can move it into its `async move` block. A handle
/// kept past its attempt is dead: its reads fail with [`ErrorKind::Cancelled`] and its
/// writes are ignored.
#[derive(Clone)]
pub struct Stm {
    client: Client,
    isolation: Isolation,
    attempt: Arc<Mutex<Attempt>>,
}

impl fmt::Debug for Stm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stm")
            .field("isolation", &self.isolation)
            .finish_non_exhaustive()
    }
}

impl Stm {
    pub(super) fn new(client: Client, isolation: Isolation, ahead: Ahead) -> Stm {
        Stm {
            client,
            isolation,
            attempt: Arc::new(Mutex::new(Attempt {
                ahead,
                ..Attempt::default()
            })),
        }
    }

    fn attempt(&self) -> MutexGuard<'_, Attempt> {
        self.attempt.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the attempt: what it did, for the commit. The handle (and its clones) is
    /// dead from now on.
    pub(super) fn finish(&self) -> Attempt {
        let mut attempt = self.attempt();
        let done = std::mem::take(&mut *attempt);
        attempt.over = true;
        done
    }

    /// The value of `key` in this attempt: the attempt's own write of it if there is
    /// one, else the key as read (`None` when it does not exist). The first read of a key
    /// adds it to the read set; later reads of it return the same.
    ///
    /// # Errors
    ///
    /// The read's failure ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...);
    /// [`ErrorKind::Compacted`] when the attempt's pinned revision was compacted (the
    /// attempt is then retried if the closure returns the error); [`ErrorKind::Cancelled`]
    /// when the attempt is over.
    pub async fn get(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>> {
        let key = key.into();
        let written = self.live()?.writes.get(&key).map(Write::value);
        match written {
            Some(value) => Ok(value),
            None => Ok(self.read(key).await?.value()),
        }
    }

    /// The last modification revision of `key` as this attempt read it (adding it to the
    /// read set if it is not there yet); `Revision(0)` when the key does not exist. The
    /// attempt's own writes are not counted.
    ///
    /// # Errors
    ///
    /// As [`get`](Stm::get).
    pub async fn rev(&self, key: impl Into<Bytes>) -> Result<Revision> {
        Ok(self.read(key.into()).await?.mod_revision())
    }

    /// Sets `key` to `value` when the attempt commits. Ignored (with a warning) when the
    /// attempt is over.
    pub fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.write(key.into(), Write::Put(value.into()));
    }

    /// Deletes `key` when the attempt commits. Ignored (with a warning) when the attempt
    /// is over.
    pub fn delete(&self, key: impl Into<Bytes>) {
        self.write(key.into(), Write::Delete);
    }

    fn write(&self, key: Bytes, write: Write) {
        match self.live() {
            Ok(mut attempt) => attempt.writes.insert(key, write),
            Err(_) => tracing::warn!("stm: a write after its attempt ended was ignored"),
        }
    }

    /// The attempt, unless it is over.
    fn live(&self) -> Result<MutexGuard<'_, Attempt>> {
        let attempt = self.attempt();
        if attempt.over {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "stm: this transaction attempt is over",
            ));
        }
        Ok(attempt)
    }

    /// The key as this attempt read it, reading it now if it has not yet.
    async fn read(&self, key: Bytes) -> Result<Read> {
        let pinned = {
            let mut attempt = self.live()?;
            if let Some(read) = attempt.reads.get(&key) {
                return Ok(read.clone());
            }
            let pins = self.isolation.pins_reads();
            if pins && attempt.pinned.is_none() {
                // What was read ahead was read at one revision: later reads of this
                // attempt must see that one too.
                attempt.pinned = attempt.ahead.at;
            }
            if let Some(read) = attempt.ahead.reads.remove(&key) {
                return Ok(attempt.reads.insert(key, read));
            }
            attempt.pinned.filter(|_| pins)
        };
        let mut get = self.client.kv().get(key.clone());
        if let Some(rev) = pinned {
            get = get.revision(rev);
        }
        let response = match get.await {
            Ok(r) => r,
            Err(e) => {
                if e.kind() == ErrorKind::Compacted {
                    self.attempt().compacted = true;
                }
                return Err(e);
            }
        };
        let read = Read {
            at: pinned.unwrap_or(response.header().revision()),
            kv: response.into_kvs().into_iter().next(),
        };
        let mut attempt = self.live()?;
        if self.isolation.pins_reads() && attempt.pinned.is_none() {
            attempt.pinned = Some(read.at);
        }
        Ok(attempt.reads.insert(key, read))
    }
}
