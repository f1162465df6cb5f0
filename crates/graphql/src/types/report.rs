//! Reports: the common summary and the detail of each kind (DMARC aggregate with its records,
//! DMARC failure, SMTP TLS).

use crate::loader::client_by_id;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use postern_domain::{
    AggregateRecord, DkimAuthResult, FailureReport, PolicyOverrideReason, PolicyPublished,
    ReportKind as DomainReportKind, SpfAuthResult, TlsFailureDetail, TlsPolicy,
};
use postern_store::{AggregateDetail, ReportSummary, TlsDetail};

use crate::connection::{Conn, CountSource, connection, empty_connection, page_request};
use crate::context::{tenant, to_id};
use crate::error::ApiError;
use crate::types::enums::{
    AggregateSchema, Alignment, DiscoveryMethod, Disposition, DkimResult, DmarcResult,
    PolicyOverride, ReportKind, RequestedPolicy, SpfDomainScope, SpfResult, TlsPolicyType,
};
use crate::types::tenancy::ClientNode;

pub(crate) struct ReportNode(pub(crate) ReportSummary);
pub(crate) struct AggregateNode(AggregateDetail);
pub(crate) struct PolicyNode(PolicyPublished);
pub(crate) struct RecordNode(AggregateRecord);
pub(crate) struct OverrideReasonNode(PolicyOverrideReason);
pub(crate) struct DkimAuthNode(DkimAuthResult);
pub(crate) struct SpfAuthNode(SpfAuthResult);
pub(crate) struct FailureNode(FailureReport);
pub(crate) struct TlsNode(TlsDetail);
pub(crate) struct TlsPolicyNode(TlsPolicy);
pub(crate) struct TlsFailureNode(TlsFailureDetail);

/// A stored report of any kind. The kind-specific detail is in `aggregate`, `failure` or
/// `tls`; the other two are null.
#[Object(name = "Report")]
impl ReportNode {
    /// The report's id in Postern.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// What kind of report this is.
    async fn kind(&self) -> ReportKind {
        self.0.kind.into()
    }

    /// The policy domain the report is about (lower case).
    async fn domain(&self) -> &str {
        &self.0.domain
    }

    /// The reporting organization.
    async fn org_name(&self) -> &str {
        &self.0.org_name
    }

    /// The reporter's own id for the report.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Start of the period the report covers.
    async fn date_begin(&self) -> DateTime<Utc> {
        self.0.date_begin
    }

    /// End of the period the report covers.
    async fn date_end(&self) -> DateTime<Utc> {
        self.0.date_end
    }

    /// When Postern received the report.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }

    /// Aggregate: records; TLS: policy blocks; failure: 1.
    async fn record_count(&self) -> u64 {
        self.0.record_count
    }

    /// Aggregate: messages; TLS: sessions; failure: 1.
    async fn message_count(&self) -> u64 {
        self.0.message_count
    }

    /// Whether a client owns the report's domain. Unassigned reports are kept and assigned
    /// when a client adds the domain.
    async fn assigned(&self) -> bool {
        self.0.client_id.is_some()
    }

    /// The client the report belongs to; null while unassigned.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<ClientNode>, ApiError> {
        let Some(client) = self.0.client_id else {
            return Ok(None);
        };
        Ok(Some(ClientNode(client_by_id(ctx, client).await?)))
    }

    /// The DMARC aggregate report's header and published policy; null for other kinds.
    async fn aggregate(&self, ctx: &Context<'_>) -> Result<Option<AggregateNode>, ApiError> {
        if self.0.kind != DomainReportKind::Aggregate {
            return Ok(None);
        }
        let detail = tenant(ctx)?.aggregate_detail(self.0.id).await?;
        Ok(Some(AggregateNode(detail)))
    }

    /// The DMARC aggregate report's records in report order; empty for other kinds.
    async fn records(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<RecordNode>, ApiError> {
        let request = page_request(first, after.as_deref())?;
        if self.0.kind != DomainReportKind::Aggregate {
            return Ok(empty_connection());
        }
        let page = tenant(ctx)?.aggregate_records(self.0.id, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Known(self.0.record_count),
            |r| (r.id, RecordNode(r.record)),
        ))
    }

    /// The DMARC failure report; null for other kinds.
    async fn failure(&self, ctx: &Context<'_>) -> Result<Option<FailureNode>, ApiError> {
        if self.0.kind != DomainReportKind::Failure {
            return Ok(None);
        }
        let detail = tenant(ctx)?.failure_detail(self.0.id).await?;
        Ok(Some(FailureNode(detail.report)))
    }

    /// The SMTP TLS report; null for other kinds.
    async fn tls(&self, ctx: &Context<'_>) -> Result<Option<TlsNode>, ApiError> {
        if self.0.kind != DomainReportKind::Tls {
            return Ok(None);
        }
        Ok(Some(TlsNode(tenant(ctx)?.tls_detail(self.0.id).await?)))
    }
}

/// The header of a DMARC aggregate report.
#[Object(name = "AggregateReport")]
impl AggregateNode {
    /// The specification the report follows.
    async fn schema(&self) -> AggregateSchema {
        self.0.header.schema.into()
    }

    /// The report's `version` element, when present.
    async fn version(&self) -> Option<&str> {
        self.0.header.version.as_deref()
    }

    /// The reporter's contact address.
    async fn org_email(&self) -> Option<&str> {
        self.0.header.org_email.as_deref()
    }

    /// More contact information from the reporter.
    async fn extra_contact_info(&self) -> Option<&str> {
        self.0.header.extra_contact_info.as_deref()
    }

    /// Errors the reporter listed.
    async fn errors(&self) -> &[String] {
        &self.0.header.errors
    }

    /// The software that generated the report (RFC 9990 `generator`).
    async fn generator(&self) -> Option<&str> {
        self.0.header.generator.as_deref()
    }

    /// What Postern's parser noticed but did not reject (e.g. a record it skipped).
    async fn problems(&self) -> &[String] {
        &self.0.problems
    }

    /// The DMARC record the receiver found (`policy_published`).
    async fn policy(&self) -> PolicyNode {
        PolicyNode(self.0.header.policy.clone())
    }
}

/// The DMARC policy the receiver found for the domain (`policy_published`).
#[Object(name = "PublishedPolicy")]
impl PolicyNode {
    /// The domain whose record was applied.
    async fn domain(&self) -> &str {
        &self.0.domain
    }

    /// DKIM alignment mode.
    async fn adkim(&self) -> Option<Alignment> {
        self.0.adkim.map(Into::into)
    }

    /// SPF alignment mode.
    async fn aspf(&self) -> Option<Alignment> {
        self.0.aspf.map(Into::into)
    }

    /// The policy for the domain.
    async fn p(&self) -> Option<RequestedPolicy> {
        self.0.p.map(Into::into)
    }

    /// The policy for subdomains.
    async fn sp(&self) -> Option<RequestedPolicy> {
        self.0.sp.map(Into::into)
    }

    /// The policy for non-existent subdomains (RFC 9990 `np`).
    async fn np(&self) -> Option<RequestedPolicy> {
        self.0.np.map(Into::into)
    }

    /// The percentage of mail the policy applied to (RFC 7489 `pct`).
    async fn pct(&self) -> Option<u8> {
        self.0.pct
    }

    /// Failure reporting options (`fo`).
    async fn fo(&self) -> Option<&str> {
        self.0.fo.as_deref()
    }

    /// The domain published `t=y` (RFC 9990 `testing`).
    async fn testing(&self) -> Option<bool> {
        self.0.testing
    }

    /// How the receiver discovered the policy (RFC 9990).
    async fn discovery_method(&self) -> Option<DiscoveryMethod> {
        self.0.discovery_method.map(Into::into)
    }
}

/// One record of an aggregate report: messages from one source with one outcome.
#[Object(name = "Record")]
impl RecordNode {
    /// The sending IP address.
    async fn source_ip(&self) -> String {
        self.0.source_ip.to_string()
    }

    /// Messages in this record.
    async fn count(&self) -> u64 {
        self.0.count
    }

    /// What the receiver did with them.
    async fn disposition(&self) -> Disposition {
        self.0.disposition.into()
    }

    /// DMARC-aligned DKIM verdict.
    async fn dkim(&self) -> Option<DmarcResult> {
        self.0.dkim.map(Into::into)
    }

    /// DMARC-aligned SPF verdict.
    async fn spf(&self) -> Option<DmarcResult> {
        self.0.spf.map(Into::into)
    }

    /// Why the receiver departed from the published policy.
    async fn reasons(&self) -> Vec<OverrideReasonNode> {
        self.0
            .reasons
            .iter()
            .cloned()
            .map(OverrideReasonNode)
            .collect()
    }

    /// The RFC 5322 From domain.
    async fn header_from(&self) -> &str {
        &self.0.header_from
    }

    /// The envelope sender domain, when reported.
    async fn envelope_from(&self) -> Option<&str> {
        self.0.envelope_from.as_deref()
    }

    /// The envelope recipient domain, when reported.
    async fn envelope_to(&self) -> Option<&str> {
        self.0.envelope_to.as_deref()
    }

    /// The raw DKIM results, one per signature.
    async fn dkim_results(&self) -> Vec<DkimAuthNode> {
        self.0
            .dkim_results
            .iter()
            .cloned()
            .map(DkimAuthNode)
            .collect()
    }

    /// The raw SPF results.
    async fn spf_results(&self) -> Vec<SpfAuthNode> {
        self.0
            .spf_results
            .iter()
            .cloned()
            .map(SpfAuthNode)
            .collect()
    }
}

/// A policy override with the receiver's comment.
#[Object(name = "PolicyOverrideReason")]
impl OverrideReasonNode {
    /// The kind of override.
    async fn kind(&self) -> PolicyOverride {
        self.0.kind.into()
    }

    /// The receiver's comment.
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
}

/// A DKIM signature's raw result.
#[Object(name = "DkimAuthResult")]
impl DkimAuthNode {
    /// The signing domain (`d=`).
    async fn domain(&self) -> &str {
        &self.0.domain
    }

    /// The selector (`s=`).
    async fn selector(&self) -> Option<&str> {
        self.0.selector.as_deref()
    }

    /// The verdict.
    async fn result(&self) -> DkimResult {
        self.0.result.into()
    }

    /// The receiver's explanation.
    async fn human_result(&self) -> Option<&str> {
        self.0.human_result.as_deref()
    }
}

/// An SPF check's raw result.
#[Object(name = "SpfAuthResult")]
impl SpfAuthNode {
    /// The domain checked.
    async fn domain(&self) -> &str {
        &self.0.domain
    }

    /// Which identity was checked.
    async fn scope(&self) -> Option<SpfDomainScope> {
        self.0.scope.map(Into::into)
    }

    /// The verdict.
    async fn result(&self) -> SpfResult {
        self.0.result.into()
    }

    /// The receiver's explanation.
    async fn human_result(&self) -> Option<&str> {
        self.0.human_result.as_deref()
    }
}

/// A DMARC failure report (RFC 6591 ARF with RFC 9991 fields).
#[Object(name = "FailureReport")]
impl FailureNode {
    /// `Feedback-Type` (normally `auth-failure`).
    async fn feedback_type(&self) -> &str {
        &self.0.feedback_type
    }

    /// `User-Agent` of the reporter.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// `Version` of the report format.
    async fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }

    /// When the original message arrived.
    async fn arrival_date(&self) -> Option<DateTime<Utc>> {
        self.0.arrival_date
    }

    /// The IP address the original message came from.
    async fn source_ip(&self) -> Option<String> {
        self.0.source_ip.map(|ip| ip.to_string())
    }

    /// The original envelope sender.
    async fn original_mail_from(&self) -> Option<&str> {
        self.0.original_mail_from.as_deref()
    }

    /// The original envelope recipients.
    async fn original_rcpt_to(&self) -> &[String] {
        &self.0.original_rcpt_to
    }

    /// The domain the report is about.
    async fn reported_domain(&self) -> &str {
        &self.0.reported_domain
    }

    /// Which mechanisms failed: dmarc, dkim, spf, adsp, bodyhash, revoked, signature.
    async fn auth_failure(&self) -> &[String] {
        &self.0.auth_failure
    }

    /// What the receiver did with the message.
    async fn delivery_result(&self) -> Option<&str> {
        self.0.delivery_result.as_deref()
    }

    /// The failing signature's domain (`DKIM-Domain`).
    async fn dkim_domain(&self) -> Option<&str> {
        self.0.dkim_domain.as_deref()
    }

    /// The failing signature's selector (`DKIM-Selector`).
    async fn dkim_selector(&self) -> Option<&str> {
        self.0.dkim_selector.as_deref()
    }

    /// The failing signature's identity (`DKIM-Identity`).
    async fn dkim_identity(&self) -> Option<&str> {
        self.0.dkim_identity.as_deref()
    }

    /// The SPF record the receiver evaluated (`SPF-DNS`).
    async fn spf_dns(&self) -> Option<&str> {
        self.0.spf_dns.as_deref()
    }

    /// The receiver's `Authentication-Results`.
    async fn authentication_results(&self) -> &[String] {
        &self.0.authentication_results
    }

    /// RFC 9991 `Identity-Alignment`.
    async fn identity_alignment(&self) -> Option<&str> {
        self.0.identity_alignment.as_deref()
    }

    /// Who sent the report.
    async fn reporter(&self) -> Option<&str> {
        self.0.reporter.as_deref()
    }

    /// Subject of the original message, when included.
    async fn original_subject(&self) -> Option<&str> {
        self.0.original_subject.as_deref()
    }

    /// Message-ID of the original message, when included.
    async fn original_message_id(&self) -> Option<&str> {
        self.0.original_message_id.as_deref()
    }

    /// The original message's headers as sent back (bodies are never kept).
    async fn original_headers(&self) -> Option<&str> {
        self.0.original_headers.as_deref()
    }
}

/// An SMTP TLS report (RFC 8460).
#[Object(name = "TlsReport")]
impl TlsNode {
    /// The reporting organization.
    async fn organization_name(&self) -> &str {
        &self.0.report.organization_name
    }

    /// The reporter's contact information.
    async fn contact_info(&self) -> Option<&str> {
        self.0.report.contact_info.as_deref()
    }

    /// The policy blocks: one per policy the sender applied.
    async fn policies(&self) -> Vec<TlsPolicyNode> {
        self.0
            .report
            .policies
            .iter()
            .cloned()
            .map(TlsPolicyNode)
            .collect()
    }
}

/// One policy block of a TLS report and the sessions under it.
#[Object(name = "TlsPolicy")]
impl TlsPolicyNode {
    /// The kind of policy applied.
    async fn policy_type(&self) -> TlsPolicyType {
        self.0.policy_type.into()
    }

    /// The policy as the sender saw it, line by line.
    async fn policy_string(&self) -> &[String] {
        &self.0.policy_string
    }

    /// The domain the policy belongs to.
    async fn policy_domain(&self) -> &str {
        &self.0.policy_domain
    }

    /// The MX host patterns of the policy.
    async fn mx_host(&self) -> &[String] {
        &self.0.mx_host
    }

    /// Sessions that negotiated TLS successfully.
    async fn total_successful_session_count(&self) -> u64 {
        self.0.total_successful_session_count
    }

    /// Sessions that failed.
    async fn total_failure_session_count(&self) -> u64 {
        self.0.total_failure_session_count
    }

    /// What went wrong, grouped.
    async fn failure_details(&self) -> Vec<TlsFailureNode> {
        self.0
            .failure_details
            .iter()
            .cloned()
            .map(TlsFailureNode)
            .collect()
    }
}

/// One group of failed TLS sessions (`failure-details`).
#[Object(name = "TlsFailureDetail")]
impl TlsFailureNode {
    /// The failure, e.g. `starttls-not-supported`, `certificate-expired`.
    async fn result_type(&self) -> &str {
        &self.0.result_type
    }

    /// The sending MTA's IP address.
    async fn sending_mta_ip(&self) -> Option<String> {
        self.0.sending_mta_ip.map(|ip| ip.to_string())
    }

    /// The receiving MX's host name.
    async fn receiving_mx_hostname(&self) -> Option<&str> {
        self.0.receiving_mx_hostname.as_deref()
    }

    /// The receiving MX's HELO name.
    async fn receiving_mx_helo(&self) -> Option<&str> {
        self.0.receiving_mx_helo.as_deref()
    }

    /// The receiving MX's IP address.
    async fn receiving_ip(&self) -> Option<String> {
        self.0.receiving_ip.map(|ip| ip.to_string())
    }

    /// Sessions that failed this way.
    async fn failed_session_count(&self) -> u64 {
        self.0.failed_session_count
    }

    /// More about the failure (often a URI).
    async fn additional_information(&self) -> Option<&str> {
        self.0.additional_information.as_deref()
    }

    /// The sender's failure reason code.
    async fn failure_reason_code(&self) -> Option<&str> {
        self.0.failure_reason_code.as_deref()
    }
}
