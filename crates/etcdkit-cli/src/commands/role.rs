//! `role add | delete | get | list | grant-permission | revoke-permission`.
//!
//! Keys and range ends are bytes; they are printed as given, as etcdctl prints them.

use std::ffi::OsString;

use etcdkit::Client;
use etcdkit::auth::{Permission, PermissionType};

use super::user::{Listed, header_of, list_names, print_header};
use super::{arg_bytes, connect, etcd, printer_for, write_stdout};
use crate::args::{GlobalArgs, PermArgs, RoleCommand};
use crate::error::CliError;
use crate::output::{Format, Printer, Supported};

/// Runs a `role` subcommand.
pub async fn run(global: &GlobalArgs, command: &RoleCommand) -> Result<(), CliError> {
    match command {
        RoleCommand::Add { args } => {
            let name = one_name(args, "role add command requires role name as its argument")?;
            let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
            let client = connect(global).await?;
            let header = etcd(client.auth().role_add(name).await)?;
            print_header(printer, &header, format!("Role {name} created\n"))
        }
        RoleCommand::Delete { args } => {
            let name = one_name(
                args,
                "role delete command requires role name as its argument",
            )?;
            let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
            let client = connect(global).await?;
            let header = etcd(client.auth().role_delete(name).await)?;
            print_header(printer, &header, format!("Role {name} deleted\n"))
        }
        RoleCommand::Get { args } => {
            let name = one_name(args, "role get command requires role name as its argument")?;
            let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
            let client = connect(global).await?;
            let mut out = Vec::new();
            print_role(&client, printer, &mut out, name).await?;
            write_stdout(&out)
        }
        RoleCommand::List { args } => list_names(global, args, Listed::Roles).await,
        RoleCommand::GrantPermission(perm) => grant(global, perm).await,
        RoleCommand::RevokePermission(perm) => revoke(global, perm).await,
    }
}

fn one_name<'a>(args: &'a [String], error: &str) -> Result<&'a str, CliError> {
    match args {
        [name] => Ok(name),
        _ => Err(CliError::bad_args(error)),
    }
}

async fn grant(global: &GlobalArgs, perm: &PermArgs) -> Result<(), CliError> {
    let [role, kind, range @ ..] = perm.args.as_slice() else {
        return Err(grant_usage());
    };
    if range.is_empty() {
        return Err(grant_usage());
    }
    let role = role.to_string_lossy().into_owned();
    let kind = kind.to_string_lossy();
    let kind = match kind.to_uppercase().as_str() {
        "READ" => PermissionType::Read,
        "WRITE" => PermissionType::Write,
        "READWRITE" => PermissionType::ReadWrite,
        _ => {
            return Err(CliError::bad_args(format!(
                "invalid permission type: {kind}"
            )));
        }
    };
    let (key, range_end) = perm_range(range, perm)?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let permission = Permission::new(kind, key).range_end(range_end);
    let header = etcd(client.auth().role_grant_permission(&role, permission).await)?;
    print_header(printer, &header, format!("Role {role} updated\n"))
}

fn grant_usage() -> CliError {
    CliError::bad_args(
        "role grant command requires role name, permission type, and key [endkey] as its argument",
    )
}

async fn revoke(global: &GlobalArgs, perm: &PermArgs) -> Result<(), CliError> {
    let [role, range @ ..] = perm.args.as_slice() else {
        return Err(revoke_usage());
    };
    if range.is_empty() {
        return Err(revoke_usage());
    }
    let role = role.to_string_lossy().into_owned();
    let (key, range_end) = perm_range(range, perm)?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let header = etcd(
        client
            .auth()
            .role_revoke_permission(&role, key, range_end.clone())
            .await,
    )?;
    // etcdctl prints the key as it was given (not the `\0` of an empty one).
    let given = arg_bytes(&range[0]);
    let mut simple = Vec::new();
    if range_end.is_empty() {
        simple.extend_from_slice(b"Permission of key ");
        simple.extend_from_slice(&given);
    } else {
        simple.extend_from_slice(b"Permission of range [");
        simple.extend_from_slice(&given);
        if range_end.as_slice() == b"\0" {
            simple.extend_from_slice(b", <open ended>");
        } else {
            simple.extend_from_slice(b", ");
            simple.extend_from_slice(&range_end);
            simple.push(b')');
        }
    }
    simple.extend_from_slice(format!(" is revoked from role {role}\n").as_bytes());
    let mut out = Vec::new();
    printer.header_only(&mut out, &header, &simple)?;
    write_stdout(&out)
}

fn revoke_usage() -> CliError {
    CliError::bad_args(
        "role revoke-permission command requires role name and key [endkey] as its argument",
    )
}

/// The key and range end of a permission, from `<key> [endkey]` and the flags, as
/// etcdctl works them out: an empty key stands for `\0` (and, with `--prefix` or
/// `--from-key`, for the whole key space); `--from-key` means an open end (`\0`).
fn perm_range(args: &[OsString], perm: &PermArgs) -> Result<(Vec<u8>, Vec<u8>), CliError> {
    let key = args.first().map(arg_bytes).unwrap_or_default().to_vec();
    if perm.prefix && perm.from_key {
        return Err(CliError::bad_args(
            "--from-key and --prefix flags are mutually exclusive",
        ));
    }
    if key.is_empty() {
        let end = if perm.prefix || perm.from_key {
            b"\0".to_vec()
        } else {
            Vec::new()
        };
        return Ok((b"\0".to_vec(), end));
    }
    match args.get(1) {
        None if perm.prefix => Ok((key.clone(), etcdkit::prefix_end(&key).to_vec())),
        None if perm.from_key => Ok((key, b"\0".to_vec())),
        None => Ok((key, Vec::new())),
        Some(_) if perm.prefix => Err(CliError::bad_args(
            "unexpected endkey argument with --prefix flag",
        )),
        Some(_) if perm.from_key => Err(CliError::bad_args(
            "unexpected endkey argument with --from-key flag",
        )),
        Some(end) => Ok((key, arg_bytes(end).to_vec())),
    }
}

/// Asks for a role's permissions and prints them as `role get` does.
pub async fn print_role(
    client: &Client,
    printer: Printer,
    out: &mut Vec<u8>,
    role: &str,
) -> Result<(), CliError> {
    let perms = etcd(client.auth().role_get(role).await)?;
    match printer.format {
        Format::Simple => {
            out.extend_from_slice(format!("Role {role}\nKV Read:\n").as_bytes());
            for p in &perms {
                if matches!(p.kind(), PermissionType::Read | PermissionType::ReadWrite) {
                    print_perm(out, p);
                }
            }
            out.extend_from_slice(b"KV Write:\n");
            for p in &perms {
                if matches!(p.kind(), PermissionType::Write | PermissionType::ReadWrite) {
                    print_perm(out, p);
                }
            }
        }
        // json, fields and protobuf
        _ => {
            let header = header_of(client).await?;
            printer.role_get(out, &header, &perms)?;
        }
    }
    Ok(())
}

/// One permission line: `\tkey`, `\t[key, end)` or `\t[key, <open ended>`, followed by
/// ` (prefix key)` when the range is exactly the key's prefix.
fn print_perm(out: &mut Vec<u8>, p: &Permission) {
    let (key, end) = (p.key(), p.range_end_key());
    out.push(b'\t');
    if end.is_empty() {
        out.extend_from_slice(key);
        out.push(b'\n');
        return;
    }
    out.push(b'[');
    out.extend_from_slice(key);
    if end.as_ref() == b"\0" {
        out.extend_from_slice(b", <open ended>");
    } else {
        out.extend_from_slice(b", ");
        out.extend_from_slice(end);
        out.push(b')');
    }
    if etcdkit::prefix_end(key) == *end {
        out.extend_from_slice(b" (prefix ");
        out.extend_from_slice(key);
        out.push(b')');
    }
    out.push(b'\n');
}
