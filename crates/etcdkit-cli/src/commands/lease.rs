//! `lease grant TTL | revoke ID | timetolive ID [--keys] | list | keep-alive ID [--once]`,
//! printed as etcdctl 3.5 and 3.6 print them: lease ids as `%016x` in simple output and decimal
//! in json, where the response header's fields sit at the top level of the object.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use etcdkit::lease::{KeepAliveEvent, LostReason};
use etcdkit::{Client, LeaseId, ResponseHeader};
use serde::Serialize;
use tokio_stream::StreamExt;

use super::{connect, printer_for, write_stdout};
use crate::args::{GlobalArgs, LeaseCommand};
use crate::error::{CliError, ExitCode};
use crate::go_compat;
use crate::output::Header;
use crate::output::{Basic, Lease, Printer, Supported};

pub async fn run(global: &GlobalArgs, command: &LeaseCommand) -> Result<(), CliError> {
    match command {
        LeaseCommand::Grant { args } => grant(global, args).await,
        LeaseCommand::Revoke { args } => revoke(global, args).await,
        LeaseCommand::Timetolive { keys, args } => time_to_live(global, *keys, args).await,
        LeaseCommand::List { .. } => list(global).await,
        LeaseCommand::KeepAlive { once, args } => keep_alive(global, *once, args).await,
    }
}

/// A lease id argument: hexadecimal, as etcdctl reads it (`strconv.ParseInt(s, 16, 64)`).
fn lease_id(arg: &str) -> Result<LeaseId, CliError> {
    go_compat::parse_int(arg, 16)
        .map(LeaseId)
        .map_err(|e| CliError::bad_args(format!("bad lease ID arg ({e}), expecting ID in Hex")))
}

/// What `revoke`, `timetolive` and `keep-alive` (the `command`) start with, checked in
/// etcdctl's order: their one lease ID argument, the output format, then the connection.
async fn one_lease(
    global: &GlobalArgs,
    args: &[String],
    command: &str,
) -> Result<(LeaseId, Printer, Client), CliError> {
    let [id] = args else {
        // etcdctl words it differently for revoke.
        return Err(CliError::bad_args(if command == "revoke" {
            "lease revoke command needs 1 argument".to_owned()
        } else {
            format!("lease {command} command needs lease ID as argument")
        }));
    };
    let id = lease_id(id)?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    Ok((id, printer, client))
}

/// Go's `%016x` of an int64: at least 16 hex digits, zero-padded after any sign.
pub fn hex_id(id: LeaseId) -> String {
    let n = id.get();
    if n < 0 {
        format!("-{:015x}", n.unsigned_abs())
    } else {
        format!("{n:016x}")
    }
}

/// A failure of a request, worded as etcdctl words it, with its exit code.
fn failed(code: ExitCode, prefix: Option<&str>, e: &etcdkit::Error) -> CliError {
    let mut err = CliError::from_etcd(e);
    err.code = code;
    if let Some(prefix) = prefix {
        err.message = format!("{prefix} ({})", err.message);
    }
    err
}

fn json_line<T: Serialize>(value: &T) -> Result<Vec<u8>, CliError> {
    let mut out = serde_json::to_vec(value).map_err(|e| CliError::error(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

async fn grant(global: &GlobalArgs, args: &[String]) -> Result<(), CliError> {
    let [ttl] = args else {
        return Err(CliError::bad_args("lease grant command needs TTL argument"));
    };
    let ttl =
        go_compat::parse_int(ttl, 10).map_err(|e| CliError::bad_args(format!("bad TTL ({e})")))?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let format = printer.format;
    let client = connect(global).await?;
    let seconds = u64::try_from(ttl).unwrap_or(0);
    let r = client
        .lease()
        .grant(Duration::from_secs(seconds))
        .await
        .map_err(|e| failed(ExitCode::Error, Some("failed to grant lease"), &e))?;
    if let Some(printed) = printer.lease(
        Some(r.header()),
        Lease::Grant {
            id: r.id(),
            ttl: r.ttl(),
        },
    ) {
        return write_stdout(&printed?);
    }
    let out = match format.basic() {
        Basic::Simple => {
            format!("lease {} granted with TTL({}s)\n", hex_id(r.id()), r.ttl()).into_bytes()
        }
        Basic::Json => {
            // A keep-alive's fields, then etcdctl's always-empty `Error`.
            #[derive(Serialize)]
            struct Grant {
                #[serde(flatten)]
                lease: LeaseTtlJson,
                #[serde(rename = "Error")]
                error: &'static str,
            }
            json_line(&Grant {
                lease: LeaseTtlJson::new(r.header(), r.id(), r.ttl()),
                error: "",
            })?
        }
    };
    write_stdout(&out)
}

async fn revoke(global: &GlobalArgs, args: &[String]) -> Result<(), CliError> {
    let (id, printer, client) = one_lease(global, args, "revoke").await?;
    let format = printer.format;
    let r = client
        .lease()
        .revoke(id)
        .await
        .map_err(|e| failed(ExitCode::Error, Some("failed to revoke lease"), &e))?;
    if let Some(printed) = printer.lease(r.header(), Lease::Revoke) {
        return write_stdout(&printed?);
    }
    let out = match format.basic() {
        Basic::Simple => format!("lease {} revoked\n", hex_id(id)).into_bytes(),
        Basic::Json => {
            #[derive(Serialize)]
            struct Revoke {
                #[serde(skip_serializing_if = "Option::is_none")]
                header: Option<Header>,
            }
            json_line(&Revoke {
                header: r.header().map(Header::from),
            })?
        }
    };
    write_stdout(&out)
}

async fn time_to_live(global: &GlobalArgs, keys: bool, args: &[String]) -> Result<(), CliError> {
    let (id, printer, client) = one_lease(global, args, "timetolive").await?;
    let format = printer.format;
    let mut request = client.lease().time_to_live(id);
    if keys {
        request = request.keys();
    }
    let r = request
        .await
        .map_err(|e| failed(ExitCode::BadConnection, None, &e))?;
    let ttl = Lease::TimeToLive {
        id: r.id(),
        ttl: r.ttl(),
        granted_ttl: r.granted_ttl(),
        keys: r.keys(),
    };
    if let Some(printed) = printer.lease(Some(r.header()), ttl) {
        return write_stdout(&printed?);
    }
    let out = match format.basic() {
        Basic::Simple => {
            if r.granted_ttl() == 0 && r.ttl() == -1 {
                format!("lease {} already expired\n", hex_id(r.id())).into_bytes()
            } else {
                let mut line = format!(
                    "lease {} granted with TTL({}s), remaining({}s)",
                    hex_id(r.id()),
                    r.granted_ttl(),
                    r.ttl()
                )
                .into_bytes();
                if keys {
                    // Go's `%v` of a []string: the raw bytes, space-separated, in brackets.
                    line.extend_from_slice(b", attached keys([");
                    for (i, key) in r.keys().iter().enumerate() {
                        if i > 0 {
                            line.push(b' ');
                        }
                        line.extend_from_slice(key);
                    }
                    line.extend_from_slice(b"])");
                }
                line.push(b'\n');
                line
            }
        }
        Basic::Json => {
            #[derive(Serialize)]
            struct TimeToLive {
                #[serde(flatten)]
                header: Header,
                id: i64,
                ttl: i64,
                #[serde(rename = "granted-ttl")]
                granted_ttl: i64,
                keys: Option<Vec<String>>,
            }
            let keys =
                (!r.keys().is_empty()).then(|| r.keys().iter().map(|k| BASE64.encode(k)).collect());
            json_line(&TimeToLive {
                header: r.header().into(),
                id: r.id().get(),
                ttl: r.ttl(),
                granted_ttl: r.granted_ttl(),
                keys,
            })?
        }
    };
    write_stdout(&out)
}

async fn list(global: &GlobalArgs) -> Result<(), CliError> {
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let format = printer.format;
    let client = connect(global).await?;
    let r = client
        .lease()
        .leases()
        .await
        .map_err(|e| failed(ExitCode::BadConnection, None, &e))?;
    if let Some(printed) = printer.lease(Some(r.header()), Lease::List(r.leases())) {
        return write_stdout(&printed?);
    }
    let out = match format.basic() {
        Basic::Simple => {
            let mut out = format!("found {} leases\n", r.leases().len());
            for id in r.leases() {
                out.push_str(&hex_id(*id));
                out.push('\n');
            }
            out.into_bytes()
        }
        Basic::Json => {
            #[derive(Serialize)]
            struct Status {
                id: i64,
            }
            #[derive(Serialize)]
            struct List {
                #[serde(flatten)]
                header: Header,
                leases: Vec<Status>,
            }
            json_line(&List {
                header: r.header().into(),
                leases: r
                    .leases()
                    .iter()
                    .map(|id| Status { id: id.get() })
                    .collect(),
            })?
        }
    };
    write_stdout(&out)
}

/// A lease and its TTL in json, the header's fields at the top level: a keep-alive's
/// answer, and the start of a grant's.
#[derive(Serialize)]
struct LeaseTtlJson {
    #[serde(flatten)]
    header: Header,
    #[serde(rename = "ID")]
    id: i64,
    #[serde(rename = "TTL")]
    ttl: i64,
}

impl LeaseTtlJson {
    fn new(header: &ResponseHeader, id: LeaseId, ttl: i64) -> Self {
        LeaseTtlJson {
            header: header.into(),
            id: id.get(),
            ttl,
        }
    }
}

fn keepalive_line(
    printer: Printer,
    header: &ResponseHeader,
    id: LeaseId,
    ttl: i64,
) -> Result<Vec<u8>, CliError> {
    if let Some(printed) = printer.lease(Some(header), Lease::KeepAlive { id, ttl }) {
        return printed;
    }
    match printer.format.basic() {
        Basic::Simple => {
            Ok(format!("lease {} keepalived with TTL({ttl})\n", hex_id(id)).into_bytes())
        }
        Basic::Json => json_line(&LeaseTtlJson::new(header, id, ttl)),
    }
}

async fn keep_alive(global: &GlobalArgs, once: bool, args: &[String]) -> Result<(), CliError> {
    let (id, printer, client) = one_lease(global, args, "keep-alive").await?;
    let format = printer.format;
    if once {
        let r = client.lease().keep_alive_once(id).await.map_err(|e| {
            // etcdctl logs nothing for its keepalive stream's failures.
            let mut err = failed(ExitCode::BadConnection, None, &e);
            err.detail = None;
            err
        })?;
        return write_stdout(&keepalive_line(printer, r.header(), r.id(), r.ttl())?);
    }
    // Renews until the lease is lost (or the process is interrupted), printing every
    // renewal; stream failures are retried by the client.
    let keep = client
        .lease()
        .keep_alive(id)
        .await
        .map_err(|e| failed(ExitCode::BadConnection, None, &e))?;
    let mut events = keep.events();
    while let Some(event) = events.next().await {
        match event {
            KeepAliveEvent::Succeeded { ttl, header, .. } => {
                let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
                write_stdout(&keepalive_line(printer, &header, id, seconds)?)?;
            }
            KeepAliveEvent::Lost { reason } => {
                if reason == LostReason::Expired {
                    eprintln!(
                        "lease {} expired without a renewal (cluster unreachable)",
                        hex_id(id)
                    );
                }
                break;
            }
            _ => {}
        }
    }
    if format.basic() == Basic::Simple {
        write_stdout(format!("lease {} expired or revoked.\n", hex_id(id)).as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_go_does() {
        assert_eq!(hex_id(LeaseId(0x2040a200d9722e05)), "2040a200d9722e05");
        assert_eq!(hex_id(LeaseId(0)), "0000000000000000");
        assert_eq!(hex_id(LeaseId(0x10)), "0000000000000010");
        assert_eq!(hex_id(LeaseId(-1)), "-000000000000001");
    }

    #[test]
    fn ids_parse_as_etcdctl_reads_them() {
        assert_eq!(lease_id("7fffffffffffffff").unwrap(), LeaseId(i64::MAX));
        let err = lease_id("zz").unwrap_err();
        assert_eq!(err.code, ExitCode::BadArgs);
        assert_eq!(
            err.message,
            "bad lease ID arg (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex"
        );
        let err = lease_id("8000000000000000").unwrap_err();
        assert!(err.message.contains("value out of range"));
    }
}
