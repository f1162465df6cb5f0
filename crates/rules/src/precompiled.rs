//! wasmtime's precompiled form of components on disk, keyed by the SHA-256 of the component
//! and by the engine's compatibility hash, so a restart does not compile again. The folder
//! holds a bounded number of files: a file's modification time is its last use, and the
//! least recently used go when a new one would exceed the bound (files of an older engine
//! are never read again and go first).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of precompiled components written by this host.
#[derive(Clone, Debug)]
pub(crate) struct PrecompiledDir {
    dir: PathBuf,
    engine_key: u64,
    max_files: usize,
}

/// Files the folder keeps by default.
pub(crate) const DEFAULT_FILES: usize = 256;

impl PrecompiledDir {
    pub(crate) fn new(dir: PathBuf, engine: &Engine, max_files: usize) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Self {
            dir,
            engine_key: hasher.finish(),
            max_files: max_files.max(1),
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
            Ok(component) => {
                touch(&path);
                Some(component)
            }
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
        self.prune();
    }

    /// Removes the least recently used files beyond `max_files`, files that an engine of
    /// another compatibility hash wrote first. Failures are logged: a file left over costs
    /// disk, not correctness.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let suffix = format!("-{:016x}.cwasm", self.engine_key);
        let mut files: Vec<(bool, SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                if !name.ends_with(".cwasm") {
                    return None;
                }
                let used = entry.metadata().and_then(|m| m.modified()).ok()?;
                Some((name.ends_with(&suffix), used, entry.path()))
            })
            .collect();
        if files.len() <= self.max_files {
            return;
        }
        // Other engines' files first, then oldest use first.
        files.sort();
        let excess = files.len() - self.max_files;
        for (_, _, path) in files.into_iter().take(excess) {
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(%error, path = %path.display(), "cannot remove precompiled plugin");
            }
        }
    }
}

/// Marks a file as just used (its modification time), for [`PrecompiledDir::prune`].
fn touch(path: &Path) {
    let now = SystemTime::now();
    let result = std::fs::File::options()
        .append(true)
        .open(path)
        .and_then(|file| file.set_modified(now));
    if let Err(error) = result {
        tracing::debug!(%error, path = %path.display(), "cannot mark precompiled plugin used");
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
