//! `compaction REV [--physical]`.

use etcdkit::Revision;

use super::{connect, printer, write_stdout};
use crate::args::{CompactionArgs, GlobalArgs};
use crate::error::CliError;
use crate::go_compat;

pub async fn run(global: &GlobalArgs, args: &CompactionArgs) -> Result<(), CliError> {
    let [rev] = args.args.as_slice() else {
        return Err(CliError::bad_args("compaction command needs 1 argument"));
    };
    // A revision that does not parse is a plain error (exit 1) in etcdctl, not a bad arg.
    let rev = go_compat::parse_int(rev, 10).map_err(CliError::error)?;
    // The format is checked (as etcdctl does when it builds its client) but not used:
    // etcdctl prints the same line whatever `-w` says.
    printer(global)?;
    let client = connect(global).await?;
    let mut compact = client.kv().compact(Revision(rev));
    if args.physical {
        compact = compact.physical();
    }
    compact.await.map_err(|e| CliError::from_etcd(&e))?;
    write_stdout(format!("compacted revision {rev}\n").as_bytes())
}
