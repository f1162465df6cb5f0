//! `addBlocklistTarget`, `removeBlocklistTarget`, `setBlocklistOverride`,
//! `removeBlocklistOverride`, `checkBlocklistsNow`.

use async_graphql::{Context, ID, Json, MaybeUndefined, Object};
use postern_domain::{ClientId, PrincipalKind, UserId};
use postern_store::{KeyChange, NewBlocklistTarget, SetBlocklistOverride};
use serde_json::Value;
use uuid::Uuid;

use crate::context::{engine, parse_id, principal, tenant};
use crate::error::ApiError;
use crate::types::blocklist::{
    BlocklistListNode, BlocklistTargetNode, builtin, catalogue, list_override,
};

#[derive(Default)]
pub(crate) struct BlocklistMutation;

#[Object]
impl BlocklistMutation {
    /// Watches an IP address or domain of a client on the blocklists. `badRequest` when the
    /// value is neither; `conflict` when the client watches it already. MSP owners, admins
    /// and operators.
    async fn add_blocklist_target(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client that watches it.")] client_id: ID,
        #[graphql(desc = "An IPv4/IPv6 address or a domain name.")] value: String,
        #[graphql(desc = "Why it is watched (at most 1000 bytes).")] note: Option<String>,
    ) -> Result<BlocklistTargetNode, ApiError> {
        let db = tenant(ctx)?;
        let client: ClientId = parse_id(&client_id)?;
        let note = note.unwrap_or_default();
        if note.trim_start().starts_with("auto:") {
            return Err(ApiError::bad_request(
                "a note starting with \"auto:\" is kept for targets monitoring finds",
            ));
        }
        let target = db
            .add_blocklist_target(client, NewBlocklistTarget { value, note })
            .await?;
        let (catalogue, _) = catalogue(&db).await?;
        Ok(BlocklistTargetNode::new(target, &[], &catalogue))
    }

    /// Stops watching a target; its verdicts and history go with it. MSP owners, admins
    /// and operators.
    async fn remove_blocklist_target(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The target's id.")] id: ID,
    ) -> Result<bool, ApiError> {
        let id: Uuid = parse_id(&id)?;
        tenant(ctx)?.remove_blocklist_target(id).await?;
        Ok(true)
    }

    /// Creates or changes the MSP's override of a list: switch it (`enabled`; null goes
    /// back to the catalogue's choice), edit it or add a list of the MSP's own (`patch`, a
    /// JSON object with any of `name`, `zone`, `kind`, `ipv4`, `ipv6`, `codes`,
    /// `key_required`, `keyed_zone`, `delisting_url`, `rate`, `test_listed`, `test_clear`;
    /// null drops the patch), set the key of a keyed zone (`key`; null removes it).
    /// Arguments left out keep their value. `badRequest` when the result is not a valid
    /// list. MSP owners and admins.
    async fn set_blocklist_override(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The list's id (a built-in id, or a new one with a patch).")]
        list_id: String,
        enabled: MaybeUndefined<bool>,
        patch: MaybeUndefined<Json<Value>>,
        #[graphql(desc = "The key (one DNS label); never read back.")] key: MaybeUndefined<String>,
    ) -> Result<BlocklistListNode, ApiError> {
        let db = tenant(ctx)?;
        let list_id = list_id.trim().to_owned();
        let existing = db
            .blocklist_overrides()
            .await?
            .into_iter()
            .find(|o| o.list_id == list_id);
        let enabled = keep_or(enabled);
        let patch = keep_or(patch.map_value(|j| j.0));
        let key = match key {
            MaybeUndefined::Undefined => KeyChange::Keep,
            MaybeUndefined::Null => KeyChange::Remove,
            MaybeUndefined::Value(key) => KeyChange::Set(key),
        };
        // The override as it will be, checked against the catalogue before it is stored.
        let mut after = existing
            .clone()
            .unwrap_or(postern_store::BlocklistOverride {
                msp_id: principal(ctx)?.scope.msp,
                list_id: list_id.clone(),
                enabled: None,
                patch: None,
                has_key: false,
                updated_by: None,
                updated_at: chrono::Utc::now(),
            });
        if let Some(enabled) = enabled {
            after.enabled = enabled;
        }
        if let Some(patch) = &patch {
            after.patch = patch.clone();
        }
        let mut check = list_override(&after)?;
        match &key {
            KeyChange::Keep => {}
            KeyChange::Remove => check.key = None,
            KeyChange::Set(key) => {
                check.key = Some(
                    postern_blocklist::ListKey::new(key.clone())
                        .ok_or_else(|| ApiError::bad_request("the key is not one DNS label"))?,
                );
            }
        }
        let (_, problems) = builtin()?.with_overrides(&[check]);
        if let Some(problem) = problems.first() {
            return Err(ApiError::bad_request(problem.error.to_string()));
        }
        db.set_blocklist_override(
            SetBlocklistOverride {
                list_id: list_id.clone(),
                enabled,
                patch,
                key,
            },
            actor(ctx)?,
        )
        .await?;
        let (catalogue, overrides) = catalogue(&db).await?;
        let list = catalogue.get(&list_id).ok_or(ApiError::Internal)?;
        Ok(BlocklistListNode::new(list, &overrides))
    }

    /// Drops the MSP's override of a list (back to the built-in catalogue). `notFound` when
    /// there is none. MSP owners and admins.
    async fn remove_blocklist_override(
        &self,
        ctx: &Context<'_>,
        list_id: String,
    ) -> Result<bool, ApiError> {
        tenant(ctx)?
            .remove_blocklist_override(list_id.trim())
            .await?;
        Ok(true)
    }

    /// Checks a client's targets (configured ones, its domains and their DMARC sending
    /// sources) against the blocklists now, records the verdicts and answers the targets.
    /// Every role that sees the client may ask.
    async fn check_blocklists_now(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client's id.")] client_id: ID,
    ) -> Result<Vec<BlocklistTargetNode>, ApiError> {
        let db = tenant(ctx)?;
        let client: ClientId = parse_id(&client_id)?;
        db.client(client).await?;
        engine(ctx)?.check_blocklists(client).await.map_err(|why| {
            tracing::error!(error = %why, %client, "blocklist check failed");
            ApiError::Internal
        })?;
        let targets = db.blocklist_targets(Some(client)).await?;
        let states = db.blocklist_states(None).await?;
        let (catalogue, _) = catalogue(&db).await?;
        Ok(targets
            .into_iter()
            .map(|t| BlocklistTargetNode::new(t, &states, &catalogue))
            .collect())
    }
}

/// Undefined: keep (`None`); null: reset (`Some(None)`); a value: set.
fn keep_or<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// The acting user (none for an API token).
fn actor(ctx: &Context<'_>) -> Result<Option<UserId>, ApiError> {
    Ok(match principal(ctx)?.kind {
        PrincipalKind::User(user) => Some(user),
        PrincipalKind::ApiToken(_) => None,
    })
}
