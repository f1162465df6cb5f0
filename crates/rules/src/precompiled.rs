//! wasmtime's precompiled form of components on disk, keyed by the SHA-256 of the component
//! and by the engine's compatibility hash, so a restart does not compile again.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of precompiled components written by this host.
#[derive(Clone, Debug)]
pub(crate) struct PrecompiledDir {
    dir: PathBuf,
    engine_key: u64,
}

impl PrecompiledDir {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Self {
            dir,
            engine_key: hasher.finish(),
        }
    }

    pub(crate) fn path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(sha256),
            self.engine_key
        ))
    }

    /// The precompiled component for `sha256`, if this host wrote one that still loads.
    pub(crate) fn load(&self, engine: &Engine, sha256: &[u8; 32]) -> Option<Component> {
        let path = self.path(sha256);
        if !path.is_file() {
            return None;
        }
        match deserialize(engine, &path) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "precompiled plugin unusable, compiling again");
                None
            }
        }
    }

    /// Stores `component`'s precompiled form (atomically: a temporary file, then a rename).
    /// Failure only costs a compilation next time, so it is logged, not returned.
    pub(crate) fn store(&self, sha256: &[u8; 32], component: &Component) {
        let path = self.path(sha256);
        let result = component
            .serialize()
            .map_err(|e| format!("{e:#}"))
            .and_then(|bytes| {
                std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
            });
        if let Err(error) = result {
            tracing::warn!(%error, path = %path.display(), "cannot store precompiled plugin");
        }
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires the file to be the output of `Component::serialize` from a
    // compatible engine, not modified since. Only `PrecompiledDir::store` writes these files:
    // it writes to a temporary file and renames it, so a reader never sees a partial file;
    // the name carries the SHA-256 of the component and the engine's compatibility hash, so
    // a file is only read by an engine it was made for (wasmtime also checks its header).
    // The folder belongs to Postern's data directory; whoever can write there can replace
    // Postern itself.
    unsafe { Component::deserialize_file(engine, path) }
}
