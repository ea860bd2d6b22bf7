//! `get KEY [RANGE_END]`.

use std::ffi::OsString;

use bytes::Bytes;
use etcdkit::KeyRange;
use etcdkit::Revision;
use etcdkit::kv::{Get, SortOrder, SortTarget};

use super::{arg_bytes, connect, key_range, printer_for, range_end_arg, write_stdout};
use crate::args::{GetArgs, GlobalArgs};
use crate::error::CliError;
use crate::output::{Format, Supported};

/// A checked `get`, ready to be applied to a request (top-level or inside a txn).
#[derive(Debug, Clone)]
pub struct GetPlan {
    pub key: Bytes,
    /// The keys named: the key, `[key, RANGE_END)`, `--prefix` or `--from-key`.
    range: KeyRange,
    limit: i64,
    rev: i64,
    /// `--min/max-create-rev`, `--min/max-mod-rev`: the server's filters (0 = none).
    revision_filters: RevisionFilters,
    sort: Option<(SortTarget, SortOrder)>,
    serializable: bool,
    keys_only: bool,
    count_only: bool,
}

/// Checks the arguments as etcdctl's `getGetOp` does, in the same order. Extra
/// arguments after the range end are ignored, as there.
pub fn plan(args: &GetArgs) -> Result<GetPlan, CliError> {
    let Some(key) = args.args.first() else {
        return Err(CliError::bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    };
    if args.prefix && args.from_key {
        return Err(CliError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    if args.keys_only && args.count_only {
        return Err(CliError::bad_args(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one",
        ));
    }
    let serializable = match args.consistency.as_str() {
        "l" => false,
        "s" => true,
        other => {
            return Err(CliError::bad_feature(format!(
                "unknown consistency flag {}",
                crate::go_compat::quote(other.as_bytes())
            )));
        }
    };
    let (key, range) = keys(key, args.args.get(1), args.prefix, args.from_key)?;
    Ok(GetPlan {
        key,
        range,
        limit: args.limit,
        rev: args.rev,
        revision_filters: RevisionFilters {
            min_create: args.min_create_rev,
            max_create: args.max_create_rev,
            min_mod: args.min_mod_rev,
            max_mod: args.max_mod_rev,
        },
        sort: sort(&args.sort_by, &args.order)?,
        serializable,
        keys_only: args.keys_only,
        count_only: args.count_only,
    })
}

/// The range's revision filters. Only positive values are sent: etcdctl 3.6 answers
/// `--max-mod-rev -1` with every key, as if no filter were set, and so do we.
#[derive(Debug, Clone, Copy, Default)]
struct RevisionFilters {
    min_create: i64,
    max_create: i64,
    min_mod: i64,
    max_mod: i64,
}

/// The key argument and the keys get and del name with it: the key alone, up to
/// `RANGE_END`, or with `--prefix` or `--from-key` (next to which a `RANGE_END` is refused).
/// Both check it last, as etcdctl does.
pub fn keys(
    key: &OsString,
    range_end: Option<&OsString>,
    prefix: bool,
    from_key: bool,
) -> Result<(Bytes, KeyRange), CliError> {
    let range_end = range_end_arg(range_end, prefix || from_key)?;
    let key = arg_bytes(key);
    let range = key_range(&key, range_end.as_ref(), prefix, from_key);
    Ok((key, range))
}

/// `--sort-by` and `--order`, case-insensitive; `None` when the server's natural order
/// (by key, ascending) is asked for, which etcdctl does not send either.
fn sort(target: &str, order: &str) -> Result<Option<(SortTarget, SortOrder)>, CliError> {
    let order = match order.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => return Err(CliError::bad_feature(format!("bad sort order {order}"))),
    };
    let target = match target.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => return Err(CliError::bad_feature(format!("bad sort target {target}"))),
    };
    Ok(match (target, order) {
        (SortTarget::Key, SortOrder::None | SortOrder::Ascend) => None,
        sort => Some(sort),
    })
}

impl GetPlan {
    /// Sets the plan's options on a request.
    pub fn apply<S>(&self, mut get: Get<S>) -> Get<S> {
        get = get.range(self.range.clone());
        // A negative limit means no limit, as 0 does.
        if self.limit > 0 {
            get = get.limit(self.limit);
        }
        if self.rev > 0 {
            get = get.revision(Revision(self.rev));
        }
        let filters = self.revision_filters;
        if filters.min_create > 0 {
            get = get.min_create_revision(filters.min_create);
        }
        if filters.max_create > 0 {
            get = get.max_create_revision(filters.max_create);
        }
        if filters.min_mod > 0 {
            get = get.min_mod_revision(filters.min_mod);
        }
        if filters.max_mod > 0 {
            get = get.max_mod_revision(filters.max_mod);
        }
        if let Some((target, order)) = self.sort {
            get = get.sort(target, order);
        }
        if self.serializable {
            get = get.serializable();
        }
        if self.keys_only {
            get = get.keys_only();
        }
        if self.count_only {
            get = get.count_only();
        }
        get
    }
}

pub async fn run(global: &GlobalArgs, args: &GetArgs) -> Result<(), CliError> {
    let plan = plan(args)?;
    // etcdctl turns down these flags' formats after the read, before its printer
    // refuses a table: the flags' messages win.
    let supported = if args.count_only || args.print_value_only {
        Supported::ALL
    } else {
        Supported::FIELDS_PROTOBUF
    };
    let printer = printer_for(global, supported)?;
    let client = connect(global).await?;
    let response = plan
        .apply(client.kv().get(plan.key.clone()))
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    // etcdctl checks these only once the read has succeeded.
    if args.count_only && printer.format != Format::Fields {
        return Err(CliError::bad_args(
            "--count-only is only for `--write-out=fields`",
        ));
    }
    if args.print_value_only && printer.format != Format::Simple {
        return Err(CliError::bad_args(
            "print-value-only is only for `--write-out=simple`",
        ));
    }
    let mut out = Vec::new();
    printer.get(&mut out, &response, args.print_value_only)?;
    write_stdout(&out)
}
