//! `blocklistTargets`, `blocklistCatalogue`.

use async_graphql::{Context, ID, Object};
use postern_domain::ClientId;

use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::types::blocklist::{BlocklistListNode, BlocklistTargetNode, catalogue};

#[derive(Default)]
pub(crate) struct BlocklistQuery;

#[Object]
impl BlocklistQuery {
    /// The blocklist targets the caller reaches (only the client's when given), by value,
    /// each with every list's latest verdict. Every role (client users: their own client's).
    async fn blocklist_targets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this client's targets.")] client_id: Option<ID>,
    ) -> Result<Vec<BlocklistTargetNode>, ApiError> {
        let db = tenant(ctx)?;
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        let targets = db.blocklist_targets(client).await?;
        let states = db.blocklist_states(None).await?;
        let (catalogue, _) = catalogue(&db).await?;
        Ok(targets
            .into_iter()
            .map(|t| BlocklistTargetNode::new(t, &states, &catalogue))
            .collect())
    }

    /// The lists monitoring uses for the caller's MSP: the built-in catalogue merged with
    /// the MSP's overrides, in catalogue order. MSP-wide roles.
    async fn blocklist_catalogue(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<BlocklistListNode>, ApiError> {
        let db = tenant(ctx)?;
        // Client-bound users may not read the MSP's overrides: refused, not a bare list.
        db.blocklist_overrides().await?;
        let (catalogue, overrides) = catalogue(&db).await?;
        Ok(catalogue
            .lists()
            .iter()
            .map(|l| BlocklistListNode::new(l, &overrides))
            .collect())
    }
}
