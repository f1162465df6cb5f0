//! `viewer`: who the caller is.

use async_graphql::{Context, Object};

use crate::context::principal;
use crate::error::ApiError;
use crate::types::access::ViewerNode;

#[derive(Default)]
pub(crate) struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller: user or API token, role, MSP and client.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<ViewerNode, ApiError> {
        Ok(ViewerNode(principal(ctx)?))
    }
}
