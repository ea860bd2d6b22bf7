//! `auth enable | disable | status`.

use super::{connect, etcd, printer_for, write_stdout};
use crate::args::{AuthCommand, GlobalArgs};
use crate::error::CliError;
use crate::output::{Basic, Format, Supported, admin, write_json};

/// Runs an `auth` subcommand. Enable and disable print their line in every output
/// format, as etcdctl does.
pub async fn run(global: &GlobalArgs, command: &AuthCommand) -> Result<(), CliError> {
    match command {
        AuthCommand::Enable { args } => {
            no_args(args, "auth enable")?;
            let client = connect(global).await?;
            etcd(client.auth().enable().await)?;
            write_stdout(b"Authentication Enabled\n")
        }
        AuthCommand::Disable { args } => {
            no_args(args, "auth disable")?;
            let client = connect(global).await?;
            etcd(client.auth().disable().await)?;
            write_stdout(b"Authentication Disabled\n")
        }
        AuthCommand::Status { args } => {
            no_args(args, "auth status")?;
            let printer = printer_for(global, Supported::PROTOBUF)?;
            let client = connect(global).await?;
            let status = etcd(client.auth().status().await)?;
            if printer.format == Format::Protobuf {
                let mut out = Vec::new();
                printer.auth_status_protobuf(&mut out, &status)?;
                return write_stdout(&out);
            }
            let mut out = Vec::new();
            match printer.format.basic() {
                Basic::Simple => out.extend_from_slice(
                    format!(
                        "Authentication Status: {}\nAuthRevision: {}\n",
                        status.enabled, status.auth_revision
                    )
                    .as_bytes(),
                ),
                Basic::Json => write_json(&mut out, &admin::AuthStatus::from(&status))?,
            }
            write_stdout(&out)
        }
    }
}

fn no_args(args: &[String], command: &str) -> Result<(), CliError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CliError::bad_args(format!(
            "{command} command does not accept any arguments"
        )))
    }
}
