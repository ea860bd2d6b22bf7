//! The global security flags: `--user name[:password]` / `--password` (a missing password
//! is asked for on a terminal), `--cacert` / `--cert` / `--key` (TLS) and the
//! `--insecure-*` flags.
//!
//! Secrets are held in [`Secret`], whose `Debug` hides them; they are never printed.

use std::fmt;
use std::io::IsTerminal;
use std::path::Path;

use etcdkit::{ClientOptions, TlsOptions};

use crate::args::GlobalArgs;
use crate::error::{CliError, ExitCode};

/// A string that must not be shown: a password, or a `--user` value that may hold one.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// clap's parser for secret flags.
    pub fn parse(s: &str) -> Result<Secret, String> {
        Ok(Secret(s.to_owned()))
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Works out the user name and password of `--user` / `--password`, as etcdctl does: with
/// `--password`, `--user` is the whole name; otherwise `--user` is `name:password`, and a
/// name alone has its password asked for on the terminal. Without `--user`, there are no
/// credentials (and `--password` is ignored).
pub fn resolve_credentials(global: &mut GlobalArgs) -> Result<(), CliError> {
    let Some(user) = global.user.as_ref() else {
        return Ok(());
    };
    let user = user.expose();
    let credentials = match global.password.as_ref().filter(|p| !p.expose().is_empty()) {
        Some(password) => (user.to_owned(), password.clone()),
        None => match user.split_once(':') {
            Some((name, password)) => (name.to_owned(), Secret(password.to_owned())),
            None => (user.to_owned(), ask_password(user)?),
        },
    };
    global.credentials = Some(credentials);
    Ok(())
}

/// Asks for the password of `--user` on the terminal, without echo.
fn ask_password(user: &str) -> Result<Secret, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::error(format!(
            "--user {user} has no password and there is no terminal to ask for it: \
             pass --user {user}:PASSWORD or --password PASSWORD"
        )));
    }
    rpassword::prompt_password("Password: ")
        .map(Secret)
        .map_err(|e| CliError::error(format!("cannot read the password: {e}")))
}

/// Asks for a new user's password twice on the terminal, as `etcdctl user add` and `user
/// passwd` do, with etcdctl's messages.
pub fn ask_new_password(user: &str) -> Result<String, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::bad_args(format!(
            "failed to ask password: no terminal (give the password as {user}:PASSWORD, \
             or use --interactive=false and send it on stdin)"
        )));
    }
    let ask = |prompt: String| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::bad_args(format!("failed to ask password: {e}")))
    };
    let first = ask(format!("Password of {user}: "))?;
    if first.is_empty() {
        return Err(CliError::bad_args("empty password"));
    }
    let second = ask(format!("Type password of {user} again for confirmation: "))?;
    if first != second {
        return Err(CliError::bad_args("given passwords are different"));
    }
    Ok(first)
}

/// Adds the credentials and the TLS settings of the global flags to client options, as
/// etcdctl decides them:
///
/// - TLS is on when any of `--cacert`, `--cert`, `--key` is given, when discovery checks
///   the servers' names (`--discovery-srv` with `--insecure-discovery=false`: the domain
///   must be on their certificates), when `--insecure-transport=false` (then with the
///   public roots when no CA is given), and with `--insecure-skip-tls-verify` (etcdctl
///   3.6 then speaks TLS even to plain endpoints); `https://` endpoints use TLS anyway;
/// - `--insecure-skip-tls-verify` accepts any server certificate.
///
/// # Errors
///
/// A TLS file that cannot be read, or a certificate without its key: exit 128.
pub fn apply(global: &GlobalArgs, mut options: ClientOptions) -> Result<ClientOptions, CliError> {
    if let Some((user, password)) = &global.credentials {
        options = options.auth(user.clone(), password.expose().to_owned());
    }
    let files = global.cacert.is_some() || global.cert.is_some() || global.key.is_some();
    let server_name = discovery_server_name(global);
    let wanted = files
        || server_name.is_some()
        || !global.insecure_transport
        || global.insecure_skip_tls_verify;
    if !wanted {
        return Ok(options);
    }
    let mut tls = TlsOptions::new().insecure_skip_verify(global.insecure_skip_tls_verify);
    if let Some(name) = server_name {
        tls = tls.server_name(name);
    }
    if let Some(ca) = &global.cacert {
        tls = tls.ca_pem(read_file(ca)?);
    }
    match (&global.cert, &global.key) {
        (Some(cert), Some(key)) => tls = tls.identity_pem(read_file(cert)?, read_file(key)?),
        (None, None) => {}
        (Some(_), None) => return Err(CliError::bad_args("--cert is given without --key")),
        (None, Some(_)) => return Err(CliError::bad_args("--key is given without --cert")),
    }
    Ok(options.tls(tls))
}

/// The name discovered servers must show on their certificates: the discovery domain,
/// unless `--insecure-discovery` (the default) accepts any.
fn discovery_server_name(global: &GlobalArgs) -> Option<&str> {
    (!global.discovery_srv.is_empty() && !global.insecure_discovery)
        .then_some(global.discovery_srv.as_str())
}

/// A certificate or key file; one that cannot be read is a bad argument, as in etcdctl.
fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| {
        CliError::new(
            ExitCode::BadArgs,
            format!("open {}: {}", path.display(), go_io_error(&e)),
        )
    })
}

/// Go's wording of the usual file errors.
fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
