//! The auth, user and role commands' output in the formats beyond `simple`, for the
//! responses that are shared by several commands: a bare header, a role's permissions
//! and a list of names.

use std::io::{self, Write};

use etcdkit::ResponseHeader;
use etcdkit::auth::{Permission, PermissionType};

use super::admin::{HeaderOnly, Names, RoleGet};
use super::{Format, Printer, fields, json, protobuf, unsupported};
use crate::go_compat::quote;

/// Which names a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameList {
    Users,
    Roles,
}

impl Printer {
    /// A response that is only a header (user add, role delete, ...): `simple` is the
    /// command's sentence.
    pub fn header_only(
        &self,
        out: &mut Vec<u8>,
        header: &ResponseHeader,
        simple: &[u8],
    ) -> io::Result<()> {
        match self.format {
            Format::Simple => {
                out.extend_from_slice(simple);
                Ok(())
            }
            Format::Json => json::write(out, &HeaderOnly::new(header)),
            Format::Fields => fields::header(out, header),
            Format::Protobuf => protobuf::write(out, &protobuf::response(header)),
            Format::Table => Err(unsupported(self.format)),
        }
    }

    /// `role get` in json, fields or protobuf (simple is the command's own).
    pub fn role_get(
        &self,
        out: &mut Vec<u8>,
        header: &ResponseHeader,
        perms: &[Permission],
    ) -> io::Result<()> {
        match self.format {
            Format::Json => json::write(out, &RoleGet::new(header, perms)),
            Format::Fields => {
                fields::header(out, header)?;
                for p in perms {
                    // Go's Println puts a space after the name's own trailing space.
                    writeln!(out, "\"PermType\" :  {}", perm_name(p.kind()))?;
                    writeln!(out, "\"Key\" : {}", quote(p.key()))?;
                    writeln!(out, "\"RangeEnd\" : {}", quote(p.range_end_key()))?;
                }
                Ok(())
            }
            Format::Protobuf => {
                let perms = perms.iter().map(|p| {
                    protobuf::Message::new()
                        .uint(1, perm_number(p.kind()))
                        .bytes(2, p.key())
                        .bytes(3, p.range_end_key())
                });
                protobuf::write(out, &protobuf::response(header).messages(2, perms))
            }
            Format::Simple | Format::Table => Err(unsupported(self.format)),
        }
    }

    /// `user list`, `role list` and `user get`'s roles in json, fields or protobuf.
    pub fn names(
        &self,
        out: &mut Vec<u8>,
        header: &ResponseHeader,
        list: NameList,
        names: &[String],
    ) -> io::Result<()> {
        match self.format {
            Format::Json => match list {
                NameList::Users => json::write(out, &Names::users(header, names)),
                NameList::Roles => json::write(out, &Names::roles(header, names)),
            },
            // Only `role list` has fields (`"Roles" : "a" "b"`).
            Format::Fields => {
                fields::header(out, header)?;
                out.extend_from_slice(b"\"Roles\" :");
                for name in names {
                    write!(out, " {}", quote(name.as_bytes()))?;
                }
                out.push(b'\n');
                Ok(())
            }
            Format::Protobuf => protobuf::write(out, &protobuf::response(header).strings(2, names)),
            Format::Simple | Format::Table => Err(unsupported(self.format)),
        }
    }

    /// `auth status -w protobuf` (`AuthStatusResponse`).
    pub fn auth_status_protobuf(
        &self,
        out: &mut Vec<u8>,
        status: &etcdkit::auth::AuthStatus,
    ) -> io::Result<()> {
        let message = protobuf::response(&status.header)
            .bool(2, status.enabled)
            .uint(3, status.auth_revision);
        protobuf::write(out, &message)
    }
}

fn perm_number(kind: PermissionType) -> u64 {
    match kind {
        PermissionType::Write => 1,
        PermissionType::ReadWrite => 2,
        _ => 0,
    }
}

fn perm_name(kind: PermissionType) -> &'static str {
    match kind {
        PermissionType::Write => "WRITE",
        PermissionType::ReadWrite => "READWRITE",
        _ => "READ",
    }
}
