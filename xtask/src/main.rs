//! Project tasks. `cargo xtask codegen` regenerates `crates/etcdkit/src/generated/` from
//! `proto/`, with protox (a pure-Rust protobuf compiler) so no `protoc` is needed.

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
    let out_dir = root.join("crates/etcdkit/src/generated");
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    let descriptors = protox::compile(&files, [&proto_dir])?;

    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        // Keys and values stay `Bytes` end to end: no copy from the wire buffer.
        .bytes(".")
        .out_dir(&out_dir)
        .compile_fds(descriptors)?;

    // Format with the same rustfmt as `cargo fmt`, so the format check and the
    // codegen check agree on every byte.
    let generated: Vec<PathBuf> = std::fs::read_dir(&out_dir)?
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
