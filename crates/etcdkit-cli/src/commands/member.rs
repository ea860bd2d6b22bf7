//! `member list | add | remove | update | promote`. Member ids are hexadecimal.

use etcdkit::MemberId;
use etcdkit::cluster::{AdminRequest, Cluster, MemberListResponse};

use super::{connect, etcd, peer_urls, printer_for, write_stdout};
use crate::args::{GlobalArgs, MemberCommand};
use crate::error::CliError;
use crate::output::{Format, Supported, admin, member, write_json};

/// Runs a `member` subcommand.
///
/// The changes (add, remove, update, promote) check their arguments, then the output
/// format's name, then the peer URLs, and send the request before they refuse `fields`
/// or `table`, as etcdctl does: a script that runs `etcdctl -w table member remove ID`
/// removes the member and then fails with exit 4, and so does `etcdkit`; a request the
/// server refuses fails with the server's error in every format.
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
            let name = member_name(args)?;
            if peer_urls.is_empty() {
                return Err(CliError::bad_args("member peer urls not provided"));
            }
            let format = change_format(global)?;
            let urls: Vec<String> = peer_urls.split(',').map(str::to_owned).collect();
            peer_urls::check(&urls)?;
            let client = connect(global).await?;
            let mut add = client.cluster().member_add(urls.clone());
            if *learner {
                add = add.learner();
            }
            let r = etcd(add.await)?;
            let mut out = Vec::new();
            match format {
                Format::Simple => member::added(&mut out, &r, name, &urls, *learner)?,
                Format::Json => write_json(
                    &mut out,
                    &admin::Members::new(r.header(), r.member(), r.members()),
                )?,
                Format::Protobuf => member::add_protobuf(&mut out, &r)?,
                Format::Fields | Format::Table => return Err(refused(global)),
            }
            write_stdout(&out)
        }
        MemberCommand::Remove { args } => {
            let id = member_id(args)?;
            let format = change_format(global)?;
            change(global, format, id, "removed from", |c| c.member_remove(id)).await
        }
        MemberCommand::Update { peer_urls, args } => {
            let id = member_id(args)?;
            if peer_urls.is_empty() {
                return Err(CliError::bad_args("member peer urls not provided"));
            }
            let format = change_format(global)?;
            let urls: Vec<String> = peer_urls.split(',').map(str::to_owned).collect();
            peer_urls::check(&urls)?;
            change(global, format, id, "updated in", |c| {
                c.member_update(id, urls)
            })
            .await
        }
        MemberCommand::Promote { args } => {
            let id = member_id(args)?;
            let format = change_format(global)?;
            change(global, format, id, "promoted in", |c| c.member_promote(id)).await
        }
    }
}

/// The output format of a membership change. Every known name passes here (an unknown
/// one is refused, before anything is sent); `fields` and `table` are refused only once
/// the change is made, see [`run`].
fn change_format(global: &GlobalArgs) -> Result<Format, CliError> {
    Ok(printer_for(global, Supported::ALL)?.format)
}

/// etcdctl's refusal of `fields` or `table` for a membership change (exit 4).
fn refused(global: &GlobalArgs) -> CliError {
    CliError::bad_feature(format!(
        "{} not supported as output format",
        global.write_out
    ))
}

/// The one name argument of `member add`. With more, etcdctl suggests `--peer-urls=` for
/// each that looks like a URL.
fn member_name(args: &[String]) -> Result<&str, CliError> {
    match args {
        [] => Err(CliError::bad_args("member name not provided")),
        [name] => Ok(name),
        _ => {
            let mut message = "too many arguments".to_owned();
            for arg in args {
                if arg.to_lowercase().starts_with("http") {
                    message.push_str(&format!(", did you mean --peer-urls={arg}"));
                }
            }
            Err(CliError::bad_args(message))
        }
    }
}

/// Sends a change of member `id` (remove, update, promote: each answers with the new member
/// list) and prints it: etcdctl's confirmation `Member <id> <what> cluster <cluster id>`
/// (ids right-aligned in 16 columns, as Go's `%16x`), the response as json or protobuf.
async fn change(
    global: &GlobalArgs,
    format: Format,
    id: MemberId,
    what: &str,
    request: impl FnOnce(Cluster) -> AdminRequest<MemberListResponse>,
) -> Result<(), CliError> {
    let client = connect(global).await?;
    let r = etcd(request(client.cluster()).await)?;
    let mut out = Vec::new();
    match format {
        Format::Simple => {
            let cluster = r.header().cluster_id().0;
            out.extend_from_slice(
                format!("Member {:>16x} {what} cluster {cluster:>16x}\n", id.get()).as_bytes(),
            );
        }
        Format::Json => write_json(
            &mut out,
            &admin::Members::new(r.header(), None, r.members()),
        )?,
        Format::Protobuf => member::list_protobuf(&mut out, r.header(), r.members())?,
        Format::Fields | Format::Table => return Err(refused(global)),
    }
    write_stdout(&out)
}

/// The one hexadecimal member id argument, with etcdctl's messages.
fn member_id(args: &[String]) -> Result<MemberId, CliError> {
    // etcdctl says this of two ids too.
    let [arg] = args else {
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
