//! What both checks do once the load is over, when asked: compact to the revision of
//! their cleanup delete and defragment every endpoint, printing etcdctl's lines. A
//! failure ends the command with the request's error, as in etcdctl.

use std::time::Duration;

use etcdkit::{Client, Revision};

use crate::commands::write_stdout;
use crate::error::{CliError, DEADLINE_EXCEEDED};
use crate::go_compat;

/// etcdctl's bound on the cleanup delete, the compaction and each defragmentation.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `Compacting with revision N`, a physical compaction, `Compacted with revision N`.
pub async fn compact(client: &Client, rev: i64) -> Result<(), CliError> {
    write_stdout(format!("Compacting with revision {rev}\n").as_bytes())?;
    bounded(TIMEOUT, client.kv().compact(Revision(rev)).physical()).await?;
    write_stdout(format!("Compacted with revision {rev}\n").as_bytes())
}

/// `Defragmenting "EP"`, its defragmentation, `Defragmented "EP"`, for each endpoint.
pub async fn defrag(client: &Client, endpoints: &[String]) -> Result<(), CliError> {
    for endpoint in endpoints {
        let quoted = go_compat::quote(endpoint.as_bytes());
        write_stdout(format!("Defragmenting {quoted}\n").as_bytes())?;
        bounded(
            TIMEOUT,
            client.maintenance().defragment().endpoint(endpoint.clone()),
        )
        .await?;
        write_stdout(format!("Defragmented {quoted}\n").as_bytes())?;
    }
    Ok(())
}

/// Awaits a request for at most `timeout`, turning its failure into the command's error.
pub async fn bounded<F, T>(timeout: Duration, request: F) -> Result<T, CliError>
where
    F: std::future::IntoFuture<Output = etcdkit::Result<T>>,
{
    match tokio::time::timeout(timeout, request.into_future()).await {
        Ok(result) => result.map_err(|e| CliError::from_etcd(&e)),
        Err(_) => Err(CliError::error(DEADLINE_EXCEEDED)),
    }
}
