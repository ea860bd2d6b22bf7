//! `downgrade validate | enable <TARGET_VERSION>` and `downgrade cancel`.

use etcdkit::maintenance::DowngradeAction;

use super::{connect, etcd, printer_for, write_stdout};
use crate::args::{DowngradeCommand, GlobalArgs};
use crate::error::CliError;
use crate::output::Supported;

/// Runs a `downgrade` subcommand. `validate` and `enable` take exactly one target
/// version (`3.5`: etcd accepts `major.minor` only); `cancel` ignores arguments, as
/// etcdctl's does.
pub async fn run(global: &GlobalArgs, command: &DowngradeCommand) -> Result<(), CliError> {
    let (action, name, version) = match command {
        DowngradeCommand::Validate { args } => {
            (DowngradeAction::Validate, "validate", target(args)?)
        }
        DowngradeCommand::Enable { args } => (DowngradeAction::Enable, "enable", target(args)?),
        DowngradeCommand::Cancel { .. } => (DowngradeAction::Cancel, "cancel", String::new()),
    };
    let printer = printer_for(global, Supported::PROTOBUF)?;
    let client = connect(global).await?;
    let r = etcd(client.maintenance().downgrade(action, version).await)?;
    let mut out = Vec::new();
    printer.downgrade(&mut out, name, &r)?;
    write_stdout(&out)
}

/// The one `TARGET_VERSION` argument, with etcdctl's messages when it is missing or not
/// alone.
fn target(args: &[String]) -> Result<String, CliError> {
    match args {
        [] => Err(CliError::bad_args("TARGET_VERSION not provided")),
        [version] => Ok(version.clone()),
        _ => Err(CliError::bad_args("too many arguments")),
    }
}
