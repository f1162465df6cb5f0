//! [`AggregateWriter`]: streams the records of one aggregate report into the database in
//! one transaction, with multi-row inserts.

use crate::entity::{Owner, dmarc_record, report};
use crate::error::StoreError;
use crate::repo::write_events;
use crate::rows::OutboxEvent;
use crate::store::Backend;
use postern_domain::{AggregateRecord, ReportId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter};

/// Most bind parameters one statement may carry: SQLite's `SQLITE_MAX_VARIABLE_NUMBER`
/// (32,766 since 3.32) and PostgreSQL's protocol limit (65,535).
fn bind_limit(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 32_766,
        Backend::Postgres => 65_535,
    }
}

/// Records per INSERT: as many as the bind limit allows, at most 4,000. Few large statements
/// matter on PostgreSQL over TCP: sqlx leaves Nagle's algorithm on, so each statement can
/// wait for a delayed ACK (measured: 1,000-row statements ran at half the rate of a Unix
/// socket).
pub(crate) fn records_per_insert(backend: Backend) -> usize {
    (bind_limit(backend) / dmarc_record::COLUMNS).min(4_000)
}

/// An aggregate report being stored (from [`crate::SystemDb::begin_aggregate`]). Add records
/// in any batch size, then [`commit`](Self::commit). Records are buffered up to one full
/// INSERT, so a database error may surface on a later call or at commit. Dropping it
/// without committing (or calling [`rollback`](Self::rollback)) stores nothing.
///
/// On SQLite the open transaction holds the database's write lock until it ends.
pub struct AggregateWriter {
    txn: DatabaseTransaction,
    backend: Backend,
    id: ReportId,
    owner: Owner,
    /// Converted records not yet inserted (less than one INSERT's worth).
    pending: Vec<dmarc_record::Model>,
    records: u64,
    messages: u64,
}

impl AggregateWriter {
    pub(crate) fn new(
        txn: DatabaseTransaction,
        backend: Backend,
        id: ReportId,
        owner: Owner,
    ) -> Self {
        Self {
            txn,
            backend,
            id,
            owner,
            pending: Vec::new(),
            records: 0,
            messages: 0,
        }
    }

    /// The report being written.
    pub fn report_id(&self) -> ReportId {
        self.id
    }

    /// Appends records (in report order); inserts them with as few multi-row INSERTs as the
    /// backend's bind-parameter limit allows.
    pub async fn add_records(&mut self, records: &[AggregateRecord]) -> Result<(), StoreError> {
        let chunk = records_per_insert(self.backend);
        for record in records {
            let seq = self.records;
            self.pending.push(dmarc_record::Model::new(
                self.id.as_uuid(),
                seq,
                self.owner,
                record,
            )?);
            self.records += 1;
            self.messages = self.messages.saturating_add(record.count);
            if self.pending.len() >= chunk {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        dmarc_record::Entity::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
            .exec_without_returning(&self.txn)
            .await?;
        Ok(())
    }

    /// Sets the report's counts and problems, writes `event` and commits. Returns (records,
    /// messages).
    #[tracing::instrument(name = "store.ingest.commit_aggregate", skip_all, fields(report_id = %self.id, records = self.records))]
    pub async fn commit(
        mut self,
        problems: &[String],
        event: OutboxEvent,
    ) -> Result<(u64, u64), StoreError> {
        self.flush().await?;
        report::Entity::update_many()
            .col_expr(
                report::Column::RecordCount,
                Expr::value(crate::entity::count("record count", self.records)?),
            )
            .col_expr(
                report::Column::MessageCount,
                Expr::value(crate::entity::count("message count", self.messages)?),
            )
            .col_expr(
                report::Column::Problems,
                Expr::value(crate::entity::to_json("problems", problems)?),
            )
            .filter(report::Column::Id.eq(self.id.as_uuid()))
            .exec(&self.txn)
            .await?;
        write_events(&self.txn, &[event]).await?;
        self.txn.commit().await?;
        Ok((self.records, self.messages))
    }

    /// Abandons the report: nothing of it is stored.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.txn.rollback().await?;
        Ok(())
    }
}

impl std::fmt::Debug for AggregateWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateWriter")
            .field("report", &self.id)
            .field("records", &self.records)
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_stay_under_each_backends_bind_limit() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let rows = records_per_insert(backend);
            assert!(rows * dmarc_record::COLUMNS <= bind_limit(backend));
            assert!(rows >= 2_000);
        }
    }
}
