//! `defrag [--cluster]`: defragments each endpoint's member in turn, by member-targeted
//! calls of one client (never on another member than the one meant).

use std::future::IntoFuture;

use super::{Members, some_failed, write_stdout};
use crate::args::{DefragArgs, GlobalArgs};
use crate::error::CliError;
use crate::go_compat;

/// Defragments every endpoint, printing `Finished defragmenting etcd member[<ep>]. took
/// <duration>` for each (in every output format, as etcdctl 3.6); a failure goes to
/// stderr, the others are still done, and the exit code is then 1.
pub async fn run(global: &GlobalArgs, args: &DefragArgs) -> Result<(), CliError> {
    let members = Members::connect(global, args.cluster).await?;
    let mut failed = false;
    for endpoint in &members.endpoints {
        let started = std::time::Instant::now();
        let result = members
            .ask(|client| {
                let request = client.maintenance().defragment();
                request.endpoint(endpoint.clone()).into_future()
            })
            .await
            .map(|_| ());
        let took = go_compat::format_duration(started.elapsed());
        match result {
            Ok(()) => write_stdout(
                format!("Finished defragmenting etcd member[{endpoint}]. took {took}\n").as_bytes(),
            )?,
            Err(error) => {
                failed = true;
                eprintln!("Failed to defragment etcd member[{endpoint}]. took {took}. ({error})");
            }
        }
    }
    some_failed(failed)
}
