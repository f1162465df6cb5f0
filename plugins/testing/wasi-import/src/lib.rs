//! Hostile test plugin: a rule that imports `wasi:random/random@0.2.0`. The host's linker is
//! empty, so loading it must fail with the import named.

wit_bindgen::generate!({
    path: "wit",
    world: "rule-with-wasi",
    generate_all,
});

use exports::postern::rules::plugin::{
    DomainFacts, Finding, Guest, RuleInfo, Severity, Verification,
};

struct WithWasi;

impl Guest for WithWasi {
    fn describe() -> RuleInfo {
        RuleInfo {
            id: "test.wasi_import".to_owned(),
            version: "1.0.0".to_owned(),
            title: "Imports WASI".to_owned(),
            reads: Vec::new(),
        }
    }

    fn evaluate(_facts: DomainFacts) -> Vec<Finding> {
        let n = wasi::random::random::get_random_u64();
        vec![Finding {
            code: "test.random".to_owned(),
            severity: Severity::Info,
            title: format!("random {n}"),
            explanation: String::new(),
            evidence: Vec::new(),
            fix_steps: Vec::new(),
            verification: Verification {
                description: String::new(),
            },
        }]
    }
}

export!(WithWasi);
