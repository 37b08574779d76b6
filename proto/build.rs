//! Compiles the .proto files under `proto/` without a system `protoc`.
//!
//! protox (pure Rust) parses the files into a `FileDescriptorSet`, which is written to
//! `OUT_DIR/detcd_descriptor_set.bin`. madsim-tonic-build has no `compile_fds`, so it is pointed at
//! that file with `file_descriptor_set_path` and `skip_protoc_run`: prost-build then reads the set
//! instead of running protoc. madsim-tonic-build writes the real tonic stubs to `OUT_DIR` and the
//! simulated ones to `OUT_DIR/sim`; `tonic::include_proto!` picks the right one for the build.
//! The same file is embedded by `lib.rs` as `FILE_DESCRIPTOR_SET`, for the JSON gateway.

use std::path::PathBuf;

/// Every file we compile; imports resolve against `proto/` (e.g. `mvccpb/kv.proto`).
const PROTO_FILES: [&str; 7] = [
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lockpb/v3lock.proto",
    "v3electionpb/v3election.proto",
    "grpc/health/v1/health.proto",
    "detcdpeerpb/peer.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");
    // `--cfg madsim` selects the simulated stubs; tell rustc's cfg checker it is expected.
    println!("cargo:rustc-check-cfg=cfg(madsim)");

    let descriptor_set_path = out_dir.join("detcd_descriptor_set.bin");
    let descriptor_set = protox::Compiler::new([&proto_root])?
        // Source info carries the .proto comments into the generated doc comments.
        .include_source_info(true)
        .include_imports(true)
        .open_files(PROTO_FILES)?
        .encode_file_descriptor_set();
    std::fs::write(&descriptor_set_path, descriptor_set)?;

    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(&descriptor_set_path)
        .skip_protoc_run()
        .emit_rerun_if_changed(false)
        .compile_protos(&PROTO_FILES, &[&proto_root])?;
    Ok(())
}
