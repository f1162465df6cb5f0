//! The DMARC posture check (RFC 9989): the policy found by the DNS Tree Walk, every tag
//! read and judged, the report destinations and their authorization records, and the
//! next step of the rollout `none` → `quarantine` → `reject` (each with `t=y` first).

mod discovery;
mod record;

pub use discovery::WalkStep;
pub(crate) use record::valid_domain;
pub use record::{
    Alignment, DmarcParseError, DmarcPolicy, DmarcProblem, DmarcRecord, Psd, ReportUri, is_dmarc1,
    parse_dmarc,
};

use super::counting::Counting;
use super::tags::rewrite;
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, RecordFix, Severity};
use discovery::{Found, Walk, walk};
use postern_dns::{Lookup, Resolver};
use serde_json::json;

/// One report destination as checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
struct Destination {
    tag: &'static str,
    uri: String,
    domain: String,
    external: bool,
    /// `None`: not needed (internal) or the lookup failed.
    authorized: Option<bool>,
}

/// Checks `domain`'s DMARC posture.
pub async fn check(resolver: &dyn Resolver, domain: &str) -> CheckReport {
    run(resolver, domain).await.0
}

/// The check, and whether the policy that applies to `domain` is enforced (`None` when
/// it could not be determined), for the BIMI check.
#[tracing::instrument(name = "mailauth.posture.dmarc", skip_all, fields(domain = %domain))]
pub(crate) async fn run(resolver: &dyn Resolver, domain: &str) -> (CheckReport, Option<bool>) {
    let counting = Counting::new(resolver);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut report = CheckReport::new(CheckKind::Dmarc);
    let walk = walk(&counting, &domain).await;
    report.records = walk.own_texts.clone();
    let org_domain = walk.org_domain(&domain);
    let mut enforced = None;
    let mut destinations = Vec::new();

    own_record_findings(&walk, &domain, &mut report);
    match (walk.policy(), &walk.failure) {
        (None, Some((error, _))) => {
            report.status = CheckStatus::Unknown;
            report.findings.push(PostureFinding::new(
                "dmarc.lookup_failed",
                Severity::Info,
                format!("the DMARC policy could not be looked up: {error}"),
            ));
        }
        (None, None) => {
            // Several or misplaced records are published but broken (Fail), not missing.
            if report.findings.is_empty() {
                report.status = CheckStatus::Missing;
            }
            report.findings.push(PostureFinding::new(
                "dmarc.missing",
                Severity::High,
                format!(
                    "no DMARC policy applies to {domain}: receivers take no action on mail \
                     that fails authentication and send no reports. Publish a TXT record at \
                     _dmarc.{domain} such as \"v=DMARC1; p=none; rua=mailto:\" followed by an \
                     address of yours that receives aggregate reports, then move to \
                     quarantine and reject"
                ),
            ));
        }
        (Some(found), _) => {
            let inherited = found.domain != domain;
            if inherited {
                report.records.push(found.record.text.clone());
                report.findings.push(
                    PostureFinding::new(
                        "dmarc.inherited",
                        Severity::Info,
                        format!(
                            "{domain} publishes no record of its own; the policy of {} applies \
                             (its sp= for existing subdomains)",
                            found.domain
                        ),
                    )
                    .subject(found.record.text.clone()),
                );
            }
            let effective = effective_policy(found, inherited);
            enforced = Some(
                matches!(
                    effective,
                    Some(DmarcPolicy::Quarantine | DmarcPolicy::Reject)
                ) && found.record.pct.is_none_or(|p| p == 100)
                    && found.record.testing != Some(true),
            );
            record_findings(found, inherited, &mut report);
            destinations =
                destination_findings(&counting, found, org_domain.as_deref(), &mut report).await;
        }
    }
    if org_domain.is_none() && walk.policy().is_some() {
        report.findings.push(PostureFinding::new(
            "dmarc.org_domain_unknown",
            Severity::Info,
            "the organizational domain could not be determined: a lookup higher in the tree failed",
        ));
    }
    let policy = walk.policy();
    let tags: Option<serde_json::Map<String, serde_json::Value>> = policy.map(|f| {
        f.record
            .tags
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect()
    });
    let effective = policy
        .and_then(|f| effective_policy(f, f.domain != domain))
        .map(DmarcPolicy::as_str);
    report.details = json!({
        "policy_domain": policy.map(|f| f.domain.clone()),
        "org_domain": org_domain,
        "inherited": policy.is_some_and(|f| f.domain != domain),
        "effective_policy": effective,
        "enforced": enforced,
        "record": policy.map(|f| f.record.text.clone()),
        "tags": tags,
        "parsed": policy.map(|f| &f.record),
        "walk": walk.steps,
        "report_destinations": destinations,
        "queries": counting.log(),
    });
    report.queries = counting.count();
    (report.finish(), enforced)
}

/// The policy that applies to `domain`: `p` at the domain itself, `sp` (else `p`) when
/// inherited.
fn effective_policy(found: &Found, inherited: bool) -> Option<DmarcPolicy> {
    if inherited {
        found.record.subdomain_policy.or(found.record.policy)
    } else {
        found.record.policy
    }
}

/// Findings about the TXT records at `_dmarc.<domain>` itself: several DMARC records,
/// and DMARC-looking records receivers discard.
fn own_record_findings(walk: &Walk, domain: &str, report: &mut CheckReport) {
    if walk.own_candidates > 1 {
        report.findings.push(PostureFinding::new(
            "dmarc.multiple_records",
            Severity::High,
            format!(
                "{} DMARC records at _dmarc.{domain}; receivers discard them all and act as \
                 if there were none. Keep exactly one",
                walk.own_candidates
            ),
        ));
    }
    for text in &walk.own_texts {
        if is_dmarc1(text) || !text.to_ascii_lowercase().contains("dmarc1") {
            continue;
        }
        let position = parse_dmarc(text).err().map_or(0, |e| match e {
            DmarcParseError::NotDmarc { position, .. } => position,
        });
        report.findings.push(
            PostureFinding::new(
                "dmarc.not_first_version",
                Severity::High,
                "this record mentions DMARC1 but does not start with v=DMARC1; receivers \
                 ignore it",
            )
            .subject(text.clone())
            .at(position),
        );
    }
}

/// Findings about the policy record's tags.
fn record_findings(found: &Found, inherited: bool, report: &mut CheckReport) {
    let record = &found.record;
    let name = format!("_dmarc.{}", found.domain);
    // Fixes rewrite the record where it is published; for an inherited policy that is
    // the organization's record, whose change reaches further than this domain, so
    // rollout fixes are only offered for a domain's own record.
    let fix = |changes: &[(&str, Option<String>)]| RecordFix {
        name: name.clone(),
        rtype: "TXT".to_owned(),
        current: Some(record.text.clone()),
        suggested: Some(rewrite(&record.tags, changes)),
    };
    let finding = |code: &str, severity, message: String| {
        PostureFinding::new(code, severity, message).subject(record.text.clone())
    };
    let mut findings = Vec::new();
    for problem in &record.problems {
        let (code, severity) = if problem.tag.as_deref() == Some("p") {
            ("dmarc.policy_invalid", Severity::High)
        } else {
            ("dmarc.syntax", Severity::Medium)
        };
        let message = if code == "dmarc.policy_invalid" {
            format!(
                "{}; without a valid p= receivers treat the record as p=none if it has a \
                 valid rua, otherwise ignore it",
                problem.message
            )
        } else {
            format!("{}; receivers ignore this value", problem.message)
        };
        findings.push(finding(code, severity, message).at(problem.position));
    }
    let policy = effective_policy(found, inherited);
    let testing = record.testing == Some(true);
    let rollout = |f: PostureFinding, changes: &[(&str, Option<String>)]| {
        if inherited { f } else { f.fix(fix(changes)) }
    };
    match (policy, testing) {
        (Some(DmarcPolicy::None), _) => findings.push(rollout(
            finding(
                "dmarc.policy_none",
                Severity::Medium,
                "p=none only monitors: mail failing DMARC is delivered as usual. Next step: \
                 p=quarantine with t=y (testing), then without t=y, then p=reject"
                    .to_owned(),
            ),
            &[
                ("p", Some("quarantine".to_owned())),
                ("t", Some("y".to_owned())),
                ("pct", None),
            ],
        )),
        (Some(p @ (DmarcPolicy::Quarantine | DmarcPolicy::Reject)), true) => {
            findings.push(rollout(
                finding(
                    "dmarc.testing",
                    Severity::Low,
                    format!(
                        "t=y: receivers apply p={} only partly (testing mode); remove t=y once \
                         the reports show legitimate mail passes",
                        p.as_str()
                    ),
                ),
                &[("t", None), ("pct", None)],
            ))
        }
        (Some(DmarcPolicy::Quarantine), false) => findings.push(rollout(
            finding(
                "dmarc.policy_quarantine",
                Severity::Info,
                "p=quarantine is enforced; the last step is p=reject, tested first with t=y"
                    .to_owned(),
            ),
            &[
                ("p", Some("reject".to_owned())),
                ("t", Some("y".to_owned())),
                ("pct", None),
            ],
        )),
        _ => {}
    }
    if let Some(pct) = record.pct {
        if pct < 100 {
            findings.push(rollout(
                finding(
                    "dmarc.pct_relied_on",
                    Severity::Medium,
                    format!(
                        "pct={pct} is an RFC 7489 tag that RFC 9989 removed; receivers \
                         following RFC 9989 ignore it and apply the policy to all mail. Use \
                         t=y for a partial rollout"
                    ),
                ),
                &[("pct", None), ("t", Some("y".to_owned()))],
            ));
        } else {
            findings.push(rollout(
                finding(
                    "dmarc.legacy_tag",
                    Severity::Info,
                    "pct=100 is an RFC 7489 tag that RFC 9989 removed; it changes nothing \
                     and can go"
                        .to_owned(),
                ),
                &[("pct", None)],
            ));
        }
    }
    let legacy: Vec<&str> = [("rf", record.rf.is_some()), ("ri", record.ri.is_some())]
        .into_iter()
        .filter_map(|(n, present)| present.then_some(n))
        .collect();
    if !legacy.is_empty() {
        let changes: Vec<(&str, Option<String>)> = legacy.iter().map(|n| (*n, None)).collect();
        findings.push(rollout(
            finding(
                "dmarc.legacy_tag",
                Severity::Info,
                format!(
                    "{} RFC 7489 only; RFC 9989 receivers ignore {}",
                    legacy.join(" and "),
                    if legacy.len() > 1 { "them" } else { "it" }
                ),
            ),
            &changes,
        ));
    }
    if let (Some(p), Some(sp)) = (record.policy, record.subdomain_policy)
        && sp < p
    {
        findings.push(rollout(
            finding(
                "dmarc.subdomain_policy_weaker",
                Severity::Medium,
                format!(
                    "sp={} is weaker than p={}: forged mail from subdomains is treated more \
                     leniently than from the domain; without sp= subdomains follow p=",
                    sp.as_str(),
                    p.as_str()
                ),
            ),
            &[("sp", None)],
        ));
    }
    np_findings(record, &finding, &rollout, &mut findings);
    if record.rua.is_empty() {
        findings.push(finding(
            "dmarc.no_rua",
            Severity::Low,
            "no rua= tag: no aggregate reports are sent, so who sends mail as this domain \
             stays unknown. Add rua=mailto: with an address that receives reports"
                .to_owned(),
        ));
    }
    for (tag, uris) in [("rua", &record.rua), ("ruf", &record.ruf)] {
        let invalid: Vec<&ReportUri> = uris.iter().filter(|u| u.problem.is_some()).collect();
        let valid: Vec<&str> = uris
            .iter()
            .filter(|u| u.problem.is_none())
            .map(|u| u.uri.as_str())
            .collect();
        for uri in &invalid {
            let mut f = finding(
                &format!("dmarc.{tag}_invalid"),
                Severity::Medium,
                format!(
                    "{tag} URI {:?}: {}",
                    uri.uri,
                    uri.problem.as_deref().unwrap_or_default()
                ),
            )
            .at(uri.position);
            if !valid.is_empty() {
                f = f.fix(fix(&[(tag, Some(valid.join(",")))]));
            }
            findings.push(f);
        }
    }
    if !record.unknown_tags.is_empty() {
        const SHOWN: usize = 10;
        let mut names = record.unknown_tags[..record.unknown_tags.len().min(SHOWN)].join(", ");
        if record.unknown_tags.len() > SHOWN {
            names.push_str(&format!(" and {} more", record.unknown_tags.len() - SHOWN));
        }
        findings.push(finding(
            "dmarc.unknown_tag",
            Severity::Low,
            format!("unknown tag(s) {names}: receivers ignore them (a typo?)"),
        ));
    }
    report.findings.extend(findings);
}

/// Adds a record fix to a finding where the record is the domain's own.
type Rollout<'a> = dyn Fn(PostureFinding, &[(&str, Option<String>)]) -> PostureFinding + 'a;

/// Findings about `np` (RFC 9989 §4.7), the policy for names under the domain that do not
/// exist. Absent, it falls back to `sp`, then `p`; forged mail from made-up subdomains
/// should get at least the strictest policy the record sets for names that exist.
fn np_findings(
    record: &DmarcRecord,
    finding: &dyn Fn(&str, Severity, String) -> PostureFinding,
    rollout: &Rollout<'_>,
    findings: &mut Vec<PostureFinding>,
) {
    let Some(strictest) = record.policy.max(record.subdomain_policy) else {
        return;
    };
    match (record.nonexistent_policy, record.subdomain_policy) {
        (Some(np), _) if np < strictest => findings.push(rollout(
            finding(
                "dmarc.nonexistent_policy_weaker",
                Severity::Low,
                format!(
                    "np={} is weaker than {}: mail from names under the domain that do not \
                     exist should get at least as strict a policy as mail from names that do",
                    np.as_str(),
                    policy_names(record, strictest)
                ),
            ),
            &[("np", Some(strictest.as_str().to_owned()))],
        )),
        (None, Some(sp))
            if sp < strictest
                && matches!(strictest, DmarcPolicy::Quarantine | DmarcPolicy::Reject) =>
        {
            findings.push(rollout(
                finding(
                    "dmarc.nonexistent_policy_unset",
                    Severity::Low,
                    format!(
                        "no np= tag: names under the domain that do not exist fall back to \
                         sp={}, so mail forged from made-up subdomains is not rejected although \
                         the domain enforces p={}. Add np={}",
                        sp.as_str(),
                        strictest.as_str(),
                        strictest.as_str()
                    ),
                ),
                &[("np", Some(strictest.as_str().to_owned()))],
            ));
        }
        _ => {}
    }
}

/// `p=…` and/or `sp=…`: the tags of `record` that set `policy`, for messages.
fn policy_names(record: &DmarcRecord, policy: DmarcPolicy) -> String {
    [("p", record.policy), ("sp", record.subdomain_policy)]
        .into_iter()
        .filter(|(_, p)| *p == Some(policy))
        .map(|(name, p)| format!("{name}={}", p.map_or("", DmarcPolicy::as_str)))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Checks each valid report destination outside the organizational domain for its
/// authorization record `<policy domain>._report._dmarc.<destination>` (the external
/// destination verification of RFC 7489 §7.1, kept by RFC 9989).
async fn destination_findings(
    resolver: &dyn Resolver,
    found: &Found,
    org_domain: Option<&str>,
    report: &mut CheckReport,
) -> Vec<Destination> {
    let org = org_domain.unwrap_or(&found.domain).to_owned();
    // One lookup per destination domain: `Some(authorized)`, or `None` when it failed.
    let mut answers: Vec<(String, Option<bool>)> = Vec::new();
    let mut out: Vec<Destination> = Vec::new();
    for (tag, uris) in [("rua", &found.record.rua), ("ruf", &found.record.ruf)] {
        for uri in uris.iter().filter(|u| u.problem.is_none()) {
            let Some(dest) = uri.domain.clone() else {
                continue;
            };
            let external = !(dest == org || dest.ends_with(&format!(".{org}")));
            let mut destination = Destination {
                tag,
                uri: uri.uri.clone(),
                domain: dest.clone(),
                external,
                authorized: None,
            };
            if external {
                let name = format!("{}._report._dmarc.{dest}", found.domain);
                let answer = match answers.iter().find(|(d, _)| *d == dest) {
                    Some((_, answer)) => *answer,
                    None => {
                        let answer = match resolver.txt(&name).await {
                            Ok(answer) => Some(authorized(&answer)),
                            Err(error) => {
                                report.findings.push(
                                    PostureFinding::new(
                                        "dmarc.report_authorization_unknown",
                                        Severity::Info,
                                        format!("could not check {name}: {error}"),
                                    )
                                    .subject(uri.uri.clone()),
                                );
                                None
                            }
                        };
                        answers.push((dest.clone(), answer));
                        answer
                    }
                };
                destination.authorized = answer;
                let reported = out
                    .iter()
                    .any(|d| d.tag == tag && d.domain == dest && d.authorized == Some(false));
                if answer == Some(false) && !reported {
                    report.findings.push(
                        PostureFinding::new(
                            format!("dmarc.{tag}_unauthorized"),
                            Severity::Medium,
                            format!(
                                "{dest} has not authorized {tag} reports for {}: receivers \
                                 send none there until {name} publishes TXT \"v=DMARC1\" \
                                 (the report provider must publish it)",
                                found.domain
                            ),
                        )
                        .subject(uri.uri.clone())
                        .fix(RecordFix {
                            name,
                            rtype: "TXT".to_owned(),
                            current: None,
                            suggested: Some("v=DMARC1".to_owned()),
                        }),
                    );
                }
            }
            out.push(destination);
        }
    }
    out
}

/// An authorization answer holds a record starting with `v=DMARC1`.
fn authorized(answer: &Lookup<postern_dns::Txt>) -> bool {
    answer
        .records()
        .iter()
        .any(|t| is_dmarc1(&String::from_utf8_lossy(&t.joined())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_dns::ZoneResolver;

    async fn report_for(record: &str) -> CheckReport {
        let zone = ZoneResolver::from_zone_text(&format!(
            "_dmarc.example.com TXT \"{record}; rua=mailto:d@example.com\"\n"
        ))
        .unwrap();
        check(&zone, "example.com").await
    }

    fn np_finding<'a>(report: &'a CheckReport, code: &str) -> Option<&'a PostureFinding> {
        report.findings.iter().find(|f| f.code == code)
    }

    #[tokio::test]
    async fn an_np_weaker_than_p_is_flagged_even_when_sp_is_weaker_still() {
        let report = report_for("v=DMARC1; p=reject; sp=none; np=quarantine").await;
        let found = np_finding(&report, "dmarc.nonexistent_policy_weaker").unwrap();
        assert_eq!(found.severity, Severity::Low);
        assert!(found.message.contains("p=reject"), "{}", found.message);
        assert_eq!(
            found.fix.as_ref().unwrap().suggested.as_deref(),
            Some("v=DMARC1; p=reject; sp=none; np=reject; rua=mailto:d@example.com")
        );
    }

    #[tokio::test]
    async fn an_np_weaker_than_a_stricter_sp_is_flagged() {
        let report = report_for("v=DMARC1; p=none; sp=reject; np=none").await;
        let found = np_finding(&report, "dmarc.nonexistent_policy_weaker").unwrap();
        assert!(found.message.contains("sp=reject"), "{}", found.message);
    }

    #[tokio::test]
    async fn an_absent_np_falling_back_to_a_weak_sp_under_enforcement_is_flagged() {
        let report = report_for("v=DMARC1; p=quarantine; sp=none").await;
        let found = np_finding(&report, "dmarc.nonexistent_policy_unset").unwrap();
        assert!(found.message.contains("sp=none"), "{}", found.message);
        assert_eq!(
            found.fix.as_ref().unwrap().suggested.as_deref(),
            Some("v=DMARC1; p=quarantine; sp=none; rua=mailto:d@example.com; np=quarantine")
        );
        assert!(np_finding(&report, "dmarc.nonexistent_policy_weaker").is_none());
    }

    #[tokio::test]
    async fn np_as_strict_as_p_or_absent_without_a_weaker_sp_raises_nothing() {
        for record in [
            "v=DMARC1; p=reject",
            "v=DMARC1; p=reject; np=reject",
            "v=DMARC1; p=reject; sp=none; np=reject",
            "v=DMARC1; p=none; sp=none",
            "v=DMARC1; p=quarantine; sp=reject",
        ] {
            let report = report_for(record).await;
            let np: Vec<&str> = report
                .findings
                .iter()
                .map(|f| f.code.as_str())
                .filter(|c| c.starts_with("dmarc.nonexistent"))
                .collect();
            assert!(np.is_empty(), "{record}: {np:?}");
        }
    }
}
