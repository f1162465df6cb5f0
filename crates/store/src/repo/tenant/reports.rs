//! Reports (assigned ones of the scope's tenant; unassigned ones only for scopes that
//! `sees_unassigned`), their details, rejections and raw input bytes.

use super::TenantDb;
use crate::entity::{
    dmarc_aggregate, dmarc_record, failure_report, raw_input, rejection, report, tls_failure,
    tls_policy, tls_report,
};
use crate::error::StoreError;
use crate::rows::{
    AggregateDetail, FailureDetail, Page, PageRequest, RawInput, Rejection, ReportFilter,
    ReportSummary, StoredRecord, TlsDetail, normalize_domain,
};
use crate::scope::{owned_by, owned_or_unassigned};
use postern_domain::{RawInputId, ReportId, ReportKind, TlsReport};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

impl TenantDb {
    /// Assigned reports of the scope's tenant matching `filter`.
    fn report_condition(&self, filter: &ReportFilter) -> Condition {
        let mut condition = owned_by(&self.scope, report::Column::MspId, report::Column::ClientId);
        if let Some(client) = filter.client {
            condition = condition.add(report::Column::ClientId.eq(client.as_uuid()));
        }
        if let Some(domain) = &filter.domain {
            condition = condition.add(report::Column::Domain.eq(normalize_domain(domain)));
        }
        if let Some(from) = filter.from {
            condition = condition.add(report::Column::DateEnd.gte(from));
        }
        if let Some(to) = filter.to {
            condition = condition.add(report::Column::DateBegin.lte(to));
        }
        if let Some(kind) = filter.kind {
            condition = condition.add(report::Column::Kind.eq(kind.as_str()));
        }
        condition
    }

    /// Reports this scope may open by id: its tenant's, and unassigned ones if it sees them.
    fn visible_reports(&self) -> Condition {
        owned_or_unassigned(&self.scope, report::Column::MspId, report::Column::ClientId)
    }

    async fn report_page(
        &self,
        condition: Condition,
        page: PageRequest,
    ) -> Result<Page<ReportSummary>, StoreError> {
        let txn = self.read().await?;
        let mut query = report::Entity::find().filter(condition);
        if let Some(after) = page.after {
            query = query.filter(report::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(report::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(ReportSummary::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    async fn report_count(&self, condition: Condition) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = report::Entity::find().filter(condition).count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    /// Assigned reports of the scope's tenant, newest first.
    pub async fn list_reports(
        &self,
        filter: &ReportFilter,
        page: PageRequest,
    ) -> Result<Page<ReportSummary>, StoreError> {
        self.report_page(self.report_condition(filter), page).await
    }

    pub async fn count_reports(&self, filter: &ReportFilter) -> Result<u64, StoreError> {
        self.report_count(self.report_condition(filter)).await
    }

    pub async fn report(&self, id: ReportId) -> Result<ReportSummary, StoreError> {
        let txn = self.read().await?;
        let row = self.report_row(&txn, id, None).await?;
        txn.commit().await?;
        row.try_into()
    }

    /// A visible report row, of `kind` when given (another kind answers `NotFound`).
    async fn report_row(
        &self,
        txn: &DatabaseTransaction,
        id: ReportId,
        kind: Option<ReportKind>,
    ) -> Result<report::Model, StoreError> {
        let mut query = report::Entity::find()
            .filter(report::Column::Id.eq(id.as_uuid()))
            .filter(self.visible_reports());
        if let Some(kind) = kind {
            query = query.filter(report::Column::Kind.eq(kind.as_str()));
        }
        query.one(txn).await?.ok_or(StoreError::NotFound)
    }

    pub async fn aggregate_detail(&self, id: ReportId) -> Result<AggregateDetail, StoreError> {
        let txn = self.read().await?;
        let report = self
            .report_row(&txn, id, Some(ReportKind::Aggregate))
            .await?;
        let detail = dmarc_aggregate::Entity::find()
            .filter(dmarc_aggregate::Column::ReportId.eq(report.id))
            .filter(owned_or_unassigned(
                &self.scope,
                dmarc_aggregate::Column::MspId,
                dmarc_aggregate::Column::ClientId,
            ))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        let problems = crate::entity::from_json("problems", report.problems.clone())?;
        Ok(AggregateDetail {
            header: detail.into_header(&report)?,
            problems,
        })
    }

    /// The records of an aggregate report in report order (ascending); `page.after` is the
    /// id of the last record of the previous page.
    pub async fn aggregate_records(
        &self,
        id: ReportId,
        page: PageRequest,
    ) -> Result<Page<StoredRecord>, StoreError> {
        let txn = self.read().await?;
        let report = self
            .report_row(&txn, id, Some(ReportKind::Aggregate))
            .await?;
        let records = || {
            dmarc_record::Entity::find()
                .filter(dmarc_record::Column::ReportId.eq(report.id))
                .filter(owned_or_unassigned(
                    &self.scope,
                    dmarc_record::Column::MspId,
                    dmarc_record::Column::ClientId,
                ))
        };
        let mut query = records();
        if let Some(after) = page.after {
            let seq: i64 = records()
                .select_only()
                .column(dmarc_record::Column::Seq)
                .filter(dmarc_record::Column::Id.eq(after))
                .into_tuple()
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    StoreError::Invalid("cursor is not a record of this report".into())
                })?;
            query = query.filter(dmarc_record::Column::Seq.gt(seq));
        }
        let rows = query
            .order_by_asc(dmarc_record::Column::Seq)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(|m| {
                let id = m.id;
                m.into_record().map(|record| StoredRecord { id, record })
            })
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    pub async fn failure_detail(&self, id: ReportId) -> Result<FailureDetail, StoreError> {
        let txn = self.read().await?;
        let report = self.report_row(&txn, id, Some(ReportKind::Failure)).await?;
        let row = failure_report::Entity::find()
            .filter(failure_report::Column::ReportId.eq(report.id))
            .filter(owned_or_unassigned(
                &self.scope,
                failure_report::Column::MspId,
                failure_report::Column::ClientId,
            ))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        Ok(FailureDetail {
            report: row.into_report()?,
        })
    }

    pub async fn tls_detail(&self, id: ReportId) -> Result<TlsDetail, StoreError> {
        let txn = self.read().await?;
        let report = self.report_row(&txn, id, Some(ReportKind::Tls)).await?;
        let detail = tls_report::Entity::find()
            .filter(tls_report::Column::ReportId.eq(report.id))
            .filter(owned_or_unassigned(
                &self.scope,
                tls_report::Column::MspId,
                tls_report::Column::ClientId,
            ))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let policies = tls_policy::Entity::find()
            .filter(tls_policy::Column::ReportId.eq(report.id))
            .filter(owned_or_unassigned(
                &self.scope,
                tls_policy::Column::MspId,
                tls_policy::Column::ClientId,
            ))
            .order_by_asc(tls_policy::Column::Seq)
            .all(&txn)
            .await?;
        let failures = tls_failure::Entity::find()
            .filter(tls_failure::Column::ReportId.eq(report.id))
            .filter(owned_or_unassigned(
                &self.scope,
                tls_failure::Column::MspId,
                tls_failure::Column::ClientId,
            ))
            .order_by_asc(tls_failure::Column::PolicyId)
            .order_by_asc(tls_failure::Column::Seq)
            .all(&txn)
            .await?;
        txn.commit().await?;
        let mut policies_out = Vec::with_capacity(policies.len());
        for policy in policies {
            let details = failures
                .iter()
                .filter(|f| f.policy_id == policy.id)
                .cloned()
                .map(tls_failure::Model::into_detail)
                .collect::<Result<_, _>>()?;
            policies_out.push(policy.into_policy(details)?);
        }
        Ok(TlsDetail {
            report: TlsReport {
                organization_name: report.org_name,
                date_begin: report.date_begin,
                date_end: report.date_end,
                contact_info: detail.contact_info,
                report_id: report.external_id,
                policies: policies_out,
            },
        })
    }

    fn require_unassigned_access(&self) -> Result<(), StoreError> {
        if self.scope.sees_unassigned() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(
                "unassigned reports are for the operating msp's owners and admins",
            ))
        }
    }

    /// Reports of domains nobody registered yet, newest first (needs `sees_unassigned`).
    pub async fn unassigned_reports(
        &self,
        page: PageRequest,
    ) -> Result<Page<ReportSummary>, StoreError> {
        self.require_unassigned_access()?;
        self.report_page(unassigned(), page).await
    }

    pub async fn count_unassigned_reports(&self) -> Result<u64, StoreError> {
        self.require_unassigned_access()?;
        self.report_count(unassigned()).await
    }

    fn visible_rejections(&self) -> Condition {
        owned_or_unassigned(
            &self.scope,
            rejection::Column::MspId,
            rejection::Column::ClientId,
        )
    }

    /// Rejections of the scope's tenant, plus unattributed ones when the scope sees
    /// unassigned input; newest first.
    pub async fn rejections(&self, page: PageRequest) -> Result<Page<Rejection>, StoreError> {
        let txn = self.read().await?;
        let mut query = rejection::Entity::find().filter(self.visible_rejections());
        if let Some(after) = page.after {
            query = query.filter(rejection::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(rejection::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(page.page(rows.into_iter().map(Rejection::from).collect()))
    }

    pub async fn count_rejections(&self) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = rejection::Entity::find()
            .filter(self.visible_rejections())
            .count(&txn)
            .await?;
        txn.commit().await?;
        Ok(count)
    }

    /// Whether a report or rejection this scope may see references the raw input.
    async fn raw_input_visible(
        &self,
        txn: &DatabaseTransaction,
        id: RawInputId,
    ) -> Result<bool, StoreError> {
        let reports = report::Entity::find()
            .filter(report::Column::RawInputId.eq(id.as_uuid()))
            .filter(self.visible_reports())
            .count(txn)
            .await?;
        if reports > 0 {
            return Ok(true);
        }
        let rejections = rejection::Entity::find()
            .filter(rejection::Column::RawInputId.eq(id.as_uuid()))
            .filter(self.visible_rejections())
            .count(txn)
            .await?;
        Ok(rejections > 0)
    }

    /// Metadata of stored input a visible report or rejection came from.
    pub async fn raw_input(&self, id: RawInputId) -> Result<RawInput, StoreError> {
        let txn = self.read().await?;
        if !self.raw_input_visible(&txn, id).await? {
            return Err(StoreError::NotFound);
        }
        let row = raw_input_meta(&txn, id.as_uuid()).await?;
        txn.commit().await?;
        row.ok_or(StoreError::NotFound)
    }

    /// The original bytes a visible report or rejection came from.
    pub async fn raw_input_bytes(&self, id: RawInputId) -> Result<Vec<u8>, StoreError> {
        let txn = self.read().await?;
        if !self.raw_input_visible(&txn, id).await? {
            return Err(StoreError::NotFound);
        }
        let bytes: Option<Vec<u8>> = raw_input::Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(raw_input::Column::Bytes)
            .into_tuple()
            .one(&txn)
            .await?;
        txn.commit().await?;
        bytes.ok_or(StoreError::NotFound)
    }
}

fn unassigned() -> Condition {
    Condition::all().add(report::Column::MspId.is_null())
}

/// Raw input metadata without loading the bytes.
pub(crate) async fn raw_input_meta(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<RawInput>, StoreError> {
    type Meta = (
        Uuid,
        String,
        i64,
        Option<String>,
        String,
        chrono::DateTime<chrono::Utc>,
    );
    let row: Option<Meta> = raw_input::Entity::find_by_id(id)
        .select_only()
        .columns([
            raw_input::Column::Id,
            raw_input::Column::Sha256,
            raw_input::Column::Size,
            raw_input::Column::ContentType,
            raw_input::Column::Source,
            raw_input::Column::FirstReceivedAt,
        ])
        .into_tuple()
        .one(txn)
        .await?;
    Ok(row.map(
        |(id, sha256, size, content_type, source, first_received_at)| RawInput {
            id: RawInputId::from_uuid(id),
            sha256,
            size: crate::entity::uncount(size),
            first_received_at,
            content_type,
            source,
        },
    ))
}
