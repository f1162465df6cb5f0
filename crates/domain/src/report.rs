//! Parsed reports: DMARC aggregate (RFC 7489 and RFC 9990), DMARC failure (RFC 6591 /
//! RFC 9991) and SMTP TLS (RFC 8460). These are what parsers produce and stores keep as
//! typed columns; they carry no storage or tenant information.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

vocabulary!(
    /// The three kinds of report Postern ingests.
    ReportKind { Aggregate => "aggregate", Failure => "failure", Tls => "tls" }
);

vocabulary!(
    /// Which specification an aggregate report follows.
    AggregateSchema {
        /// RFC 7489 (no namespace, or `version` 1.0).
        Rfc7489 => "rfc7489",
        /// RFC 9990 (namespace `urn:ietf:params:xml:ns:dmarc-2.0`).
        Rfc9990 => "rfc9990",
        /// DMARCbis drafts (`<version>2.0</version>` without the RFC 9990 namespace).
        Draft => "draft"
    }
);

vocabulary!(
    /// DKIM or SPF identifier alignment mode (`adkim`, `aspf`).
    Alignment { Relaxed => "r", Strict => "s" }
);

vocabulary!(
    /// A requested DMARC policy (`p`, `sp`, `np`).
    RequestedPolicy { None => "none", Quarantine => "quarantine", Reject => "reject" }
);

vocabulary!(
    /// How the policy was discovered (RFC 9990 `discovery_method`).
    DiscoveryMethod { Psl => "psl", TreeWalk => "treewalk" }
);

vocabulary!(
    /// What the receiver did with the messages of a record.
    Disposition {
        None => "none",
        Quarantine => "quarantine",
        Reject => "reject",
        /// RFC 9990: the message passed DMARC.
        Pass => "pass"
    }
);

vocabulary!(
    /// DMARC-aligned verdict of DKIM or SPF in a record's `policy_evaluated`.
    DmarcResult { Pass => "pass", Fail => "fail" }
);

vocabulary!(
    /// Raw DKIM verdict in `auth_results`.
    DkimResult {
        None => "none",
        Pass => "pass",
        Fail => "fail",
        Policy => "policy",
        Neutral => "neutral",
        TempError => "temperror",
        PermError => "permerror"
    }
);

vocabulary!(
    /// Raw SPF verdict in `auth_results`.
    SpfResult {
        None => "none",
        Neutral => "neutral",
        Pass => "pass",
        Fail => "fail",
        SoftFail => "softfail",
        TempError => "temperror",
        PermError => "permerror"
    }
);

vocabulary!(
    /// Which identity SPF checked (`scope`).
    SpfDomainScope { Helo => "helo", MailFrom => "mfrom" }
);

vocabulary!(
    /// Why the receiver departed from the published policy.
    PolicyOverride {
        Forwarded => "forwarded",
        SampledOut => "sampled_out",
        TrustedForwarder => "trusted_forwarder",
        MailingList => "mailing_list",
        LocalPolicy => "local_policy",
        /// RFC 9990: the domain published `t=y`.
        PolicyTestMode => "policy_test_mode",
        Other => "other"
    }
);

vocabulary!(
    /// The policy type of a TLS-RPT policy block.
    TlsPolicyType { Sts => "sts", Tlsa => "tlsa", NoPolicyFound => "no-policy-found" }
);

/// Everything of an aggregate report except its records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateHeader {
    pub schema: AggregateSchema,
    /// The `<version>` element, when present.
    pub version: Option<String>,
    pub org_name: String,
    pub org_email: Option<String>,
    pub extra_contact_info: Option<String>,
    pub report_id: String,
    pub date_begin: DateTime<Utc>,
    pub date_end: DateTime<Utc>,
    /// Errors the reporter listed in `<error>`.
    pub errors: Vec<String>,
    /// RFC 9990 `generator`.
    pub generator: Option<String>,
    pub policy: PolicyPublished,
}

/// `policy_published`: the DMARC record the receiver found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyPublished {
    pub domain: String,
    pub adkim: Option<Alignment>,
    pub aspf: Option<Alignment>,
    pub p: Option<RequestedPolicy>,
    pub sp: Option<RequestedPolicy>,
    /// RFC 9990 `np`: policy for non-existent subdomains.
    pub np: Option<RequestedPolicy>,
    /// RFC 7489 `pct` (removed in RFC 9989).
    pub pct: Option<u8>,
    pub fo: Option<String>,
    /// RFC 9990 `testing` (`t=y`).
    pub testing: Option<bool>,
    pub discovery_method: Option<DiscoveryMethod>,
}

/// One `<record>`: a group of messages from one source with one outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateRecord {
    pub source_ip: IpAddr,
    pub count: u64,
    pub disposition: Disposition,
    pub dkim: Option<DmarcResult>,
    pub spf: Option<DmarcResult>,
    pub reasons: Vec<PolicyOverrideReason>,
    pub header_from: String,
    pub envelope_from: Option<String>,
    pub envelope_to: Option<String>,
    pub dkim_results: Vec<DkimAuthResult>,
    pub spf_results: Vec<SpfAuthResult>,
}

impl AggregateRecord {
    /// DMARC passes when aligned DKIM or aligned SPF passes.
    pub fn dmarc_pass(&self) -> bool {
        self.dkim == Some(DmarcResult::Pass) || self.spf == Some(DmarcResult::Pass)
    }
}

/// A policy override with the receiver's comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyOverrideReason {
    pub kind: PolicyOverride,
    pub comment: Option<String>,
}

/// A DKIM signature's raw result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DkimAuthResult {
    pub domain: String,
    pub selector: Option<String>,
    pub result: DkimResult,
    pub human_result: Option<String>,
}

/// An SPF check's raw result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpfAuthResult {
    pub domain: String,
    pub scope: Option<SpfDomainScope>,
    pub result: SpfResult,
    pub human_result: Option<String>,
}

/// A DMARC failure report (RFC 6591 ARF with RFC 9991 fields).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct FailureReport {
    /// `Feedback-Type` (normally `auth-failure`).
    pub feedback_type: String,
    pub user_agent: Option<String>,
    pub version: Option<String>,
    pub arrival_date: Option<DateTime<Utc>>,
    pub source_ip: Option<IpAddr>,
    pub original_mail_from: Option<String>,
    pub original_rcpt_to: Vec<String>,
    /// The domain the report is about (`Reported-Domain`, else the `From` domain).
    pub reported_domain: String,
    /// `Auth-Failure`: dmarc, dkim, spf, adsp, bodyhash, revoked, signature.
    pub auth_failure: Vec<String>,
    pub delivery_result: Option<String>,
    pub dkim_domain: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_identity: Option<String>,
    pub spf_dns: Option<String>,
    pub authentication_results: Vec<String>,
    pub identity_alignment: Option<String>,
    /// Who sent the report (`From` of the report message).
    pub reporter: Option<String>,
    /// `Subject` of the original message, when included.
    pub original_subject: Option<String>,
    /// `Message-ID` of the original message, when included.
    pub original_message_id: Option<String>,
    /// The original message's headers as sent back (bodies are never kept here).
    pub original_headers: Option<String>,
}

/// An SMTP TLS report (RFC 8460).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlsReport {
    pub organization_name: String,
    pub date_begin: DateTime<Utc>,
    pub date_end: DateTime<Utc>,
    pub contact_info: Option<String>,
    pub report_id: String,
    pub policies: Vec<TlsPolicy>,
}

/// One policy block of a TLS report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlsPolicy {
    pub policy_type: TlsPolicyType,
    pub policy_string: Vec<String>,
    pub policy_domain: String,
    pub mx_host: Vec<String>,
    pub total_successful_session_count: u64,
    pub total_failure_session_count: u64,
    pub failure_details: Vec<TlsFailureDetail>,
}

/// One `failure-details` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlsFailureDetail {
    /// `result-type`, e.g. `starttls-not-supported`, `certificate-expired`.
    pub result_type: String,
    pub sending_mta_ip: Option<IpAddr>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<IpAddr>,
    pub failed_session_count: u64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_parses_case_insensitively() {
        assert_eq!(DmarcResult::parse(" PASS "), Some(DmarcResult::Pass));
        assert_eq!(Disposition::parse("pass"), Some(Disposition::Pass));
        assert_eq!(
            PolicyOverride::parse("policy_test_mode"),
            Some(PolicyOverride::PolicyTestMode)
        );
        assert_eq!(SpfResult::parse("softfail"), Some(SpfResult::SoftFail));
        assert_eq!(
            TlsPolicyType::parse("no-policy-found"),
            Some(TlsPolicyType::NoPolicyFound)
        );
        assert_eq!(RequestedPolicy::parse("bogus"), None);
    }
}
