//! `put KEY [VALUE]`, the value read from stdin when it is left out.

use std::io::Read;

use bytes::Bytes;
use etcdkit::LeaseId;
use etcdkit::kv::Put;

use super::{arg_bytes, connect, printer_for, write_stdout};
use crate::args::{GlobalArgs, PutArgs};
use crate::error::CliError;
use crate::go_compat;
use crate::output::Supported;

const NEEDS_ARGS: &str = "put command needs 1 argument and input from stdin or 2 arguments";

/// A checked `put`, ready to be applied to a request (top-level or inside a txn).
#[derive(Debug, Clone)]
pub struct PutPlan {
    pub key: Bytes,
    pub value: Bytes,
    lease: i64,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
}

/// Checks the arguments as etcdctl's `getPutOp` does, in the same order. Without a value
/// argument the value is all of `stdin`, verbatim (a trailing newline included); `None`
/// stands for a stdin already used up (inside a txn). Extra arguments are ignored, as
/// there.
pub fn plan(args: &PutArgs, stdin: Option<&mut dyn Read>) -> Result<PutPlan, CliError> {
    let Some(key) = args.args.first() else {
        return Err(CliError::bad_args(NEEDS_ARGS));
    };
    if args.ignore_value && args.args.len() > 1 {
        return Err(CliError::bad_args(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let value = if args.ignore_value {
        Bytes::new()
    } else if let Some(value) = args.args.get(1) {
        arg_bytes(value)
    } else {
        let mut value = Vec::new();
        if let Some(stdin) = stdin {
            stdin.read_to_end(&mut value)?;
        }
        if value.is_empty() {
            return Err(CliError::bad_args(NEEDS_ARGS));
        }
        Bytes::from(value)
    };
    let lease = go_compat::parse_int(&args.lease, 16)
        .map_err(|e| CliError::bad_args(format!("bad lease ID ({e}), expecting ID in Hex")))?;
    Ok(PutPlan {
        key: arg_bytes(key),
        value,
        lease,
        prev_kv: args.prev_kv,
        ignore_value: args.ignore_value,
        ignore_lease: args.ignore_lease,
    })
}

impl PutPlan {
    /// Sets the plan's options on a request.
    pub fn apply<S>(&self, mut put: Put<S>) -> Put<S> {
        if self.prev_kv {
            put = put.prev_kv();
        }
        if self.ignore_value {
            put = put.ignore_value();
        }
        // Before the lease: ignoring the lease clears it, and etcdctl sends both when both
        // are given (the server then refuses the request).
        if self.ignore_lease {
            put = put.ignore_lease();
        }
        if self.lease != 0 {
            put = put.lease(LeaseId(self.lease));
        }
        put
    }
}

pub async fn run(global: &GlobalArgs, args: &PutArgs) -> Result<(), CliError> {
    let mut stdin = std::io::stdin().lock();
    let plan = plan(args, Some(&mut stdin))?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let response = plan
        .apply(client.kv().put(plan.key.clone(), plan.value.clone()))
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    let mut out = Vec::new();
    printer.put(&mut out, &response)?;
    write_stdout(&out)
}
