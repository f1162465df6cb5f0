//! Analysis: reading reports back and maintaining the per-domain aggregates idempotently.

use super::SystemDb;
use crate::entity::{count, dmarc_record, domain_daily, ip_reverse_dns, processed_event, report};
use crate::error::StoreError;
use crate::repo::now;
use crate::rows::{DailySummary, Domain, ReportSummary, SourceDelta};
use crate::scope::Params;
use chrono::{DateTime, NaiveDate, Utc};
use postern_domain::{AggregateRecord, DomainId, EventId, ReportId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, TryInsertResult,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Rows per upsert statement: 13 columns for days, 11 for sources; 500 rows stay far below
/// both backends' bind limits.
const UPSERT_ROWS: usize = 500;

impl SystemDb {
    pub async fn report_for_analysis(
        &self,
        id: ReportId,
    ) -> Result<Option<ReportSummary>, StoreError> {
        let txn = self.read().await?;
        let row = report::Entity::find_by_id(id.as_uuid()).one(&txn).await?;
        txn.commit().await?;
        row.map(ReportSummary::try_from).transpose()
    }

    /// Every record of an aggregate report, in report order. Prefer
    /// [`aggregate_records_page`](Self::aggregate_records_page) for large reports.
    pub async fn all_aggregate_records(
        &self,
        id: ReportId,
    ) -> Result<Vec<AggregateRecord>, StoreError> {
        let txn = self.read().await?;
        let rows = dmarc_record::Entity::find()
            .filter(dmarc_record::Column::ReportId.eq(id.as_uuid()))
            .order_by_asc(dmarc_record::Column::Seq)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter()
            .map(dmarc_record::Model::into_record)
            .collect()
    }

    /// Up to `limit` records after record number `after_seq` (None: from the first), in
    /// report order, each with its number (0-based).
    pub async fn aggregate_records_page(
        &self,
        id: ReportId,
        after_seq: Option<u64>,
        limit: u64,
    ) -> Result<Vec<(u64, AggregateRecord)>, StoreError> {
        let txn = self.read().await?;
        let mut query =
            dmarc_record::Entity::find().filter(dmarc_record::Column::ReportId.eq(id.as_uuid()));
        if let Some(after) = after_seq {
            query = query.filter(dmarc_record::Column::Seq.gt(count("record number", after)?));
        }
        let rows = query
            .order_by_asc(dmarc_record::Column::Seq)
            .limit(limit.min(crate::rows::MAX_PAGE_SIZE))
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter()
            .map(|m| {
                let seq = crate::entity::uncount(m.seq);
                m.into_record().map(|r| (seq, r))
            })
            .collect()
    }

    /// Adds one event's deltas to `domain`'s daily aggregates, once: in ONE transaction, if
    /// `consumer` already processed `event` nothing changes and it returns false; otherwise
    /// the counters are added (first seen = earliest, last seen = latest), the event is
    /// recorded and it returns true.
    #[tracing::instrument(name = "store.analysis.apply_aggregates", skip_all, fields(consumer = consumer, event = %event, domain = %domain.id))]
    pub async fn apply_aggregates(
        &self,
        consumer: &str,
        event: EventId,
        domain: &Domain,
        days: &[(NaiveDate, DailySummary)],
        sources: &[(NaiveDate, IpAddr, SourceDelta)],
    ) -> Result<bool, StoreError> {
        let txn = self.write().await?;
        let recorded = processed_event::Entity::insert(
            processed_event::Model {
                consumer: consumer.to_owned(),
                event_id: event.as_uuid(),
                processed_at: now(),
            }
            .into_active_model(),
        )
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await?;
        let fresh = matches!(recorded, TryInsertResult::Inserted(n) if n > 0);
        if !fresh {
            txn.commit().await?;
            return Ok(false);
        }

        // One statement may not touch a row twice: merge duplicate keys first.
        let mut merged_days: BTreeMap<NaiveDate, DailySummary> = BTreeMap::new();
        for (day, summary) in days {
            merged_days.entry(*day).or_default().add(summary);
        }
        let mut merged_sources: BTreeMap<(NaiveDate, String), SourceDelta> = BTreeMap::new();
        for (day, ip, delta) in sources {
            merged_sources
                .entry((*day, ip.to_string()))
                .and_modify(|d| d.add(delta))
                .or_insert(*delta);
        }
        let days: Vec<_> = merged_days.into_iter().collect();
        for chunk in days.chunks(UPSERT_ROWS) {
            upsert_days(&txn, self, domain, chunk).await?;
        }
        let sources: Vec<_> = merged_sources.into_iter().collect();
        for chunk in sources.chunks(UPSERT_ROWS) {
            upsert_sources(&txn, self, domain, chunk).await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Up to `limit` source IPs without a reverse DNS answer yet, most recently seen first,
    /// each with the domain it was last seen for.
    pub async fn sources_missing_rdns(
        &self,
        limit: u64,
    ) -> Result<Vec<(DomainId, IpAddr)>, StoreError> {
        let limit = limit.min(crate::rows::MAX_PAGE_SIZE);
        let mut params = Params::default();
        // Pairs, not IPs (PostgreSQL has no MIN(uuid)); an IP seen for several domains is
        // de-duplicated below, so fetch a little more than asked.
        let fetch = params.push(count("limit", limit.saturating_mul(4))?);
        let sql = format!(
            "SELECT s.domain_id AS domain_id, s.source_ip AS source_ip, MAX(s.last_seen) AS seen \
             FROM domain_source_daily s LEFT JOIN ip_reverse_dns r ON r.ip = s.source_ip \
             WHERE r.ip IS NULL GROUP BY s.domain_id, s.source_ip \
             ORDER BY seen DESC, s.source_ip LIMIT {fetch}"
        );
        let txn = self.read().await?;
        let rows = txn
            .query_all_raw(params.statement(self.store.backend, sql))
            .await?;
        txn.commit().await?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in rows {
            let ip = crate::entity::ip("source ip", &row.try_get::<String>("", "source_ip")?)?;
            let domain: uuid::Uuid = row.try_get("", "domain_id")?;
            if out.len() as u64 >= limit {
                break;
            }
            if seen.insert(ip) {
                out.push((DomainId::from_uuid(domain), ip));
            }
        }
        Ok(out)
    }

    /// Caches the reverse DNS name of `ip` (None: it has none), replacing an older answer.
    pub async fn set_reverse_dns(
        &self,
        ip: IpAddr,
        name: Option<&str>,
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = ip_reverse_dns::Model {
            ip: ip.to_string(),
            name: name.map(str::to_owned),
            checked_at,
        };
        let txn = self.write().await?;
        ip_reverse_dns::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::column(ip_reverse_dns::Column::Ip)
                    .update_columns([
                        ip_reverse_dns::Column::Name,
                        ip_reverse_dns::Column::CheckedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

async fn upsert_days(
    txn: &DatabaseTransaction,
    db: &SystemDb,
    domain: &Domain,
    rows: &[(NaiveDate, DailySummary)],
) -> Result<(), StoreError> {
    let mut params = Params::default();
    let mut values = Vec::with_capacity(rows.len());
    for (day, summary) in rows {
        let mut row = vec![
            params.push(domain.id.as_uuid()),
            params.push(*day),
            params.push(domain.msp_id.as_uuid()),
            params.push(domain.client_id.as_uuid()),
        ];
        for value in domain_daily::counters(summary) {
            row.push(params.push(count("daily counter", value)?));
        }
        values.push(format!("({})", row.join(", ")));
    }
    let counters = domain_daily::COUNTERS;
    let additions = counters
        .iter()
        .map(|c| format!("{c} = domain_daily.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO domain_daily (domain_id, day, msp_id, client_id, {}) VALUES {} \
         ON CONFLICT (domain_id, day) DO UPDATE SET {additions}",
        counters.join(", "),
        values.join(", "),
    );
    txn.execute_raw(params.statement(db.store.backend, sql))
        .await?;
    Ok(())
}

async fn upsert_sources(
    txn: &DatabaseTransaction,
    db: &SystemDb,
    domain: &Domain,
    rows: &[((NaiveDate, String), SourceDelta)],
) -> Result<(), StoreError> {
    let mut params = Params::default();
    let mut values = Vec::with_capacity(rows.len());
    for ((day, ip), delta) in rows {
        let row = [
            params.push(domain.id.as_uuid()),
            params.push(*day),
            params.push(ip.clone()),
            params.push(domain.msp_id.as_uuid()),
            params.push(domain.client_id.as_uuid()),
            params.push(count("messages", delta.messages)?),
            params.push(count("dmarc pass", delta.dmarc_pass)?),
            params.push(count("spf aligned pass", delta.spf_aligned_pass)?),
            params.push(count("dkim aligned pass", delta.dkim_aligned_pass)?),
            params.push(delta.first_seen),
            params.push(delta.last_seen),
        ];
        values.push(format!("({})", row.join(", ")));
    }
    // CASE rather than LEAST/GREATEST (PostgreSQL) or MIN/MAX (SQLite): works on both.
    let sql = format!(
        "INSERT INTO domain_source_daily (domain_id, day, source_ip, msp_id, client_id, messages, \
           dmarc_pass, spf_aligned_pass, dkim_aligned_pass, first_seen, last_seen) VALUES {} \
         ON CONFLICT (domain_id, day, source_ip) DO UPDATE SET \
           messages = domain_source_daily.messages + excluded.messages, \
           dmarc_pass = domain_source_daily.dmarc_pass + excluded.dmarc_pass, \
           spf_aligned_pass = domain_source_daily.spf_aligned_pass + excluded.spf_aligned_pass, \
           dkim_aligned_pass = domain_source_daily.dkim_aligned_pass + excluded.dkim_aligned_pass, \
           first_seen = CASE WHEN excluded.first_seen < domain_source_daily.first_seen \
             THEN excluded.first_seen ELSE domain_source_daily.first_seen END, \
           last_seen = CASE WHEN excluded.last_seen > domain_source_daily.last_seen \
             THEN excluded.last_seen ELSE domain_source_daily.last_seen END",
        values.join(", "),
    );
    txn.execute_raw(params.statement(db.store.backend, sql))
        .await?;
    Ok(())
}
