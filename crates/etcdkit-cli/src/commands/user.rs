//! `user add | delete | get | list | passwd | grant-role | revoke-role`.

use std::io::Read;

use etcdkit::{Client, ResponseHeader};

use super::{connect, etcd, printer_for, role, write_stdout};
use crate::args::{GlobalArgs, UserAddArgs, UserCommand};
use crate::error::CliError;
use crate::output::{Format, NameList, Printer, Supported};
use crate::security;

/// Runs a `user` subcommand.
pub async fn run(global: &GlobalArgs, command: &UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add(args) => add(global, args).await,
        UserCommand::Delete { args } => {
            let [name] = args.as_slice() else {
                return Err(CliError::bad_args(
                    "user delete command requires user name as its argument",
                ));
            };
            let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
            let client = connect(global).await?;
            let header = etcd(client.auth().user_delete(name).await)?;
            print_header(printer, &header, format!("User {name} deleted\n"))
        }
        UserCommand::Get { detail, args } => {
            let [name] = args.as_slice() else {
                return Err(CliError::bad_args(
                    "user get command requires user name as its argument",
                ));
            };
            get(global, name, *detail).await
        }
        UserCommand::List { args } => list_names(global, args, Listed::Users).await,
        UserCommand::Passwd { interactive, args } => {
            let [name] = args.as_slice() else {
                return Err(CliError::bad_args(
                    "user passwd command requires user name as its argument",
                ));
            };
            let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
            let client = connect(global).await?;
            let password = if *interactive {
                security::ask_new_password(name)?
            } else {
                password_from_stdin()?
            };
            let header = etcd(client.auth().user_change_password(name, &password).await)?;
            print_header(printer, &header, "Password updated\n".to_owned())
        }
        UserCommand::GrantRole { args } => change_role(global, args, RoleChange::Grant).await,
        UserCommand::RevokeRole { args } => change_role(global, args, RoleChange::Revoke).await,
    }
}

async fn add(global: &GlobalArgs, args: &UserAddArgs) -> Result<(), CliError> {
    let [arg] = args.args.as_slice() else {
        return Err(CliError::bad_args(
            "user add command requires user name as its argument",
        ));
    };
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    // Where the password comes from, in etcdctl's order.
    let (user, password) = if args.no_password {
        (arg.clone(), None)
    } else if !args.new_user_password.is_empty() {
        (arg.clone(), Some(args.new_user_password.clone()))
    } else if let Some((user, password)) = arg.split_once(':') {
        if user.is_empty() {
            return Err(CliError::bad_args("empty user name is not allowed"));
        }
        (user.to_owned(), Some(password.to_owned()))
    } else if args.interactive {
        (arg.clone(), Some(security::ask_new_password(arg)?))
    } else {
        (arg.clone(), Some(password_from_stdin()?))
    };
    let client = connect(global).await?;
    let header = match &password {
        Some(password) => etcd(client.auth().user_add(&user, password).await)?,
        None => etcd(client.auth().user_add_without_password(&user).await)?,
    };
    print_header(printer, &header, format!("User {user} created\n"))
}

async fn get(global: &GlobalArgs, name: &str, detail: bool) -> Result<(), CliError> {
    // Without --detail, etcdctl has no fields for a user. With it, etcdctl prints the
    // user line before it finds it has no table for a role.
    let printer = printer_for(
        global,
        if detail {
            Supported::ALL
        } else {
            Supported::PROTOBUF
        },
    )?;
    let client = connect(global).await?;
    let roles = etcd(client.auth().user_get(name).await)?;
    let mut out = Vec::new();
    if printer.format == Format::Table {
        out.extend_from_slice(format!("User: {name}\n").as_bytes());
        if roles.is_empty() {
            return write_stdout(&out);
        }
        out.push(b'\n');
        write_stdout(&out)?;
        return Err(CliError::bad_feature(
            "table not supported as output format",
        ));
    }
    if detail {
        // etcdctl prints the user line, then each role as `role get` prints it.
        out.extend_from_slice(format!("User: {name}\n").as_bytes());
        for role in &roles {
            out.push(b'\n');
            role::print_role(&client, printer, &mut out, role).await?;
        }
    } else {
        match printer.format {
            Format::Simple => {
                out.extend_from_slice(format!("User: {name}\nRoles:").as_bytes());
                for role in &roles {
                    out.extend_from_slice(format!(" {role}").as_bytes());
                }
                out.push(b'\n');
            }
            // json, fields and protobuf
            _ => {
                let header = header_of(&client).await?;
                printer.names(&mut out, &header, NameList::Roles, &roles)?;
            }
        }
    }
    write_stdout(&out)
}

/// The password of `--interactive=false`: the first word on stdin (Go's `fmt.Scanf("%s")`).
fn password_from_stdin() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    Ok(input
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Prints `simple` for the simple format and the bare header for json.
pub fn print_header(
    printer: Printer,
    header: &ResponseHeader,
    simple: String,
) -> Result<(), CliError> {
    let mut out = Vec::new();
    printer.header_only(&mut out, header, simple.as_bytes())?;
    write_stdout(&out)
}

/// `grant-role` or `revoke-role`: the same arguments and answer, another request and wording.
#[derive(Debug, Clone, Copy)]
enum RoleChange {
    Grant,
    Revoke,
}

/// Grants a role to a user or revokes it, printing etcdctl's confirmation.
async fn change_role(
    global: &GlobalArgs,
    args: &[String],
    change: RoleChange,
) -> Result<(), CliError> {
    let [user, role] = args else {
        return Err(CliError::bad_args(match change {
            RoleChange::Grant => {
                "user grant command requires user name and role name as its argument"
            }
            RoleChange::Revoke => {
                "user revoke-role requires user name and role name as its argument"
            }
        }));
    };
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    let auth = client.auth();
    let (answer, done) = match change {
        RoleChange::Grant => (auth.user_grant_role(user, role).await, "granted to"),
        RoleChange::Revoke => (auth.user_revoke_role(user, role).await, "revoked from"),
    };
    let header = etcd(answer)?;
    print_header(
        printer,
        &header,
        format!("Role {role} is {done} user {user}\n"),
    )
}

/// What `list_names` lists.
pub enum Listed {
    Users,
    Roles,
}

/// `user list` and `role list`: the names one a line, or as json with [`header_of`].
pub async fn list_names(
    global: &GlobalArgs,
    args: &[String],
    listed: Listed,
) -> Result<(), CliError> {
    let what = match listed {
        Listed::Users => "user",
        Listed::Roles => "role",
    };
    if !args.is_empty() {
        return Err(CliError::bad_args(format!(
            "{what} list command requires no arguments"
        )));
    }
    // etcdctl has fields for a list of roles but not of users.
    let printer = printer_for(
        global,
        match listed {
            Listed::Users => Supported::PROTOBUF,
            Listed::Roles => Supported::FIELDS_PROTOBUF,
        },
    )?;
    let client = connect(global).await?;
    let names = etcd(match listed {
        Listed::Users => client.auth().user_list().await,
        Listed::Roles => client.auth().role_list().await,
    })?;
    let mut out = Vec::new();
    match printer.format {
        Format::Simple => {
            for name in &names {
                out.extend_from_slice(format!("{name}\n").as_bytes());
            }
        }
        // json, fields and protobuf
        _ => {
            let header = header_of(&client).await?;
            let list = match listed {
                Listed::Users => NameList::Users,
                Listed::Roles => NameList::Roles,
            };
            printer.names(&mut out, &header, list, &names)?;
        }
    }
    write_stdout(&out)
}

/// A response header for json output of the calls whose answer etcdkit gives without
/// one (user and role get and list): a member status's header, which carries the same
/// cluster, member, revision and term.
pub async fn header_of(client: &Client) -> Result<ResponseHeader, CliError> {
    let status = etcd(client.maintenance().status().await)?;
    Ok(*status.header())
}
