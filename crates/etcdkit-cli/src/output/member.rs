//! `member list` in each format etcdctl 3.6 prints it in.

use std::io::{self, Write};

use etcdkit::cluster::{Member, MemberListResponse};

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
            Format::Protobuf => {
                let members = list.members().iter().map(|m| {
                    protobuf::Message::new()
                        .uint(1, m.id().get())
                        .bytes(2, m.name().as_bytes())
                        .strings(3, m.peer_urls())
                        .strings(4, m.client_urls())
                        .bool(5, m.is_learner())
                });
                let message = protobuf::response(list.header()).messages(2, members);
                protobuf::write(out, &message)
            }
        }
    }
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
