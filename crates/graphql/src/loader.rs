//! Request-scoped batching (DataLoader): lists that show each row's client or domain ask
//! the store once per request instead of once per row.

use crate::context::tenant;
use crate::error::ApiError;
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{BatchRequest, Context};
use postern_domain::{ClientId, DomainId, Principal};
use postern_store::{Client, Domain, Store, StoreError, TenantDb};
use std::collections::HashMap;
use std::sync::Arc;

/// Loads clients by id within the caller's scope.
pub(crate) struct ClientLoader(TenantDb);

impl Loader<ClientId> for ClientLoader {
    type Value = Client;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[ClientId]) -> Result<HashMap<ClientId, Client>, Self::Error> {
        let clients = self.0.clients_by_ids(keys).await.map_err(Arc::new)?;
        Ok(clients.into_iter().map(|c| (c.id, c)).collect())
    }
}

type Clients = Arc<DataLoader<ClientLoader>>;

/// Loads domains by id within the caller's scope.
pub(crate) struct DomainLoader(TenantDb);

impl Loader<DomainId> for DomainLoader {
    type Value = Domain;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[DomainId]) -> Result<HashMap<DomainId, Domain>, Self::Error> {
        let domains = self.0.domains_by_ids(keys).await.map_err(Arc::new)?;
        Ok(domains.into_iter().map(|d| (d.id, d)).collect())
    }
}

type Domains = Arc<DataLoader<DomainLoader>>;

/// Puts a verified principal and its request-scoped loaders into a request. The api
/// service calls this for every authenticated request.
pub fn authorize(request: BatchRequest, store: &Store, principal: Principal) -> BatchRequest {
    let clients: Clients = Arc::new(DataLoader::new(
        ClientLoader(store.tenant(principal.scope)),
        tokio::spawn,
    ));
    let domains: Domains = Arc::new(DataLoader::new(
        DomainLoader(store.tenant(principal.scope)),
        tokio::spawn,
    ));
    request.data(principal).data(clients).data(domains)
}

/// A client of the caller's scope by id, through the request's loader when there is one;
/// another tenant's client answers `not_found` like a missing one.
pub(crate) async fn client_by_id(ctx: &Context<'_>, id: ClientId) -> Result<Client, ApiError> {
    match ctx.data_opt::<Clients>() {
        Some(loader) => loader
            .load_one(id)
            .await
            .map_err(|e| ApiError::from(e.as_ref()))?
            .ok_or(ApiError::NotFound),
        None => Ok(tenant(ctx)?.client(id).await?),
    }
}

/// A domain of the caller's scope by id, through the request's loader when there is one;
/// another tenant's domain answers `not_found` like a missing one.
pub(crate) async fn domain_by_id(ctx: &Context<'_>, id: DomainId) -> Result<Domain, ApiError> {
    match ctx.data_opt::<Domains>() {
        Some(loader) => loader
            .load_one(id)
            .await
            .map_err(|e| ApiError::from(e.as_ref()))?
            .ok_or(ApiError::NotFound),
        None => Ok(tenant(ctx)?.domain(id).await?),
    }
}
