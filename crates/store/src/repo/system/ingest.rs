//! Ingest: domain routing, raw input, reports and rejections.

use super::SystemDb;
use super::writer::AggregateWriter;
use crate::entity::{
    Owner, dmarc_aggregate, domain, failure_report, raw_input, rejection, report, tls_failure,
    tls_policy, tls_report,
};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::tenant::raw_input_meta;
use crate::repo::write_events;
use crate::rows::{Domain, OutboxEvent, RawInput, normalize_domain};
use crate::scope::Params;
use chrono::{DateTime, Utc};
use postern_domain::{
    AggregateHeader, ClientId, DomainId, FailureReport, MspId, RawInputId, RejectionId, ReportId,
    ReportKind, TlsReport,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The common row of a new report; `owner` None = unassigned. The `domain` column is the
/// owner's name when there is an owner, else the report's own (normalised) domain.
struct NewReport<'a> {
    id: ReportId,
    kind: ReportKind,
    raw: RawInputId,
    owner: Option<&'a Domain>,
    domain: &'a str,
    org_name: &'a str,
    external_id: &'a str,
    date_begin: DateTime<Utc>,
    date_end: DateTime<Utc>,
    received_at: DateTime<Utc>,
    record_count: u64,
    message_count: u64,
}

impl NewReport<'_> {
    fn owner(&self) -> Owner {
        Owner {
            msp_id: self.owner.map(|d| d.msp_id.as_uuid()),
            client_id: self.owner.map(|d| d.client_id.as_uuid()),
        }
    }

    /// Inserts the row; a report with the same (kind, org_name, external_id, domain) gives
    /// `Conflict`.
    async fn insert(&self, txn: &DatabaseTransaction) -> Result<Owner, StoreError> {
        let owner = self.owner();
        let domain = match self.owner {
            Some(d) => d.name.as_str().to_owned(),
            None => normalize_domain(self.domain),
        };
        let model = report::Model {
            id: self.id.as_uuid(),
            kind: self.kind.as_str().to_owned(),
            msp_id: owner.msp_id,
            client_id: owner.client_id,
            domain_id: self.owner.map(|d| d.id.as_uuid()),
            domain,
            org_name: self.org_name.trim().to_owned(),
            external_id: self.external_id.trim().to_owned(),
            date_begin: self.date_begin,
            date_end: self.date_end,
            received_at: self.received_at,
            record_count: crate::entity::count("record count", self.record_count)?,
            message_count: crate::entity::count("message count", self.message_count)?,
            raw_input_id: self.raw.as_uuid(),
            problems: serde_json::Value::Array(Vec::new()),
        };
        report::Entity::insert(model.into_active_model())
            .exec_without_returning(txn)
            .await
            .map_err(|e| conflict_on_unique(e, "duplicate report"))?;
        Ok(owner)
    }
}

impl SystemDb {
    /// The domain registered under `name` (any case, trailing dot allowed), if any.
    pub async fn domain_owner(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        let txn = self.read().await?;
        let row = domain::Entity::find()
            .filter(domain::Column::Name.eq(normalize_domain(name)))
            .one(&txn)
            .await?;
        txn.commit().await?;
        row.map(Domain::try_from).transpose()
    }

    /// A domain by id, whoever owns it.
    pub async fn domain(&self, id: DomainId) -> Result<Domain, StoreError> {
        let txn = self.read().await?;
        let row = domain::Entity::find_by_id(id.as_uuid()).one(&txn).await?;
        txn.commit().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Up to `limit` domains of every tenant with ids after `after`, in id order: the
    /// scheduled re-evaluation walks them page by page.
    pub async fn domains_after(
        &self,
        after: Option<DomainId>,
        limit: u64,
    ) -> Result<Vec<Domain>, StoreError> {
        let txn = self.read().await?;
        let mut query = domain::Entity::find().order_by_asc(domain::Column::Id);
        if let Some(after) = after {
            query = query.filter(domain::Column::Id.gt(after.as_uuid()));
        }
        let rows = query.limit(limit).all(&txn).await?;
        txn.commit().await?;
        rows.into_iter().map(Domain::try_from).collect()
    }

    pub async fn domain_is_registered(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.domain_owner(name).await?.is_some())
    }

    /// Stores `bytes` once per SHA-256; returns the id and whether they were new. The first
    /// `source`, `content_type` and time are the ones kept.
    #[tracing::instrument(name = "store.ingest.raw_input", skip_all, fields(size = bytes.len()))]
    pub async fn store_raw_input(
        &self,
        bytes: &[u8],
        source: &str,
        content_type: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<(RawInputId, bool), StoreError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let size =
            crate::entity::count("input size", u64::try_from(bytes.len()).unwrap_or(u64::MAX))?;
        let txn = self.write().await?;
        let mut params = Params::default();
        let sql = format!(
            "INSERT INTO raw_input (id, sha256, bytes, size, content_type, source, first_received_at) \
             VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (sha256) DO NOTHING",
            params.push(Uuid::now_v7()),
            params.push(sha256.clone()),
            params.push(bytes.to_vec()),
            params.push(size),
            params.push(content_type.map(str::to_owned)),
            params.push(source.to_owned()),
            params.push(received_at),
        );
        let inserted = txn
            .execute_raw(params.statement(self.store.backend, sql))
            .await?
            .rows_affected();
        let id: Uuid = raw_input::Entity::find()
            .select_only()
            .column(raw_input::Column::Id)
            .filter(raw_input::Column::Sha256.eq(sha256))
            .into_tuple()
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        Ok((RawInputId::from_uuid(id), inserted == 1))
    }

    /// Metadata of stored input.
    pub async fn raw_input(&self, id: RawInputId) -> Result<RawInput, StoreError> {
        let txn = self.read().await?;
        let row = raw_input_meta(&txn, id.as_uuid()).await?;
        txn.commit().await?;
        row.ok_or(StoreError::NotFound)
    }

    /// The id of the report stored under this dedup key, if any (`domain` in any case).
    pub async fn report_exists(
        &self,
        kind: ReportKind,
        org_name: &str,
        external_id: &str,
        domain: &str,
    ) -> Result<Option<ReportId>, StoreError> {
        let txn = self.read().await?;
        let id: Option<Uuid> = report::Entity::find()
            .select_only()
            .column(report::Column::Id)
            .filter(report::Column::Kind.eq(kind.as_str()))
            .filter(report::Column::OrgName.eq(org_name.trim()))
            .filter(report::Column::ExternalId.eq(external_id.trim()))
            .filter(report::Column::Domain.eq(normalize_domain(domain)))
            .into_tuple()
            .one(&txn)
            .await?;
        txn.commit().await?;
        Ok(id.map(ReportId::from_uuid))
    }

    /// Starts storing an aggregate report: the report row and its header, in a transaction
    /// that [`AggregateWriter`] keeps open while records stream in. `Conflict` when the
    /// report is a duplicate (also when a concurrent writer stores it first).
    #[tracing::instrument(name = "store.ingest.begin_aggregate", skip_all, fields(report_id = %id))]
    pub async fn begin_aggregate(
        &self,
        id: ReportId,
        raw: RawInputId,
        owner: Option<&Domain>,
        header: &AggregateHeader,
        received_at: DateTime<Utc>,
    ) -> Result<AggregateWriter, StoreError> {
        let txn = self.write().await?;
        let owner = NewReport {
            id,
            kind: ReportKind::Aggregate,
            raw,
            owner,
            domain: &header.policy.domain,
            org_name: &header.org_name,
            external_id: &header.report_id,
            date_begin: header.date_begin,
            date_end: header.date_end,
            received_at,
            record_count: 0,
            message_count: 0,
        }
        .insert(&txn)
        .await?;
        dmarc_aggregate::Entity::insert(
            dmarc_aggregate::Model::new(id.as_uuid(), owner, header)?.into_active_model(),
        )
        .exec_without_returning(&txn)
        .await?;
        Ok(AggregateWriter::new(txn, self.store.backend, id, owner))
    }

    /// Stores a failure report with `event`, in one transaction. A failure report carries no
    /// report id, so the caller names its dedup identity `external_id`; the key is (reporter,
    /// else user agent, else "unknown"; `external_id`; reported domain) and a duplicate gives
    /// `Conflict`. Its period is the arrival date, else `received_at`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the contract's arguments plus the caller's dedup identity"
    )]
    #[tracing::instrument(name = "store.ingest.failure_report", skip_all, fields(report_id = %id))]
    pub async fn insert_failure_report(
        &self,
        id: ReportId,
        raw: RawInputId,
        owner: Option<&Domain>,
        report: &FailureReport,
        external_id: &str,
        received_at: DateTime<Utc>,
        event: OutboxEvent,
    ) -> Result<(), StoreError> {
        let org_name = report
            .reporter
            .as_deref()
            .or(report.user_agent.as_deref())
            .unwrap_or("unknown");
        let when = report.arrival_date.unwrap_or(received_at);
        let txn = self.write().await?;
        let owner = NewReport {
            id,
            kind: ReportKind::Failure,
            raw,
            owner,
            domain: &report.reported_domain,
            org_name,
            external_id,
            date_begin: when,
            date_end: when,
            received_at,
            record_count: 1,
            message_count: 1,
        }
        .insert(&txn)
        .await?;
        failure_report::Entity::insert(
            failure_report::Model::new(id.as_uuid(), owner, report)?.into_active_model(),
        )
        .exec_without_returning(&txn)
        .await?;
        write_events(&txn, &[event]).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Stores a TLS report (policies and failure details) with `event`, in one transaction.
    /// Its domain is the first policy's; it counts policies as records and sessions as
    /// messages.
    #[tracing::instrument(name = "store.ingest.tls_report", skip_all, fields(report_id = %id))]
    pub async fn insert_tls_report(
        &self,
        id: ReportId,
        raw: RawInputId,
        owner: Option<&Domain>,
        report: &TlsReport,
        received_at: DateTime<Utc>,
        event: OutboxEvent,
    ) -> Result<(), StoreError> {
        let sessions = report.policies.iter().fold(0_u64, |n, p| {
            n.saturating_add(p.total_successful_session_count)
                .saturating_add(p.total_failure_session_count)
        });
        let domain = report
            .policies
            .first()
            .map(|p| p.policy_domain.as_str())
            .unwrap_or_default();
        let txn = self.write().await?;
        let owner = NewReport {
            id,
            kind: ReportKind::Tls,
            raw,
            owner,
            domain,
            org_name: &report.organization_name,
            external_id: &report.report_id,
            date_begin: report.date_begin,
            date_end: report.date_end,
            received_at,
            record_count: u64::try_from(report.policies.len()).unwrap_or(u64::MAX),
            message_count: sessions,
        }
        .insert(&txn)
        .await?;
        tls_report::Entity::insert(
            tls_report::Model {
                report_id: id.as_uuid(),
                msp_id: owner.msp_id,
                client_id: owner.client_id,
                contact_info: report.contact_info.clone(),
            }
            .into_active_model(),
        )
        .exec_without_returning(&txn)
        .await?;
        for (seq, policy) in (0_u64..).zip(&report.policies) {
            let row = tls_policy::Model::new(id.as_uuid(), seq, owner, policy)?;
            let failures = (0_u64..)
                .zip(&policy.failure_details)
                .map(|(n, f)| tls_failure::Model::new(&row, n, owner, f))
                .collect::<Result<Vec<_>, _>>()?;
            tls_policy::Entity::insert(row.into_active_model())
                .exec_without_returning(&txn)
                .await?;
            // 14 columns per row: 1,000 rows stay below both backends' bind limits.
            for chunk in failures.chunks(1_000) {
                tls_failure::Entity::insert_many(
                    chunk
                        .iter()
                        .cloned()
                        .map(IntoActiveModel::into_active_model),
                )
                .exec_without_returning(&txn)
                .await?;
            }
        }
        write_events(&txn, &[event]).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Records why (part of) an input was rejected. `owner` None = unattributed; `(msp,
    /// None)` = the MSP's, no client.
    #[allow(
        clippy::too_many_arguments,
        reason = "the signature is the contract in store-api.md"
    )]
    pub async fn insert_rejection(
        &self,
        raw: RawInputId,
        owner: Option<(MspId, Option<ClientId>)>,
        source: &str,
        location: &str,
        reason: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<RejectionId, StoreError> {
        self.write_rejection(raw, None, owner, [source, location, reason, detail], now)
            .await
    }

    /// Like [`insert_rejection`](Self::insert_rejection) for input that named its policy
    /// `domain`: an unattributed one is assigned when the domain is added.
    #[allow(
        clippy::too_many_arguments,
        reason = "insert_rejection's arguments plus the domain"
    )]
    pub async fn insert_rejection_for_domain(
        &self,
        raw: RawInputId,
        domain: &str,
        owner: Option<(MspId, Option<ClientId>)>,
        source: &str,
        location: &str,
        reason: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<RejectionId, StoreError> {
        self.write_rejection(
            raw,
            Some(normalize_domain(domain)),
            owner,
            [source, location, reason, detail],
            now,
        )
        .await
    }

    async fn write_rejection(
        &self,
        raw: RawInputId,
        domain: Option<String>,
        owner: Option<(MspId, Option<ClientId>)>,
        [source, location, reason, detail]: [&str; 4],
        now: DateTime<Utc>,
    ) -> Result<RejectionId, StoreError> {
        let id = RejectionId::new();
        let txn = self.write().await?;
        rejection::Entity::insert(
            rejection::Model {
                id: id.as_uuid(),
                raw_input_id: raw.as_uuid(),
                msp_id: owner.map(|(m, _)| m.as_uuid()),
                client_id: owner.and_then(|(_, c)| c).map(|c| c.as_uuid()),
                domain,
                source: source.to_owned(),
                location: location.to_owned(),
                reason: reason.to_owned(),
                detail: detail.to_owned(),
                created_at: now,
            }
            .into_active_model(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(id)
    }
}
