//! `move-leader <transferee-member-id>`.

use etcdkit::MemberId;

use super::member::parse_hex_id;
use super::{connect, etcd, write_stdout};
use crate::args::GlobalArgs;
use crate::error::CliError;

/// Hands leadership to the member with this hexadecimal id and prints
/// `Leadership transferred from <old> to <new>`.
pub async fn run(global: &GlobalArgs, args: &[String]) -> Result<(), CliError> {
    let [id] = args else {
        return Err(CliError::bad_args("move-leader command needs 1 argument"));
    };
    let target = parse_hex_id(id).map_err(CliError::bad_args)?;
    let client = connect(global).await?;
    let r = etcd(client.maintenance().move_leader(MemberId(target)).await)?;
    let from = r.header().member_id().get();
    write_stdout(format!("Leadership transferred from {from:x} to {target:x}\n").as_bytes())
}
