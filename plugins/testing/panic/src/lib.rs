//! Hostile test plugin: `evaluate` panics (a trap for the host).

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, export_rule};

struct Panics;

impl Rule for Panics {
    fn describe() -> RuleInfo {
        RuleInfo::new("test.panic", "1.0.0", "Panics", &[])
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        panic!("rule bug while looking at {}", facts.domain)
    }
}

export_rule!(Panics);
