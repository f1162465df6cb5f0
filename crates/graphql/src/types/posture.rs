//! DNS posture: what the checks of a domain's SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI and
//! MX records said the last time they ran, and what changed run to run.

use async_graphql::{Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use postern_store::DnsSnapshot;
use serde_json::Value;

/// One posture check run of a domain: every check with its status, the records it read,
/// its findings and, where the fix is a DNS change, the exact record to publish.
pub(crate) struct DnsPostureNode(pub(crate) DnsSnapshot);

/// One posture check run of a domain: every check with its status, the records it read,
/// its findings and, where the fix is a DNS change, the exact record to publish.
#[Object(name = "DnsPosture")]
impl DnsPostureNode {
    /// When the checks ran.
    async fn checked_at(&self) -> DateTime<Utc> {
        self.0.checked_at
    }

    /// DNS queries (and MTA-STS policy fetches) the run made.
    async fn queries(&self) -> i64 {
        i64::from(self.0.queries)
    }

    /// One entry per check: `mx`, `spf`, `dmarc`, `dkim`, `mta_sts`, `tls_rpt`, `bimi`.
    async fn checks(&self) -> Vec<DnsCheckNode> {
        self.0.report["checks"]
            .as_array()
            .map(|checks| checks.iter().cloned().map(DnsCheckNode).collect())
            .unwrap_or_default()
    }

    /// What differs from the run before, per check that changed: `from_status`,
    /// `to_status`, `records_added`, `records_removed`, `findings_new`, `findings_gone`.
    async fn changes(&self) -> Json<Value> {
        Json(self.0.changes.clone())
    }
}

/// What one check said.
pub(crate) struct DnsCheckNode(Value);

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// What one check (SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI or MX) said.
#[Object(name = "DnsCheck")]
impl DnsCheckNode {
    /// `mx`, `spf`, `dmarc`, `dkim`, `mta_sts`, `tls_rpt` or `bimi`.
    async fn check(&self) -> String {
        text(&self.0["check"]).unwrap_or_default()
    }

    /// `pass`, `warn`, `fail`, `missing`, or `unknown` (the answer could not be had: a DNS
    /// timeout or server failure, a policy fetch that failed; never read as pass).
    async fn status(&self) -> String {
        text(&self.0["status"]).unwrap_or_default()
    }

    /// The records (or policy text) the check read, verbatim.
    async fn records(&self) -> Vec<String> {
        self.0["records"]
            .as_array()
            .map(|r| r.iter().filter_map(text).collect())
            .unwrap_or_default()
    }

    /// What is wrong or worth knowing, most severe first.
    async fn findings(&self) -> Vec<DnsFindingNode> {
        self.0["findings"]
            .as_array()
            .map(|f| f.iter().map(DnsFindingNode::from).collect())
            .unwrap_or_default()
    }

    /// Check-specific details: parsed tags, SPF lookup counts per term, DKIM keys and
    /// sizes, MX hosts and addresses, the MTA-STS policy, ...
    async fn details(&self) -> Json<Value> {
        Json(self.0["details"].clone())
    }

    /// DNS queries (and fetches) of this check.
    async fn queries(&self) -> i64 {
        self.0["queries"].as_i64().unwrap_or(0)
    }
}

/// One thing a check found.
#[derive(SimpleObject)]
#[graphql(name = "DnsFinding")]
pub(crate) struct DnsFindingNode {
    /// Stable dotted code, e.g. `dmarc.policy_none`, `spf.too_many_lookups`.
    code: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    severity: String,
    /// What is wrong and why it matters.
    message: String,
    /// The record (or policy line) it is about, when it is about one.
    subject: Option<String>,
    /// Byte position in `subject` (syntax errors).
    position: Option<i32>,
    /// The DNS change that fixes it, when the fix is one.
    fix: Option<DnsRecordFixNode>,
}

/// A DNS record to publish (or remove).
#[derive(SimpleObject)]
#[graphql(name = "DnsRecordFix")]
pub(crate) struct DnsRecordFixNode {
    /// Owner name, e.g. `_dmarc.example.com`.
    name: String,
    /// `TXT`, `MX`, `CNAME`, ...
    record_type: String,
    /// The record published now, if any.
    current: Option<String>,
    /// The exact record to publish; null means remove `current`.
    suggested: Option<String>,
}

impl From<&Value> for DnsFindingNode {
    fn from(f: &Value) -> Self {
        Self {
            code: text(&f["code"]).unwrap_or_default(),
            severity: text(&f["severity"]).unwrap_or_default(),
            message: text(&f["message"]).unwrap_or_default(),
            subject: text(&f["subject"]),
            position: f["position"].as_u64().and_then(|p| i32::try_from(p).ok()),
            fix: f["fix"].as_object().map(|fix| DnsRecordFixNode {
                name: fix.get("name").and_then(text).unwrap_or_default(),
                record_type: fix.get("rtype").and_then(text).unwrap_or_default(),
                current: fix.get("current").and_then(text),
                suggested: fix.get("suggested").and_then(text),
            }),
        }
    }
}
