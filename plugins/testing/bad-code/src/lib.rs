//! Hostile test plugin: returns a finding whose code is not a valid dotted code.

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, Severity, export_rule};

struct BadCode;

impl Rule for BadCode {
    fn describe() -> RuleInfo {
        RuleInfo::new("test.bad_code", "1.0.0", "Invalid finding code", &[])
    }

    fn evaluate(_facts: DomainFacts) -> Vec<Finding> {
        vec![Finding::new(
            "Not A Code",
            Severity::High,
            "bad",
            "bad",
            "none",
        )]
    }
}

export_rule!(BadCode);
