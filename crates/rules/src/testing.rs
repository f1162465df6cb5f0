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
/// Exports another WIT version of the rule world: refused at load.
pub const WRONG_VERSION: &[u8] = testing_plugin!("wrong-version");
