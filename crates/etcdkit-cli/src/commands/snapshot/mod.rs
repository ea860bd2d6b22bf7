//! `snapshot save | status | restore`. `save` asks a member for its backend (as etcdctl
//! does); `status` and `restore` work on a file (as etcdutl does, where etcd 3.6 moved
//! them).

mod key_value;
mod restore;
mod save;
mod status;

use crate::args::{GlobalArgs, SnapshotCommand};
use crate::error::CliError;

/// Runs a `snapshot` subcommand.
pub async fn run(global: &GlobalArgs, command: &SnapshotCommand) -> Result<(), CliError> {
    match command {
        SnapshotCommand::Save { args } => save::run(global, args).await,
        SnapshotCommand::Status { args } => status::run(global, args),
        SnapshotCommand::Restore(args) => restore::run(args).await,
    }
}
