//! Runs Postern's rule plugins: WebAssembly components of the `postern:rules@0.2.0` world in
//! `proto/wit/rules-0.2.0.wit`, or of `postern:rules@0.1.0` (`proto/wit/rules.wit`, whose
//! plugins get the facts in the 0.1.0 shape). A plugin reads one domain's [`DomainFacts`] and returns
//! [`Finding`](postern_domain::Finding)s. The host promises containment: a plugin has no
//! imports (the linker is empty, so one that imports anything is refused at load), each call
//! runs in a fresh store (or one per batch of domains; stores come from a pool of instance
//! slots) with a fuel budget, a wall-clock
//! deadline, a memory cap and a cap on
//! the size of its result, and a plugin that breaks any of them, traps or returns an invalid
//! finding yields a [`PluginFailure`] with the reason while the host, other plugins and other
//! domains carry on. Compiled components are cached in memory by the SHA-256 of their bytes and,
//! when the host is given a folder, on disk in wasmtime's precompiled form.
//! The built-in plugins (`plugins/builtin/*`) are built from source by this crate's build
//! script and embedded: see [`builtin_plugins`]. [`FactsBuilder`] makes a snapshot straight
//! from parsed reports, and [`build_plugin_crate`] is the plugin author's build step.
//! [`PluginHost::evaluate_set`] runs a domain's whole rule set converting its facts once.

mod areas;
mod author;
mod builtin;
mod cache;
mod convert;
mod encode;
mod engine;
mod error;
mod facts;
mod host;
mod limits;
mod precompiled;
mod session;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod wit;

pub use areas::{
    BlocklistEntry, BlocklistState, BlocklistTargetKind, BounceFacts, BounceGroup, BounceSample,
    BounceSentBasis, BounceSource, DnsCheck, DnsCheckStatus, DnsFacts, DnsFinding, ReasonCount,
};
pub use author::build_plugin_crate;
pub use builtin::{BuiltinPlugin, builtin_plugins};
pub use encode::encode_component;
pub use error::{FailureReason, LoadError, PluginFailure};
pub use facts::{DmarcSummary, DomainFacts, PublishedPolicy, SourceFacts, TlsFailure, TlsSummary};
pub use host::{Evaluated, LoadedPlugin, PluginHost, RuleInfo};
pub use limits::RuleLimits;
pub use snapshot::FactsBuilder;

/// The WIT package version this host implements (and the SDK builds plugins for).
pub const WIT_VERSION: &str = "0.2.0";
/// Every WIT package version whose plugins this host runs, newest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &[WIT_VERSION, "0.1.0"];
