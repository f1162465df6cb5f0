//! A well-behaved test plugin: one `test.source_seen` finding per source.

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, Severity, export_rule};

struct Good;

impl Rule for Good {
    fn describe() -> RuleInfo {
        RuleInfo::new("test.good", "1.0.0", "Well-behaved test rule", &["sources"])
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        facts
            .sources
            .iter()
            .map(|s| {
                Finding::new(
                    "test.source_seen",
                    Severity::Info,
                    format!("{} sent mail for {}", s.ip, facts.domain),
                    "a source was seen",
                    "nothing to verify",
                )
                .evidence("source_ip", s.ip)
                .evidence("messages", s.messages)
            })
            .collect()
    }
}

export_rule!(Good);
