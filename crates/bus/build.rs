//! Compiles `proto/events` with protox (pure Rust, no `protoc` binary) and prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/events");
    let descriptors = protox::compile(["events/v1/events.proto"], ["../../proto"])?;
    prost_build::Config::new()
        .btree_map(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
