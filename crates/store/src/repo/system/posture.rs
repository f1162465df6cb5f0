//! The posture checker's side of DNS snapshots: the previous snapshot of a domain (to say
//! what changed), storing a new one, and the DKIM selectors the domain's aggregate reports
//! named (DKIM keys can only be checked for known selectors).

use super::SystemDb;
use crate::entity::{dmarc_record, dns_snapshot, to_json};
use crate::error::StoreError;
use crate::rows::{DnsSnapshot, Domain, NewDnsSnapshot};
use chrono::{DateTime, Utc};
use postern_domain::DomainId;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// Aggregate records read to learn selectors (newest first); enough for any real domain.
const SELECTOR_RECORDS: u64 = 20_000;
/// Selectors returned at most (most domains have 1 to 5).
const MAX_SELECTORS: usize = 32;

impl SystemDb {
    /// The newest snapshot of `domain`, if it was ever checked.
    pub async fn latest_dns_snapshot(
        &self,
        domain: DomainId,
    ) -> Result<Option<DnsSnapshot>, StoreError> {
        let txn = self.read().await?;
        let row = dns_snapshot::Entity::find()
            .filter(dns_snapshot::Column::DomainId.eq(domain.as_uuid()))
            .order_by_desc(dns_snapshot::Column::Id)
            .one(&txn)
            .await?;
        txn.commit().await?;
        row.map(DnsSnapshot::try_from).transpose()
    }

    /// When each of `domains` was last checked (domains never checked are absent): one
    /// query for a page of the schedule's walk.
    pub async fn last_dns_checks(
        &self,
        domains: &[DomainId],
    ) -> Result<HashMap<DomainId, DateTime<Utc>>, StoreError> {
        if domains.is_empty() {
            return Ok(HashMap::new());
        }
        let txn = self.read().await?;
        let rows: Vec<(Uuid, Option<DateTime<Utc>>)> = dns_snapshot::Entity::find()
            .filter(dns_snapshot::Column::DomainId.is_in(domains.iter().map(|d| d.as_uuid())))
            .select_only()
            .column(dns_snapshot::Column::DomainId)
            .column_as(dns_snapshot::Column::CheckedAt.max(), "last")
            .group_by(dns_snapshot::Column::DomainId)
            .into_tuple()
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, last)| Some((DomainId::from_uuid(id), last?)))
            .collect())
    }

    /// Stores a posture snapshot of `domain` and returns it.
    pub async fn record_dns_snapshot(
        &self,
        domain: &Domain,
        new: NewDnsSnapshot,
    ) -> Result<DnsSnapshot, StoreError> {
        let model = dns_snapshot::Model {
            id: Uuid::now_v7(),
            msp_id: domain.msp_id.as_uuid(),
            client_id: domain.client_id.as_uuid(),
            domain_id: domain.id.as_uuid(),
            checked_at: new.checked_at,
            summary: to_json("dns snapshot summary", &new.summary)?,
            report: new.report,
            changes: new.changes,
            queries: i64::from(new.queries),
        };
        let txn = self.write().await?;
        dns_snapshot::Entity::insert(model.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        DnsSnapshot::try_from(model)
    }

    /// The DKIM selectors of `domain`'s own signatures that its newest aggregate records
    /// (header From = the domain) named, sorted, at most 32.
    pub async fn dkim_selectors(&self, domain: &Domain) -> Result<Vec<String>, StoreError> {
        let txn = self.read().await?;
        let rows: Vec<serde_json::Value> = dmarc_record::Entity::find()
            .filter(dmarc_record::Column::ClientId.eq(domain.client_id.as_uuid()))
            .filter(dmarc_record::Column::HeaderFrom.eq(domain.name.as_str()))
            .order_by_desc(dmarc_record::Column::Id)
            .select_only()
            .column(dmarc_record::Column::DkimResults)
            .limit(SELECTOR_RECORDS)
            .into_tuple()
            .all(&txn)
            .await?;
        txn.commit().await?;
        let mut selectors = BTreeSet::new();
        for results in rows {
            let Some(list) = results.as_array() else {
                continue;
            };
            for result in list {
                let same_domain = result
                    .get("domain")
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| d.eq_ignore_ascii_case(domain.name.as_str()));
                if let (true, Some(selector)) =
                    (same_domain, result.get("selector").and_then(|s| s.as_str()))
                {
                    let selector = selector.trim().to_ascii_lowercase();
                    if !selector.is_empty() && selector.len() <= 63 {
                        selectors.insert(selector);
                    }
                }
            }
            if selectors.len() >= MAX_SELECTORS {
                break;
            }
        }
        Ok(selectors.into_iter().take(MAX_SELECTORS).collect())
    }
}
