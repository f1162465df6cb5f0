//! Runs Postern's rule plugins: WebAssembly components of the `postern:rules@0.1.0` world in
//! `proto/wit/rules.wit`. A plugin reads one domain's [`DomainFacts`] and returns
//! [`Finding`](postern_domain::Finding)s. The host promises containment: a plugin has no
//! imports (the linker is empty, so one that imports anything is refused at load), each call
//! runs in a fresh store (or one per batch of domains) with a fuel budget, a wall-clock
//! deadline, a memory cap and a cap on
//! the size of its result, and a plugin that breaks any of them, traps or returns an invalid
//! finding yields a [`PluginFailure`] with the reason while the host, other plugins and other
//! domains carry on. Compiled components are cached in memory by the SHA-256 of their bytes and,
//! when the host is given a folder, on disk in wasmtime's precompiled form.
//! The built-in plugins (`plugins/builtin/*`) are built from source by this crate's build
//! script and embedded: see [`builtin_plugins`]. [`FactsBuilder`] makes a snapshot straight
//! from parsed reports, and [`build_plugin_crate`] is the plugin author's build step.

mod author;
mod builtin;
mod encode;
mod error;
mod facts;
mod host;
mod limits;
mod precompiled;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod wit;

pub use author::build_plugin_crate;
pub use builtin::{BuiltinPlugin, builtin_plugins};
pub use encode::encode_component;
pub use error::{FailureReason, LoadError, PluginFailure};
pub use facts::{DmarcSummary, DomainFacts, PublishedPolicy, SourceFacts, TlsFailure, TlsSummary};
pub use host::{LoadedPlugin, PluginHost, RuleInfo};
pub use limits::RuleLimits;
pub use snapshot::FactsBuilder;

/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.1.0";
