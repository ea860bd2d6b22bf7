//! `defrag [--cluster]`: defragments each endpoint's member in turn.

use clap::Args;

use super::{connect_to, target_endpoints};
use crate::args::GlobalArgs;
use crate::error::{CliError, ExitCode, etcd_message};

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

/// Defragments every endpoint, printing `Finished defragmenting etcd member[<ep>]` for
/// each (in every output format, as etcdctl); a failure goes to stderr, the others are
/// still done, and the exit code is then 1.
pub async fn run(global: &GlobalArgs, args: &DefragArgs) -> Result<(), CliError> {
    let mut failed = false;
    for endpoint in target_endpoints(global, args.cluster).await? {
        let result = match connect_to(global, vec![endpoint.clone()]).await {
            Ok(client) => client
                .maintenance()
                .defragment()
                .await
                .map(|_| ())
                .map_err(|e| etcd_message(&e)),
            Err(e) => Err(e.message),
        };
        match result {
            Ok(()) => println!("Finished defragmenting etcd member[{endpoint}]"),
            Err(error) => {
                failed = true;
                eprintln!("Failed to defragment etcd member[{endpoint}] ({error})");
            }
        }
    }
    if failed {
        return Err(CliError::new(ExitCode::Error, String::new()));
    }
    Ok(())
}
