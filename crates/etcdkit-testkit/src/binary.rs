//! Finding the etcd binary and asking it for its version.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::{Error, EtcdVersion};

/// The environment variable that names the etcd binary to use.
pub(crate) const ETCD_BIN_ENV: &str = "ETCD_BIN";

/// How long `etcd --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Looks `name` up in `PATH` the way a shell would.
fn search_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

/// Resolves a user-given binary: a bare name is looked up in `PATH`, anything with a slash
/// is taken as a path.
fn resolve_given(given: &Path) -> Option<PathBuf> {
    if given.components().count() == 1
        && !given.as_os_str().is_empty()
        && !given.has_root()
        && let Some(found) = search_path(given.as_os_str())
    {
        return Some(found);
    }
    is_executable_file(given).then(|| given.to_path_buf())
}

/// `<workspace>/.etcd/bin/etcd`, where `scripts/install-etcd` puts etcd by default.
pub(crate) fn workspace_etcd() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent().and_then(Path::parent) {
        Some(root) => root.join(".etcd").join("bin").join("etcd"),
        None => manifest.join("../../.etcd/bin/etcd"),
    }
}

/// Finds the etcd binary: the builder's choice, else `ETCD_BIN`, else
/// `<workspace>/.etcd/bin/etcd` (the etcd that `scripts/install-etcd` installed last, 3.6
/// by default), else `etcd` on `PATH`. The workspace copy comes before `PATH` so that tests
/// run against it even on a machine that also has Debian's 3.4 installed; `ETCD_BIN` picks
/// another.
///
/// An explicit choice (builder or `ETCD_BIN`) that does not exist is an error; it does not
/// fall through to the other places.
pub(crate) fn resolve(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(given) = explicit {
        return resolve_given(given).ok_or_else(|| Error::BinaryNotFound {
            tried: vec![format!("{} (set with etcd_bin)", given.display())],
        });
    }
    if let Some(env) = std::env::var_os(ETCD_BIN_ENV).filter(|v| !v.is_empty()) {
        let given = PathBuf::from(&env);
        return resolve_given(&given).ok_or_else(|| Error::BinaryNotFound {
            tried: vec![format!("{} (from {ETCD_BIN_ENV})", given.display())],
        });
    }
    let local = workspace_etcd();
    if is_executable_file(&local) {
        return Ok(local);
    }
    if let Some(found) = search_path(OsStr::new("etcd")) {
        return Ok(found);
    }
    Err(Error::BinaryNotFound {
        tried: vec![
            format!("${ETCD_BIN_ENV} (unset)"),
            local.display().to_string(),
            "etcd on PATH".to_owned(),
        ],
    })
}

/// Runs `etcd --version` and returns the version (such as `3.6.16`), if it says one.
pub(crate) async fn version(bin: &Path) -> Result<Option<EtcdVersion>, Error> {
    let child = tokio::process::Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(VERSION_TIMEOUT, child).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => {
            return Err(Error::Spawn {
                bin: bin.to_path_buf(),
                source,
            });
        }
        Err(_) => return Ok(None),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(parse_version(&text))
}

fn parse_version(text: &str) -> Option<EtcdVersion> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("etcd Version:"))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_output() {
        let out = "etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n";
        assert_eq!(parse_version(out), Some(EtcdVersion::new(3, 4, 23)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn missing_explicit_binary_is_not_found() {
        let err = resolve(Some(Path::new("/nonexistent/etcd"))).unwrap_err();
        assert!(matches!(err, Error::BinaryNotFound { .. }));
        assert!(err.to_string().contains("scripts/install-etcd"));
    }

    #[test]
    fn workspace_path_points_at_dot_etcd() {
        let p = workspace_etcd();
        assert!(p.ends_with(".etcd/bin/etcd"));
        assert!(!p.to_string_lossy().contains(".."));
    }
}
