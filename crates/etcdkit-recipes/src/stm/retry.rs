//! The retry loop: run the closure on a fresh attempt, commit what it did, and start
//! again (after a backoff) when the commit's compares failed.

use std::collections::BTreeMap;
use std::future::Future;

use bytes::Bytes;
use etcdkit::kv::{Get, TxnOpResponse};
use etcdkit::{Client, Result, Revision};

use super::context::{Ahead, Attempt, Stm};
use super::sets::Read;
use super::{Isolation, Options, StmError};
use crate::backoff::Backoff;

/// Runs `f` as a transaction with the default [`Options`] (serializable snapshot,
/// unlimited retries). See the [module docs](super).
///
/// # Errors
///
/// As [`run_with`].
pub async fn run<T, E, F, Fut>(client: &Client, f: F) -> std::result::Result<T, StmError<E>>
where
    F: FnMut(Stm) -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    run_with(client, Options::default(), f).await
}

/// Runs `f` as a transaction: calls it with a fresh [`Stm`] per attempt, commits the
/// attempt's writes if its isolation level's checks pass, and retries (after a backoff)
/// when they do not. Returns the value of the attempt that committed.
///
/// # Errors
///
/// [`StmError::Aborted`] with the closure's error (nothing written);
/// [`StmError::Conflict`] when [`Options::max_attempts`] attempts all conflicted;
/// [`StmError::OutcomeUnknown`] when the commit's reply was lost (it may have applied;
/// not retried); [`StmError::Etcd`] when a prefetch or the commit failed and wrote
/// nothing.
pub async fn run_with<T, E, F, Fut>(
    client: &Client,
    options: Options,
    mut f: F,
) -> std::result::Result<T, StmError<E>>
where
    F: FnMut(Stm) -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let mut backoff = Backoff::new(options.backoff.0, options.backoff.1);
    let mut ahead = Ahead::default();
    let mut attempts: u32 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        if ahead.at.is_none() && !options.prefetch.is_empty() {
            ahead = prefetch(client, &options.prefetch)
                .await
                .map_err(StmError::Etcd)?;
        }
        let stm = Stm::new(
            client.clone(),
            options.isolation,
            std::mem::take(&mut ahead),
        );
        let outcome = f(stm.clone()).await;
        let attempt = stm.finish();
        match outcome {
            Ok(value) => match commit(client, options.isolation, &attempt).await {
                Ok(Committed::Yes) => return Ok(value),
                Ok(Committed::Conflict(read)) => ahead = read,
                // Only writes make an unknown outcome matter: a lost reply to a
                // read-only check left nothing behind.
                Err(e) if e.is_outcome_unknown() && !attempt.writes.is_empty() => {
                    return Err(StmError::OutcomeUnknown(e));
                }
                Err(e) => return Err(StmError::Etcd(e)),
            },
            // The snapshot the attempt read from is gone: start again from a new one.
            Err(_) if attempt.compacted => {}
            Err(e) => return Err(StmError::Aborted(e)),
        }
        if options.max_attempts.is_some_and(|max| attempts >= max) {
            return Err(StmError::Conflict { attempts });
        }
        let pause = backoff.next_pause();
        tracing::debug!(attempts, ?pause, "stm: the attempt conflicted; retrying");
        tokio::time::sleep(pause).await;
    }
}

/// How a commit ended.
enum Committed {
    Yes,
    /// The compares failed; what the commit read of the attempt's read set (for
    /// isolation levels that pin reads), for the next attempt.
    Conflict(Ahead),
}

/// Sends the attempt's writes under its isolation level's compares. When they fail, the
/// same request reads the keys the attempt read, which the next attempt most likely
/// reads again.
async fn commit(client: &Client, isolation: Isolation, attempt: &Attempt) -> Result<Committed> {
    if attempt.writes.is_empty() && !isolation.checks_read_only(&attempt.reads) {
        return Ok(Committed::Yes);
    }
    let reread: Vec<Bytes> = if isolation.pins_reads() {
        attempt.reads.keys().cloned().collect()
    } else {
        Vec::new()
    };
    let response = client
        .kv()
        .txn()
        .when(isolation.conflicts(&attempt.reads, &attempt.writes))
        .and_then(attempt.writes.ops())
        .or_else(reread.iter().map(|key| Get::new(key.clone())))
        .await?;
    if response.succeeded() {
        return Ok(Committed::Yes);
    }
    if reread.is_empty() {
        return Ok(Committed::Conflict(Ahead::default()));
    }
    let at = response.header().revision();
    Ok(Committed::Conflict(ahead(
        reread,
        response.into_responses(),
        at,
    )))
}

/// Reads `keys` in one request, at one revision.
async fn prefetch(client: &Client, keys: &[Bytes]) -> Result<Ahead> {
    let response = client
        .kv()
        .txn()
        .and_then(keys.iter().map(|key| Get::new(key.clone())))
        .await?;
    let at = response.header().revision();
    Ok(ahead(keys.to_vec(), response.into_responses(), at))
}

/// The reads of `keys` in `responses` (one get per key, in order), made at `at`.
fn ahead(keys: Vec<Bytes>, responses: Vec<TxnOpResponse>, at: Revision) -> Ahead {
    let reads: BTreeMap<Bytes, Read> = keys
        .into_iter()
        .zip(responses)
        .filter_map(|(key, response)| match response {
            TxnOpResponse::Get(get) => Some((
                key,
                Read {
                    kv: get.into_kvs().into_iter().next(),
                    at,
                },
            )),
            _ => None,
        })
        .collect();
    Ahead {
        at: Some(at),
        reads,
    }
}
