//! The member commands' output in each format etcdctl 3.6 prints it in: every format for
//! `member list`; simple, json and protobuf for the changes (add, remove, update,
//! promote), which etcdctl has no fields or table printer for.

use std::io::{self, Write};

use etcdkit::ResponseHeader;
use etcdkit::cluster::{Member, MemberAddResponse, MemberListResponse};

use super::admin::Members;
use super::{Format, Printer, fields, json, protobuf, table};
use crate::go_compat::quote;

impl Printer {
    pub fn member_list(&self, out: &mut Vec<u8>, list: &MemberListResponse) -> io::Result<()> {
        match self.format {
            Format::Simple => {
                for m in list.members() {
                    writeln!(out, "{}", row(m).join(", "))?;
                }
                Ok(())
            }
            Format::Json => json::write(out, &Members::new(list.header(), None, list.members())),
            Format::Table => {
                let rows: Vec<Vec<String>> =
                    list.members().iter().map(|m| row(m).to_vec()).collect();
                table::write(
                    out,
                    &[
                        "ID",
                        "STATUS",
                        "NAME",
                        "PEER ADDRS",
                        "CLIENT ADDRS",
                        "IS LEARNER",
                    ],
                    &rows,
                )
            }
            Format::Fields => {
                fields::header(out, list.header())?;
                for m in list.members() {
                    writeln!(out, "\"ID\" : {}", m.id().get())?;
                    writeln!(out, "\"Name\" : {}", quote(m.name().as_bytes()))?;
                    for url in m.peer_urls() {
                        writeln!(out, "\"PeerURL\" : {}", quote(url.as_bytes()))?;
                    }
                    for url in m.client_urls() {
                        writeln!(out, "\"ClientURL\" : {}", quote(url.as_bytes()))?;
                    }
                    writeln!(out, "\"IsLearner\" : {}\n", m.is_learner())?;
                }
                Ok(())
            }
            Format::Protobuf => list_protobuf(out, list.header(), list.members()),
        }
    }
}

/// `etcdserverpb.Member`.
fn member_message(m: &Member) -> protobuf::Message {
    protobuf::Message::new()
        .uint(1, m.id().get())
        .bytes(2, m.name().as_bytes())
        .strings(3, m.peer_urls())
        .strings(4, m.client_urls())
        .bool(5, m.is_learner())
}

/// `MemberListResponse`, and `MemberRemoveResponse`, `MemberUpdateResponse` and
/// `MemberPromoteResponse`, which have the same fields: the header, then the members.
///
/// # Errors
///
/// None in practice: writing to a `Vec` does not fail.
pub fn list_protobuf(
    out: &mut Vec<u8>,
    header: &ResponseHeader,
    members: &[Member],
) -> io::Result<()> {
    let message = protobuf::response(header).messages(2, members.iter().map(member_message));
    protobuf::write(out, &message)
}

/// `MemberAddResponse`: the header, the new member, then every member.
///
/// # Errors
///
/// None in practice: writing to a `Vec` does not fail.
pub fn add_protobuf(out: &mut Vec<u8>, r: &MemberAddResponse) -> io::Result<()> {
    let mut message = protobuf::response(r.header());
    if let Some(m) = r.member() {
        message = message.message(2, &member_message(m));
    }
    let message = message.messages(3, r.members().iter().map(member_message));
    protobuf::write(out, &message)
}

/// `member add`'s simple output: etcdctl's confirmation (`Member <id> added [as learner ]to
/// cluster <cluster id>`, ids as Go's `%16x`), a blank line, then the variables the new
/// member starts with. In `ETCD_INITIAL_CLUSTER`, the new member (which has no name
/// yet) is called by the name given to the command.
///
/// # Errors
///
/// None in practice: writing to a `Vec` does not fail.
pub fn added(
    out: &mut Vec<u8>,
    r: &MemberAddResponse,
    name: &str,
    urls: &[String],
    learner: bool,
) -> io::Result<()> {
    let new_id = r.member().map(Member::id);
    let cluster = r.header().cluster_id().0;
    let id = new_id.map_or(0, |id| id.get());
    let added = if learner { "added as learner" } else { "added" };
    writeln!(out, "Member {id:>16x} {added} to cluster {cluster:>16x}\n")?;
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
    writeln!(out, "ETCD_NAME={}", quote(name.as_bytes()))?;
    writeln!(
        out,
        "ETCD_INITIAL_CLUSTER={}",
        quote(conf.join(",").as_bytes())
    )?;
    writeln!(
        out,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS={}",
        quote(urls.join(",").as_bytes())
    )?;
    writeln!(out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"")
}

/// A member's columns: hex id, `started` (or `unstarted` before it has a name), name,
/// peer and client addresses (comma-separated) and whether it is a learner.
fn row(m: &Member) -> [String; 6] {
    let status = if m.name().is_empty() {
        "unstarted"
    } else {
        "started"
    };
    [
        format!("{:x}", m.id().get()),
        status.to_owned(),
        m.name().to_owned(),
        m.peer_urls().join(","),
        m.client_urls().join(","),
        m.is_learner().to_string(),
    ]
}
