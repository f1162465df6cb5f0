//! `[rules]`: the limits every rule plugin call runs under, and how many compiled plugins a
//! process keeps. The defaults suit the built-in rules with a wide margin; an installation
//! whose MSPs upload heavier plugins (JavaScript or Python components) raises them.

use crate::error::ConfigError;
use serde::Deserialize;

/// `[rules]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Fuel (roughly, WebAssembly instructions) one plugin call may burn. Default 200,000,000.
    pub fuel: u64,
    /// Wall-clock time one plugin call may take, in milliseconds. Default 1000.
    pub timeout_ms: u64,
    /// Linear memory one plugin instance may have, in MiB. Default 32.
    pub memory_mib: u64,
    /// Findings one call may return. Default 256.
    pub max_findings: usize,
    /// Bytes of text one call may return, in KiB. Default 1024.
    pub max_output_kib: u64,
    /// Compiled plugins kept in memory; the least recently used go first. Default 64.
    pub compiled_cache_entries: usize,
    /// Precompiled plugins kept on disk under `<data_dir>/plugins`; the least recently used
    /// go first. Default 256.
    pub precompiled_files: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            fuel: 200_000_000,
            timeout_ms: 1000,
            memory_mib: 32,
            max_findings: 256,
            max_output_kib: 1024,
            compiled_cache_entries: 64,
            precompiled_files: 256,
        }
    }
}

impl RulesConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(bool, &'static str, &str); 7] = [
            (
                self.fuel >= 1_000_000,
                "rules.fuel",
                "must be at least 1000000",
            ),
            (
                (10..=60_000).contains(&self.timeout_ms),
                "rules.timeout_ms",
                "must be between 10 and 60000",
            ),
            (
                (1..=4096).contains(&self.memory_mib),
                "rules.memory_mib",
                "must be between 1 and 4096",
            ),
            (
                self.max_findings >= 1,
                "rules.max_findings",
                "must be at least 1",
            ),
            (
                self.max_output_kib >= 1,
                "rules.max_output_kib",
                "must be at least 1",
            ),
            (
                self.compiled_cache_entries >= 1,
                "rules.compiled_cache_entries",
                "must be at least 1",
            ),
            (
                self.precompiled_files >= 1,
                "rules.precompiled_files",
                "must be at least 1",
            ),
        ];
        for (ok, key, reason) in checks {
            if !ok {
                return Err(ConfigError::Value {
                    key,
                    reason: reason.to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, load};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn rule_limits_come_from_the_environment_and_are_checked() {
        let c = load(
            None,
            env(&[
                ("POSTERN__RULES__FUEL", "5000000"),
                ("POSTERN__RULES__MEMORY_MIB", "128"),
                ("POSTERN__RULES__COMPILED_CACHE_ENTRIES", "8"),
            ]),
        )
        .unwrap();
        assert_eq!(c.rules.fuel, 5_000_000);
        assert_eq!(c.rules.memory_mib, 128);
        assert_eq!(c.rules.compiled_cache_entries, 8);
        assert_eq!(c.rules.timeout_ms, 1000, "the rest keep their defaults");

        let error = load(None, env(&[("POSTERN__RULES__TIMEOUT_MS", "5")])).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Value {
                    key: "rules.timeout_ms",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
