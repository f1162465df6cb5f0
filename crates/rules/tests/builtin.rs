//! The built-in plugins, run through the host over fact snapshots: codes, severities and
//! fix-step text.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::OnceLock;

use postern_domain::{Finding, FixStepKind, Severity};
use postern_rules::{
    DmarcSummary, DomainFacts, PluginHost, PublishedPolicy, RuleLimits, SourceFacts, TlsFailure,
    TlsSummary, builtin_plugins,
};

const NOW: i64 = 1_764_000_000;
const DAY: i64 = 86_400;

/// One host for all tests, so each plugin is compiled once (debug builds of cranelift are
/// slow).
fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(RuleLimits::default()).unwrap())
}

fn run(name: &str, facts: &DomainFacts) -> Vec<Finding> {
    let host = host();
    let builtin = builtin_plugins()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no built-in plugin {name}"));
    let plugin = host.load(builtin.component).unwrap();
    host.evaluate(&plugin, facts).unwrap()
}

fn policy(p: &str, testing: Option<&str>) -> PublishedPolicy {
    PublishedPolicy {
        p: p.to_owned(),
        sp: None,
        np: None,
        pct: None,
        adkim: "r".to_owned(),
        aspf: "r".to_owned(),
        testing: testing.map(str::to_owned),
    }
}

fn source(ip: &str, messages: u64, pass: u64, spf: u64, dkim: u64) -> SourceFacts {
    SourceFacts {
        ip: ip.parse::<IpAddr>().unwrap(),
        messages,
        dmarc_pass: pass,
        spf_aligned_pass: spf,
        dkim_aligned_pass: dkim,
        first_seen: NOW - 60 * DAY,
        last_seen: NOW - DAY,
        reverse_dns: Some(format!("mail-{}.esp.example", ip.replace('.', "-"))),
    }
}

/// A clean domain: one established sender passing both mechanisms, 30 days of reports.
fn clean(p: &str) -> DomainFacts {
    DomainFacts {
        domain: "example.com".to_owned(),
        now: NOW,
        window_start: NOW - 30 * DAY,
        window_end: NOW,
        dmarc: DmarcSummary {
            messages: 1_000,
            dmarc_pass: 995,
            dmarc_fail: 5,
            spf_aligned_pass: 990,
            dkim_aligned_pass: 995,
            disposition_none: 1_000,
            ..DmarcSummary::default()
        },
        sources: vec![source("192.0.2.10", 1_000, 995, 990, 995)],
        policy: Some(policy(p, None)),
        tls: None,
        ..DomainFacts::default()
    }
}

#[test]
fn there_is_one_built_in_plugin_per_rule() {
    let names: Vec<&str> = builtin_plugins().iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        vec![
            "blocklist_listings",
            "bounce_triage",
            "dmarc_alignment",
            "dmarc_failing_source",
            "dmarc_new_source",
            "dmarc_policy",
            "dmarc_unaligned_source",
            "dns_posture",
            "tlsrpt_failures"
        ]
    );
    let host = host();
    for builtin in builtin_plugins() {
        let plugin = host.load(builtin.component).unwrap();
        let id = &plugin.info().id;
        assert!(
            ["dmarc.", "tlsrpt.", "dns.", "blocklist.", "bounce."]
                .iter()
                .any(|area| id.starts_with(area)),
            "{id}"
        );
    }
}

#[test]
fn a_clean_reject_domain_has_no_findings_from_any_built_in() {
    let facts = clean("reject");
    for builtin in builtin_plugins() {
        assert_eq!(run(builtin.name, &facts), Vec::new(), "{}", builtin.name);
    }
}

#[test]
fn no_published_policy_asks_for_a_dmarc_record() {
    let mut facts = clean("none");
    facts.policy = None;
    let findings = run("dmarc_policy", &facts);
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.code, "dmarc.no_record");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.fix_steps[0].kind, FixStepKind::ChangeDnsRecord);
    let record = f.fix_steps[0].record.as_ref().unwrap();
    assert_eq!(record.name, "_dmarc.example.com");
    assert_eq!(record.record_type, "TXT");
    assert_eq!(record.current, None);
    assert_eq!(
        record.proposed,
        "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"
    );
}

#[test]
fn a_domain_without_any_report_yet_gets_no_dmarc_finding() {
    let mut facts = clean("none");
    facts.policy = None;
    facts.dmarc = Default::default();
    facts.sources.clear();
    facts.tls = None;
    assert_eq!(run("dmarc_policy", &facts), Vec::new());
}

#[test]
fn clean_traffic_under_p_none_moves_to_quarantine_with_t_y() {
    let findings = run("dmarc_policy", &clean("none"));
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.code, "dmarc.policy_none");
    assert_eq!(f.severity, Severity::Medium);
    assert!(
        f.explanation
            .starts_with("99.5% of 1000 messages passed DMARC over the last 30 days")
    );
    let step = &f.fix_steps[0];
    assert_eq!(step.kind, FixStepKind::UpgradePolicy);
    assert_eq!(step.title, "Publish p=quarantine with t=y (testing)");
    assert!(step.detail.contains("t=y (RFC 9989)"));
    let record = step.record.as_ref().unwrap();
    assert_eq!(record.current.as_deref(), Some("v=DMARC1; p=none"));
    assert_eq!(record.proposed, "v=DMARC1; p=quarantine; t=y");
    assert_eq!(
        f.verification.description,
        "the next aggregate reports for example.com echo p=quarantine with t=y"
    );
}

#[test]
fn the_rollout_continues_quarantine_test_then_reject_test_then_reject() {
    let mut facts = clean("quarantine");
    facts.policy = Some(PublishedPolicy {
        sp: Some("reject".to_owned()),
        adkim: "s".to_owned(),
        pct: Some(50),
        ..policy("quarantine", Some("y"))
    });
    let f = &run("dmarc_policy", &facts)[0];
    assert_eq!(f.code, "dmarc.policy_quarantine");
    assert_eq!(f.severity, Severity::Low);
    let record = f.fix_steps[0].record.as_ref().unwrap();
    assert_eq!(
        record.current.as_deref(),
        Some("v=DMARC1; p=quarantine; sp=reject; adkim=s; t=y")
    );
    // pct is dropped: RFC 9989 replaced it with t.
    assert_eq!(
        record.proposed,
        "v=DMARC1; p=quarantine; sp=reject; adkim=s"
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.label == "pct" && e.value == "50")
    );

    let f = &run("dmarc_policy", &clean("quarantine"))[0];
    assert_eq!(
        f.fix_steps[0].record.as_ref().unwrap().proposed,
        "v=DMARC1; p=reject; t=y"
    );

    facts.policy = Some(policy("reject", Some("y")));
    let f = &run("dmarc_policy", &facts)[0];
    assert_eq!(f.fix_steps[0].title, "Publish p=reject without t=y");
    assert_eq!(
        f.fix_steps[0].record.as_ref().unwrap().proposed,
        "v=DMARC1; p=reject"
    );
}

#[test]
fn p_none_with_too_much_failing_traffic_or_too_short_a_window_is_not_upgraded() {
    let mut facts = clean("none");
    facts.dmarc.dmarc_pass = 900;
    assert_eq!(run("dmarc_policy", &facts), Vec::new());
    let mut facts = clean("none");
    facts.window_start = NOW - 3 * DAY;
    assert_eq!(run("dmarc_policy", &facts), Vec::new());
}

#[test]
fn an_established_sender_failing_alignment_is_unaligned() {
    let mut facts = clean("reject");
    facts.sources.push(source("198.51.100.7", 200, 40, 40, 0));
    let f = &run("dmarc_unaligned_source", &facts)[0];
    assert_eq!(f.code, "dmarc.unaligned_source");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].kind, FixStepKind::FixSendingSource);
    assert_eq!(
        f.fix_steps[0].title,
        "Align mail-198-51-100-7.esp.example (198.51.100.7)"
    );
    assert!(
        f.fix_steps[0]
            .detail
            .contains("DKIM signing with d=example.com")
    );
    assert!(f.evidence.iter().any(|e| e.value
        == "198.51.100.7 (mail-198-51-100-7.esp.example): 160 of 200 messages fail DMARC; SPF aligned 40, DKIM aligned 0"));
    // Under p=none the same source is a medium finding.
    facts.policy = Some(policy("none", None));
    assert_eq!(
        run("dmarc_unaligned_source", &facts)[0].severity,
        Severity::Medium
    );
    // It is not a failing (spoofing) source.
    assert_eq!(run("dmarc_failing_source", &facts), Vec::new());
}

#[test]
fn an_unknown_source_failing_spf_and_dkim_is_a_failing_source() {
    let mut facts = clean("none");
    let mut spoofer = source("203.0.113.66", 50, 0, 0, 0);
    spoofer.reverse_dns = None;
    facts.sources.push(spoofer);
    let f = &run("dmarc_failing_source", &facts)[0];
    assert_eq!(f.code, "dmarc.failing_source");
    assert_eq!(f.severity, Severity::High);
    let titles: Vec<&str> = f.fix_steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        vec![
            "Find out whether these sources send for you",
            "If a source is yours, authorise it",
            "If they are not yours, move the DMARC policy on"
        ]
    );
    assert!(f.fix_steps[0].detail.contains("203.0.113.66"));
    // Under p=reject receivers already refuse it: low, and no policy step.
    facts.policy = Some(policy("reject", None));
    let f = &run("dmarc_failing_source", &facts)[0];
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.fix_steps.len(), 2);
}

#[test]
fn sudden_volume_from_a_new_source_is_reported() {
    let mut facts = clean("reject");
    let mut new = source("198.51.100.99", 500, 0, 0, 0);
    new.first_seen = NOW - DAY;
    facts.sources.push(new.clone());
    facts.dmarc.messages = 1_500;
    let f = &run("dmarc_new_source", &facts)[0];
    assert_eq!(f.code, "dmarc.new_source_volume");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.fix_steps[0].title,
        "Confirm that 198.51.100.99 sends for you"
    );
    assert_eq!(
        f.fix_steps[1].title,
        "Authenticate the new sender if it is yours"
    );

    // A new sender that passes is only worth confirming.
    new.dmarc_pass = 500;
    new.dkim_aligned_pass = 500;
    facts.sources[1] = new.clone();
    let f = &run("dmarc_new_source", &facts)[0];
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.fix_steps.len(), 1);

    // Small volume is not sudden volume.
    new.messages = 50;
    facts.sources[1] = new;
    assert_eq!(run("dmarc_new_source", &facts), Vec::new());
}

#[test]
fn passing_on_one_mechanism_only_is_fragile() {
    let mut facts = clean("reject");
    facts.sources.push(source("192.0.2.20", 300, 300, 300, 0));
    facts.sources.push(source("192.0.2.30", 100, 100, 0, 100));
    let f = &run("dmarc_alignment", &facts)[0];
    assert_eq!(f.code, "dmarc.alignment_fragile");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.fix_steps.len(), 2);
    assert_eq!(
        f.fix_steps[0].title,
        "Sign mail from mail-192-0-2-20.esp.example with DKIM"
    );
    assert_eq!(
        f.fix_steps[1].title,
        "Align SPF for mail-192-0-2-30.esp.example"
    );

    facts.sources.remove(1);
    assert_eq!(run("dmarc_alignment", &facts)[0].severity, Severity::Low);
}

#[test]
fn tls_failures_are_reported_by_result_type() {
    let mut facts = clean("reject");
    facts.tls = Some(TlsSummary {
        successful: 900,
        failed: 100,
        failures: vec![
            TlsFailure {
                result_type: "certificate-expired".to_owned(),
                sessions: 60,
            },
            TlsFailure {
                result_type: "sts-policy-fetch-error".to_owned(),
                sessions: 40,
            },
        ],
    });
    let f = &run("tlsrpt_failures", &facts)[0];
    assert_eq!(f.code, "tlsrpt.failures");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.title, "100 of 1000 TLS sessions to example.com failed");
    assert_eq!(f.fix_steps[0].title, "Renew the MX certificates");
    assert_eq!(f.fix_steps[1].title, "Serve the MTA-STS policy");
    assert!(
        f.fix_steps[1]
            .detail
            .contains("https://mta-sts.example.com/.well-known/mta-sts.txt")
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.label == "certificate-expired" && e.value == "60")
    );

    // Under 1% failing is a step less urgent; no failures, no finding.
    facts.tls = Some(TlsSummary {
        successful: 99_950,
        failed: 50,
        failures: vec![TlsFailure {
            result_type: "certificate-expired".to_owned(),
            sessions: 50,
        }],
    });
    assert_eq!(run("tlsrpt_failures", &facts)[0].severity, Severity::Medium);
    facts.tls = Some(TlsSummary {
        successful: 1_000,
        ..TlsSummary::default()
    });
    assert_eq!(run("tlsrpt_failures", &facts), Vec::new());
}

#[test]
fn facts_round_trip_through_json() {
    let facts = clean("none");
    let json = serde_json::to_string(&facts).unwrap();
    let back: DomainFacts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, facts);
}
