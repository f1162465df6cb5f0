//! `suppressAddress`, `restoreSuppressed`: the explicit actions on a client's suppression
//! list. MSP owners, admins and operators, and client admins for their own client; viewers
//! get `forbidden`, another tenant's client `not_found`. Both record the acting user (none for
//! API tokens) in the entry's history.

use async_graphql::{Context, ID, Object};
use postern_domain::{ClientId, PrincipalKind, UserId};

use crate::context::{parse_id, principal, tenant};
use crate::error::ApiError;
use crate::types::bounces::SuppressionNode;

#[derive(Default)]
pub(crate) struct BounceMutation;

#[Object]
impl BounceMutation {
    /// Puts an address on a client's suppression list (again, if it was restored). An address
    /// suppressed already stays as it is.
    async fn suppress_address(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client whose list it goes on.")] client_id: ID,
        #[graphql(desc = "The address.")] address: String,
        #[graphql(desc = "Why (required).")] reason: String,
    ) -> Result<SuppressionNode, ApiError> {
        let (client, actor) = target(ctx, &client_id)?;
        let row = tenant(ctx)?
            .suppress_address(Some(client), &address, &reason, actor)
            .await?;
        Ok(row.into())
    }

    /// Takes an address off a client's suppression list, recording who and why. `not_found`
    /// when it is not suppressed now.
    async fn restore_suppressed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client whose list it is on.")] client_id: ID,
        #[graphql(desc = "The address.")] address: String,
        #[graphql(desc = "Why it may be mailed again (required).")] reason: String,
    ) -> Result<SuppressionNode, ApiError> {
        let (client, actor) = target(ctx, &client_id)?;
        let row = tenant(ctx)?
            .restore_suppressed(Some(client), &address, &reason, actor)
            .await?;
        Ok(row.into())
    }
}

/// The client argument and the acting user (none for an API token).
fn target(ctx: &Context<'_>, client: &ID) -> Result<(ClientId, Option<UserId>), ApiError> {
    let actor = match principal(ctx)?.kind {
        PrincipalKind::User(user) => Some(user),
        PrincipalKind::ApiToken(_) => None,
    };
    Ok((parse_id(client)?, actor))
}
