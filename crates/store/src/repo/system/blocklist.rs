//! What the blocklist monitoring job needs: every target to check, each MSP's catalogue
//! overrides with their keys, and recording a check (latest verdicts, listing history, the
//! transitions as outbox events in the same transaction).

use super::SystemDb;
use crate::entity::{blocklist_listing, blocklist_override, blocklist_state, blocklist_target};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::{now, write_events};
use crate::rows::{
    BlocklistListing, BlocklistObservation, BlocklistOverride, BlocklistOverrideWithKey,
    BlocklistState, BlocklistTarget, BlocklistTransition, BlocklistVerdict, NewBlocklistTarget,
    OutboxEvent, parse_blocklist_target,
};
use chrono::{DateTime, SubsecRound, Utc};
use postern_domain::{ClientId, MspId};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use std::collections::HashMap;
use uuid::Uuid;

impl SystemDb {
    /// Every watched target (only `msp`'s when given), by MSP, client and value.
    pub async fn blocklist_targets(
        &self,
        msp: Option<MspId>,
    ) -> Result<Vec<BlocklistTarget>, StoreError> {
        let txn = self.read().await?;
        let mut query = blocklist_target::Entity::find();
        if let Some(msp) = msp {
            query = query.filter(blocklist_target::Column::MspId.eq(msp.as_uuid()));
        }
        let rows = query
            .order_by_asc(blocklist_target::Column::MspId)
            .order_by_asc(blocklist_target::Column::ClientId)
            .order_by_asc(blocklist_target::Column::Value)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(BlocklistTarget::try_from).collect()
    }

    /// The target `value` of `client` (of `msp`), added with `note` when the client does
    /// not watch it yet (a target found by the monitoring job, such as a domain's DMARC
    /// sending source). An existing target keeps its note. `Invalid` when the value is
    /// neither an IP address nor a domain name.
    pub async fn ensure_blocklist_target(
        &self,
        msp: MspId,
        client: ClientId,
        new: NewBlocklistTarget,
    ) -> Result<BlocklistTarget, StoreError> {
        let (kind, value) = parse_blocklist_target(&new.value).ok_or_else(|| {
            StoreError::Invalid(format!(
                "{:?} is neither an IP address nor a domain name",
                new.value
            ))
        })?;
        let txn = self.write().await?;
        let existing = blocklist_target::Entity::find()
            .filter(blocklist_target::Column::ClientId.eq(client.as_uuid()))
            .filter(blocklist_target::Column::Value.eq(value.as_str()))
            .one(&txn)
            .await?;
        let model = match existing {
            Some(model) => model,
            None => {
                let model = blocklist_target::Model {
                    id: Uuid::now_v7(),
                    msp_id: msp.as_uuid(),
                    client_id: client.as_uuid(),
                    kind: kind.as_str().to_owned(),
                    value,
                    note: new.note,
                    created_at: now(),
                };
                blocklist_target::Entity::insert(model.clone().into_active_model())
                    .exec_without_returning(&txn)
                    .await
                    .map_err(|e| conflict_on_unique(e, "the target was added concurrently"))?;
                model
            }
        };
        txn.commit().await?;
        BlocklistTarget::try_from(model)
    }

    /// The latest verdicts of every list on `client`'s targets, by target then list.
    pub async fn blocklist_client_states(
        &self,
        client: ClientId,
    ) -> Result<Vec<BlocklistState>, StoreError> {
        let txn = self.read().await?;
        let rows = blocklist_state::Entity::find()
            .filter(blocklist_state::Column::ClientId.eq(client.as_uuid()))
            .order_by_asc(blocklist_state::Column::TargetId)
            .order_by_asc(blocklist_state::Column::ListId)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(BlocklistState::try_from).collect()
    }

    /// `msp`'s overrides of the list catalogue with their keys, by list id.
    pub async fn blocklist_overrides(
        &self,
        msp: MspId,
    ) -> Result<Vec<BlocklistOverrideWithKey>, StoreError> {
        let txn = self.read().await?;
        let rows = blocklist_override::Entity::find()
            .filter(blocklist_override::Column::MspId.eq(msp.as_uuid()))
            .order_by_asc(blocklist_override::Column::ListId)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|m| {
                let key = m.list_key.clone();
                BlocklistOverrideWithKey {
                    row: BlocklistOverride::from(m),
                    key,
                }
            })
            .collect())
    }

    /// Records one check of `target` made at `at`: each observation becomes the latest
    /// verdict of its list (its `since` moves only when the verdict changes); a listing on a
    /// list with no open listing opens one (a [`BlocklistTransition::Listed`]); a clear
    /// verdict closes the open listing (a [`BlocklistTransition::Delisted`]); an unknown
    /// verdict changes no history. `events` turns each transition into an outbox event
    /// written in the same transaction. `NotFound` when the target was removed meanwhile.
    pub async fn record_blocklist_check(
        &self,
        target: &BlocklistTarget,
        observations: &[BlocklistObservation],
        at: DateTime<Utc>,
        events: &(dyn Fn(&BlocklistTransition) -> OutboxEvent + Send + Sync),
    ) -> Result<Vec<BlocklistTransition>, StoreError> {
        let at = at.trunc_subsecs(6);
        let txn = self.write().await?;
        let target = blocklist_target::Entity::find_by_id(target.id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(BlocklistTarget::try_from)?;
        let mut states: HashMap<String, blocklist_state::Model> = blocklist_state::Entity::find()
            .filter(blocklist_state::Column::TargetId.eq(target.id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| (m.list_id.clone(), m))
            .collect();
        let mut open: HashMap<String, blocklist_listing::Model> = blocklist_listing::Entity::find()
            .filter(blocklist_listing::Column::TargetId.eq(target.id))
            .filter(blocklist_listing::Column::Until.is_null())
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| (m.list_id.clone(), m))
            .collect();
        let mut transitions = Vec::new();
        for obs in observations {
            match (obs.verdict, open.get(&obs.list_id)) {
                (BlocklistVerdict::Listed, None) => {
                    let listing = blocklist_listing::Model {
                        id: Uuid::now_v7(),
                        msp_id: target.msp_id.as_uuid(),
                        client_id: target.client_id.as_uuid(),
                        target_id: target.id,
                        list_id: obs.list_id.clone(),
                        since: at,
                        until: None,
                        detail: obs.detail.clone(),
                    };
                    blocklist_listing::Entity::insert(listing.clone().into_active_model())
                        .exec_without_returning(&txn)
                        .await?;
                    transitions.push(BlocklistTransition::Listed {
                        target: target.clone(),
                        listing: BlocklistListing::from(listing.clone()),
                    });
                    open.insert(obs.list_id.clone(), listing);
                }
                (BlocklistVerdict::Clear, Some(listing)) => {
                    let mut closed = listing.clone();
                    closed.until = Some(at);
                    let mut active = listing.clone().into_active_model();
                    active.until = ActiveValue::Set(Some(at));
                    blocklist_listing::Entity::update(active).exec(&txn).await?;
                    transitions.push(BlocklistTransition::Delisted {
                        target: target.clone(),
                        listing: BlocklistListing::from(closed),
                    });
                    open.remove(&obs.list_id);
                }
                _ => {}
            }
            let verdict = obs.verdict.as_str().to_owned();
            match states.get(&obs.list_id) {
                Some(state) => {
                    let since = if state.state == verdict {
                        state.since
                    } else {
                        at
                    };
                    let mut active = state.clone().into_active_model();
                    active.state = ActiveValue::Set(verdict.clone());
                    active.detail = ActiveValue::Set(obs.detail.clone());
                    active.since = ActiveValue::Set(since);
                    active.checked_at = ActiveValue::Set(at);
                    let updated = blocklist_state::Entity::update(active).exec(&txn).await?;
                    states.insert(obs.list_id.clone(), updated);
                }
                None => {
                    let state = blocklist_state::Model {
                        id: Uuid::now_v7(),
                        msp_id: target.msp_id.as_uuid(),
                        client_id: target.client_id.as_uuid(),
                        target_id: target.id,
                        list_id: obs.list_id.clone(),
                        state: verdict,
                        detail: obs.detail.clone(),
                        since: at,
                        checked_at: at,
                    };
                    blocklist_state::Entity::insert(state.clone().into_active_model())
                        .exec_without_returning(&txn)
                        .await
                        .map_err(|e| {
                            conflict_on_unique(e, "the target was checked concurrently")
                        })?;
                    states.insert(obs.list_id.clone(), state);
                }
            }
        }
        let outbox: Vec<OutboxEvent> = transitions.iter().map(events).collect();
        write_events(&txn, &outbox).await?;
        txn.commit().await?;
        Ok(transitions)
    }
}
