//! `endpoint health`, `endpoint status` and `endpoint hashkv`: each endpoint is asked on
//! its own, by member-targeted calls of one client, and the results are printed in the
//! order the endpoints were given (etcdctl prints health results as they complete).

use std::future::IntoFuture;
use std::time::Instant;

use etcdkit::maintenance::StatusResponse;
use etcdkit::{Client, ErrorKind, Revision};
use tokio::task::JoinSet;

use super::{Members, printer_for, some_failed, write_stderr, write_stdout};
use crate::args::GlobalArgs;
use crate::error::CliError;
use crate::go_compat;
use crate::output::{EndpointAnswer, EndpointHealth, Supported};

/// Checks every endpoint at once: a linearizable read of the key `health` must succeed (a
/// permission-denied answer counts, since the request went through consensus to get it),
/// and the cluster must have no active alarm.
pub async fn health(global: &GlobalArgs, cluster: bool) -> Result<(), CliError> {
    let printer = printer_for(global, Supported::FIELDS_TABLE)?;
    let members = Members::connect(global, cluster).await?;
    let mut checks = JoinSet::new();
    for (i, endpoint) in members.endpoints.iter().enumerate() {
        let (members, endpoint) = (members.clone(), endpoint.clone());
        checks.spawn(async move { (i, check_health(&members, endpoint).await) });
    }
    let mut results: Vec<Option<EndpointHealth>> = vec![None; members.endpoints.len()];
    while let Some(joined) = checks.join_next().await {
        let (i, result) = joined.map_err(|e| CliError::error(e.to_string()))?;
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    let results: Vec<EndpointHealth> = results.into_iter().flatten().collect();

    let (mut out, mut err) = (Vec::new(), Vec::new());
    printer.endpoint_health(&mut out, &mut err, &results)?;
    write_stderr(&err)?;
    write_stdout(&out)?;
    if results.iter().any(|h| !h.error.is_empty()) {
        return Err(CliError::error("unhealthy cluster"));
    }
    Ok(())
}

async fn check_health(members: &Members, endpoint: String) -> EndpointHealth {
    let started = Instant::now();
    let read = members
        .ask(|client| {
            let endpoint = endpoint.clone();
            async move {
                match client.kv().get("health").endpoint(endpoint).await {
                    // Permission denied went through consensus to get there.
                    Err(e) if e.kind() == ErrorKind::PermissionDenied => Ok(()),
                    other => other.map(|_| ()),
                }
            }
        })
        .await;
    let error = match read {
        Err(error) => error,
        // etcdkit has no alarm list call aimed at a member's own alarms; a member's
        // status lists the active ones.
        Ok(()) => {
            let status = members
                .ask(|client| {
                    client
                        .maintenance()
                        .status()
                        .endpoint(endpoint.clone())
                        .into_future()
                })
                .await;
            match status {
                Ok(status) => {
                    let alarms = active_alarms(&status);
                    if alarms.is_empty() {
                        String::new()
                    } else {
                        format!("Active Alarm(s): {alarms}")
                    }
                }
                Err(_) => "Unable to fetch the alarm list".to_owned(),
            }
        }
    };
    EndpointHealth {
        endpoint,
        health: error.is_empty(),
        took: go_compat::format_duration(started.elapsed()),
        error,
    }
}

/// The alarms a status reports, as etcdctl lists them: `NOSPACE CORRUPT ` (each followed
/// by a space). A status error reads `memberID:<id> alarm:<TYPE> `.
fn active_alarms(status: &StatusResponse) -> String {
    let mut alarms = String::new();
    for error in status.errors() {
        let Some((_, rest)) = error.split_once("alarm:") else {
            continue;
        };
        let name = rest.split_whitespace().next().unwrap_or_default();
        alarms.push_str(match name {
            "NOSPACE" | "CORRUPT" => name,
            _ => "UNKNOWN",
        });
        alarms.push(' ');
    }
    alarms
}

/// Asks each endpoint for its status, one after the other. A failure is reported on
/// stderr and the others are still printed; the exit code is then 1, with no `Error:`
/// line, as in etcdctl.
pub async fn status(global: &GlobalArgs, cluster: bool) -> Result<(), CliError> {
    ask_each_member(global, cluster, "status", |client, endpoint| {
        client
            .maintenance()
            .status()
            .endpoint(endpoint)
            .into_future()
    })
    .await
}

/// Asks each endpoint for the hash of its key-value history up to `rev` (0: all of it),
/// one after the other; failures are reported as `endpoint status` reports them.
pub async fn hashkv(global: &GlobalArgs, cluster: bool, rev: i64) -> Result<(), CliError> {
    ask_each_member(global, cluster, "hash", |client, endpoint| {
        let request = client.maintenance().hash_kv(Revision(rev));
        request.endpoint(endpoint).into_future()
    })
    .await
}

/// `endpoint status` and `endpoint hashkv`: asks each endpoint in turn with the
/// member-targeted `request`, prints the answers, and reports each failure on stderr as
/// etcdctl words it (`Failed to get the <what> of endpoint ...`).
async fn ask_each_member<T: EndpointAnswer, Fut>(
    global: &GlobalArgs,
    cluster: bool,
    what: &str,
    request: impl FnMut(Client, String) -> Fut,
) -> Result<(), CliError>
where
    Fut: Future<Output = etcdkit::Result<T>>,
{
    let printer = printer_for(global, Supported::FIELDS_TABLE)?;
    let members = Members::connect(global, cluster).await?;
    let (answers, failed) = members
        .ask_each(request, |endpoint, error| {
            format!("Failed to get the {what} of endpoint {endpoint} ({error})")
        })
        .await;
    let mut out = Vec::new();
    printer.endpoint_answers(&mut out, &answers)?;
    write_stdout(&out)?;
    some_failed(failed)
}
