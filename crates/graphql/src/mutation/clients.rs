//! `createClient`.

use async_graphql::{Context, Object};

use super::valid_name;
use crate::context::tenant;
use crate::error::ApiError;
use crate::types::tenancy::ClientNode;

#[derive(Default)]
pub(crate) struct ClientMutation;

#[Object]
impl ClientMutation {
    /// Creates a client of the caller's MSP. MSP owners and admins only.
    async fn create_client(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client's name (1 to 200 characters).")] name: String,
    ) -> Result<ClientNode, ApiError> {
        let db = tenant(ctx)?;
        let name = valid_name("name", &name)?;
        Ok(ClientNode(db.create_client(&name).await?))
    }
}
