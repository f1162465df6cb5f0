//! MSPs, clients, domains and a domain's statistics.

use crate::loader::client_by_id;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, NaiveDate, Utc};
use postern_store::{Client, DailySummary, DaySummary, Domain, Msp, ReportFilter, SourceStats};

use crate::connection::{Conn, CountSource, connection, page_request, page_size};
use crate::context::{tenant, to_id};
use crate::error::ApiError;
use crate::types::enums::ReportKind;
use crate::types::report::ReportNode;

pub(crate) struct MspNode(pub(crate) Msp);
pub(crate) struct ClientNode(pub(crate) Client);
pub(crate) struct DomainNode(pub(crate) Domain);
pub(crate) struct SummaryNode(pub(crate) DailySummary);
pub(crate) struct DaySummaryNode(pub(crate) DaySummary);
pub(crate) struct SourceNode(pub(crate) SourceStats);

/// A managed service provider: the top of the tenancy tree.
#[Object(name = "Msp")]
impl MspNode {
    /// The MSP's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The MSP's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
}

/// A client of the MSP: the tenant that owns domains and their reports.
#[Object(name = "Client")]
impl ClientNode {
    /// The client's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The client's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// When the client was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The client's domains, newest first.
    async fn domains(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<DomainNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.list_domains(Some(self.0.id), request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Domains(Some(self.0.id)),
            |d| (d.id.as_uuid(), DomainNode(d)),
        ))
    }
}

/// A domain a client registered. Reports whose policy domain is this name belong to the
/// client; a name belongs to at most one client in the installation.
#[Object(name = "Domain")]
impl DomainNode {
    /// The domain's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The domain name, lower case, without a trailing dot.
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }

    /// When the client registered the domain.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The client that owns the domain.
    async fn client(&self, ctx: &Context<'_>) -> Result<ClientNode, ApiError> {
        Ok(ClientNode(client_by_id(ctx, self.0.client_id).await?))
    }

    /// The DNS posture from the newest check run (SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI,
    /// MX); null until the domain was first checked (right after it is added).
    async fn dns_posture(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::types::posture::DnsPostureNode>, ApiError> {
        Ok(tenant(ctx)?
            .dns_posture(self.0.id)
            .await?
            .map(crate::types::posture::DnsPostureNode))
    }

    /// Earlier check runs, newest first, each with what changed from the run before.
    async fn dns_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many runs: 1 to 500, default 50.")] first: Option<i32>,
    ) -> Result<Vec<crate::types::posture::DnsPostureNode>, ApiError> {
        let limit = page_size(first)?;
        let page = tenant(ctx)?
            .dns_history(self.0.id, postern_store::PageRequest::first(limit))
            .await?;
        Ok(page
            .items
            .into_iter()
            .map(crate::types::posture::DnsPostureNode)
            .collect())
    }

    /// Message totals from DMARC aggregate reports over the days (UTC) from `from`'s date to
    /// `to`'s date, both included.
    async fn summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period; its UTC date is the first day counted.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period; its UTC date is the last day counted.")] to: DateTime<
            Utc,
        >,
    ) -> Result<SummaryNode, ApiError> {
        check_period(from, to)?;
        let summary = tenant(ctx)?.domain_summary(self.0.id, from, to).await?;
        Ok(SummaryNode(summary))
    }

    /// The same totals per day (UTC), oldest first; days without messages are left out.
    async fn days(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period; its UTC date is the first day listed.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period; its UTC date is the last day listed.")] to: DateTime<
            Utc,
        >,
    ) -> Result<Vec<DaySummaryNode>, ApiError> {
        check_period(from, to)?;
        let days = tenant(ctx)?.domain_days(self.0.id, from, to).await?;
        Ok(days.into_iter().map(DaySummaryNode).collect())
    }

    /// The sources (sending IP addresses) seen in aggregate reports over the period, most
    /// messages first.
    async fn sources(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period; its UTC date is the first day counted.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the period; its UTC date is the last day counted.")] to: DateTime<
            Utc,
        >,
        #[graphql(desc = "How many sources: 1 to 500, default 50.")] first: Option<i32>,
    ) -> Result<Vec<SourceNode>, ApiError> {
        check_period(from, to)?;
        let limit = page_size(first)?;
        let sources = tenant(ctx)?
            .domain_sources(self.0.id, from, to, limit)
            .await?;
        Ok(sources.into_iter().map(SourceNode).collect())
    }

    /// Reports about this domain, newest first.
    async fn reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only reports of this kind.")] kind: Option<ReportKind>,
    ) -> Result<Conn<ReportNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = ReportFilter {
            client: Some(self.0.client_id),
            domain: Some(self.0.name.as_str().to_owned()),
            kind: kind.map(Into::into),
            ..ReportFilter::default()
        };
        let page = db.list_reports(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Reports(filter),
            |r| (r.id.as_uuid(), ReportNode(r)),
        ))
    }
}

/// Message totals of a domain from DMARC aggregate reports.
#[Object(name = "Summary")]
impl SummaryNode {
    /// Messages reported.
    async fn messages(&self) -> u64 {
        self.0.messages
    }

    /// Messages that passed DMARC (aligned DKIM or aligned SPF passed).
    async fn dmarc_pass(&self) -> u64 {
        self.0.dmarc_pass
    }

    /// Messages that failed DMARC.
    async fn dmarc_fail(&self) -> u64 {
        self.0.dmarc_fail
    }

    /// Messages whose SPF result passed and was aligned.
    async fn spf_aligned_pass(&self) -> u64 {
        self.0.spf_aligned_pass
    }

    /// Messages whose DKIM result passed and was aligned.
    async fn dkim_aligned_pass(&self) -> u64 {
        self.0.dkim_aligned_pass
    }

    /// Messages the receiver delivered without policy action (disposition `none`).
    async fn disposition_none(&self) -> u64 {
        self.0.disposition_none
    }

    /// Messages the receiver quarantined.
    async fn disposition_quarantine(&self) -> u64 {
        self.0.disposition_quarantine
    }

    /// Messages the receiver rejected.
    async fn disposition_reject(&self) -> u64 {
        self.0.disposition_reject
    }

    /// Messages reported with the RFC 9990 disposition `pass`.
    async fn disposition_pass(&self) -> u64 {
        self.0.disposition_pass
    }

    /// `dmarcPass / messages`, from 0 to 1; null when there were no messages.
    async fn pass_rate(&self) -> Option<f64> {
        pass_rate(&self.0)
    }
}

/// One day's message totals of a domain.
#[Object(name = "DaySummary")]
impl DaySummaryNode {
    /// The day (UTC).
    async fn day(&self) -> NaiveDate {
        self.0.day
    }

    /// The totals of that day.
    async fn summary(&self) -> SummaryNode {
        SummaryNode(self.0.summary)
    }
}

/// A source (sending IP address) of a domain's mail over a period.
#[Object(name = "Source")]
impl SourceNode {
    /// The sending IP address.
    async fn source_ip(&self) -> String {
        self.0.source_ip.to_string()
    }

    /// Messages from this source.
    async fn messages(&self) -> u64 {
        self.0.messages
    }

    /// Of those, messages that passed DMARC.
    async fn dmarc_pass(&self) -> u64 {
        self.0.dmarc_pass
    }

    /// Of those, messages with aligned passing SPF.
    async fn spf_aligned_pass(&self) -> u64 {
        self.0.spf_aligned_pass
    }

    /// Of those, messages with aligned passing DKIM.
    async fn dkim_aligned_pass(&self) -> u64 {
        self.0.dkim_aligned_pass
    }

    /// Start of the earliest report period in which the source appeared.
    async fn first_seen(&self) -> DateTime<Utc> {
        self.0.first_seen
    }

    /// End of the latest report period in which the source appeared.
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.last_seen
    }

    /// The source's reverse DNS name, when it has been looked up and has one.
    async fn reverse_dns(&self) -> Option<&str> {
        self.0.reverse_dns.as_deref()
    }
}

/// `from` must not be after `to`.
fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ApiError> {
    if from > to {
        return Err(ApiError::bad_request("from is after to"));
    }
    Ok(())
}

/// The share of messages that passed DMARC; `None` without messages.
#[allow(clippy::cast_precision_loss)] // counts far below 2^52 in practice; a ratio anyway
fn pass_rate(summary: &DailySummary) -> Option<f64> {
    (summary.messages > 0).then(|| summary.dmarc_pass as f64 / summary.messages as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_rate_is_a_ratio_and_absent_without_messages() {
        assert_eq!(pass_rate(&DailySummary::default()), None);
        let summary = DailySummary {
            messages: 4,
            dmarc_pass: 3,
            dmarc_fail: 1,
            ..DailySummary::default()
        };
        assert_eq!(pass_rate(&summary), Some(0.75));
    }

    #[test]
    fn period_must_not_run_backwards() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        assert!(check_period(t(0), t(0)).is_ok());
        assert!(matches!(
            check_period(t(10), t(0)),
            Err(ApiError::BadRequest(_))
        ));
    }
}
