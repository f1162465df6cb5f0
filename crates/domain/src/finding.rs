//! What rules find: findings with evidence, ordered fix steps and a verification, and the
//! states of the issues analysis keeps for them. Rule plugins return these (through the WIT
//! world in `proto/wit/`); the issue workflow stores them.

use serde::{Deserialize, Serialize};

vocabulary!(
    /// How bad a finding is.
    Severity {
        Info => "info",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical"
    }
);

vocabulary!(
    /// What kind of action a fix step asks for.
    FixStepKind {
        /// Publish or change a DNS record (the `record` says which, from what, to what).
        ChangeDnsRecord => "change_dns_record",
        /// Move the DMARC policy a step on (none → quarantine → reject).
        UpgradePolicy => "upgrade_policy",
        /// Authorise or fix a sending source (SPF include, DKIM signing).
        FixSendingSource => "fix_sending_source",
        /// Contact the recipient's admin with the facts they need.
        ContactRecipientAdmin => "contact_recipient_admin",
        /// Suppress addresses.
        SuppressAddresses => "suppress_addresses",
        /// Pause a sending segment or campaign.
        PauseSegment => "pause_segment",
        /// Look into something the rule cannot decide.
        Investigate => "investigate"
    }
);

vocabulary!(
    /// Where an issue is in its workflow.
    IssueState {
        Open => "open",
        Acknowledged => "acknowledged",
        InProgress => "in_progress",
        Resolved => "resolved",
        /// Stays ignored until un-ignored, even while the finding persists.
        Ignored => "ignored"
    }
);

/// One named piece of evidence (`"source_ip"`, `"messages"`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub label: String,
    pub value: String,
}

/// A DNS record to publish: its exact text, and what is there now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecordChange {
    /// Owner name, e.g. `_dmarc.example.com`.
    pub name: String,
    /// `TXT`, `CNAME`, `MX`, …
    pub record_type: String,
    /// The record as it is now, if any.
    pub current: Option<String>,
    /// The exact record text to publish.
    pub proposed: String,
}

/// One step of a fix, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixStep {
    pub kind: FixStepKind,
    /// Short imperative, e.g. "Publish a DMARC record with p=quarantine".
    pub title: String,
    /// What to do and why, for a person.
    pub detail: String,
    pub record: Option<DnsRecordChange>,
}

/// What must be observed for the issue to count as fixed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub description: String,
}

/// What a rule found about one domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable dotted code starting with its area: `dmarc.policy_none`, `spf.too_many_lookups`.
    pub code: String,
    pub severity: Severity,
    pub title: String,
    pub explanation: String,
    pub evidence: Vec<Evidence>,
    pub fix_steps: Vec<FixStep>,
    pub verification: Verification,
}

impl Finding {
    /// Whether `code` is a valid finding code: 2+ dot-separated parts of `[a-z0-9_]`.
    pub fn valid_code(code: &str) -> bool {
        let mut parts = 0;
        for part in code.split('.') {
            parts += 1;
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return false;
            }
        }
        parts >= 2 && code.len() <= 128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_codes_are_dotted_lower_case() {
        assert!(Finding::valid_code("dmarc.policy_none"));
        assert!(Finding::valid_code(
            "tlsrpt.failures.starttls_not_supported"
        ));
        assert!(!Finding::valid_code("dmarc"));
        assert!(!Finding::valid_code("DMARC.none"));
        assert!(!Finding::valid_code("dmarc..none"));
        assert!(!Finding::valid_code("dmarc.none-x"));
    }

    #[test]
    fn states_and_severities_have_stable_names() {
        assert_eq!(
            IssueState::parse("in_progress"),
            Some(IssueState::InProgress)
        );
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(FixStepKind::ChangeDnsRecord.as_str(), "change_dns_record");
    }
}
