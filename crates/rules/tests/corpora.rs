//! The built-in plugins over facts built from real reports of the shared corpora
//! (`../shared/corpora`, see its README), parsed with postern-mailauth.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use postern_domain::{Finding, Severity};
use postern_mailauth::{Extracted, Limits};
use postern_rules::{FactsBuilder, PluginHost, RuleLimits, builtin_plugins};

/// `$POSTERN_CORPORA`, or the `shared` folder beside the repository (as in postern-mailauth).
fn corpora() -> PathBuf {
    let root = std::env::var_os("POSTERN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"));
    assert!(
        root.join("README.md").is_file(),
        "corpora not found at {} (set POSTERN_CORPORA)",
        root.display()
    );
    root
}

fn facts_from(domain: &str, now: i64, files: &[&str]) -> postern_rules::DomainFacts {
    let mut builder = FactsBuilder::new(domain, now);
    for file in files {
        let bytes = std::fs::read(corpora().join(file)).unwrap();
        for found in postern_mailauth::extract_all(&bytes, &Limits::default()) {
            match found {
                Extracted::Aggregate {
                    header, records, ..
                } => builder.add_aggregate(&header, &records),
                Extracted::Tls { report, .. } => builder.add_tls(&report),
                other => panic!("{file}: unexpected {other:?}"),
            }
        }
    }
    builder.build()
}

fn evaluate_all(facts: &postern_rules::DomainFacts) -> Vec<Finding> {
    let host = PluginHost::new(RuleLimits::default()).unwrap();
    let mut findings = Vec::new();
    for builtin in builtin_plugins() {
        let plugin = host.load(builtin.component).unwrap();
        findings.extend(host.evaluate(&plugin, facts).unwrap());
    }
    findings
}

fn find<'a>(findings: &'a [Finding], code: &str) -> &'a Finding {
    findings.iter().find(|f| f.code == code).unwrap_or_else(|| {
        panic!(
            "no {code} in {:?}",
            findings.iter().map(|f| &f.code).collect::<Vec<_>>()
        )
    })
}

#[test]
fn the_large_parsedmarc_report_yields_source_findings_under_p_none() {
    let file = "parsedmarc-samples/samples/aggregate/!large-example.com!1711897200!1711983600.xml";
    // Evaluated the day after the report: every source in it is new.
    let facts = facts_from("example.com", 1_711_983_600 + 86_400, &[file]);
    assert_eq!(facts.policy.as_ref().unwrap().p, "none");
    assert_eq!(facts.policy.as_ref().unwrap().sp.as_deref(), Some("reject"));
    assert!(facts.sources.len() > 100);
    assert!(facts.dmarc.messages >= 2_286);

    let findings = evaluate_all(&facts);
    let codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
    // One day of reports is not "for long": no policy upgrade yet.
    assert!(!codes.contains(&"dmarc.policy_none"), "{codes:?}");
    for f in &findings {
        assert!(Finding::valid_code(&f.code));
        assert!(!f.fix_steps.is_empty(), "{} has no fix steps", f.code);
        assert!(!f.verification.description.is_empty());
    }
    // 2286 sources sending one failing message each: spoofing spread over many addresses.
    assert_eq!(facts.dmarc.dmarc_fail, 2_286);
    let f = find(&findings, "dmarc.failing_source");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.title,
        "2286 source(s) send as example.com with failing SPF and DKIM"
    );
    assert_eq!(
        f.fix_steps[0].title,
        "Find out whether these sources send for you"
    );
    assert!(
        f.fix_steps[0].detail.contains("2266 more"),
        "{}",
        f.fix_steps[0].detail
    );
    assert_eq!(
        f.fix_steps[2].title,
        "If they are not yours, move the DMARC policy on"
    );
    // Every source is a day old and small: no other source rule fires.
    assert_eq!(codes, vec!["dmarc.failing_source"]);
}

#[test]
fn the_tlsrpt_failure_mail_yields_a_tlsrpt_finding_per_result_type() {
    let file = "tlsrpt-digest-testdata/testdata/tlsrpt_failure.eml";
    let bytes = std::fs::read(corpora().join(file)).unwrap();
    let domain = postern_mailauth::extract_all(&bytes, &Limits::default())
        .into_iter()
        .find_map(|found| match found {
            Extracted::Tls { report, .. } => report
                .policies
                .iter()
                .find(|p| p.total_failure_session_count > 0)
                .map(|p| p.policy_domain.clone()),
            _ => None,
        })
        .unwrap();
    let facts = facts_from(&domain, 1_800_000_000, &[file]);
    let tls = facts.tls.clone().unwrap();
    assert!(tls.failed > 0);
    let findings = evaluate_all(&facts);
    let f = find(&findings, "tlsrpt.failures");
    assert_eq!(f.fix_steps.len(), tls.failures.len());
    for failure in &tls.failures {
        assert!(
            f.evidence
                .iter()
                .any(|e| e.label == failure.result_type && e.value == failure.sessions.to_string())
        );
    }
    // No aggregate report about the domain: it also gets the no-record finding.
    assert_eq!(find(&findings, "dmarc.no_record").severity, Severity::High);
}
