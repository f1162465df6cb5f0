//! Per-domain daily summaries and sources (written by analysis through `SystemDb`).

use super::TenantDb;
use crate::entity::{domain, domain_daily, ip, uncount};
use crate::error::StoreError;
use crate::rows::{DailySummary, DaySummary, SourceStats};
use crate::scope::{Params, owned_by};
use crate::store::Backend;
use chrono::{DateTime, Utc};
use postern_domain::{DomainId, TenantScope};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};

impl TenantDb {
    async fn require_domain(
        &self,
        txn: &DatabaseTransaction,
        id: DomainId,
    ) -> Result<(), StoreError> {
        let found = self
            .domains()
            .filter(domain::Column::Id.eq(id.as_uuid()))
            .count(txn)
            .await?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Totals of the days whose date lies in `[from.date, to.date]` (UTC).
    pub async fn domain_summary(
        &self,
        domain: DomainId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<DailySummary, StoreError> {
        let txn = self.read().await?;
        self.require_domain(&txn, domain).await?;
        let summary = summary_in(
            &txn,
            self.store.backend,
            domain,
            Some(&self.scope),
            from,
            to,
        )
        .await?;
        txn.commit().await?;
        Ok(summary)
    }

    /// One summary per day with data in `[from.date, to.date]`, oldest first.
    pub async fn domain_days(
        &self,
        domain: DomainId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DaySummary>, StoreError> {
        let txn = self.read().await?;
        self.require_domain(&txn, domain).await?;
        let rows = domain_daily::Entity::find()
            .filter(domain_daily::Column::DomainId.eq(domain.as_uuid()))
            .filter(owned_by(
                &self.scope,
                domain_daily::Column::MspId,
                domain_daily::Column::ClientId,
            ))
            .filter(domain_daily::Column::Day.gte(from.date_naive()))
            .filter(domain_daily::Column::Day.lte(to.date_naive()))
            .order_by_asc(domain_daily::Column::Day)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(DaySummary::from).collect())
    }

    /// The domain's sending IPs over `[from.date, to.date]`, most messages first, with their
    /// reverse DNS name when known.
    pub async fn domain_sources(
        &self,
        domain: DomainId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<SourceStats>, StoreError> {
        let txn = self.read().await?;
        self.require_domain(&txn, domain).await?;
        let sources = sources_in(
            &txn,
            self.store.backend,
            domain,
            Some(&self.scope),
            from,
            to,
            limit,
        )
        .await?;
        txn.commit().await?;
        Ok(sources)
    }
}

/// The totals of `domain`'s days in `[from.date, to.date]`, within `tenant` when one is given
/// (system jobs pass `None`).
pub(crate) async fn summary_in(
    txn: &DatabaseTransaction,
    backend: Backend,
    domain: DomainId,
    tenant: Option<&TenantScope>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<DailySummary, StoreError> {
    let mut params = Params::default();
    let id = params.push(domain.as_uuid());
    let tenant = tenant.map_or_else(|| "1 = 1".to_owned(), |scope| params.owned_by(scope, "d"));
    let from = params.push(from.date_naive());
    let to = params.push(to.date_naive());
    let sums = domain_daily::COUNTERS
        .iter()
        .map(|c| format!("CAST(COALESCE(SUM(d.{c}), 0) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = txn
        .query_one_raw(params.statement(
            backend,
            format!(
                "SELECT {sums} FROM domain_daily d \
                 WHERE d.domain_id = {id} AND {tenant} AND d.day >= {from} AND d.day <= {to}"
            ),
        ))
        .await?;
    let Some(row) = row else {
        return Ok(DailySummary::default());
    };
    let mut counters = [0_i64; 9];
    for (slot, column) in counters.iter_mut().zip(domain_daily::COUNTERS) {
        *slot = row.try_get("", column)?;
    }
    Ok(domain_daily::summary(counters))
}

/// `domain`'s sending IPs over `[from.date, to.date]`, most messages first, within `tenant`
/// when one is given (system jobs pass `None`).
pub(crate) async fn sources_in(
    txn: &DatabaseTransaction,
    backend: Backend,
    domain: DomainId,
    tenant: Option<&TenantScope>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<SourceStats>, StoreError> {
    let mut params = Params::default();
    let id = params.push(domain.as_uuid());
    let tenant = tenant.map_or_else(|| "1 = 1".to_owned(), |scope| params.owned_by(scope, "s"));
    let from = params.push(from.date_naive());
    let to = params.push(to.date_naive());
    let limit = params.push(crate::entity::count(
        "limit",
        limit.min(crate::rows::MAX_PAGE_SIZE),
    )?);
    let rows = txn
        .query_all_raw(params.statement(
            backend,
            format!(
                "SELECT s.source_ip AS source_ip, \
                   CAST(SUM(s.messages) AS BIGINT) AS total_messages, \
                   CAST(SUM(s.dmarc_pass) AS BIGINT) AS dmarc_pass, \
                   CAST(SUM(s.spf_aligned_pass) AS BIGINT) AS spf_aligned_pass, \
                   CAST(SUM(s.dkim_aligned_pass) AS BIGINT) AS dkim_aligned_pass, \
                   MIN(s.first_seen) AS first_seen, MAX(s.last_seen) AS last_seen, \
                   MAX(r.name) AS reverse_dns \
                 FROM domain_source_daily s LEFT JOIN ip_reverse_dns r ON r.ip = s.source_ip \
                 WHERE s.domain_id = {id} AND {tenant} AND s.day >= {from} AND s.day <= {to} \
                 GROUP BY s.source_ip \
                 ORDER BY total_messages DESC, s.source_ip \
                 LIMIT {limit}"
            ),
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            let source_ip: String = row.try_get("", "source_ip")?;
            Ok(SourceStats {
                source_ip: ip("source ip", &source_ip)?,
                messages: uncount(row.try_get("", "total_messages")?),
                dmarc_pass: uncount(row.try_get("", "dmarc_pass")?),
                spf_aligned_pass: uncount(row.try_get("", "spf_aligned_pass")?),
                dkim_aligned_pass: uncount(row.try_get("", "dkim_aligned_pass")?),
                first_seen: row.try_get("", "first_seen")?,
                last_seen: row.try_get("", "last_seen")?,
                reverse_dns: row.try_get("", "reverse_dns")?,
            })
        })
        .collect()
}
