//! Built-in rule `dns.posture`: what the DNS posture checks (SPF, DMARC, DKIM, MTA-STS,
//! TLS-RPT, BIMI, MX) found wrong with the domain's published records, one finding per
//! problem, with the exact record to publish where the check knows it.
//!
//! Codes are the checks' own (`spf.too_many_lookups`, `mtasts.mx_not_covered`, ...), so an
//! issue names the area it is about. Two codes are shared with the DMARC report rules: a
//! missing DMARC record is `dmarc.no_record` (one issue whichever evidence saw it first),
//! and the policy rollout (`dmarc.policy_none`, `dmarc.policy_quarantine`) is left to the
//! `dmarc.policy` rule whenever aggregate reports show the traffic it needs to advise the
//! next step; without reports the DNS finding stands on its own.
//!
//! Info-level findings are not issues. A check whose status is `unknown` (DNS timeout,
//! server failure, fetch failed) yields no findings: nothing is claimed from no answer.

use postern_plugin_sdk::{
    DnsCheck, DnsCheckStatus, DnsFinding, DomainFacts, Finding, FixStep, FixStepKind, Rule,
    RuleInfo, Severity, export_rule,
};

struct DnsPosture;

impl Rule for DnsPosture {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "dns.posture",
            "1.0.0",
            "DNS posture: SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI and MX records",
            &["dns", "policy"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let Some(dns) = &facts.dns else {
            return Vec::new();
        };
        let reports_show_policy = facts.policy.is_some();
        let mut out = Vec::new();
        for check in &dns.checks {
            if check.status == DnsCheckStatus::Unknown {
                continue;
            }
            for finding in &check.findings {
                if finding.severity == Severity::Info {
                    continue;
                }
                let code = match finding.code.as_str() {
                    "dmarc.missing" => "dmarc.no_record",
                    "dmarc.policy_none" | "dmarc.policy_quarantine" if reports_show_policy => {
                        continue;
                    }
                    other => other,
                };
                if !valid_code(code) {
                    continue;
                }
                out.push(finding_of(&facts.domain, check, finding, code, dns));
            }
        }
        out
    }
}

/// The rule finding for one check finding.
fn finding_of(
    domain: &str,
    check: &DnsCheck,
    f: &DnsFinding,
    code: &str,
    dns: &postern_plugin_sdk::DnsFacts,
) -> Finding {
    let area = label(&check.check);
    let title = match &f.subject {
        Some(subject) if subject.len() <= 80 => {
            format!("{area}: {} ({subject})", headline(&f.message))
        }
        _ => format!("{area}: {}", headline(&f.message)),
    };
    let verification =
        format!("the next DNS check of {domain} shows no {code} finding in its {area} check");
    let mut finding = Finding::new(code, f.severity, title, f.message.clone(), verification)
        .evidence("check", &check.check)
        .evidence("status", status_word(check.status))
        .evidence("checked_at", dns.checked_at);
    if let Some(subject) = &f.subject {
        finding = finding.evidence("subject", subject);
    }
    for (n, record) in check.records.iter().take(4).enumerate() {
        finding = finding.evidence(&format!("record_{}", n + 1), record);
    }
    if check.check == "spf" {
        if let Some(lookups) = dns.spf_lookups {
            finding = finding.evidence("spf_dns_lookups", lookups);
        }
        if let Some(void) = dns.spf_void_lookups {
            finding = finding.evidence("spf_void_lookups", void);
        }
    }
    match &f.fix {
        Some(change) if change.proposed.is_empty() => finding.step(
            FixStep::new(
                FixStepKind::ChangeDnsRecord,
                format!(
                    "Remove the {} record at {}",
                    change.record_type, change.name
                ),
                format!(
                    "Delete this record from the zone: {}",
                    change
                        .current
                        .as_deref()
                        .unwrap_or("(the record named above)")
                ),
            )
            .with_record(change.clone()),
        ),
        Some(change) => {
            let what = match &change.current {
                Some(_) => "Change",
                None => "Publish",
            };
            finding.step(
                FixStep::new(
                    FixStepKind::ChangeDnsRecord,
                    format!(
                        "{what} the {} record at {}",
                        change.record_type, change.name
                    ),
                    format!(
                        "Publish exactly: {} {} \"{}\"",
                        change.name, change.record_type, change.proposed
                    ),
                )
                .with_record(change.clone()),
            )
        }
        None => finding.step(FixStep::new(
            FixStepKind::Investigate,
            format!("Correct the {area} setup of {domain}"),
            f.message.clone(),
        )),
    }
}

/// The human name of a check.
fn label(check: &str) -> &str {
    match check {
        "spf" => "SPF",
        "dmarc" => "DMARC",
        "dkim" => "DKIM",
        "mta_sts" => "MTA-STS",
        "tls_rpt" => "TLS-RPT",
        "bimi" => "BIMI",
        "mx" => "MX",
        other => other,
    }
}

fn status_word(status: DnsCheckStatus) -> &'static str {
    match status {
        DnsCheckStatus::Pass => "pass",
        DnsCheckStatus::Warn => "warn",
        DnsCheckStatus::Fail => "fail",
        DnsCheckStatus::Missing => "missing",
        DnsCheckStatus::Unknown => "unknown",
    }
}

/// The first sentence of a message, at most 120 bytes, as a title.
fn headline(message: &str) -> String {
    let first = message
        .split(". ")
        .next()
        .unwrap_or(message)
        .trim_end_matches('.');
    if first.len() <= 120 {
        return first.to_owned();
    }
    let mut end = 117;
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &first[..end])
}

/// A dotted lower-case code of `[a-z0-9_]` parts, at most 128 bytes (the host's rule).
fn valid_code(code: &str) -> bool {
    code.len() <= 128
        && code.split('.').count() >= 2
        && code.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

export_rule!(DnsPosture);

#[cfg(test)]
mod tests {
    use super::*;
    use postern_plugin_sdk::{DmarcSummary, DnsFacts, DnsRecordChange, PublishedPolicy};

    fn facts(checks: Vec<DnsCheck>, policy: bool) -> DomainFacts {
        DomainFacts {
            domain: "example.com".into(),
            now: 1_700_000_000,
            window_start: 1_699_000_000,
            window_end: 1_700_000_000,
            dmarc: DmarcSummary {
                messages: 0,
                dmarc_pass: 0,
                dmarc_fail: 0,
                spf_aligned_pass: 0,
                dkim_aligned_pass: 0,
                disposition_none: 0,
                disposition_quarantine: 0,
                disposition_reject: 0,
                disposition_pass: 0,
            },
            sources: Vec::new(),
            policy: policy.then(|| PublishedPolicy {
                p: "none".into(),
                sp: None,
                np: None,
                pct: None,
                adkim: "r".into(),
                aspf: "r".into(),
                testing: None,
            }),
            tls: None,
            dns: Some(DnsFacts {
                checked_at: 1_699_999_000,
                checks,
                spf_lookups: Some(12),
                spf_void_lookups: Some(0),
            }),
            blocklists: Vec::new(),
            bounces: None,
        }
    }

    fn check(name: &str, status: DnsCheckStatus, findings: Vec<DnsFinding>) -> DnsCheck {
        DnsCheck {
            check: name.into(),
            status,
            records: vec!["v=spf1 include:a include:b -all".into()],
            findings,
        }
    }

    fn finding(code: &str, severity: Severity, fix: Option<DnsRecordChange>) -> DnsFinding {
        DnsFinding {
            code: code.into(),
            severity,
            message: format!("{code} happened. More words."),
            subject: None,
            fix,
        }
    }

    #[test]
    fn each_problem_becomes_a_finding_with_the_exact_record_to_publish() {
        let fix = DnsRecordChange::txt("example.com", Some("v=spf1 +all".into()), "v=spf1 -all");
        let out = DnsPosture::evaluate(facts(
            vec![
                check(
                    "spf",
                    DnsCheckStatus::Fail,
                    vec![
                        finding("spf.plus_all", Severity::High, Some(fix)),
                        finding("spf.too_many_lookups", Severity::High, None),
                        finding("spf.note", Severity::Info, None),
                    ],
                ),
                check("mx", DnsCheckStatus::Pass, Vec::new()),
            ],
            false,
        ));
        let codes: Vec<&str> = out.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["spf.plus_all", "spf.too_many_lookups"]);
        let plus_all = &out[0];
        assert_eq!(plus_all.severity, Severity::High);
        assert_eq!(plus_all.title, "SPF: spf.plus_all happened");
        let step = &plus_all.fix_steps[0];
        assert_eq!(step.kind, FixStepKind::ChangeDnsRecord);
        assert_eq!(step.title, "Change the TXT record at example.com");
        assert_eq!(
            step.record.as_ref().map(|r| r.proposed.as_str()),
            Some("v=spf1 -all")
        );
        assert!(step.detail.contains("\"v=spf1 -all\""), "{}", step.detail);
        assert!(
            out[1]
                .evidence
                .iter()
                .any(|e| e.label == "spf_dns_lookups" && e.value == "12")
        );
        assert_eq!(out[1].fix_steps[0].kind, FixStepKind::Investigate);
        assert!(
            out[1]
                .verification
                .description
                .contains("spf.too_many_lookups")
        );
    }

    #[test]
    fn unknown_checks_and_info_findings_claim_nothing() {
        let out = DnsPosture::evaluate(facts(
            vec![check(
                "mta_sts",
                DnsCheckStatus::Unknown,
                vec![finding("mtasts.policy_timeout", Severity::Medium, None)],
            )],
            false,
        ));
        assert!(out.is_empty());
        let mut no_dns = facts(Vec::new(), false);
        no_dns.dns = None;
        assert!(DnsPosture::evaluate(no_dns).is_empty());
    }

    #[test]
    fn dmarc_codes_meet_the_report_rules_codes() {
        let dmarc = |policy| {
            DnsPosture::evaluate(facts(
                vec![check(
                    "dmarc",
                    DnsCheckStatus::Missing,
                    vec![
                        finding("dmarc.missing", Severity::High, None),
                        finding("dmarc.policy_none", Severity::Medium, None),
                    ],
                )],
                policy,
            ))
            .into_iter()
            .map(|f| f.code)
            .collect::<Vec<_>>()
        };
        // Without reports the DNS check speaks for both; with reports the rollout is the
        // dmarc.policy rule's, and a missing record is one dmarc.no_record issue either way.
        assert_eq!(dmarc(false), ["dmarc.no_record", "dmarc.policy_none"]);
        assert_eq!(dmarc(true), ["dmarc.no_record"]);
    }
}
