//! `issues`, `issue`.

use async_graphql::{Context, ID, InputObject, Object};
use postern_domain::IssueId;
use postern_store::IssueFilter as StoreIssueFilter;

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::types::issue::{IssueNode, IssueState, Severity};

#[derive(Default)]
pub(crate) struct IssueQuery;

/// Narrows an issue list; every field given must match.
#[derive(InputObject, Default)]
pub(crate) struct IssueFilter {
    /// Only issues of this client.
    client_id: Option<ID>,
    /// Only issues of this domain (by id).
    domain_id: Option<ID>,
    /// Only issues of this domain (by name, case-insensitive, trailing dot allowed).
    domain: Option<String>,
    /// Only issues in this state.
    state: Option<IssueState>,
    /// Only issues of this severity.
    severity: Option<Severity>,
    /// Only issues with this exact finding code.
    code: Option<String>,
}

#[Object]
impl IssueQuery {
    /// The issues of the clients the caller reaches, newest first.
    async fn issues(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Which issues to list.")] filter: Option<IssueFilter>,
    ) -> Result<Conn<IssueNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = store_filter(filter.unwrap_or_default())?;
        let page = db.list_issues(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Issues(filter),
            |i| (i.id.as_uuid(), IssueNode(i)),
        ))
    }

    /// One issue by id; `not_found` if it does not exist or the caller does not reach it.
    async fn issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
    ) -> Result<IssueNode, ApiError> {
        let id: IssueId = parse_id(&id)?;
        Ok(IssueNode(tenant(ctx)?.issue(id).await?))
    }
}

/// The store's filter from the API's; ids must be UUIDs.
fn store_filter(filter: IssueFilter) -> Result<StoreIssueFilter, ApiError> {
    Ok(StoreIssueFilter {
        client: filter.client_id.as_ref().map(parse_id).transpose()?,
        domain: filter.domain_id.as_ref().map(parse_id).transpose()?,
        domain_name: filter.domain,
        state: filter.state.map(Into::into),
        severity: filter.severity.map(Into::into),
        code: filter.code,
    })
}
