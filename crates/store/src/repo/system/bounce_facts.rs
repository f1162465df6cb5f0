//! What the rules need of a domain's bounces: its bounces over a window and the sent
//! volume over the same days.

use super::SystemDb;
use crate::entity::{bounce, send_volume};
use crate::error::StoreError;
use crate::rows::{BounceRecord, Domain};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

impl SystemDb {
    /// The bounces (of every kind) of mail sent from `domain`, with `time` in
    /// [`from`, `to`), newest first, at most `limit`.
    pub async fn domain_bounces(
        &self,
        domain: &Domain,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<BounceRecord>, StoreError> {
        let txn = self.read().await?;
        let rows = bounce::Entity::find()
            .filter(bounce::Column::DomainId.eq(domain.id.as_uuid()))
            .filter(bounce::Column::Time.gte(from))
            .filter(bounce::Column::Time.lt(to))
            .order_by_desc(bounce::Column::Time)
            .limit(limit)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(BounceRecord::try_from).collect()
    }

    /// Messages delivered (sent volume known from ESP events or MTA logs) from `domain`
    /// over the days of [`from`, `to`]; `None` when no delivery was ever recorded for it
    /// in that period (the volume is unknown, not zero). With the providers that told.
    pub async fn domain_delivered(
        &self,
        domain: &Domain,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<(u64, Vec<String>)>, StoreError> {
        let txn = self.read().await?;
        let rows = send_volume::Entity::find()
            .filter(send_volume::Column::ClientId.eq(domain.client_id.as_uuid()))
            .filter(send_volume::Column::SenderDomain.eq(domain.name.as_str()))
            .filter(send_volume::Column::Day.gte(from.date_naive()))
            .filter(send_volume::Column::Day.lte(to.date_naive()))
            .all(&txn)
            .await?;
        txn.commit().await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let delivered = rows
            .iter()
            .map(|r| u64::try_from(r.delivered + r.bounced).unwrap_or(0))
            .sum();
        let mut providers: Vec<String> = rows.into_iter().map(|r| r.provider).collect();
        providers.sort();
        providers.dedup();
        Ok(Some((delivered, providers)))
    }
}
