//! The BIMI posture check: `default._bimi.<domain>` TXT `v=BIMI1; l=<https SVG>; a=<VMC or
//! CMC>`, and the DMARC enforcement BIMI requires (p=quarantine or reject, applied to all
//! mail: no pct below 100, no t=y).

use super::counting::Counting;
use super::tags::parse_tag_list;
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, Severity};
use postern_dns::Resolver;
use serde_json::json;

/// Checks `domain`'s BIMI record. `dmarc_enforced` is the DMARC check's verdict on
/// enforcement (`None`: not known).
#[tracing::instrument(name = "mailauth.posture.bimi", skip_all, fields(domain = %domain))]
pub async fn check(
    resolver: &dyn Resolver,
    domain: &str,
    dmarc_enforced: Option<bool>,
) -> CheckReport {
    let counting = Counting::new(resolver);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let name = format!("default._bimi.{domain}");
    let mut report = CheckReport::new(CheckKind::Bimi);
    let texts: Vec<String> = match counting.txt(&name).await {
        Err(error) => {
            report.status = CheckStatus::Unknown;
            report.findings.push(PostureFinding::new(
                "bimi.lookup_failed",
                Severity::Info,
                format!("the BIMI record could not be looked up: {error}"),
            ));
            report.queries = counting.count();
            return report.finish();
        }
        Ok(answer) => answer
            .into_records()
            .iter()
            .map(|t| String::from_utf8_lossy(&t.joined()).into_owned())
            .collect(),
    };
    report.records = texts.clone();
    let candidates: Vec<&String> = texts.iter().filter(|t| is_bimi1(t)).collect();
    let mut logo = None;
    let mut evidence = None;
    match candidates.as_slice() {
        [] => {
            report.status = CheckStatus::Missing;
            report.findings.push(PostureFinding::new(
                "bimi.missing",
                Severity::Info,
                format!("no BIMI record at {name}: mailbox providers show no brand logo"),
            ));
        }
        [text] => {
            let list = parse_tag_list(text);
            let finding = |code: &str, severity, message: String| {
                PostureFinding::new(code, severity, message).subject((*text).clone())
            };
            for problem in &list.problems {
                report.findings.push(
                    finding("bimi.syntax", Severity::Medium, problem.message.clone())
                        .at(problem.position),
                );
            }
            logo = list.get("l").map(|t| t.value.to_owned());
            evidence = list.get("a").map(|t| t.value.to_owned());
            match list.get("l") {
                None => report.findings.push(finding(
                    "bimi.no_logo",
                    Severity::High,
                    "no l= tag: the record names no logo".to_owned(),
                )),
                Some(l) if l.value.is_empty() => report.findings.push(finding(
                    "bimi.declined",
                    Severity::Info,
                    "empty l=: the domain declines to publish a logo".to_owned(),
                )),
                Some(l) => {
                    if !l.value.to_ascii_lowercase().starts_with("https://") {
                        report.findings.push(
                            finding(
                                "bimi.logo_not_https",
                                Severity::High,
                                format!("l={} is not an https URL", l.value),
                            )
                            .at(l.value_at),
                        );
                    }
                    let path = l.value.split(['?', '#']).next().unwrap_or_default();
                    if !path.to_ascii_lowercase().ends_with(".svg") {
                        report.findings.push(
                            finding(
                                "bimi.logo_not_svg",
                                Severity::Medium,
                                format!(
                                    "l={}: the logo must be an SVG (SVG Tiny PS) file",
                                    l.value
                                ),
                            )
                            .at(l.value_at),
                        );
                    }
                }
            }
            match list.get("a") {
                Some(a) if !a.value.is_empty() => {
                    if !a.value.to_ascii_lowercase().starts_with("https://") {
                        report.findings.push(
                            finding(
                                "bimi.evidence_not_https",
                                Severity::Medium,
                                format!("a={} is not an https URL", a.value),
                            )
                            .at(a.value_at),
                        );
                    }
                }
                _ => report.findings.push(finding(
                    "bimi.no_evidence",
                    Severity::Info,
                    "no a= (VMC or CMC certificate): several mailbox providers, Gmail and Apple \
                     Mail among them, show the logo only with one"
                        .to_owned(),
                )),
            }
        }
        many => report.findings.push(PostureFinding::new(
            "bimi.multiple_records",
            Severity::High,
            format!("{} BIMI records at {name}; keep exactly one", many.len()),
        )),
    }
    if !candidates.is_empty() {
        match dmarc_enforced {
            Some(true) => {}
            Some(false) => report.findings.push(PostureFinding::new(
                "bimi.dmarc_not_enforced",
                Severity::High,
                "BIMI needs DMARC at enforcement (p=quarantine or p=reject, no pct below 100, \
                 no t=y); until then no logo is shown",
            )),
            None => report.findings.push(PostureFinding::new(
                "bimi.dmarc_unknown",
                Severity::Info,
                "whether DMARC is at enforcement, as BIMI requires, could not be determined",
            )),
        }
    }
    report.details = json!({
        "name": name,
        "logo": logo,
        "evidence": evidence,
        "dmarc_enforced": dmarc_enforced,
    });
    report.queries = counting.count();
    report.finish()
}

/// True when the record starts with `v=BIMI1`.
fn is_bimi1(text: &str) -> bool {
    let list = parse_tag_list(text);
    list.tags.first().is_some_and(|t| {
        t.span.start == 0 && t.name == "v" && t.value.eq_ignore_ascii_case("BIMI1")
    })
}
