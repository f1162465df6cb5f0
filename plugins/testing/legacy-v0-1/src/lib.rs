//! Test plugin built against `postern:rules@0.1.0` (`proto/wit/rules.wit`) without the SDK,
//! as plugins were before 0.2.0: one `test.legacy_source` finding per source, naming the
//! source by the text address and reverse DNS name the 0.1.0 facts carry. The host must still
//! load and run it.

wit_bindgen::generate!({
    path: "../../../proto/wit/rules.wit",
    world: "rule",
});

use exports::postern::rules::plugin::{
    DomainFacts, Evidence, Finding, Guest, RuleInfo, Severity, Verification,
};

struct Legacy;

impl Guest for Legacy {
    fn describe() -> RuleInfo {
        RuleInfo {
            id: "test.legacy".to_owned(),
            version: "0.1.0".to_owned(),
            title: "A rule built against postern:rules@0.1.0".to_owned(),
            reads: vec!["sources".to_owned()],
        }
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        facts
            .sources
            .iter()
            .map(|s| Finding {
                code: "test.legacy_source".to_owned(),
                severity: Severity::Info,
                title: format!("{} sent mail for {}", s.ip, facts.domain),
                explanation: "a source was seen (0.1.0 facts)".to_owned(),
                evidence: vec![
                    Evidence {
                        label: "source_ip".to_owned(),
                        value: s.ip.clone(),
                    },
                    Evidence {
                        label: "reverse_dns".to_owned(),
                        value: s.reverse_dns.clone().unwrap_or_default(),
                    },
                ],
                fix_steps: Vec::new(),
                verification: Verification {
                    description: "nothing to verify".to_owned(),
                },
            })
            .collect()
    }
}

export!(Legacy);
