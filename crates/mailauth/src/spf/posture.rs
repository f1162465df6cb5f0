//! SPF posture: the record tree of a domain walked in audit mode, and what is wrong with it.

use super::eval::{
    CheckHost, MAX_DNS_TERMS, MAX_MX_NAMES, SpfEvaluation, SpfNode, SpfOptions, SpfResult, Via,
    check_host,
};
use super::record::{Mechanism, Qualifier, TermKind, is_spf1, parse_record};
use postern_dns::Resolver;
use std::net::{IpAddr, Ipv4Addr};

/// RFC 7208 §3.4: records should fit a 512-octet UDP answer; 450 leaves room for the rest.
pub const MAX_RECORD_LEN: usize = 450;
/// RFC 7208 §3.3: one character-string holds at most 255 octets.
pub const MAX_STRING_LEN: usize = 255;

/// A domain's SPF posture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfPosture {
    /// The domain checked.
    pub domain: String,
    /// The audit-mode evaluation: the whole tree, with lookup counts.
    pub evaluation: SpfEvaluation,
    /// What is wrong or worth knowing, most severe first.
    pub findings: Vec<Finding>,
}

/// One posture finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable code (`spf.plus_all`, `spf.too_many_lookups`, …).
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The domain whose record it concerns (the root or an included one).
    pub domain: String,
    /// For people.
    pub message: String,
    /// Byte position in that domain's record, where one applies.
    pub position: Option<usize>,
}

/// Severity of a [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Receivers will get permerror or accept forged mail.
    Error,
    /// Works, but risky or deprecated.
    Warning,
    /// Worth knowing.
    Info,
}

/// Walks `domain`'s SPF tree in audit mode (every term of every record, counting past the
/// limits) and reports findings: no or several records, syntax errors with positions,
/// `+all`, `?all`, `ptr`, too many DNS-querying terms or void lookups, `mx` with more
/// than 10 names, records over 450 octets, strings over 255, type-99 SPF records.
pub async fn audit(resolver: &dyn Resolver, domain: &str, options: &SpfOptions) -> SpfPosture {
    let mut options = options.clone();
    options.audit = true;
    // A documentation address: no published record should authorize it.
    let query = CheckHost::mail_from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 255)), "", domain);
    let evaluation = check_host(resolver, &query, &options).await;
    let mut findings = Vec::new();
    match &evaluation.tree {
        None => findings.push(Finding {
            code: "spf.invalid_domain",
            severity: Severity::Error,
            domain: domain.to_owned(),
            message: "not a domain name SPF can be checked for".to_owned(),
            position: None,
        }),
        Some(tree) => walk(tree, &mut findings),
    }
    if evaluation.dns_lookups > MAX_DNS_TERMS {
        findings.push(Finding {
            code: "spf.too_many_lookups",
            severity: Severity::Error,
            domain: domain.to_owned(),
            message: format!(
                "{} DNS-querying terms (include, a, mx, ptr, exists, redirect) in the tree; \
                 RFC 7208 allows {MAX_DNS_TERMS}, receivers answer permerror",
                evaluation.dns_lookups
            ),
            position: None,
        });
    }
    if evaluation.void_lookups > options.max_void_lookups {
        findings.push(Finding {
            code: "spf.too_many_void_lookups",
            severity: Severity::Error,
            domain: domain.to_owned(),
            message: format!(
                "{} lookups answer NXDOMAIN or no data; RFC 7208 allows {}",
                evaluation.void_lookups, options.max_void_lookups
            ),
            position: None,
        });
    }
    if let Ok(answer) = resolver.spf99(domain).await
        && answer.records().iter().any(|t| is_spf1(&t.joined()))
    {
        findings.push(Finding {
            code: "spf.type99_record",
            severity: Severity::Warning,
            domain: domain.to_owned(),
            message: "a record of the SPF type (99) is published; RFC 7208 removed it, \
                      only TXT is used"
                .to_owned(),
            position: None,
        });
    }
    findings.sort_by_key(|f| f.severity);
    SpfPosture {
        domain: domain.to_owned(),
        evaluation,
        findings,
    }
}

fn walk(node: &SpfNode, findings: &mut Vec<Finding>) {
    let mut add = |code, severity, message: String, position| {
        findings.push(Finding {
            code,
            severity,
            domain: node.domain.clone(),
            message,
            position,
        })
    };
    if node.spf_records == 0 {
        let (code, message) = match (&node.result, node.via) {
            (SpfResult::TempError(cause), _) => (
                "spf.lookup_failed",
                format!("record lookup failed: {cause}"),
            ),
            (_, Via::Root) => ("spf.missing", "no v=spf1 TXT record".to_owned()),
            (_, Via::Include | Via::Redirect) => (
                "spf.target_missing",
                "no v=spf1 TXT record at an include or redirect target".to_owned(),
            ),
        };
        add(code, Severity::Error, message, None);
    }
    if node.spf_records > 1 {
        add(
            "spf.multiple_records",
            Severity::Error,
            format!(
                "{} v=spf1 records; receivers answer permerror",
                node.spf_records
            ),
            None,
        );
    }
    if let Some(position) = node.error_position {
        let cause = node.problem.clone().unwrap_or_default();
        add("spf.syntax", Severity::Error, cause, Some(position));
    }
    if let Some(record) = &node.record {
        if record.len() > MAX_RECORD_LEN {
            add(
                "spf.record_too_long",
                Severity::Warning,
                format!(
                    "record is {} octets; over {MAX_RECORD_LEN} it may not fit a UDP answer",
                    record.len()
                ),
                None,
            );
        }
        if let Some(len) = node.string_lengths.iter().find(|l| **l > MAX_STRING_LEN) {
            add(
                "spf.string_too_long",
                Severity::Error,
                format!("a character-string of {len} octets (at most {MAX_STRING_LEN})"),
                None,
            );
        }
        if let Ok(parsed) = parse_record(record) {
            for term in &parsed.terms {
                let TermKind::Directive(qualifier, mechanism) = &term.kind else {
                    continue;
                };
                let position = Some(term.span.start);
                match (qualifier, mechanism) {
                    (Qualifier::Pass, Mechanism::All) => add(
                        "spf.plus_all",
                        Severity::Error,
                        format!("{:?} authorizes every host on the Internet", term.text),
                        position,
                    ),
                    (Qualifier::Neutral, Mechanism::All) if node.via != Via::Include => add(
                        "spf.neutral_all",
                        Severity::Warning,
                        "?all makes no assertion about other hosts; use ~all or -all".to_owned(),
                        position,
                    ),
                    (_, Mechanism::Ptr(_)) => add(
                        "spf.ptr",
                        Severity::Warning,
                        "the ptr mechanism is slow and unreliable; RFC 7208 says do not use it"
                            .to_owned(),
                        position,
                    ),
                    _ => {}
                }
            }
        }
    }
    for term in &node.terms {
        // Only `mx` terms can exceed the limit: `ptr` stops counting names at 10.
        if term.names > MAX_MX_NAMES {
            add(
                "spf.mx_too_many_names",
                Severity::Error,
                format!(
                    "{:?} finds {} MX names; more than {MAX_MX_NAMES} is a permerror",
                    term.text, term.names
                ),
                Some(term.span.start),
            );
        }
    }
    for term in &node.terms {
        if let Some(child) = &term.child {
            walk(child, findings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_dns::{Record, Txt, ZoneResolver};

    async fn codes(zone: &ZoneResolver, domain: &str) -> Vec<&'static str> {
        let posture = audit(zone, domain, &SpfOptions::default()).await;
        let mut codes: Vec<_> = posture.findings.iter().map(|f| f.code).collect();
        codes.sort_unstable();
        codes
    }

    fn zone(text: &str) -> ZoneResolver {
        ZoneResolver::from_zone_text(text).unwrap()
    }

    #[tokio::test]
    async fn a_clean_record_has_no_findings() {
        let z = zone("example.com TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n");
        assert!(codes(&z, "example.com").await.is_empty());
    }

    #[tokio::test]
    async fn plus_all_neutral_all_and_ptr_are_flagged_with_positions() {
        let z = zone(
            "plus.example TXT \"v=spf1 ptr +all\"\n\
             neutral.example TXT \"v=spf1 a ?all\"\n\
             neutral.example A 192.0.2.1\n",
        );
        assert_eq!(codes(&z, "plus.example").await, ["spf.plus_all", "spf.ptr"]);
        assert_eq!(codes(&z, "neutral.example").await, ["spf.neutral_all"]);
        let posture = audit(&z, "plus.example", &SpfOptions::default()).await;
        let plus = posture
            .findings
            .iter()
            .find(|f| f.code == "spf.plus_all")
            .unwrap();
        assert_eq!(plus.position, Some(11));
    }

    #[tokio::test]
    async fn missing_multiple_and_broken_records_are_flagged() {
        let z = zone(
            "none.example A 192.0.2.1\n\
             two.example TXT \"v=spf1 -all\"\n\
             two.example TXT \"v=spf1 ~all\"\n\
             broken.example TXT \"v=spf1 ip4:192.0.2.1/33 -all\"\n\
             inc.example TXT \"v=spf1 include:gone.example -all\"\n",
        );
        assert_eq!(codes(&z, "none.example").await, ["spf.missing"]);
        assert_eq!(codes(&z, "two.example").await, ["spf.multiple_records"]);
        let posture = audit(&z, "broken.example", &SpfOptions::default()).await;
        let syntax = &posture.findings[0];
        assert_eq!((syntax.code, syntax.position), ("spf.syntax", Some(20)));
        assert_eq!(codes(&z, "inc.example").await, ["spf.target_missing"]);
        let z = zone("slow.example TIMEOUT\n");
        assert_eq!(codes(&z, "slow.example").await, ["spf.lookup_failed"]);
    }

    #[tokio::test]
    async fn lookup_and_void_limits_are_flagged_across_the_tree() {
        let mut text =
            String::from("example.com TXT \"v=spf1 include:a.example include:b.example -all\"\n");
        text.push_str(
            "a.example TXT \"v=spf1 a:x1.example a:x2.example a:x3.example a:x4.example -all\"\n",
        );
        text.push_str(
            "b.example TXT \"v=spf1 mx:x5.example mx:x6.example exists:x7.example ?all\"\n",
        );
        for i in 1..=7 {
            if i > 3 {
                text.push_str(&format!("x{i}.example A 192.0.2.{i}\n"));
            }
        }
        let z = zone(&text);
        let posture = audit(&z, "example.com", &SpfOptions::default()).await;
        // 2 includes + 4 a + 2 mx + exists = 9: under the limit. x1..x3 are void, and
        // x5/x6 have no MX: 5 voids.
        assert_eq!(posture.evaluation.dns_lookups, 9);
        assert_eq!(posture.evaluation.void_lookups, 5);
        let found: Vec<_> = posture.findings.iter().map(|f| f.code).collect();
        assert_eq!(found, ["spf.too_many_void_lookups"]);

        let mut text = String::from("big.example TXT \"v=spf1");
        for i in 0..6 {
            text.push_str(&format!(" include:i{i}.example"));
        }
        text.push_str(" -all\"\n");
        for i in 0..6 {
            text.push_str(&format!("i{i}.example TXT \"v=spf1 a mx -all\"\ni{i}.example A 192.0.2.1\ni{i}.example MX 1 i{i}.example\n"));
        }
        let z = zone(&text);
        let posture = audit(&z, "big.example", &SpfOptions::default()).await;
        assert_eq!(posture.evaluation.dns_lookups, 18);
        assert_eq!(posture.findings[0].code, "spf.too_many_lookups");
        assert!(matches!(posture.evaluation.result, SpfResult::PermError(_)));
    }

    #[tokio::test]
    async fn long_records_long_strings_and_type_99_are_flagged() {
        let mut z = ZoneResolver::new();
        let long = format!("v=spf1 {} -all", vec!["ip4:192.0.2.1"; 35].join(" "));
        assert!(long.len() > 450);
        z.add("long.example", Record::Txt(Txt::single(long.as_str())));
        z.add("long.example", Record::Spf(Txt::single("v=spf1 -all")));
        let found = codes(&z, "long.example").await;
        assert_eq!(
            found,
            [
                "spf.record_too_long",
                "spf.string_too_long",
                "spf.type99_record"
            ]
        );
        // Split into strings of at most 255, the record is still long but valid.
        let mut z = ZoneResolver::new();
        let (a, b) = long.split_at(250);
        z.add(
            "split.example",
            Record::Txt(Txt {
                strings: vec![a.into(), b.into()],
            }),
        );
        assert_eq!(codes(&z, "split.example").await, ["spf.record_too_long"]);
    }

    #[tokio::test]
    async fn an_mx_with_more_than_ten_names_is_flagged() {
        let mut text = String::from("example.com TXT \"v=spf1 mx -all\"\n");
        for i in 0..12 {
            text.push_str(&format!("example.com MX {i} mx{i}.example.com\n"));
        }
        assert_eq!(
            codes(&zone(&text), "example.com").await,
            ["spf.mx_too_many_names"]
        );
    }
}
