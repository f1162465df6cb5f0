//! What one plugin call may use.

use std::time::Duration;

/// Limits applied to every plugin call. They are configuration; [`Default`] suits the
/// built-in rules with a wide margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleLimits {
    /// Fuel (roughly, wasm instructions) per call.
    pub fuel: u64,
    /// Wall-clock time per call; enforced by epoch interruption, to the host's tick.
    pub timeout: Duration,
    /// Linear memory a plugin instance may have, in bytes.
    pub memory_bytes: usize,
    /// Findings one call may return.
    pub max_findings: usize,
    /// Total bytes of text in what one call returns.
    pub max_output_bytes: usize,
}

impl Default for RuleLimits {
    fn default() -> Self {
        Self {
            fuel: 200_000_000,
            timeout: Duration::from_secs(1),
            memory_bytes: 32 << 20,
            max_findings: 256,
            max_output_bytes: 1 << 20,
        }
    }
}
