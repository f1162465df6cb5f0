//! Hostile test plugin: returns far more findings than the host accepts.

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, Severity, export_rule};

struct Flood;

impl Rule for Flood {
    fn describe() -> RuleInfo {
        RuleInfo::new("test.huge_output", "1.0.0", "Returns a flood", &[])
    }

    fn evaluate(_facts: DomainFacts) -> Vec<Finding> {
        let explanation = "x".repeat(4096);
        (0..5_000)
            .map(|_| {
                Finding::new(
                    "test.flood",
                    Severity::Low,
                    "flood",
                    explanation.clone(),
                    "none",
                )
            })
            .collect()
    }
}

export_rule!(Flood);
