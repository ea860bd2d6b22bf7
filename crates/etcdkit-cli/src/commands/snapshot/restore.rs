//! `snapshot restore <file> --data-dir DIR ...`: makes a new member's data directory from
//! a snapshot by running etcdutl.
//!
//! etcdkit does not write etcd data directories itself: a restore rewrites the membership
//! buckets and the consistent index inside the bbolt file (a bbolt writer), and writes a
//! WAL and a raft snapshot file (etcd's record and snapshot formats, with their CRC
//! chains). Getting any of them subtly wrong makes a member that starts and then
//! diverges, so the one implementation etcd tests, etcdutl's, does it. etcdutl is found
//! as `ETCDUTL_BIN`, else `etcdutl` on `PATH`; without it the command fails and says so.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::args::SnapshotRestoreArgs;
use crate::error::{CliError, ExitCode};

/// Runs etcdutl's restore with the flags given here, its output going straight to this
/// command's stdout and stderr, and exits as it exits.
pub async fn run(args: &SnapshotRestoreArgs) -> Result<(), CliError> {
    if args.args.len() != 1 {
        return Err(CliError::bad_args(
            "snapshot restore requires exactly one argument",
        ));
    }
    let etcdutl = find_etcdutl().ok_or_else(|| {
        CliError::error(
            "snapshot restore needs etcdutl (etcd's offline tool): set ETCDUTL_BIN or put \
             etcdutl on PATH; etcdkit does not write etcd data directories itself",
        )
    })?;
    let status = tokio::process::Command::new(&etcdutl)
        .args(etcdutl_args(args))
        .status()
        .await
        .map_err(|e| CliError::error(format!("cannot run {}: {e}", etcdutl.display())))?;
    if status.success() {
        return Ok(());
    }
    // etcdutl has printed its own `Error:` line; only its exit code is passed on.
    let code = match status.code() {
        Some(2) => ExitCode::BadConnection,
        Some(3) => ExitCode::InvalidInput,
        Some(4) => ExitCode::BadFeature,
        Some(5) => ExitCode::Interrupted,
        Some(128) => ExitCode::BadArgs,
        _ => ExitCode::Error,
    };
    Err(CliError::new(code, ""))
}

/// etcdutl's command line for these arguments: only the flags given, as `--flag=value`
/// (so a value starting with `-` stays a value), then the file after `--`.
fn etcdutl_args(args: &SnapshotRestoreArgs) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["snapshot".into(), "restore".into()];
    // Each flag etcdutl was given, its value as text (a string, number or boolean).
    let text = |v: &Option<String>| v.clone();
    let flags = [
        ("data-dir", text(&args.data_dir)),
        ("wal-dir", text(&args.wal_dir)),
        ("name", text(&args.name)),
        ("initial-cluster", text(&args.initial_cluster)),
        ("initial-cluster-token", text(&args.initial_cluster_token)),
        (
            "initial-advertise-peer-urls",
            text(&args.initial_advertise_peer_urls),
        ),
        (
            "initial-memory-map-size",
            args.initial_memory_map_size.map(|n| n.to_string()),
        ),
        ("bump-revision", args.bump_revision.map(|n| n.to_string())),
        (
            "skip-hash-check",
            args.skip_hash_check.map(|b| b.to_string()),
        ),
        ("mark-compacted", args.mark_compacted.map(|b| b.to_string())),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            out.push(format!("--{flag}={value}").into());
        }
    }
    out.push("--".into());
    out.extend(args.args.iter().map(OsString::from));
    out
}

/// `ETCDUTL_BIN` when set (and not empty), else the first `etcdutl` file on `PATH`.
fn find_etcdutl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ETCDUTL_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcdutl"))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_flags_given_are_passed_on_and_the_file_comes_after_a_double_dash() {
        let args = SnapshotRestoreArgs {
            args: vec!["-snap.db".into()],
            data_dir: Some("/tmp/d".into()),
            skip_hash_check: Some(true),
            bump_revision: Some(5),
            ..SnapshotRestoreArgs::default()
        };
        let got: Vec<String> = etcdutl_args(&args)
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "snapshot",
                "restore",
                "--data-dir=/tmp/d",
                "--bump-revision=5",
                "--skip-hash-check=true",
                "--",
                "-snap.db"
            ]
        );
    }
}
