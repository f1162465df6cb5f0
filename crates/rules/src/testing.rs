//! The purpose-built test plugins of `plugins/testing/*` (feature `testing`), for the tests
//! of other crates: well-behaved and hostile components built by this crate's build script.

macro_rules! testing_plugin {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("POSTERN_TESTING_PLUGINS_DIR"),
            "/testing-",
            $name,
            ".component.wasm"
        ))
        .as_slice()
    };
}

/// `test.good`: one `test.source_seen` finding (severity info) per source.
pub const GOOD: &[u8] = testing_plugin!("good");
/// `test.panic`: traps on every evaluation.
pub const PANIC: &[u8] = testing_plugin!("panic");
/// `test.infinite_loop`: never returns (stopped by fuel or the deadline).
pub const INFINITE_LOOP: &[u8] = testing_plugin!("infinite-loop");
/// Imports WASI: refused at load.
pub const WASI_IMPORT: &[u8] = testing_plugin!("wasi-import");
/// `test.legacy`: built against `postern:rules@0.1.0`; one `test.legacy_source` finding per
/// source.
pub const LEGACY_V0_1: &[u8] = testing_plugin!("legacy-v0-1");
/// Exports another WIT version of the rule world (0.3.0): refused at load.
pub const WRONG_VERSION: &[u8] = testing_plugin!("wrong-version");
