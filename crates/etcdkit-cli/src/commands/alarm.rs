//! `alarm list | disarm`.

use super::{connect, etcd, printer_for, write_stdout};
use crate::args::{AlarmCommand, GlobalArgs};
use crate::error::CliError;
use crate::output::Supported;

/// Runs an `alarm` subcommand. Both print the alarms concerned, one per line as
/// `memberID:<decimal id> alarm:<TYPE> ` (Go's text form, with its trailing space);
/// nothing when there are none.
pub async fn run(global: &GlobalArgs, command: &AlarmCommand) -> Result<(), CliError> {
    let (args, name) = match command {
        AlarmCommand::List { args } => (args, "list"),
        AlarmCommand::Disarm { args } => (args, "disarm"),
    };
    if !args.is_empty() {
        return Err(CliError::bad_args(format!(
            "alarm {name} command accepts no arguments"
        )));
    }
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let r = match command {
        AlarmCommand::List { .. } => etcd(client.maintenance().alarm_list().await)?,
        AlarmCommand::Disarm { .. } => etcd(client.maintenance().alarm_disarm_all().await)?,
    };
    let mut out = Vec::new();
    printer.alarms(&mut out, &r)?;
    write_stdout(&out)
}
