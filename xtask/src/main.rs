//! Project tasks. `cargo xtask codegen` regenerates, from `proto/`, the client's messages and
//! stubs in `crates/etcdkit/src/generated/` and the server's in
//! `crates/etcdkit-server/src/generated/`, with protox (a pure-Rust protobuf compiler) so no
//! `protoc` is needed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const PROTOS: &[&str] = &[
    "kv.proto",
    "auth.proto",
    "rpc.proto",
    "v3lock.proto",
    "v3election.proto",
];

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("codegen") => codegen(),
        _ => Err("usage: cargo xtask codegen".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn codegen() -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace_root();
    let proto_dir = root.join("proto");
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    let descriptors = protox::compile(&files, [&proto_dir])?;

    // The client: message types and client stubs only; the client crate brings its own
    // HTTP/2 transport, so no tonic transport code is generated for it.
    let client_dir = root.join("crates/etcdkit/src/generated");
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        // Keys and values stay `Bytes` end to end: no copy from the wire buffer.
        .bytes(".")
        .out_dir(&client_dir)
        .compile_fds(descriptors.clone())?;
    format_generated(&client_dir)?;

    // The server: the same messages with server traits. The server crate shares only the
    // wire schema with the client, so it gets its own copy rather than depending on the
    // client crate's types.
    let server_dir = root.join("crates/etcdkit-server/src/generated");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .bytes(".")
        .out_dir(&server_dir)
        .compile_fds(descriptors)?;
    format_generated(&server_dir)
}

/// Formats the generated files in `out_dir` with the same rustfmt as `cargo fmt`, so the
/// format check and the codegen check agree on every byte.
fn format_generated(out_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let generated: Vec<PathBuf> = std::fs::read_dir(out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("mod.rs"))
        .collect();
    let status = Command::new("rustfmt")
        .arg("--edition")
        .arg("2024")
        .args(&generated)
        .status()?;
    if !status.success() {
        return Err("rustfmt failed on the generated code".into());
    }
    println!(
        "regenerated {} files in {}",
        generated.len(),
        out_dir.display()
    );
    Ok(())
}
