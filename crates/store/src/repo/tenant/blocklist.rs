//! Blocklist monitoring as a tenant sees it: the targets its clients watch, their current
//! verdicts and listing history, and the MSP's overrides of the list catalogue.
//!
//! Who may do what: MSP owners, admins and operators add and remove targets; every role
//! reads the targets, verdicts and history it reaches (client users: their own client's).
//! MSP owners and admins change overrides; every MSP-wide role reads them (without keys);
//! client-bound users do not (they are MSP rows).

use super::TenantDb;
use crate::entity::client;
use crate::entity::{blocklist_listing, blocklist_override, blocklist_state, blocklist_target};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::now;
use crate::rows::{
    BlocklistListing, BlocklistOverride, BlocklistState, BlocklistTarget, KeyChange,
    NewBlocklistTarget, Page, PageRequest, SetBlocklistOverride, parse_blocklist_target,
};
use crate::scope::owned_by;
use postern_domain::{ClientId, UserId};
use sea_orm::{
    ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// Longest note on a target, in bytes.
const MAX_NOTE: usize = 1_000;

impl TenantDb {
    /// Adds an IP address or domain for `client` (one of the scope's: `NotFound`
    /// otherwise) to watch. `Invalid` when the value is neither; `Conflict` when the client
    /// watches it already. MSP owners, admins and operators.
    pub async fn add_blocklist_target(
        &self,
        client: ClientId,
        new: NewBlocklistTarget,
    ) -> Result<BlocklistTarget, StoreError> {
        if !self.scope.can_operate() {
            return Err(StoreError::Forbidden(
                "adding blocklist targets needs an msp owner, admin or operator",
            ));
        }
        let (kind, value) = parse_blocklist_target(&new.value).ok_or_else(|| {
            StoreError::Invalid(format!(
                "{:?} is neither an IP address nor a domain name",
                new.value
            ))
        })?;
        if new.note.len() > MAX_NOTE {
            return Err(StoreError::Invalid(format!(
                "a note is at most {MAX_NOTE} bytes"
            )));
        }
        let txn = self.write().await?;
        let owner = self
            .clients()
            .filter(client::Column::Id.eq(client.as_uuid()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let model = blocklist_target::Model {
            id: Uuid::now_v7(),
            msp_id: owner.msp_id,
            client_id: owner.id,
            kind: kind.as_str().to_owned(),
            value,
            note: new.note,
            created_at: now(),
        };
        blocklist_target::Entity::insert(model.clone().into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(|e| conflict_on_unique(e, "the client watches this target already"))?;
        txn.commit().await?;
        BlocklistTarget::try_from(model)
    }

    /// Stops watching a target; its verdicts and history go with it. `NotFound` for another
    /// tenant's target. MSP owners, admins and operators.
    pub async fn remove_blocklist_target(&self, id: Uuid) -> Result<(), StoreError> {
        if !self.scope.can_operate() {
            return Err(StoreError::Forbidden(
                "removing blocklist targets needs an msp owner, admin or operator",
            ));
        }
        let txn = self.write().await?;
        let deleted = blocklist_target::Entity::delete_many()
            .filter(self.owns_target())
            .filter(blocklist_target::Column::Id.eq(id))
            .exec(&txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        txn.commit().await?;
        Ok(())
    }

    /// The targets the scope reaches (only `client`'s when given), by value.
    pub async fn blocklist_targets(
        &self,
        client: Option<ClientId>,
    ) -> Result<Vec<BlocklistTarget>, StoreError> {
        let txn = self.read().await?;
        let mut query = blocklist_target::Entity::find().filter(self.owns_target());
        if let Some(client) = client {
            query = query.filter(blocklist_target::Column::ClientId.eq(client.as_uuid()));
        }
        let rows = query
            .order_by_asc(blocklist_target::Column::Value)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(BlocklistTarget::try_from).collect()
    }

    /// The latest verdicts of every list on the scope's targets (only `target`'s when
    /// given), by target then list.
    pub async fn blocklist_states(
        &self,
        target: Option<Uuid>,
    ) -> Result<Vec<BlocklistState>, StoreError> {
        let txn = self.read().await?;
        let mut query = blocklist_state::Entity::find().filter(owned_by(
            &self.scope,
            blocklist_state::Column::MspId,
            blocklist_state::Column::ClientId,
        ));
        if let Some(target) = target {
            query = query.filter(blocklist_state::Column::TargetId.eq(target));
        }
        let rows = query
            .order_by_asc(blocklist_state::Column::TargetId)
            .order_by_asc(blocklist_state::Column::ListId)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(BlocklistState::try_from).collect()
    }

    /// The listing periods of one of the scope's targets (only on `list_id` when given),
    /// newest first. `NotFound` for another tenant's target.
    pub async fn blocklist_history(
        &self,
        target: Uuid,
        list_id: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<BlocklistListing>, StoreError> {
        let txn = self.read().await?;
        let exists = blocklist_target::Entity::find()
            .filter(self.owns_target())
            .filter(blocklist_target::Column::Id.eq(target))
            .select_only()
            .column(blocklist_target::Column::Id)
            .into_tuple::<Uuid>()
            .one(&txn)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut query = blocklist_listing::Entity::find()
            .filter(owned_by(
                &self.scope,
                blocklist_listing::Column::MspId,
                blocklist_listing::Column::ClientId,
            ))
            .filter(blocklist_listing::Column::TargetId.eq(target));
        if let Some(list) = list_id {
            query = query.filter(blocklist_listing::Column::ListId.eq(list));
        }
        if let Some(after) = page.after {
            query = query.filter(blocklist_listing::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(blocklist_listing::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(page.page(rows.into_iter().map(BlocklistListing::from).collect()))
    }

    /// The MSP's overrides of the list catalogue, by list id, without keys. MSP-wide roles.
    pub async fn blocklist_overrides(&self) -> Result<Vec<BlocklistOverride>, StoreError> {
        self.require_msp_wide("reading blocklist overrides")?;
        let txn = self.read().await?;
        let rows = self
            .overrides()
            .order_by_asc(blocklist_override::Column::ListId)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(BlocklistOverride::from).collect())
    }

    /// Creates or changes the MSP's override of `change.list_id`: switch, patch (checked by
    /// the caller against the catalogue), key. MSP owners and admins.
    pub async fn set_blocklist_override(
        &self,
        change: SetBlocklistOverride,
        actor: Option<UserId>,
    ) -> Result<BlocklistOverride, StoreError> {
        self.require_list_admin()?;
        let list_id = change.list_id.trim().to_owned();
        if list_id.is_empty() || list_id.len() > 100 {
            return Err(StoreError::Invalid("a list id is 1 to 100 bytes".into()));
        }
        if let KeyChange::Set(key) = &change.key
            && (key.is_empty() || key.len() > 200)
        {
            return Err(StoreError::Invalid("a list key is 1 to 200 bytes".into()));
        }
        let patch = match &change.patch {
            Some(Some(p)) if !p.is_object() => {
                return Err(StoreError::Invalid("a list patch is a JSON object".into()));
            }
            other => other.clone(),
        };
        let txn = self.write().await?;
        let existing = self
            .overrides()
            .filter(blocklist_override::Column::ListId.eq(list_id.as_str()))
            .one(&txn)
            .await?;
        let now = now();
        let row = match existing {
            Some(row) => {
                let mut active = row.into_active_model();
                if let Some(enabled) = change.enabled {
                    active.enabled = ActiveValue::Set(enabled);
                }
                if let Some(patch) = patch {
                    active.patch = ActiveValue::Set(patch);
                }
                match change.key {
                    KeyChange::Keep => {}
                    KeyChange::Set(key) => active.list_key = ActiveValue::Set(Some(key)),
                    KeyChange::Remove => active.list_key = ActiveValue::Set(None),
                }
                active.updated_by = ActiveValue::Set(actor.map(|u| u.as_uuid()));
                active.updated_at = ActiveValue::Set(now);
                blocklist_override::Entity::update(active)
                    .exec(&txn)
                    .await?
            }
            None => {
                let row = blocklist_override::Model {
                    id: Uuid::now_v7(),
                    msp_id: self.scope.msp.as_uuid(),
                    client_id: None,
                    list_id,
                    enabled: change.enabled.flatten(),
                    patch: patch.flatten(),
                    list_key: match change.key {
                        KeyChange::Set(key) => Some(key),
                        KeyChange::Keep | KeyChange::Remove => None,
                    },
                    updated_by: actor.map(|u| u.as_uuid()),
                    updated_at: now,
                };
                blocklist_override::Entity::insert(row.clone().into_active_model())
                    .exec_without_returning(&txn)
                    .await
                    .map_err(|e| conflict_on_unique(e, "the override was changed concurrently"))?;
                row
            }
        };
        txn.commit().await?;
        Ok(BlocklistOverride::from(row))
    }

    /// Drops the MSP's override of `list_id` (back to the catalogue). `NotFound` when there
    /// is none. MSP owners and admins.
    pub async fn remove_blocklist_override(&self, list_id: &str) -> Result<(), StoreError> {
        self.require_list_admin()?;
        let txn = self.write().await?;
        let deleted = blocklist_override::Entity::delete_many()
            .filter(blocklist_override::Column::MspId.eq(self.scope.msp.as_uuid()))
            .filter(blocklist_override::Column::ListId.eq(list_id))
            .exec(&txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        txn.commit().await?;
        Ok(())
    }

    fn owns_target(&self) -> sea_orm::Condition {
        owned_by(
            &self.scope,
            blocklist_target::Column::MspId,
            blocklist_target::Column::ClientId,
        )
    }

    fn overrides(&self) -> sea_orm::Select<blocklist_override::Entity> {
        blocklist_override::Entity::find()
            .filter(blocklist_override::Column::MspId.eq(self.scope.msp.as_uuid()))
            .filter(blocklist_override::Column::ClientId.is_null())
    }

    /// MSP owners and admins manage the list catalogue.
    fn require_list_admin(&self) -> Result<(), StoreError> {
        if self.scope.can_manage_clients() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(
                "changing blocklists needs an msp owner or admin",
            ))
        }
    }

    fn require_msp_wide(&self, what: &'static str) -> Result<(), StoreError> {
        if self.scope.client_id().is_none() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(what))
        }
    }
}
