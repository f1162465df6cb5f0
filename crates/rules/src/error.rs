//! Why a plugin could not be loaded, and why an evaluation failed.

use thiserror::Error;

/// A component that cannot be used as a rule plugin. Raised at upload/load, never while
/// evaluating.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The bytes are not a valid component (or wasm at all).
    #[error("not a valid webassembly component: {0}")]
    Compile(String),
    /// A core module could not be encoded as a component.
    #[error("cannot encode the module as a component: {0}")]
    Encode(String),
    /// The component imports something; rule plugins must import nothing.
    #[error(
        "the plugin imports {}; rule plugins get everything as input and may import nothing \
         (build for wasm32-unknown-unknown with the postern plugin sdk, not wasi)",
        .0.join(", ")
    )]
    Imports(Vec<String>),
    /// The component exports the rule interface of a WIT version the host does not run
    /// (it runs 0.2.0, the SDK's, and 0.1.0).
    #[error(
        "the plugin was built against postern:rules@{found}, this host implements \
         postern:rules@{expected} (and still runs plugins built for 0.1.0); rebuild it with \
         the matching sdk"
    )]
    WitVersion { found: String, expected: String },
    /// The component does not export `postern:rules/plugin` at all.
    #[error("the component does not export postern:rules/plugin (exports: {})", .0.join(", "))]
    NotARule(Vec<String>),
    /// The export does not have the types of the `rule` world.
    #[error("the plugin does not match the postern:rules rule world: {0}")]
    Incompatible(String),
    /// `describe` failed or returned nonsense.
    #[error("describe failed: {0}")]
    Describe(FailureReason),
    /// Building a plugin crate failed.
    #[error("building the plugin crate failed: {0}")]
    Build(String),
    /// The engine could not be created.
    #[error("wasm engine unavailable: {0}")]
    Engine(String),
}

/// Why a plugin call failed. Distinct from a successful call that found nothing.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FailureReason {
    /// The call used up its fuel.
    #[error("ran out of fuel ({fuel} units)")]
    OutOfFuel { fuel: u64 },
    /// The call ran past its wall-clock deadline.
    #[error("ran past its deadline of {millis} ms")]
    Deadline { millis: u128 },
    /// The plugin tried to grow its memory past the cap.
    #[error("tried to use more than {limit_bytes} bytes of memory")]
    MemoryLimit { limit_bytes: usize },
    /// The plugin trapped (a panic, an unreachable, an out-of-bounds access).
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin returned more than the host accepts.
    #[error(
        "returned too much: {findings} findings, {bytes} bytes (limits {max_findings}, {max_bytes})"
    )]
    OutputTooLarge {
        findings: usize,
        bytes: usize,
        max_findings: usize,
        max_bytes: usize,
    },
    /// A returned finding (or rule id) has a code that is not dotted lower case.
    #[error("returned an invalid code {0:?}")]
    InvalidCode(String),
    /// The host could not set up the call.
    #[error("host error: {0}")]
    Host(String),
}

/// A failed evaluation of one plugin; becomes a `plugin_failed` record.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("plugin {rule_id} failed: {reason}")]
pub struct PluginFailure {
    /// The rule id from the plugin's `describe`.
    pub rule_id: String,
    pub reason: FailureReason,
}

impl FailureReason {
    /// A stable snake_case name for the kind of failure (for records and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::Deadline { .. } => "deadline",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::Trap(_) => "trap",
            Self::OutputTooLarge { .. } => "output_too_large",
            Self::InvalidCode(_) => "invalid_code",
            Self::Host(_) => "host",
        }
    }
}
