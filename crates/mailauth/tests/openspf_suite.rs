//! The OpenSPF RFC 7208 test suite (../shared/corpora/openspf-test-suite), run against our
//! evaluator with the suite's zone data served from memory. Prints the score and every
//! failure; all tests must pass.

use postern_mailauth::spf::suite;
use std::path::PathBuf;

fn corpus(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/openspf-test-suite")
        .join(file)
}

#[tokio::test]
async fn openspf_rfc7208_suite_passes_every_test() {
    let scenarios = suite::load_file(&corpus("rfc7208-tests.yml")).unwrap();
    let total: usize = scenarios.iter().map(|s| s.tests.len()).sum();
    assert_eq!(total, 203, "the RFC 7208 suite has 203 tests");
    let report = suite::run(&scenarios).await;
    for failure in &report.failures {
        println!("FAILED {failure}");
    }
    println!(
        "openspf rfc7208: {} passed, {} failed",
        report.passed,
        report.failed()
    );
    assert!(report.failures.is_empty(), "{} failures", report.failed());
    assert_eq!(report.passed, 203);
}

#[tokio::test]
async fn a_wrong_expectation_is_reported_as_a_failure() {
    let yaml = r#"
description: runner self-check
tests:
  right:
    host: 192.0.2.1
    mailfrom: a@example.com
    helo: example.com
    result: fail
    explanation: DEFAULT
  wrong:
    host: 192.0.2.1
    mailfrom: a@example.com
    helo: example.com
    result: [pass, neutral]
zonedata:
  example.com:
    - SPF: v=spf1 -all
"#;
    let report = suite::run(&suite::load(yaml).unwrap()).await;
    assert_eq!(report.passed, 1);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].id, "wrong");
    assert_eq!(report.failures[0].got, "fail");
}
