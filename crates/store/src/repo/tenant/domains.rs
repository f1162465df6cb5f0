//! Domains of the scope's clients, and adding/removing them (which routes reports).

use super::TenantDb;
use crate::entity::{domain, domain_daily, domain_source_daily, rejection, report};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::{now, write_events};
use crate::rows::{Domain, OutboxEvent, Page, PageRequest};
use crate::scope::{self, Params, owned_by};
use crate::store::Backend;
use postern_domain::{ClientId, DomainId, DomainName, ReportId};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// Child tables of `report` whose tenant columns follow their report's.
const REPORT_CHILDREN: [&str; 6] = [
    "dmarc_aggregate",
    "dmarc_record",
    "failure_report",
    "tls_report",
    "tls_policy",
    "tls_failure",
];

impl TenantDb {
    pub(super) fn domains(&self) -> sea_orm::Select<domain::Entity> {
        domain::Entity::find().filter(owned_by(
            &self.scope,
            domain::Column::MspId,
            domain::Column::ClientId,
        ))
    }

    fn domains_of(&self, client: Option<ClientId>) -> sea_orm::Select<domain::Entity> {
        let query = self.domains();
        match client {
            Some(c) => query.filter(domain::Column::ClientId.eq(c.as_uuid())),
            None => query,
        }
    }

    /// Newest first; `client` narrows to one client.
    pub async fn list_domains(
        &self,
        client: Option<ClientId>,
        page: PageRequest,
    ) -> Result<Page<Domain>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.domains_of(client);
        if let Some(after) = page.after {
            query = query.filter(domain::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(domain::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(Domain::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    pub async fn count_domains(&self, client: Option<ClientId>) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = self.domains_of(client).count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    pub async fn domain(&self, id: DomainId) -> Result<Domain, StoreError> {
        let txn = self.read().await?;
        let row = self
            .domains()
            .filter(domain::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await?;
        txn.commit().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The domains of the scope among `ids` (another tenant's ids are left out), in no
    /// particular order: one query for a page of rows that each show their domain.
    pub async fn domains_by_ids(&self, ids: &[DomainId]) -> Result<Vec<Domain>, StoreError> {
        let txn = self.read().await?;
        let rows = self
            .domains()
            .filter(domain::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(Domain::try_from).collect()
    }

    pub async fn domain_by_name(&self, name: &DomainName) -> Result<Domain, StoreError> {
        let txn = self.read().await?;
        let row = self
            .domains()
            .filter(domain::Column::Name.eq(name.as_str()))
            .one(&txn)
            .await?;
        txn.commit().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Registers `name` for `client` (needs `can_operate`). [`StoreError::Conflict`] when any
    /// client of any MSP holds the name.
    ///
    /// In the same transaction it routes the reports the name stands for to the client —
    /// the unassigned ones (and their rejections and child rows: a deliberate system-level
    /// update) and the client's own reports left without a domain by an earlier removal — and
    /// writes the events `events(domain id, those report ids)` returns. Returns the domain and
    /// those report ids (oldest first).
    #[tracing::instrument(name = "store.domains.add", skip_all, fields(tenant = %self.scope.msp, client = %client, domain = %name))]
    pub async fn add_domain(
        &self,
        client: ClientId,
        name: &DomainName,
        events: &(dyn Fn(DomainId, &[ReportId]) -> Vec<OutboxEvent> + Send + Sync),
    ) -> Result<(Domain, Vec<ReportId>), StoreError> {
        if !self.scope.can_operate() {
            return Err(StoreError::Forbidden(
                "adding domains needs an msp owner, admin or operator",
            ));
        }
        let txn = self.write().await?;
        let owner = self
            .clients()
            .filter(crate::entity::client::Column::Id.eq(client.as_uuid()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        // From here to `set_tenant` the transaction acts for the whole installation: the name
        // may be held by any MSP's client, and unassigned rows belong to nobody.
        self.enter_system(&txn).await?;
        let taken = domain::Entity::find()
            .filter(domain::Column::Name.eq(name.as_str()))
            .count(&txn)
            .await?;
        if taken > 0 {
            return Err(taken_conflict(name));
        }
        let model = domain::Model {
            id: Uuid::now_v7(),
            msp_id: owner.msp_id,
            client_id: owner.id,
            name: name.as_str().to_owned(),
            created_at: now(),
        };
        domain::Entity::insert(model.clone().into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(|e| conflict_on_unique(e, &taken_conflict(name).to_string()))?;
        let assigned = assign_reports(&txn, self.store.backend, &model).await?;
        self.leave_system(&txn).await?;

        let domain = Domain::try_from(model)?;
        write_events(&txn, &events(domain.id, &assigned)).await?;
        txn.commit().await?;
        Ok((domain, assigned))
    }

    /// Removes a domain (needs `can_operate`) and writes `event`. Its reports stay with the
    /// client as history (without a domain); its daily aggregates go; the name is free again.
    #[tracing::instrument(name = "store.domains.remove", skip_all, fields(tenant = %self.scope.msp, domain = %id))]
    pub async fn remove_domain(&self, id: DomainId, event: OutboxEvent) -> Result<(), StoreError> {
        if !self.scope.can_operate() {
            return Err(StoreError::Forbidden(
                "removing domains needs an msp owner, admin or operator",
            ));
        }
        let txn = self.write().await?;
        let row = self
            .domains()
            .filter(domain::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        report::Entity::update_many()
            .col_expr(report::Column::DomainId, Expr::value(Option::<Uuid>::None))
            .filter(report::Column::DomainId.eq(row.id))
            .filter(owned_by(
                &self.scope,
                report::Column::MspId,
                report::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        domain_source_daily::Entity::delete_many()
            .filter(domain_source_daily::Column::DomainId.eq(row.id))
            .filter(owned_by(
                &self.scope,
                domain_source_daily::Column::MspId,
                domain_source_daily::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        domain_daily::Entity::delete_many()
            .filter(domain_daily::Column::DomainId.eq(row.id))
            .filter(owned_by(
                &self.scope,
                domain_daily::Column::MspId,
                domain_daily::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        domain::Entity::delete_many()
            .filter(domain::Column::Id.eq(row.id))
            .filter(owned_by(
                &self.scope,
                domain::Column::MspId,
                domain::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        write_events(&txn, &[event]).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn enter_system(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        if self.store.backend == Backend::Postgres {
            scope::set_system(txn).await?;
        }
        Ok(())
    }

    async fn leave_system(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        if self.store.backend == Backend::Postgres {
            scope::set_tenant(txn, &self.scope).await?;
        }
        Ok(())
    }
}

fn taken_conflict(name: &DomainName) -> StoreError {
    StoreError::Conflict(format!("domain {name} is already registered"))
}

/// Routes to `domain`'s client the reports named for it that are unassigned or the client's
/// own without a domain, with their child rows and the unassigned rejections of the name.
async fn assign_reports(
    txn: &DatabaseTransaction,
    backend: Backend,
    domain: &domain::Model,
) -> Result<Vec<ReportId>, StoreError> {
    let routable = Condition::all()
        .add(report::Column::Domain.eq(domain.name.as_str()))
        .add(
            Condition::any().add(report::Column::MspId.is_null()).add(
                Condition::all()
                    .add(report::Column::ClientId.eq(domain.client_id))
                    .add(report::Column::DomainId.is_null()),
            ),
        );
    let ids: Vec<Uuid> = report::Entity::find()
        .select_only()
        .column(report::Column::Id)
        .filter(routable.clone())
        .order_by_asc(report::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    if !ids.is_empty() {
        report::Entity::update_many()
            .col_expr(report::Column::MspId, Expr::value(domain.msp_id))
            .col_expr(report::Column::ClientId, Expr::value(domain.client_id))
            .col_expr(report::Column::DomainId, Expr::value(domain.id))
            .filter(routable)
            .exec(txn)
            .await?;
        for table in REPORT_CHILDREN {
            let mut params = Params::default();
            let msp = params.push(domain.msp_id);
            let client = params.push(domain.client_id);
            let id = params.push(domain.id);
            txn.execute_raw(params.statement(
                backend,
                format!(
                    "UPDATE {table} SET msp_id = {msp}, client_id = {client} \
                     WHERE msp_id IS NULL AND report_id IN (SELECT id FROM report WHERE domain_id = {id})"
                ),
            ))
            .await?;
        }
    }
    rejection::Entity::update_many()
        .col_expr(rejection::Column::MspId, Expr::value(domain.msp_id))
        .col_expr(rejection::Column::ClientId, Expr::value(domain.client_id))
        .filter(rejection::Column::MspId.is_null())
        .filter(rejection::Column::Domain.eq(domain.name.as_str()))
        .exec(txn)
        .await?;
    Ok(ids.into_iter().map(ReportId::from_uuid).collect())
}
