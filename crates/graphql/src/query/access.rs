//! `members`, `apiTokens`.

use async_graphql::{Context, Object};

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::tenant;
use crate::error::ApiError;
use crate::types::access::{ApiTokenNode, MemberNode};

#[derive(Default)]
pub(crate) struct AccessQuery;

#[Object]
impl AccessQuery {
    /// The users with a membership in the caller's MSP (or, for client-bound callers, their
    /// client), newest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<MemberNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.list_members(request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Members,
            |(u, m)| (m.id, MemberNode(u, m)),
        ))
    }

    /// The API tokens of the caller's MSP (or client), newest first, revoked ones included.
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<ApiTokenNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.list_api_tokens(request).await?;
        Ok(connection(&request, page, CountSource::ApiTokens, |t| {
            (t.id.as_uuid(), ApiTokenNode(t))
        }))
    }
}
