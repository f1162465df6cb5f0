//! Bounce ingestion: bounce rows, sent volume and immediate suppression in one transaction
//! with the outbox event, and the per-client bounce-address keys that route bounce mail.

use super::SystemDb;
use crate::entity::{bounce, bounce_key, client};
use crate::error::StoreError;
use crate::repo::tenant::suppress_in;
use crate::repo::{now, write_events};
use crate::rows::{
    BatchOutcome, BounceBatch, BounceKind, Client, NewBounce, OutboxEvent, normalize_address,
};
use crate::scope::Params;
use chrono::NaiveDate;
use postern_domain::{ClientId, MspId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect,
};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// Rows per multi-row insert (31 columns: far below both backends' bind limits).
const CHUNK: usize = 200;

/// Counters of one `send_volume` row to add.
#[derive(Default)]
struct VolumeDelta {
    msp: Uuid,
    delivered: i64,
    deferred: i64,
    bounced: i64,
    complaints: i64,
}

type VolumeKey = (Uuid, String, NaiveDate, String);

impl SystemDb {
    /// Stores a batch: new bounces (a bounce whose `dedup_key` was stored before is a
    /// duplicate), deliveries (counted once per `dedup_key`), the send volume they add and
    /// the suppressions of new hard bounces and complaints, then the event `event` builds
    /// from the outcome (`None`: no event), all in one transaction.
    #[tracing::instrument(name = "store.bounces.store", skip_all, fields(bounces = batch.bounces.len(), deliveries = batch.deliveries.len()))]
    pub async fn store_bounces(
        &self,
        batch: &BounceBatch,
        event: impl FnOnce(&BatchOutcome) -> Option<OutboxEvent> + Send,
    ) -> Result<BatchOutcome, StoreError> {
        let txn = self.write().await?;
        let mut outcome = BatchOutcome::default();
        let mut volume: BTreeMap<VolumeKey, VolumeDelta> = BTreeMap::new();

        let known = existing_keys(&txn, &batch.bounces).await?;
        let mut fresh: Vec<&NewBounce> = Vec::new();
        let mut seen_now = HashSet::new();
        for b in &batch.bounces {
            if known.contains(&b.dedup_key) || !seen_now.insert(b.dedup_key.as_str()) {
                outcome.duplicates.push(b.dedup_key.clone());
            } else {
                fresh.push(b);
            }
        }
        for chunk in fresh.chunks(CHUNK) {
            let rows = chunk
                .iter()
                .map(|b| model(b, batch))
                .collect::<Result<Vec<_>, _>>()?;
            bounce::Entity::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
                .on_conflict(
                    OnConflict::column(bounce::Column::DedupKey)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let at = now();
        for b in fresh {
            outcome.stored.push(b.id);
            let Some(owner) = b.owner else { continue };
            if b.count_volume
                && let Some(sender) = &b.sender_domain
            {
                let delta = volume
                    .entry((
                        owner.client_id.as_uuid(),
                        sender.clone(),
                        b.time.date_naive(),
                        b.provider.clone(),
                    ))
                    .or_default();
                delta.msp = owner.msp_id.as_uuid();
                match b.kind {
                    BounceKind::Bounced => delta.bounced += 1,
                    BounceKind::Deferred => delta.deferred += 1,
                    BounceKind::Complained => delta.complaints += 1,
                }
            }
            if b.suppress
                && let Some(address) = normalize_address(&b.recipient)
            {
                let (_, changed) = suppress_in(
                    &txn,
                    owner.msp_id,
                    owner.client_id,
                    &address,
                    &b.reason,
                    Some(b.id),
                    None,
                    at,
                )
                .await?;
                if changed {
                    outcome.suppressed += 1;
                }
            }
        }

        for d in &batch.deliveries {
            let mut params = Params::default();
            let sql = format!(
                "INSERT INTO bounce_delivery_seen (dedup_key, received_at) VALUES ({}, {}) \
                 ON CONFLICT (dedup_key) DO NOTHING",
                params.push(d.dedup_key.clone()),
                params.push(batch.received_at),
            );
            let inserted = txn
                .execute_raw(params.statement(self.store.backend, sql))
                .await?
                .rows_affected();
            if inserted == 0 {
                outcome.deliveries_duplicate += 1;
                outcome.duplicate_deliveries.push(d.dedup_key.clone());
                continue;
            }
            outcome.deliveries_new += 1;
            if let (Some(owner), Some(sender)) = (d.owner, &d.sender_domain) {
                let delta = volume
                    .entry((
                        owner.client_id.as_uuid(),
                        sender.clone(),
                        d.time.date_naive(),
                        d.provider.clone(),
                    ))
                    .or_default();
                delta.msp = owner.msp_id.as_uuid();
                delta.delivered += 1;
            }
        }

        for ((client, sender, day, provider), delta) in volume {
            let mut params = Params::default();
            let sql = format!(
                "INSERT INTO send_volume (msp_id, client_id, sender_domain, day, provider, \
                 delivered, deferred, bounced, complaints) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) \
                 ON CONFLICT (client_id, sender_domain, day, provider) DO UPDATE SET \
                 delivered = send_volume.delivered + excluded.delivered, \
                 deferred = send_volume.deferred + excluded.deferred, \
                 bounced = send_volume.bounced + excluded.bounced, \
                 complaints = send_volume.complaints + excluded.complaints",
                params.push(delta.msp),
                params.push(client),
                params.push(sender),
                params.push(day),
                params.push(provider),
                params.push(delta.delivered),
                params.push(delta.deferred),
                params.push(delta.bounced),
                params.push(delta.complaints),
            );
            txn.execute_raw(params.statement(self.store.backend, sql))
                .await?;
        }

        if let Some(event) = event(&outcome) {
            write_events(&txn, &[event]).await?;
        }
        txn.commit().await?;
        Ok(outcome)
    }

    /// The key of `client`'s bounce address (`bounces+<key>@<intake domain>`), made on first
    /// use. `NotFound` when the client does not exist.
    pub async fn bounce_key(&self, client: ClientId) -> Result<String, StoreError> {
        let txn = self.write().await?;
        let existing: Option<String> = bounce_key::Entity::find()
            .select_only()
            .column(bounce_key::Column::Key)
            .filter(bounce_key::Column::ClientId.eq(client.as_uuid()))
            .into_tuple()
            .one(&txn)
            .await?;
        if let Some(key) = existing {
            txn.commit().await?;
            return Ok(key);
        }
        let msp: Uuid = client::Entity::find_by_id(client.as_uuid())
            .select_only()
            .column(client::Column::MspId)
            .into_tuple()
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        // 64 random bits in lower-case hex: unguessable enough that a stranger cannot file
        // bounces under a client, short enough for a local part.
        let key = Uuid::new_v4().simple().to_string()[..16].to_owned();
        bounce_key::Entity::insert(
            bounce_key::Model {
                key: key.clone(),
                msp_id: msp,
                client_id: client.as_uuid(),
                created_at: now(),
            }
            .into_active_model(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(|e| crate::error::conflict_on_unique(e, "bounce key already exists"))?;
        txn.commit().await?;
        Ok(key)
    }

    /// The client whose bounce-address key is `key` (case-insensitive), if any.
    pub async fn client_for_bounce_key(&self, key: &str) -> Result<Option<Client>, StoreError> {
        let txn = self.read().await?;
        let owner: Option<(Uuid, Uuid)> = bounce_key::Entity::find()
            .select_only()
            .column(bounce_key::Column::MspId)
            .column(bounce_key::Column::ClientId)
            .filter(bounce_key::Column::Key.eq(key.trim().to_ascii_lowercase()))
            .into_tuple()
            .one(&txn)
            .await?;
        let row = match owner {
            Some((_, client)) => client::Entity::find_by_id(client).one(&txn).await?,
            None => None,
        };
        txn.commit().await?;
        Ok(row.map(Client::from))
    }

    /// The client `client` with its MSP, whoever owns it.
    pub async fn client_owner(&self, client: ClientId) -> Result<Option<MspId>, StoreError> {
        let txn = self.read().await?;
        let msp: Option<Uuid> = client::Entity::find_by_id(client.as_uuid())
            .select_only()
            .column(client::Column::MspId)
            .into_tuple()
            .one(&txn)
            .await?;
        txn.commit().await?;
        Ok(msp.map(MspId::from_uuid))
    }
}

/// The dedup keys of `bounces` already stored.
async fn existing_keys(
    txn: &DatabaseTransaction,
    bounces: &[NewBounce],
) -> Result<HashSet<String>, StoreError> {
    let mut known = HashSet::new();
    for chunk in bounces.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|b| b.dedup_key.clone()).collect();
        let found: Vec<String> = bounce::Entity::find()
            .select_only()
            .column(bounce::Column::DedupKey)
            .filter(bounce::Column::DedupKey.is_in(keys))
            .into_tuple()
            .all(txn)
            .await?;
        known.extend(found);
    }
    Ok(known)
}

fn model(b: &NewBounce, batch: &BounceBatch) -> Result<bounce::Model, StoreError> {
    Ok(bounce::Model {
        id: b.id,
        msp_id: b.owner.map(|o| o.msp_id.as_uuid()),
        client_id: b.owner.map(|o| o.client_id.as_uuid()),
        raw_input_id: batch.raw_input_id.as_uuid(),
        unassigned_reason: if b.owner.is_some() {
            None
        } else {
            b.unassigned_reason.clone()
        },
        domain_id: b.owner.and_then(|o| o.domain_id).map(|d| d.as_uuid()),
        kind: b.kind.as_str().to_owned(),
        recipient: b.recipient.clone(),
        recipient_domain: b.recipient_domain.to_ascii_lowercase(),
        status: b.status.clone(),
        reply_code: b.reply_code.map(i32::from),
        diagnostic: b.diagnostic.clone(),
        remote_host: b.remote_host.clone(),
        reporting_mta: b.reporting_mta.clone(),
        time: b.time,
        original_message_id: b.original_message_id.clone(),
        sending_ip: b.sending_ip.clone(),
        command: b.command.clone(),
        action: b.action.clone(),
        evidence: b.evidence.clone(),
        feedback_type: b.feedback_type.clone(),
        hard: b.hard,
        reason: b.reason.clone(),
        provider: b.provider.clone(),
        provider_event_id: b.provider_event_id.clone(),
        campaign: b.campaign.clone(),
        sender_domain: b.sender_domain.as_ref().map(|d| d.to_ascii_lowercase()),
        dedup_key: b.dedup_key.clone(),
        received_at: batch.received_at,
    })
}
