//! `del KEY [RANGE_END]`.

use bytes::Bytes;
use etcdkit::KeyRange;
use etcdkit::kv::Delete;

use super::get::keys;
use super::{arg_bytes, connect, printer_for, write_stdout};
use crate::args::{DelArgs, GlobalArgs};
use crate::error::CliError;
use crate::go_compat;
use crate::output::Supported;

/// A checked `del`, ready to be applied to a request (top-level or inside a txn).
#[derive(Debug, Clone)]
pub struct DelPlan {
    pub key: Bytes,
    /// The keys named: the key, `[key, RANGE_END)`, `--prefix` or `--from-key`.
    range: KeyRange,
    prev_kv: bool,
}

/// Checks the arguments as etcdctl's `getDelOp` does, in the same order.
pub fn plan(args: &DelArgs) -> Result<DelPlan, CliError> {
    let (Some(key), 1..=2) = (args.args.first(), args.args.len()) else {
        return Err(CliError::bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    };
    if args.prefix && args.from_key {
        return Err(CliError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let (key, range) = keys(key, args.args.get(1), args.prefix, args.from_key)?;
    Ok(DelPlan {
        key,
        range,
        prev_kv: args.prev_kv,
    })
}

impl DelPlan {
    /// Sets the plan's options on a request.
    pub fn apply<S>(&self, mut del: Delete<S>) -> Delete<S> {
        del = del.range(self.range.clone());
        if self.prev_kv {
            del = del.prev_kv();
        }
        del
    }
}

/// How long `del KEY RANGE_END` without `--range` waits after its warning, as etcdctl 3.6
/// does, so that a range typed by mistake can still be interrupted.
const RANGE_DELETE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn run(global: &GlobalArgs, args: &DelArgs) -> Result<(), CliError> {
    let plan = plan(args)?;
    if let (Some(end), false) = (args.args.get(1), args.range) {
        eprintln!(
            "Warning: Keys between {} and {} will be deleted. Please interrupt the command \
             within next 2 seconds to cancel. You can provide `--range` flag to avoid the delay.",
            go_compat::quote(&arg_bytes(&args.args[0])),
            go_compat::quote(&arg_bytes(end)),
        );
        tokio::time::sleep(RANGE_DELETE_GRACE).await;
    }
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let response = plan
        .apply(client.kv().delete(plan.key.clone()))
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    let mut out = Vec::new();
    printer.del(&mut out, &response)?;
    write_stdout(&out)
}
