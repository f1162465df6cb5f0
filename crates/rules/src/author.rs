//! The plugin author's loop: build a plugin crate into a component.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{LoadError, encode_component};

/// Builds the plugin crate at `crate_dir` (`cargo build --release --target
/// wasm32-unknown-unknown`, into `target_dir` if given, else cargo's default) and encodes its
/// cdylib as a component. Returns the component's bytes. Compiler diagnostics go to this
/// process's stderr. Runs cargo: call it from tools, not from a server.
pub fn build_plugin_crate(
    crate_dir: &Path,
    target_dir: Option<&Path>,
) -> Result<Vec<u8>, LoadError> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(LoadError::Build(format!(
            "no Cargo.toml in {}",
            crate_dir.display()
        )));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "--message-format=json-render-diagnostics",
        "--manifest-path",
    ]);
    command.arg(&manifest);
    if let Some(dir) = target_dir {
        command.arg("--target-dir").arg(dir);
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| LoadError::Build(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(LoadError::Build(format!(
            "cargo failed ({}); is the target installed? `rustup target add \
             wasm32-unknown-unknown`",
            output.status
        )));
    }
    let wasm = cdylib_artifact(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
        LoadError::Build(
            "the crate built no .wasm cdylib (set crate-type = [\"cdylib\"])".to_owned(),
        )
    })?;
    let module =
        std::fs::read(&wasm).map_err(|e| LoadError::Build(format!("cannot read {wasm}: {e}")))?;
    encode_component(&module)
}

/// The last `.wasm` file cargo reported for a cdylib target in its JSON messages.
fn cdylib_artifact(messages: &str) -> Option<String> {
    messages
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
        })
        .filter_map(|m| {
            m["filenames"].as_array().and_then(|files| {
                files
                    .iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"))
                    .map(str::to_owned)
            })
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdylib_wasm_is_found_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/libsdk.rlib"]}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"]},"filenames":["/t/my_rule.wasm"]}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            cdylib_artifact(messages).as_deref(),
            Some("/t/my_rule.wasm")
        );
        assert_eq!(cdylib_artifact("not json\n"), None);
    }

    #[test]
    fn a_folder_without_a_manifest_is_refused() {
        let error = build_plugin_crate(Path::new("/nonexistent/plugin"), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "building the plugin crate failed: no Cargo.toml in /nonexistent/plugin"
        );
    }
}
