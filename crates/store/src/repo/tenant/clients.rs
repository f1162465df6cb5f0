//! Clients of the scope's MSP (a client-bound scope sees only its own).

use super::TenantDb;
use crate::entity::client;
use crate::error::StoreError;
use crate::repo::now;
use crate::rows::{Client, Page, PageRequest};
use crate::scope::owned_by;
use postern_domain::ClientId;
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

impl TenantDb {
    pub(super) fn clients(&self) -> sea_orm::Select<client::Entity> {
        client::Entity::find().filter(owned_by(
            &self.scope,
            client::Column::MspId,
            client::Column::Id,
        ))
    }

    /// Newest first.
    pub async fn list_clients(&self, page: PageRequest) -> Result<Page<Client>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.clients();
        if let Some(after) = page.after {
            query = query.filter(client::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(client::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(page.page(rows.into_iter().map(Client::from).collect()))
    }

    pub async fn count_clients(&self) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = self.clients().count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    /// The clients among `ids` this scope reaches; the others are left out, exactly as if
    /// they did not exist (batched lookups of GraphQL's DataLoader).
    pub async fn clients_by_ids(&self, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        let txn = self.read().await?;
        let rows = self
            .clients()
            .filter(client::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(Client::from).collect())
    }

    pub async fn client(&self, id: ClientId) -> Result<Client, StoreError> {
        let txn = self.read().await?;
        let row = self
            .clients()
            .filter(client::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await?;
        txn.commit().await?;
        row.map(Client::from).ok_or(StoreError::NotFound)
    }

    /// Needs `can_manage_clients` (MSP owner or admin).
    pub async fn create_client(&self, name: &str) -> Result<Client, StoreError> {
        if !self.scope.can_manage_clients() {
            return Err(StoreError::Forbidden(
                "creating clients needs an msp owner or admin",
            ));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("client name is empty".into()));
        }
        let model = client::Model {
            id: Uuid::now_v7(),
            msp_id: self.scope.msp.as_uuid(),
            name: name.to_owned(),
            created_at: now(),
        };
        let txn = self.write().await?;
        client::Entity::insert(model.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(Client::from(model))
    }
}
