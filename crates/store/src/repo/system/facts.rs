//! What analysis reads to build one domain's facts for the rules: its DMARC counters and
//! sources over a window, the newest published policy, and its TLS-RPT totals. These cross
//! tenants (the domain says whose data it is), unlike the `TenantDb` equivalents.

use super::SystemDb;
use crate::entity::{dmarc_aggregate, report, tls_failure, tls_policy, uncount};
use crate::error::StoreError;
use crate::repo::tenant::{sources_in, summary_in};
use crate::rows::{DailySummary, SourceStats, TlsFailureTotal, TlsTotals};
use chrono::{DateTime, Utc};
use postern_domain::{DomainId, PolicyPublished, ReportKind};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

/// Report ids per `IN (…)` list: far below both backends' bind limits.
const IN_LIST: usize = 500;

impl SystemDb {
    /// Totals of `domain`'s days whose date lies in `[from.date, to.date]` (UTC); zero when
    /// it has none (or does not exist).
    pub async fn domain_summary_system(
        &self,
        domain: DomainId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<DailySummary, StoreError> {
        let txn = self.read().await?;
        let summary = summary_in(&txn, self.store.backend, domain, None, from, to).await?;
        txn.commit().await?;
        Ok(summary)
    }

    /// Up to `limit` of `domain`'s sending IPs over `[from.date, to.date]`, most messages
    /// first, with their reverse DNS name when known.
    pub async fn domain_sources_system(
        &self,
        domain: DomainId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<SourceStats>, StoreError> {
        let txn = self.read().await?;
        let sources = sources_in(&txn, self.store.backend, domain, None, from, to, limit).await?;
        txn.commit().await?;
        Ok(sources)
    }

    /// The policy published by `domain` as its newest aggregate report (latest period end,
    /// then latest arrival) echoes it; `None` without aggregate reports.
    pub async fn latest_policy(
        &self,
        domain: DomainId,
    ) -> Result<Option<PolicyPublished>, StoreError> {
        let txn = self.read().await?;
        let newest = report::Entity::find()
            .filter(report::Column::DomainId.eq(domain.as_uuid()))
            .filter(report::Column::Kind.eq(ReportKind::Aggregate.as_str()))
            .order_by_desc(report::Column::DateEnd)
            .order_by_desc(report::Column::ReceivedAt)
            .order_by_desc(report::Column::Id)
            .one(&txn)
            .await?;
        let Some(newest) = newest else {
            txn.commit().await?;
            return Ok(None);
        };
        let header = dmarc_aggregate::Entity::find_by_id(newest.id)
            .one(&txn)
            .await?;
        txn.commit().await?;
        header
            .map(|h| h.into_header(&newest).map(|h| h.policy))
            .transpose()
    }

    /// Session totals of every policy in `domain`'s TLS reports whose period overlaps
    /// `[from, to)`, with the failed sessions by result type (most first); `None` when no
    /// such report exists.
    pub async fn domain_tls_totals(
        &self,
        domain: DomainId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<TlsTotals>, StoreError> {
        let txn = self.read().await?;
        let ids: Vec<Uuid> = report::Entity::find()
            .select_only()
            .column(report::Column::Id)
            .filter(report::Column::DomainId.eq(domain.as_uuid()))
            .filter(report::Column::Kind.eq(ReportKind::Tls.as_str()))
            .filter(report::Column::DateEnd.gte(from))
            .filter(report::Column::DateBegin.lt(to))
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(None);
        }
        let mut totals = TlsTotals {
            reports: ids.len() as u64,
            ..TlsTotals::default()
        };
        let mut by_type: HashMap<String, u64> = HashMap::new();
        for chunk in ids.chunks(IN_LIST) {
            let policies: Vec<(i64, i64)> = tls_policy::Entity::find()
                .select_only()
                .column(tls_policy::Column::Successful)
                .column(tls_policy::Column::Failed)
                .filter(tls_policy::Column::ReportId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&txn)
                .await?;
            for (successful, failed) in policies {
                totals.successful = totals.successful.saturating_add(uncount(successful));
                totals.failed = totals.failed.saturating_add(uncount(failed));
            }
            let failures: Vec<(String, i64)> = tls_failure::Entity::find()
                .select_only()
                .column(tls_failure::Column::ResultType)
                .column(tls_failure::Column::FailedSessionCount)
                .filter(tls_failure::Column::ReportId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&txn)
                .await?;
            for (result_type, sessions) in failures {
                let slot = by_type.entry(result_type).or_default();
                *slot = slot.saturating_add(uncount(sessions));
            }
        }
        txn.commit().await?;
        let mut failures: Vec<TlsFailureTotal> = by_type
            .into_iter()
            .map(|(result_type, sessions)| TlsFailureTotal {
                result_type,
                sessions,
            })
            .collect();
        failures.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| a.result_type.cmp(&b.result_type))
        });
        totals.failures = failures;
        Ok(Some(totals))
    }
}
