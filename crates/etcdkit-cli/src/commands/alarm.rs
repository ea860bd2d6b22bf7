//! `alarm list | disarm`.

use clap::Subcommand;
use etcdkit::maintenance::AlarmResponse;

use super::{connect, etcd, printer, write_stdout};
use crate::args::GlobalArgs;
use crate::error::CliError;
use crate::output::{Format, admin, write_json};

/// `alarm` subcommands.
#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    /// Lists all alarms
    List {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Disarms all alarms
    Disarm {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
}

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
    let printer = printer(global)?;
    let client = connect(global).await?;
    let r = match command {
        AlarmCommand::List { .. } => etcd(client.maintenance().alarm_list().await)?,
        AlarmCommand::Disarm { .. } => etcd(client.maintenance().alarm_disarm_all().await)?,
    };
    print(printer.format, &r)
}

fn print(format: Format, r: &AlarmResponse) -> Result<(), CliError> {
    let mut out = Vec::new();
    match format {
        Format::Json => write_json(&mut out, &admin::Alarms::new(r.header(), r.alarms()))?,
        Format::Simple => {
            for a in r.alarms() {
                out.extend_from_slice(
                    format!("memberID:{} alarm:{} \n", a.member_id().get(), a.alarm()).as_bytes(),
                );
            }
        }
    }
    write_stdout(&out)
}
