//! `defrag [--cluster]`: defragments each endpoint's member in turn.

use clap::Args;

use super::{connect_to, target_endpoints};
use crate::args::GlobalArgs;
use crate::error::{CliError, ExitCode, etcd_message};
use crate::go_compat;

/// `defrag [options]`
#[derive(Args, Debug)]
pub struct DefragArgs {
    /// Use all endpoints from the cluster member list
    #[arg(long)]
    cluster: bool,
    /// Ignored, as etcdctl ignores them
    #[arg(hide = true)]
    args: Vec<String>,
}

/// Defragments every endpoint, printing `Finished defragmenting etcd member[<ep>]. took
/// <duration>` for each (in every output format, as etcdctl 3.6); a failure goes to
/// stderr, the others are still done, and the exit code is then 1.
pub async fn run(global: &GlobalArgs, args: &DefragArgs) -> Result<(), CliError> {
    let mut failed = false;
    for endpoint in target_endpoints(global, args.cluster).await? {
        let started = std::time::Instant::now();
        let result = match connect_to(global, vec![endpoint.clone()]).await {
            Ok(client) => client
                .maintenance()
                .defragment()
                .await
                .map(|_| ())
                .map_err(|e| etcd_message(&e)),
            Err(e) => Err(e.message),
        };
        let took = go_compat::format_duration(started.elapsed());
        match result {
            Ok(()) => println!("Finished defragmenting etcd member[{endpoint}]. took {took}"),
            Err(error) => {
                failed = true;
                eprintln!("Failed to defragment etcd member[{endpoint}]. took {took}. ({error})");
            }
        }
    }
    if failed {
        return Err(CliError::new(ExitCode::Error, String::new()));
    }
    Ok(())
}
