//! `txn`: compares, success operations and failure operations read from stdin (see
//! [`crate::txn_parse`] for the format).

use clap::Parser;
use etcdkit::kv::{Delete, Get, Put, TxnOp};

use super::{bytes_arg, connect, del, get, printer_for, put, write_stdout};
use crate::args::{GlobalArgs, TxnArgs, TxnOpCommand};
use crate::error::CliError;
use crate::output::Supported;
use crate::txn_parse::{OpLine, TxnParseError, TxnReader};

impl From<TxnParseError> for CliError {
    fn from(e: TxnParseError) -> Self {
        CliError::invalid_input(e.0)
    }
}

pub async fn run(global: &GlobalArgs, args: &TxnArgs) -> Result<(), CliError> {
    if !args.args.is_empty() {
        return Err(CliError::bad_args("txn command does not accept argument"));
    }
    // Each section is parsed as it is read, as etcdctl does: a bad line is reported even
    // when the input would later run out.
    let mut reader = TxnReader::new(std::io::stdin().lock());
    let prompt = |text: &str| {
        if args.interactive {
            // A prompt nobody reads is not a failure.
            let _ = write_stdout(format!("{text}\n").as_bytes());
        }
    };
    prompt("compares:");
    let compares = reader.compares()?;
    prompt("success requests (get, put, del):");
    let success = reader.ops(op_from_line)?;
    prompt("failure requests (get, put, del):");
    let failure = reader.ops(op_from_line)?;

    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let response = client
        .kv()
        .txn()
        .when(compares)
        .and_then(success)
        .or_else(failure)
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    let mut out = Vec::new();
    printer.txn(&mut out, &response)?;
    write_stdout(&out)
}

/// One operation line, parsed with the same grammar and checks as the top-level command.
fn op_from_line(line: OpLine) -> Result<TxnOp, CliError> {
    let invalid = || CliError::invalid_input(format!("invalid txn request: {}", line.line));
    let args = line.args.iter().cloned().map(bytes_arg);
    let command = TxnOpCommand::try_parse_from(args).map_err(|_| invalid())?;
    Ok(match command {
        TxnOpCommand::Get(args) => {
            let plan = get::plan(&args)?;
            plan.apply(Get::new(plan.key.clone())).into()
        }
        TxnOpCommand::Put(args) => {
            // Stdin holds the txn itself, so a put needs its value on the line.
            let plan = put::plan(&args, None)?;
            plan.apply(Put::new(plan.key.clone(), plan.value.clone()))
                .into()
        }
        TxnOpCommand::Del(args) => {
            let plan = del::plan(&args)?;
            plan.apply(Delete::new(plan.key.clone())).into()
        }
    })
}
