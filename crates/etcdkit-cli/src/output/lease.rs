//! The lease commands' `fields` and `protobuf` output (their `simple` and `json` are
//! printed by the commands).
//!
//! etcdctl's lease responses are Go structs that embed the response header, so their
//! `protobuf` form is the header's encoding alone; a revoke's response embeds nothing and
//! etcdctl fails to encode it, after revoking, with the message [`revoke_unsupported`]
//! rebuilds.

use std::io::Write;

use etcdkit::{LeaseId, ResponseHeader};

use super::{Format, Printer, fields, protobuf};
use crate::error::CliError;
use crate::go_compat::quote;

/// What a lease command learnt, beyond the header.
#[derive(Debug, Clone, Copy)]
pub enum Lease<'a> {
    Grant {
        id: LeaseId,
        ttl: i64,
    },
    Revoke,
    KeepAlive {
        id: LeaseId,
        ttl: i64,
    },
    TimeToLive {
        id: LeaseId,
        ttl: i64,
        granted_ttl: i64,
        keys: &'a [bytes::Bytes],
    },
    List(&'a [LeaseId]),
}

impl Printer {
    /// The `fields` or `protobuf` output of a lease command, or `None` for the formats
    /// the command prints itself.
    ///
    /// # Errors
    ///
    /// `lease revoke -w protobuf`, which etcdctl cannot encode either.
    pub fn lease(
        &self,
        header: Option<&ResponseHeader>,
        lease: Lease<'_>,
    ) -> Option<Result<Vec<u8>, CliError>> {
        match self.format {
            Format::Fields => Some(lease_fields(header, lease)),
            Format::Protobuf => Some(match (lease, header) {
                (Lease::Revoke, _) => Err(revoke_unsupported(header)),
                (_, Some(h)) => Ok(protobuf::header(h).into_vec()),
                (_, None) => Ok(Vec::new()),
            }),
            _ => None,
        }
    }
}

fn lease_fields(header: Option<&ResponseHeader>, lease: Lease<'_>) -> Result<Vec<u8>, CliError> {
    let mut out = Vec::new();
    if let Some(h) = header {
        fields::header(&mut out, h)?;
    }
    match lease {
        Lease::Grant { id, ttl } | Lease::KeepAlive { id, ttl } => {
            writeln!(out, "\"ID\" : {}", id.get())?;
            writeln!(out, "\"TTL\" : {ttl}")?;
        }
        Lease::Revoke => {}
        Lease::TimeToLive {
            id,
            ttl,
            granted_ttl,
            keys,
        } => {
            writeln!(out, "\"ID\" : {}", id.get())?;
            writeln!(out, "\"TTL\" : {ttl}")?;
            writeln!(out, "\"GrantedTTL\" : {granted_ttl}")?;
            for key in keys {
                writeln!(out, "\"Key\" : {}", quote(key))?;
            }
        }
        Lease::List(ids) => {
            for id in ids {
                writeln!(out, "\"ID\" : {}", id.get())?;
            }
        }
    }
    Ok(out)
}

/// etcdctl's failure to encode a revoke's response: Go's `%v` of the response, its header
/// fields that are not zero, then the struct's three internal fields.
fn revoke_unsupported(header: Option<&ResponseHeader>) -> CliError {
    let mut parts = Vec::new();
    if let Some(h) = header {
        let numbers = [
            (
                "cluster_id",
                h.cluster_id().0.to_string(),
                h.cluster_id().0 != 0,
            ),
            (
                "member_id",
                h.member_id().get().to_string(),
                h.member_id().get() != 0,
            ),
            (
                "revision",
                h.revision().get().to_string(),
                h.revision().get() != 0,
            ),
            ("raft_term", h.raft_term().to_string(), h.raft_term() != 0),
        ];
        for (name, value, set) in numbers {
            if set {
                parts.push(format!("{name}:{value}"));
            }
        }
    }
    CliError::bad_feature(format!(
        "marshal unsupported for type clientv3.LeaseRevokeResponse ({{{}  {{}} [] 0}})",
        parts.join(" ")
    ))
}
