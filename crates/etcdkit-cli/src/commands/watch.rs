//! `watch KEY [RANGE_END]`: prints every change as etcdctl does, until interrupted. The
//! watch resumes by itself across member failures (from the revision after the last one
//! printed); only the server cancelling it (a compaction) ends it.

use etcdkit::Revision;
use futures_util::StreamExt;

use super::{arg_bytes, connect, printer_for, write_stdout};
use crate::args::{GlobalArgs, WatchArgs};
use crate::error::CliError;
use crate::output::Supported;

pub async fn run(global: &GlobalArgs, args: &WatchArgs) -> Result<(), CliError> {
    // etcdctl's order: the argument count, then --prefix against a range end. Arguments
    // after the range end are ignored, as there.
    let Some(key) = args.args.first() else {
        return Err(CliError::bad_args("bad number of arguments"));
    };
    let range_end = args.args.get(1).map(arg_bytes);
    if args.prefix && range_end.is_some() {
        return Err(CliError::bad_args(
            "`range_end` and `--prefix` are mutually exclusive",
        ));
    }
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let key = arg_bytes(key);
    let mut watch = client.watch().key(key.clone());
    if let Some(end) = range_end {
        watch = watch.range_end(end);
    } else if args.prefix {
        // etcdctl watches everything for `--prefix ""`.
        watch = if key.is_empty() {
            client.watch().key("\0").from_key()
        } else {
            watch.prefix()
        };
    }
    if args.rev > 0 {
        watch = watch.start_revision(Revision(args.rev));
    }
    if args.prev_kv {
        watch = watch.prev_kv();
    }
    if args.progress_notify {
        watch = watch.progress_notify();
    }
    let mut watcher = watch.await.map_err(|e| CliError::from_etcd(&e))?;
    while let Some(item) = watcher.next().await {
        match item {
            Ok(response) => {
                let mut out = Vec::new();
                if response.is_progress_notify() {
                    out.extend_from_slice(
                        format!("progress notify: {}\n", response.header().revision()).as_bytes(),
                    );
                }
                printer.watch(&mut out, &response)?;
                write_stdout(&out)?;
            }
            Err(e) => {
                eprintln!("watch was canceled ({})", crate::error::etcd_message(&e));
                break;
            }
        }
    }
    Err(CliError::error("watch is canceled by the server"))
}
