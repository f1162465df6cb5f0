//! The SPF posture check: [`crate::spf::audit`] as a [`CheckReport`], with the lookup
//! counts per term and the record to publish where the fix is certain.

use super::counting::Counting;
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, RecordFix, Severity};
use crate::spf::{
    self, MAX_DNS_TERMS, Mechanism, Qualifier, SpfNode, SpfOptions, SpfResult, TermKind,
    parse_record,
};
use postern_dns::Resolver;
use serde_json::{Value, json};

/// Checks `domain`'s SPF posture (audit mode: every branch of the include/redirect tree).
#[tracing::instrument(name = "mailauth.posture.spf", skip_all, fields(domain = %domain))]
pub async fn check(resolver: &dyn Resolver, domain: &str, options: &SpfOptions) -> CheckReport {
    let counting = Counting::new(resolver);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let posture = spf::audit(&counting, &domain, options).await;
    let mut report = CheckReport::new(CheckKind::Spf);
    let tree = posture.evaluation.tree.as_ref();
    let root_record = tree.and_then(|t| t.record.clone());
    report.records.extend(root_record.clone());
    for finding in &posture.findings {
        let severity = match finding.severity {
            spf::Severity::Error => Severity::High,
            spf::Severity::Warning => Severity::Medium,
            spf::Severity::Info => Severity::Info,
        };
        let message = if finding.domain == domain {
            finding.message.clone()
        } else {
            format!("in the record of {}: {}", finding.domain, finding.message)
        };
        let mut out = PostureFinding::new(finding.code, severity, message);
        if let Some(record) = tree.and_then(|t| record_of(t, &finding.domain)) {
            out = out.subject(record);
        }
        if let Some(position) = finding.position {
            out = out.at(position);
        }
        if finding.domain == domain
            && let (Some(record), Some(position)) = (&root_record, finding.position)
            && let Some(suggested) = all_fix(record, position)
        {
            out = out.fix(RecordFix {
                name: domain.clone(),
                rtype: "TXT".to_owned(),
                current: Some(record.clone()),
                suggested: Some(suggested),
            });
        }
        report.findings.push(out);
    }
    match (&posture.evaluation.result, tree) {
        (SpfResult::TempError(_), _) => report.status = CheckStatus::Unknown,
        (_, Some(root)) if root.spf_records == 0 && matches!(root.result, SpfResult::None) => {
            report.status = CheckStatus::Missing;
        }
        _ => {}
    }
    let mut terms = Vec::new();
    if let Some(root) = tree {
        collect_terms(root, 0, &mut terms);
    }
    report.details = json!({
        "result": posture.evaluation.result.as_str(),
        "dns_lookups": posture.evaluation.dns_lookups,
        "dns_lookup_limit": MAX_DNS_TERMS,
        "void_lookups": posture.evaluation.void_lookups,
        "void_lookup_limit": options.max_void_lookups,
        "record": root_record,
        "terms": terms,
    });
    report.queries = counting.count();
    report.finish()
}

/// The record of `domain` somewhere in the tree.
fn record_of(node: &SpfNode, domain: &str) -> Option<String> {
    if node.domain == domain && node.record.is_some() {
        return node.record.clone();
    }
    node.terms
        .iter()
        .filter_map(|t| t.child.as_deref())
        .find_map(|child| record_of(child, domain))
}

/// For a `+all` or `?all` at `position`: the same record with `~all` there. (`~all` and
/// not `-all`: a record that was too permissive may also be incomplete, and softfail does
/// not bounce the mail of a forgotten sender; the message says to go to `-all` once the
/// reports show every sender is listed.)
fn all_fix(record: &str, position: usize) -> Option<String> {
    let parsed = parse_record(record).ok()?;
    let term = parsed.terms.iter().find(|t| t.span.start == position)?;
    match &term.kind {
        TermKind::Directive(Qualifier::Pass | Qualifier::Neutral, Mechanism::All) => Some(format!(
            "{}~all{}",
            &record[..term.span.start],
            &record[term.span.end..]
        )),
        _ => None,
    }
}

/// Every evaluated term of the tree with its own counts, depth first.
fn collect_terms(node: &SpfNode, depth: usize, out: &mut Vec<Value>) {
    for term in &node.terms {
        out.push(json!({
            "domain": node.domain,
            "depth": depth,
            "term": term.text,
            "dns_lookups": term.dns_lookups,
            "void_lookups": term.void_lookups,
            "names": term.names,
            "target": term.target,
        }));
        if let Some(child) = &term.child {
            collect_terms(child, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_fix_replaces_only_the_all_term() {
        assert_eq!(
            all_fix("v=spf1 mx +all", 10).as_deref(),
            Some("v=spf1 mx ~all")
        );
        assert_eq!(
            all_fix("v=spf1 ?all exp=x.example", 7).as_deref(),
            Some("v=spf1 ~all exp=x.example")
        );
        assert_eq!(all_fix("v=spf1 all", 7).as_deref(), Some("v=spf1 ~all"));
        assert_eq!(all_fix("v=spf1 mx -all", 10), None);
        assert_eq!(all_fix("v=spf1 mx +all", 7), None);
    }
}
