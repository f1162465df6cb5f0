//! Every aggregate, failure and TLS report input of the shared corpora, parsed and
//! compared with the references: parsedmarc 11.1.0's output (`_peer-output/`) and
//! Stalwart mail-auth's golden JSON. Inputs that are really broken must be rejected with
//! the reason recorded here. Prints a per-file table; fails on any mismatch.
//!
//! The corpora are found at `../../../shared/corpora` from this crate (the `shared`
//! folder beside the repository) or at `$POSTERN_CORPORA`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};
use postern_mailauth::{Extracted, Limits, RejectReason, extract_all};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The corpus folders with report inputs (relative to the corpora root) and the file
/// names in them that are expected results rather than inputs.
const INPUT_DIRS: &[&str] = &[
    "parsedmarc-samples/samples",
    "stalwart-mail-auth/resources/dmarc-feedback",
    "stalwart-mail-auth/resources/arf",
    "stalwart-mail-auth/resources/tlsrpt",
    "dmarc-report-viewer-testdata/testdata",
    "dmarc-report-converter-testdata/testdata",
    "mail-dmarc-fixtures/fixtures",
    "tlsrpt-digest-testdata/testdata",
];

/// Where Postern decides differently from a reference, or where an input is broken.
/// Each entry says why; `corpus_decisions_are_pinned` below checks the same files one by one.
enum Decision {
    /// Rejected with this reason, because …
    Reject(RejectReason, &'static str),
    /// Parsed and compared with parsedmarc's output (of another file when `of` is given),
    /// except for the checks named in `skip`, because …
    Parsedmarc {
        of: Option<&'static str>,
        skip: &'static [&'static str],
        why: &'static str,
    },
    /// Parsed; parsedmarc rejects it, so Stalwart's golden JSON is the reference, because …
    StalwartOnly(&'static str),
}

impl Decision {
    fn why(&self) -> &'static str {
        match self {
            Decision::Reject(_, why) | Decision::StalwartOnly(why) => why,
            Decision::Parsedmarc { why, .. } => why,
        }
    }
}

fn decisions() -> BTreeMap<&'static str, Decision> {
    use Decision::*;
    BTreeMap::from([
        (
            "parsedmarc-samples/samples/empty.xml",
            Reject(RejectReason::Empty, "zero bytes; parsedmarc agrees"),
        ),
        (
            "dmarc-report-converter-testdata/testdata/test_empty.xml",
            Reject(
                RejectReason::MissingField,
                "its only record has an empty source_ip, so no record is usable; parsedmarc agrees",
            ),
        ),
        (
            "parsedmarc-samples/samples/aggregate/invalid_xml.xml",
            Reject(
                RejectReason::InvalidXml,
                "unescaped `<` in <email> and <header_from>: not well-formed. parsedmarc \
                 recovers but invents values (org_email \"@bad-xml.net>\", header_from \"\"); \
                 Postern keeps the raw bytes and stores no guessed data",
            ),
        ),
        (
            "stalwart-mail-auth/resources/tlsrpt/rpt03.json",
            Reject(
                RejectReason::MissingField,
                "no policy has a policy-domain (RFC 8460 requires it) and one has an unknown \
                 policy-type: such a report cannot be routed to any domain. parsedmarc agrees; \
                 Stalwart accepts it with empty domains",
            ),
        ),
        (
            "dmarc-report-converter-testdata/testdata/test.xml.gz.gz",
            Parsedmarc {
                of: Some("dmarc-report-converter-testdata/testdata/test.xml"),
                skip: &[],
                why: "gzip inside gzip is a container like any other (dmarc-report-converter \
                      decodes it too); parsedmarc rejects it as unrecognised",
            },
        ),
        (
            "dmarc-report-converter-testdata/testdata/test2.xml",
            Parsedmarc {
                of: None,
                skip: &["records", "record "],
                why: "the report spans three years; parsedmarc splits each record into \
                      per-day records (12 of count 1), Postern stores the 2 records as sent. \
                      Message totals agree",
            },
        ),
        (
            "stalwart-mail-auth/resources/arf/002.eml",
            Parsedmarc {
                of: None,
                skip: &["arrival_date_utc"],
                why: "`Thu, 8 Mar 2005 14:00:00 EDT` is 18:00 UTC (Stalwart agrees); \
                      parsedmarc drops the EDT zone and says 14:00",
            },
        ),
        (
            "stalwart-mail-auth/resources/arf/003.eml",
            Parsedmarc {
                of: None,
                skip: &["arrival_date_utc"],
                why: "the arrival date is the ARF Received-Date, 12:15:31 -0700 (Stalwart \
                      agrees); parsedmarc ignores it and uses the report's own Date (12:17:45)",
            },
        ),
        (
            "stalwart-mail-auth/resources/arf/001.eml",
            StalwartOnly(
                "a valid RFC 5965 abuse report without Source-IP: kept as a failure report with \
                 feedback_type abuse, routed by the original From domain (Stalwart agrees); \
                 parsedmarc rejects it for the missing source IP",
            ),
        ),
        (
            "stalwart-mail-auth/resources/tlsrpt/rpt02.eml",
            StalwartOnly(
                "an uncompressed application/tlsrpt attachment is a TLS report like a gzipped \
                 one (Stalwart agrees); parsedmarc finds no report in the message",
            ),
        ),
    ])
}

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

fn inputs(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for dir in INPUT_DIRS {
        walk(&root.join(dir), &mut found);
    }
    let mut rel: Vec<String> = found
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .filter(|p| {
            let golden =
                (p.contains("/dmarc-feedback/") || p.contains("/arf/")) && p.ends_with(".json");
            !golden
        })
        .collect();
    rel.sort();
    rel
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// parsedmarc's output for an input, when it parsed it.
fn parsedmarc(root: &Path, rel: &str) -> Option<Value> {
    let name = format!("{}.json", rel.replace('/', "__"));
    let path = root.join("_peer-output/parsedmarc-11.1.0").join(name);
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Stalwart's golden JSON for an input (`NNN.xml`/`NNN.eml` → `NNN.json`; TLS `.eml` →
/// the same-stem `.json` input).
fn stalwart(root: &Path, rel: &str) -> Option<(PathBuf, Value)> {
    if !rel.starts_with("stalwart-mail-auth/") || rel.ends_with(".json") {
        return None;
    }
    let path = root.join(rel).with_extension("json");
    let text = std::fs::read_to_string(&path).ok()?;
    Some((path, serde_json::from_str(&text).ok()?))
}

struct Check {
    errors: Vec<String>,
    /// Checks (by name or name prefix) left out for this file.
    skip: &'static [&'static str],
}

impl Check {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, ours: T, theirs: T) {
        if self.skip.iter().any(|s| what.starts_with(s)) {
            return;
        }
        if ours != theirs {
            self.errors
                .push(format!("{what}: ours {ours:?} ≠ reference {theirs:?}"));
        }
    }
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn day_time(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn compare_aggregate_parsedmarc(
    c: &mut Check,
    header: &AggregateHeader,
    records: &[AggregateRecord],
    reference: &Value,
) {
    let meta = &reference["report_metadata"];
    let pp = &reference["policy_published"];
    let p = &header.policy;
    c.eq(
        "report_id",
        Some(header.report_id.clone()),
        s(&meta["report_id"]),
    );
    c.eq(
        "begin",
        Some(day_time(&header.date_begin)),
        s(&meta["begin_date"]),
    );
    c.eq(
        "end",
        Some(day_time(&header.date_end)),
        s(&meta["end_date"]),
    );
    c.eq("domain", Some(p.domain.to_lowercase()), s(&pp["domain"]));
    let or_r =
        |a: Option<postern_domain::Alignment>| Some(a.map_or("r", |a| a.as_str()).to_owned());
    c.eq("adkim", or_r(p.adkim), s(&pp["adkim"]));
    c.eq("aspf", or_r(p.aspf), s(&pp["aspf"]));
    c.eq("p", p.p.map(|v| v.as_str().to_owned()), s(&pp["p"]));
    // RFC 7489: sp defaults to p; parsedmarc fills it in.
    c.eq(
        "sp",
        p.sp.or(p.p).map(|v| v.as_str().to_owned()),
        s(&pp["sp"]),
    );
    c.eq("np", p.np.map(|v| v.as_str().to_owned()), s(&pp["np"]));
    c.eq("pct", p.pct.map(|v| v.to_string()), s(&pp["pct"]));
    c.eq("fo", p.fo.clone(), s(&pp["fo"]));
    c.eq(
        "testing",
        p.testing.map(|t| if t { "y" } else { "n" }.to_owned()),
        s(&pp["testing"]),
    );
    c.eq(
        "discovery_method",
        p.discovery_method.map(|d| d.as_str().to_owned()),
        s(&pp["discovery_method"]),
    );
    let theirs = reference["records"].as_array().cloned().unwrap_or_default();
    c.eq("records", records.len(), theirs.len());
    let total: u64 = records.iter().map(|r| r.count).sum();
    let their_total: u64 = theirs.iter().filter_map(|r| r["count"].as_u64()).sum();
    c.eq("messages", total, their_total);
    for (i, (ours, theirs)) in records.iter().zip(&theirs).enumerate() {
        let pe = &theirs["policy_evaluated"];
        c.eq(
            &format!("record {} row", i + 1),
            (
                Some(ours.source_ip.to_string()),
                ours.count,
                Some(ours.disposition.as_str().to_owned()),
                ours.dkim.map(|d| d.as_str().to_owned()),
                ours.spf.map(|d| d.as_str().to_owned()),
            ),
            (
                s(&theirs["source"]["ip_address"]),
                theirs["count"].as_u64().unwrap_or(u64::MAX),
                s(&pe["disposition"]),
                s(&pe["dkim"]),
                s(&pe["spf"]),
            ),
        );
    }
}

/// Stalwart spells vocabulary as Rust variants ("Relaxed", "Quarantine", "TreeWalk").
fn variant(v: &Value) -> Option<String> {
    let text = s(v)?.to_lowercase();
    match text.as_str() {
        "unspecified" => None,
        "relaxed" => Some("r".into()),
        "strict" => Some("s".into()),
        _ => Some(text),
    }
}

fn compare_aggregate_stalwart(
    c: &mut Check,
    header: &AggregateHeader,
    records: &[AggregateRecord],
    golden: &Value,
) {
    let meta = &golden["report_metadata"];
    let pp = &golden["policy_published"];
    let p = &header.policy;
    c.eq(
        "org_name",
        Some(header.org_name.clone()),
        s(&meta["org_name"]),
    );
    c.eq(
        "report_id",
        Some(header.report_id.clone()),
        s(&meta["report_id"]),
    );
    c.eq(
        "date_range",
        (header.date_begin.timestamp(), header.date_end.timestamp()),
        (
            meta["date_range"]["begin"].as_i64().unwrap_or(-1),
            meta["date_range"]["end"].as_i64().unwrap_or(-1),
        ),
    );
    c.eq("generator", header.generator.clone(), s(&meta["generator"]));
    c.eq("domain", Some(p.domain.clone()), s(&pp["domain"]));
    c.eq(
        "adkim",
        p.adkim.map(|v| v.as_str().to_owned()),
        variant(&pp["adkim"]),
    );
    c.eq(
        "aspf",
        p.aspf.map(|v| v.as_str().to_owned()),
        variant(&pp["aspf"]),
    );
    c.eq("p", p.p.map(|v| v.as_str().to_owned()), variant(&pp["p"]));
    c.eq(
        "sp",
        p.sp.map(|v| v.as_str().to_owned()),
        variant(&pp["sp"]),
    );
    c.eq(
        "np",
        p.np.map(|v| v.as_str().to_owned()),
        variant(&pp["np"]),
    );
    c.eq(
        "testing",
        p.testing.unwrap_or(false),
        pp["testing"].as_bool().unwrap_or(false),
    );
    c.eq(
        "discovery_method",
        p.discovery_method.map(|v| v.as_str().to_owned()),
        variant(&pp["discovery_method"]),
    );
    c.eq("fo", p.fo.clone(), s(&pp["fo"]));
    let theirs = golden["record"].as_array().cloned().unwrap_or_default();
    c.eq("records", records.len(), theirs.len());
    for (i, (ours, theirs)) in records.iter().zip(&theirs).enumerate() {
        let row = &theirs["row"];
        let pe = &row["policy_evaluated"];
        let ids = &theirs["identifiers"];
        let auth = &theirs["auth_results"];
        // Stalwart reads RFC 7489's `sampled_out` as "other"; Postern keeps it as
        // sampled_out, so reasons are compared by number only.
        c.eq(
            &format!("record {}", i + 1),
            (
                Some(ours.source_ip.to_string()),
                ours.count,
                Some(ours.disposition.as_str().to_owned()),
                ours.dkim.map(|d| d.as_str().to_owned()),
                ours.spf.map(|d| d.as_str().to_owned()),
                ours.reasons.len(),
                Some(ours.header_from.clone()),
                ours.envelope_from.clone().unwrap_or_default(),
                ours.envelope_to.clone(),
                ours.dkim_results.len(),
                ours.spf_results.len(),
            ),
            (
                s(&row["source_ip"]),
                row["count"].as_u64().unwrap_or(u64::MAX),
                variant(&pe["disposition"]),
                variant(&pe["dkim"]),
                variant(&pe["spf"]),
                pe["reason"].as_array().map_or(0, Vec::len),
                s(&ids["header_from"]),
                s(&ids["envelope_from"]).unwrap_or_default(),
                s(&ids["envelope_to"]),
                auth["dkim"].as_array().map_or(0, Vec::len),
                auth["spf"].as_array().map_or(0, Vec::len),
            ),
        );
    }
}

fn compare_failure_parsedmarc(c: &mut Check, report: &FailureReport, reference: &Value) {
    c.eq(
        "feedback_type",
        Some(report.feedback_type.clone()),
        s(&reference["feedback_type"]),
    );
    c.eq(
        "source_ip",
        report.source_ip.map(|ip| ip.to_string()),
        s(&reference["source"]["ip_address"]),
    );
    c.eq(
        "reported_domain",
        Some(report.reported_domain.clone()),
        s(&reference["reported_domain"]),
    );
    c.eq(
        "arrival_date_utc",
        report.arrival_date.as_ref().map(day_time),
        s(&reference["arrival_date_utc"]),
    );
}

fn compare_failure_stalwart(c: &mut Check, report: &FailureReport, golden: &Value) {
    let text = |k: &str| s(&golden[k]);
    c.eq(
        "feedback_type",
        report.feedback_type.replace('-', ""),
        text("feedback_type").unwrap_or_default().to_lowercase(),
    );
    // Without an Arrival-Date Stalwart says null; Postern takes the report's Date.
    if let Some(arrival) = golden["arrival_date"].as_i64() {
        c.eq(
            "arrival_date",
            report.arrival_date.map(|d| d.timestamp()),
            Some(arrival),
        );
    }
    c.eq(
        "source_ip",
        report.source_ip.map(|i| i.to_string()),
        text("source_ip"),
    );
    let their_domain = golden["reported_domain"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(s);
    if let Some(domain) = their_domain {
        c.eq("reported_domain", report.reported_domain.clone(), domain);
    }
    c.eq(
        "auth_failure",
        report.auth_failure.first().cloned(),
        variant(&golden["auth_failure"]),
    );
    c.eq(
        "dkim_domain",
        report.dkim_domain.clone(),
        text("dkim_domain"),
    );
    c.eq(
        "dkim_selector",
        report.dkim_selector.clone(),
        text("dkim_selector"),
    );
    c.eq(
        "dkim_identity",
        report.dkim_identity.clone(),
        text("dkim_identity"),
    );
    c.eq("spf_dns", report.spf_dns.clone(), text("spf_dns"));
    c.eq("user_agent", report.user_agent.clone(), text("user_agent"));
    c.eq(
        "original_mail_from",
        report.original_mail_from.clone(),
        text("original_mail_from"),
    );
    c.eq(
        "original_rcpt_to",
        report.original_rcpt_to.first().cloned(),
        text("original_rcpt_to"),
    );
    let their_results: Vec<String> = golden["authentication_results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(s)
                .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .unwrap_or_default();
    let our_results: Vec<String> = report
        .authentication_results
        .iter()
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    c.eq("authentication_results", our_results, their_results);
}

fn compare_tls_parsedmarc(c: &mut Check, report: &TlsReport, reference: &Value) {
    c.eq(
        "organization_name",
        Some(report.organization_name.clone()),
        s(&reference["organization_name"]),
    );
    c.eq(
        "report_id",
        Some(report.report_id.clone()),
        s(&reference["report_id"]),
    );
    c.eq(
        "date_range",
        (
            Some(report.date_begin.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Some(report.date_end.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ),
        (s(&reference["begin_date"]), s(&reference["end_date"])),
    );
    c.eq(
        "contact_info",
        report.contact_info.clone(),
        s(&reference["contact_info"]),
    );
    let theirs = reference["policies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    c.eq("policies", report.policies.len(), theirs.len());
    for (i, (ours, theirs)) in report.policies.iter().zip(&theirs).enumerate() {
        let their_strings: Vec<String> = theirs["policy_strings"]
            .as_array()
            .map(|a| a.iter().filter_map(s).collect())
            .unwrap_or_default();
        let their_details: Vec<(Option<String>, u64)> = theirs["failure_details"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        (
                            s(&d["result_type"]),
                            d["failed_session_count"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        c.eq(
            &format!("policy {}", i + 1),
            (
                Some(ours.policy_domain.clone()),
                Some(ours.policy_type.as_str().to_owned()),
                ours.policy_string.clone(),
                ours.total_successful_session_count,
                ours.total_failure_session_count,
                ours.failure_details
                    .iter()
                    .map(|d| (Some(d.result_type.clone()), d.failed_session_count))
                    .collect::<Vec<_>>(),
            ),
            (
                s(&theirs["policy_domain"]),
                s(&theirs["policy_type"]),
                their_strings,
                theirs["successful_session_count"].as_u64().unwrap_or(0),
                theirs["failed_session_count"].as_u64().unwrap_or(0),
                their_details,
            ),
        );
    }
}

/// One row of the table.
struct Row {
    file: String,
    why: Option<&'static str>,
    outcome: String,
    reference: String,
    errors: Vec<String>,
}

fn summary(found: &[Extracted]) -> String {
    found
        .iter()
        .map(|f| match f {
            Extracted::Aggregate {
                header,
                records,
                problems,
                ..
            } => format!(
                "aggregate {} records={} msgs={} problems={}",
                header.schema,
                records.len(),
                records.iter().map(|r| r.count).sum::<u64>(),
                problems.len()
            ),
            Extracted::Failure {
                report, problems, ..
            } => format!(
                "failure {} domain={} problems={}",
                report.feedback_type,
                report.reported_domain,
                problems.len()
            ),
            Extracted::Tls {
                report, problems, ..
            } => format!(
                "tls policies={} problems={}",
                report.policies.len(),
                problems.len()
            ),
            Extracted::Rejected { at, rejection } => {
                format!("rejected at {at}: {}", rejection.reason.code())
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn check_file(root: &Path, rel: &str, decisions: &BTreeMap<&str, Decision>) -> Row {
    let bytes = std::fs::read(root.join(rel)).unwrap();
    let found = extract_all(&bytes, &Limits::default());
    let mut c = Check {
        errors: Vec::new(),
        skip: &[],
    };
    let mut references = Vec::new();
    if found.len() != 1 {
        c.errors
            .push(format!("expected one result, got {}", found.len()));
    }
    let decision = decisions.get(rel);
    if let Some(Decision::Reject(reason, _)) = decision {
        references.push(format!("decision: reject {}", reason.code()));
        match found.first() {
            Some(Extracted::Rejected { rejection, .. }) => {
                c.eq("rejection", rejection.reason, *reason);
            }
            _ => c.errors.push("expected a rejection".into()),
        }
    } else {
        let parsedmarc_of = match decision {
            Some(Decision::Parsedmarc { of, .. }) => Some(of.unwrap_or(rel)),
            Some(Decision::StalwartOnly(_)) => None,
            _ => Some(rel),
        };
        if let Some(Decision::Parsedmarc { skip, .. }) = decision {
            c.skip = skip;
        }
        let reference = parsedmarc_of.and_then(|r| parsedmarc(root, r));
        let golden = stalwart(root, rel);
        if parsedmarc_of.is_some() && reference.is_none() {
            c.errors
                .push("parsedmarc rejected this input but no decision is recorded".into());
        }
        if let Some(reference) = &reference {
            references.push(format!(
                "parsedmarc{}",
                if parsedmarc_of == Some(rel) {
                    String::new()
                } else {
                    format!(" of {}", parsedmarc_of.unwrap_or_default())
                }
            ));
            let kind = reference["report_type"].as_str().unwrap_or_default();
            let report = &reference["report"];
            match (found.first(), kind) {
                (
                    Some(Extracted::Aggregate {
                        header, records, ..
                    }),
                    "aggregate",
                ) => {
                    compare_aggregate_parsedmarc(&mut c, header, records, report);
                }
                (Some(Extracted::Failure { report: ours, .. }), "failure") => {
                    compare_failure_parsedmarc(&mut c, ours, report);
                }
                (Some(Extracted::Tls { report: ours, .. }), "smtp_tls") => {
                    compare_tls_parsedmarc(&mut c, ours, report);
                }
                (other, kind) => c.errors.push(format!(
                    "parsedmarc says {kind}, we say {}",
                    summary(other.map(std::slice::from_ref).unwrap_or_default())
                )),
            }
        }
        // The skips are about parsedmarc; Stalwart's golden files are compared in full.
        c.skip = &[];
        if let Some((path, golden)) = &golden {
            references.push(format!(
                "stalwart {}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            match found.first() {
                Some(Extracted::Aggregate {
                    header, records, ..
                }) => {
                    compare_aggregate_stalwart(&mut c, header, records, golden);
                }
                Some(Extracted::Failure { report, .. }) => {
                    compare_failure_stalwart(&mut c, report, golden);
                }
                Some(Extracted::Tls { report, .. }) => {
                    // The golden file is itself an input: both must read the same.
                    let theirs = extract_all(&std::fs::read(path).unwrap(), &Limits::default());
                    match theirs.first() {
                        Some(Extracted::Tls { report: json, .. }) => {
                            c.eq("tls report", report, json);
                        }
                        _ => c.errors.push("the golden TLS JSON did not parse".into()),
                    }
                }
                _ => c
                    .errors
                    .push("not parsed, but Stalwart has a golden result".into()),
            }
        }
        if references.is_empty() {
            c.errors.push("no reference for this input".into());
        }
    }
    Row {
        file: rel.to_owned(),
        why: decision.map(Decision::why),
        outcome: summary(&found),
        reference: references.join(" + "),
        errors: c.errors,
    }
}

#[test]
fn every_corpus_report_matches_its_reference_or_is_rejected_as_decided() {
    let root = corpora();
    let decisions = decisions();
    let files = inputs(&root);
    assert!(
        files.len() >= 80,
        "only {} corpus inputs found",
        files.len()
    );
    for rel in decisions.keys() {
        assert!(
            files.iter().any(|f| f == rel),
            "decision for a file not in the corpus: {rel}"
        );
    }
    let rows: Vec<Row> = files
        .iter()
        .map(|rel| check_file(&root, rel, &decisions))
        .collect();
    let mut failed = 0;
    println!(
        "{:<3} | {:<95} | {:<60} | reference",
        "ok", "file", "outcome"
    );
    for row in &rows {
        let ok = row.errors.is_empty();
        failed += usize::from(!ok);
        println!(
            "{:<3} | {:<95} | {:<60} | {}",
            if ok { "ok" } else { "NO" },
            row.file,
            row.outcome,
            row.reference
        );
        if let Some(why) = row.why {
            println!("      = {why}");
        }
        for e in &row.errors {
            println!("      ! {e}");
        }
    }
    println!("{} inputs, {} mismatches", rows.len(), failed);
    assert_eq!(
        failed, 0,
        "{failed} corpus inputs do not match their reference"
    );
}

/// The corpus decisions, one test per disagreement with a reference, each naming its file.
mod decisions {
    use super::*;

    fn only(rel: &str) -> Extracted {
        let bytes = std::fs::read(corpora().join(rel)).unwrap();
        let mut found = extract_all(&bytes, &Limits::default());
        assert_eq!(found.len(), 1, "{rel}: {found:?}");
        found.remove(0)
    }

    /// parsedmarc recovers `invalid_xml.xml` by guessing; Postern rejects it because the
    /// values it would keep are not what the reporter meant.
    #[test]
    fn invalid_xml_xml_is_rejected_unlike_parsedmarc() {
        match only("parsedmarc-samples/samples/aggregate/invalid_xml.xml") {
            Extracted::Rejected { rejection, .. } => {
                assert_eq!(rejection.reason, RejectReason::InvalidXml);
                assert!(
                    rejection.detail.contains("near byte"),
                    "{}",
                    rejection.detail
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Like parsedmarc, `invalid_utf_8.xml` parses: the bad byte becomes U+FFFD (a
    /// problem says so) and the empty org_name is taken from the email domain.
    #[test]
    fn invalid_utf_8_xml_is_recovered_like_parsedmarc() {
        match only("parsedmarc-samples/samples/aggregate/invalid_utf_8.xml") {
            Extracted::Aggregate {
                header,
                records,
                problems,
                ..
            } => {
                assert_eq!(header.org_name, "accurateplastics.com");
                assert_eq!(records[0].header_from, "bad_byte\u{FFFD}");
                assert!(
                    problems.iter().any(|p| p.contains("U+FFFD")),
                    "{problems:?}"
                );
                assert!(
                    problems.iter().any(|p| p.contains("org_name")),
                    "{problems:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// parsedmarc rejects double gzip; it is just two containers.
    #[test]
    fn test_xml_gz_gz_parses_unlike_parsedmarc() {
        let plain = only("dmarc-report-converter-testdata/testdata/test.xml");
        let double = only("dmarc-report-converter-testdata/testdata/test.xml.gz.gz");
        match (plain, double) {
            (
                Extracted::Aggregate {
                    header: a,
                    records: ra,
                    ..
                },
                Extracted::Aggregate {
                    header: b,
                    records: rb,
                    at,
                    ..
                },
            ) => {
                assert_eq!(a, b);
                assert_eq!(ra, rb);
                assert_eq!(at.0, "body/gzip/gzip");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Agreeing with parsedmarc (and not dmarc-report-converter): a record with an empty
    /// source_ip cannot be stored, and a report of nothing else is rejected.
    #[test]
    fn test_empty_xml_with_empty_source_ip_is_rejected() {
        match only("dmarc-report-converter-testdata/testdata/test_empty.xml") {
            Extracted::Rejected { rejection, .. } => {
                assert_eq!(rejection.reason, RejectReason::MissingField);
                assert!(
                    rejection.detail.contains("record 1: empty source_ip"),
                    "{}",
                    rejection.detail
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// parsedmarc rejects Stalwart's `arf/001.eml` (an abuse ARF report without
    /// Source-IP); it is valid ARF and routable by its original From domain.
    #[test]
    fn arf_001_eml_abuse_report_is_kept_unlike_parsedmarc() {
        match only("stalwart-mail-auth/resources/arf/001.eml") {
            Extracted::Failure {
                report, problems, ..
            } => {
                assert_eq!(report.feedback_type, "abuse");
                assert_eq!(report.reported_domain, "example.net");
                assert_eq!(report.source_ip, None);
                assert!(
                    problems.iter().any(|p| p.contains("Source-IP")),
                    "{problems:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Stalwart accepts `rpt03.json` with empty policy domains; parsedmarc and Postern
    /// reject it: nothing in it can be routed.
    #[test]
    fn rpt03_json_without_policy_domain_is_rejected_unlike_stalwart() {
        match only("stalwart-mail-auth/resources/tlsrpt/rpt03.json") {
            Extracted::Rejected { rejection, .. } => {
                assert_eq!(rejection.reason, RejectReason::MissingField);
                assert!(
                    rejection.detail.contains("policy-domain"),
                    "{}",
                    rejection.detail
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// parsedmarc finds no report in `rpt02.eml`; its attachment is plain JSON.
    #[test]
    fn rpt02_eml_with_uncompressed_json_parses_unlike_parsedmarc() {
        match only("stalwart-mail-auth/resources/tlsrpt/rpt02.eml") {
            Extracted::Tls { report, at, .. } => {
                assert_eq!(report.policies[0].policy_domain, "example.com");
                assert!(at.0.starts_with("body/part 2"), "{at}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// parsedmarc reads `Thu, 8 Mar 2005 14:00:00 EDT` as 14:00 UTC (dateutil ignores
    /// EDT); it is 18:00 UTC, as Stalwart has it.
    #[test]
    fn arf_002_eml_arrival_date_honours_edt_unlike_parsedmarc() {
        match only("stalwart-mail-auth/resources/arf/002.eml") {
            Extracted::Failure { report, .. } => {
                assert_eq!(
                    report.arrival_date.map(|d| d.to_rfc3339()),
                    Some("2005-03-08T18:00:00+00:00".to_owned())
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// parsedmarc splits the records of `test2.xml` (a three-year range) into per-day
    /// records; Postern stores what the reporter sent. The message total is the same.
    #[test]
    fn test2_xml_keeps_its_records_as_sent_unlike_parsedmarc() {
        match only("dmarc-report-converter-testdata/testdata/test2.xml") {
            Extracted::Aggregate { records, .. } => {
                let counts: Vec<u64> = records.iter().map(|r| r.count).collect();
                assert_eq!(counts, vec![10, 2]);
            }
            other => panic!("{other:?}"),
        }
    }

    /// `arf/003.eml` gives only `Received-Date` (ARF's older name of Arrival-Date);
    /// parsedmarc ignores it and takes the report's Date.
    #[test]
    fn arf_003_eml_arrival_is_its_received_date_unlike_parsedmarc() {
        match only("stalwart-mail-auth/resources/arf/003.eml") {
            Extracted::Failure { report, .. } => {
                assert_eq!(
                    report.arrival_date.map(|d| d.to_rfc3339()),
                    Some("2010-04-14T19:15:31+00:00".to_owned())
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// One reporter wraps its report in `<xs:schema>`; like parsedmarc, Postern finds the
    /// `<feedback>` inside.
    #[test]
    fn ikea_report_wrapped_in_xs_schema_is_found() {
        match only(
            "parsedmarc-samples/samples/aggregate/ikea.com!example.de!1538690400!1538776800.xml",
        ) {
            Extracted::Aggregate { header, .. } => {
                assert_eq!(header.report_id, "aggr_report_2018_10_05_5bc7e9b4f3e8a");
            }
            other => panic!("{other:?}"),
        }
    }
}
