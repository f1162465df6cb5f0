//! The built-in plugins, built from `plugins/builtin/*` by the build script and embedded.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// A built-in rule plugin shipped inside the binary.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinPlugin {
    /// Its crate folder under `plugins/builtin`, with `_` for `-` (`dmarc_policy`).
    pub name: &'static str,
    /// The component's bytes.
    pub component: &'static [u8],
}

/// Every built-in plugin, sorted by name.
pub fn builtin_plugins() -> Vec<BuiltinPlugin> {
    BUILTIN
        .iter()
        .map(|(name, component)| BuiltinPlugin { name, component })
        .collect()
}
