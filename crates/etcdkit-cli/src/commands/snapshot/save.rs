//! `snapshot save <file>`: streams one member's backend to a file, with a progress line
//! on stderr when stderr is a terminal.

use std::io::{IsTerminal, Write};

use etcdkit::maintenance::SnapshotProgress;

use super::super::{connect, endpoints, write_stdout};
use crate::args::GlobalArgs;
use crate::error::{CliError, ExitCode, etcd_message};
use crate::go_compat;

/// Runs `snapshot save`. The file is written to `<file>.part` and renamed when complete,
/// so `<file>` never holds a partial snapshot.
pub async fn run(global: &GlobalArgs, args: &[String]) -> Result<(), CliError> {
    let [path] = args else {
        return Err(CliError::bad_args(
            "snapshot save expects one argument <filename>",
        ));
    };
    let endpoints = endpoints(global)?;
    if endpoints.len() != 1 {
        return Err(CliError::new(
            ExitCode::Interrupted,
            format!(
                "snapshot must be requested to one selected node, not multiple [{}]",
                endpoints.join(" ")
            ),
        ));
    }
    let interrupted = |e: CliError| CliError::new(ExitCode::Interrupted, e.message);
    // The client has this one endpoint only, so the snapshot comes from that member.
    let client = connect(global).await.map_err(interrupted)?;
    let terminal = std::io::stderr().is_terminal();
    let saved = client
        .maintenance()
        .save_snapshot_file(path, |p| {
            if terminal {
                show_progress(p);
            }
        })
        .await;
    if terminal {
        eprintln!();
    }
    let saved = saved.map_err(|e| CliError::new(ExitCode::Interrupted, etcd_message(&e)))?;
    eprintln!(
        "fetched snapshot: {}",
        go_compat::humanize_bytes(saved.received)
    );
    let mut out = format!("Snapshot saved at {path}\n");
    // etcdctl 3.6 adds the member's storage version when the member sends one (3.6+).
    if let Some(version) = &saved.server_version {
        out.push_str(&format!("Server version {version}\n"));
    }
    write_stdout(out.as_bytes())
}

/// Rewrites the progress line: bytes so far, out of the announced size when known.
fn show_progress(p: SnapshotProgress) {
    let done = go_compat::humanize_bytes(p.received);
    let line = match p.total {
        Some(total) if total > 0 => {
            let percent = (p.received.min(total) * 100) / total;
            format!(
                "\rsnapshot: {done} / {} ({percent}%)",
                go_compat::humanize_bytes(total)
            )
        }
        _ => format!("\rsnapshot: {done}"),
    };
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(line.as_bytes());
    let _ = stderr.flush();
}
