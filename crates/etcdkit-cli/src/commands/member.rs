//! `member list | add | remove | update | promote`. Member ids are hexadecimal.

use etcdkit::MemberId;
use etcdkit::cluster::{AdminRequest, Cluster, MemberListResponse};

use super::{connect, etcd, printer, printer_for, write_stdout};
use crate::args::{GlobalArgs, MemberCommand};
use crate::error::CliError;
use crate::output::{Format, Supported, admin, write_json};

/// Runs a `member` subcommand.
pub async fn run(global: &GlobalArgs, command: &MemberCommand) -> Result<(), CliError> {
    match command {
        MemberCommand::List => {
            let printer = printer_for(global, Supported::ALL)?;
            let client = connect(global).await?;
            let list = etcd(client.cluster().member_list().await)?;
            let mut out = Vec::new();
            printer.member_list(&mut out, &list)?;
            write_stdout(&out)
        }
        MemberCommand::Add {
            peer_urls,
            learner,
            args,
        } => {
            let [name] = args.as_slice() else {
                return Err(CliError::bad_args("member name not provided"));
            };
            if peer_urls.is_empty() {
                return Err(CliError::bad_args("member peer urls not provided"));
            }
            let urls: Vec<String> = peer_urls.split(',').map(str::to_owned).collect();
            let printer = printer(global)?;
            let client = connect(global).await?;
            let mut add = client.cluster().member_add(urls.clone());
            if *learner {
                add = add.learner();
            }
            let r = etcd(add.await)?;
            let mut out = Vec::new();
            match printer.format {
                Format::Json => write_json(
                    &mut out,
                    &admin::Members::new(r.header(), r.member(), r.members()),
                )?,
                // Only simple and json get here.
                _ => {
                    let new_id = r.member().map(|m| m.id());
                    let cluster = r.header().cluster_id().0;
                    let id = new_id.map_or(0, MemberId::get);
                    let added = if *learner {
                        "added as learner"
                    } else {
                        "added"
                    };
                    out.extend_from_slice(
                        format!("Member {id:>16x} {added} to cluster {cluster:>16x}\n\n")
                            .as_bytes(),
                    );
                    let mut conf = Vec::new();
                    for m in r.members() {
                        let member_name = if Some(m.id()) == new_id {
                            name
                        } else {
                            m.name()
                        };
                        for url in m.peer_urls() {
                            conf.push(format!("{member_name}={url}"));
                        }
                    }
                    let lines = [
                        format!("ETCD_NAME={}", go_quote(name)),
                        format!("ETCD_INITIAL_CLUSTER={}", go_quote(&conf.join(","))),
                        format!(
                            "ETCD_INITIAL_ADVERTISE_PEER_URLS={}",
                            go_quote(&urls.join(","))
                        ),
                        "ETCD_INITIAL_CLUSTER_STATE=\"existing\"".to_owned(),
                    ];
                    for line in lines {
                        out.extend_from_slice(line.as_bytes());
                        out.push(b'\n');
                    }
                }
            }
            write_stdout(&out)
        }
        MemberCommand::Remove { args } => {
            let id = member_id(args)?;
            change(global, id, "removed from", |c| c.member_remove(id)).await
        }
        MemberCommand::Update { peer_urls, args } => {
            let id = member_id(args)?;
            if peer_urls.is_empty() {
                return Err(CliError::bad_args("member peer urls not provided"));
            }
            let urls: Vec<String> = peer_urls.split(',').map(str::to_owned).collect();
            change(global, id, "updated in", |c| c.member_update(id, urls)).await
        }
        MemberCommand::Promote { args } => {
            let id = member_id(args)?;
            change(global, id, "promoted in", |c| c.member_promote(id)).await
        }
    }
}

fn print_list(out: &mut Vec<u8>, list: &MemberListResponse) -> Result<(), CliError> {
    write_json(
        out,
        &admin::Members::new(list.header(), None, list.members()),
    )?;
    Ok(())
}

/// `Member <id> <what> cluster <id>` (ids right-aligned in 16 columns, as Go's `%16x`),
/// or the response as json.
/// Sends a change of member `id` (remove, update, promote: each answers with the new member
/// list) and prints etcdctl's confirmation, `Member <id> <what> cluster <cluster id>`.
async fn change(
    global: &GlobalArgs,
    id: MemberId,
    what: &str,
    request: impl FnOnce(Cluster) -> AdminRequest<MemberListResponse>,
) -> Result<(), CliError> {
    let printer = printer(global)?;
    let client = connect(global).await?;
    let r = etcd(request(client.cluster()).await)?;
    let mut out = Vec::new();
    match printer.format {
        Format::Json => print_list(&mut out, &r)?,
        // Only simple and json get here.
        _ => {
            let cluster = r.header().cluster_id().0;
            out.extend_from_slice(
                format!("Member {:>16x} {what} cluster {cluster:>16x}\n", id.get()).as_bytes(),
            );
        }
    }
    write_stdout(&out)
}

/// The one hexadecimal member id argument, with etcdctl's messages.
fn member_id(args: &[String]) -> Result<MemberId, CliError> {
    let Some(arg) = args.first() else {
        return Err(CliError::bad_args("member ID is not provided"));
    };
    parse_hex_id(arg)
        .map(MemberId)
        .map_err(|e| CliError::bad_args(format!("bad member ID arg ({e}), expecting ID in Hex")))
}

/// Go's `strconv.ParseUint(s, 16, 64)`, with its error text.
pub fn parse_hex_id(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s, 16).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow => "value out of range",
            _ => "invalid syntax",
        };
        format!(
            "strconv.ParseUint: parsing {}: {why}",
            crate::go_compat::quote(s.as_bytes())
        )
    })
}

/// Go's `%q` of a string.
fn go_quote(s: &str) -> String {
    crate::go_compat::quote(s.as_bytes())
}
