//! DNS posture snapshots as a tenant reads them: the current posture of a domain and its
//! history. Every role that can see the domain reads them.

use super::TenantDb;
use crate::entity::dns_snapshot;
use crate::error::StoreError;
use crate::rows::{DnsSnapshot, MAX_PAGE_SIZE, Page, PageRequest};
use postern_domain::DomainId;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

impl TenantDb {
    /// The newest snapshot of `domain`; `NotFound` when the domain is not the scope's,
    /// `Ok(None)` when it was never checked.
    pub async fn dns_posture(&self, domain: DomainId) -> Result<Option<DnsSnapshot>, StoreError> {
        Ok(self
            .dns_history(domain, PageRequest::first(1))
            .await?
            .items
            .into_iter()
            .next())
    }

    /// The snapshots of `domain`, newest first.
    pub async fn dns_history(
        &self,
        domain: DomainId,
        page: PageRequest,
    ) -> Result<Page<DnsSnapshot>, StoreError> {
        let txn = self.read().await?;
        let owned = self
            .domains()
            .filter(crate::entity::domain::Column::Id.eq(domain.as_uuid()))
            .one(&txn)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut query = dns_snapshot::Entity::find()
            .filter(dns_snapshot::Column::DomainId.eq(domain.as_uuid()));
        if let Some(after) = page.after {
            query = query.filter(dns_snapshot::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(dns_snapshot::Column::Id)
            .limit(page.fetch().min(MAX_PAGE_SIZE + 1))
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(DnsSnapshot::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.page(items))
    }
}
