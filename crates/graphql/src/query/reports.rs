//! `reports`, `report`, `unassignedReports`, `rejections`.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use postern_domain::ReportId;
use postern_store::ReportFilter as StoreReportFilter;

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::types::enums::ReportKind;
use crate::types::rejection::RejectionNode;
use crate::types::report::ReportNode;

#[derive(Default)]
pub(crate) struct ReportQuery;

/// Narrows a report list; every field given must match.
#[derive(InputObject, Default)]
pub(crate) struct ReportFilter {
    /// Only reports of this client.
    client_id: Option<ID>,
    /// Only reports about this policy domain (case-insensitive).
    domain: Option<String>,
    /// Only reports whose period ends at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only reports whose period begins at or before this time.
    to: Option<DateTime<Utc>>,
    /// Only reports of this kind.
    kind: Option<ReportKind>,
}

#[Object]
impl ReportQuery {
    /// The reports of the clients the caller reaches, newest first.
    async fn reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Which reports to list.")] filter: Option<ReportFilter>,
    ) -> Result<Conn<ReportNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = store_filter(filter.unwrap_or_default())?;
        let page = db.list_reports(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Reports(filter),
            |r| (r.id.as_uuid(), ReportNode(r)),
        ))
    }

    /// One report by id; `not_found` if it does not exist or the caller does not reach it.
    async fn report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The report's id.")] id: ID,
    ) -> Result<ReportNode, ApiError> {
        let id: ReportId = parse_id(&id)?;
        Ok(ReportNode(tenant(ctx)?.report(id).await?))
    }

    /// Reports for domains no client has registered yet, newest first. They are assigned when
    /// a client adds the domain. Only owners and admins of the MSP operating the installation
    /// may list them (`forbidden` otherwise).
    async fn unassigned_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<ReportNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.unassigned_reports(request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::UnassignedReports,
            |r| (r.id.as_uuid(), ReportNode(r)),
        ))
    }

    /// Rejected inputs, newest first, with their reasons: those of the caller's tenant, and
    /// for owners and admins of the operating MSP also those nobody could be attributed.
    async fn rejections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<RejectionNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.rejections(request).await?;
        Ok(connection(&request, page, CountSource::Rejections, |r| {
            (r.id.as_uuid(), RejectionNode(r))
        }))
    }
}

/// The store's filter from the API's; ids must be UUIDs.
fn store_filter(filter: ReportFilter) -> Result<StoreReportFilter, ApiError> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ApiError::bad_request("from is after to"));
    }
    Ok(StoreReportFilter {
        client: filter.client_id.as_ref().map(parse_id).transpose()?,
        domain: filter.domain,
        from: filter.from,
        to: filter.to,
        kind: filter.kind.map(Into::into),
    })
}
