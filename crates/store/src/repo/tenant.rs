//! [`TenantDb`]: every repository method a request may call, checked against its scope.
//!
//! Each method (1) refuses what the scope's role may not do with [`StoreError::Forbidden`],
//! (2) filters every query by the scope's tenant in SQL, so another tenant's id answers
//! [`StoreError::NotFound`], and (3) on PostgreSQL runs in a transaction whose row-level
//! security settings name the same tenant.

mod access;
mod aggregates;
mod blocklist;
mod bounces;
mod clients;
mod domains;
mod issues;
mod notify;
mod plugins;
mod posture;
mod reports;

pub(crate) use access::insert_user;
pub(crate) use aggregates::{sources_in, summary_in};
pub(crate) use bounces::suppress_in;
pub(crate) use reports::raw_input_meta;

use crate::error::StoreError;
use crate::scope::{self, Access, Mode};
use crate::store::Store;
use postern_domain::TenantScope;
use sea_orm::DatabaseTransaction;

/// The database as one tenant sees it. Build it with [`Store::tenant`] from a verified
/// principal's scope only.
#[derive(Clone, Debug)]
pub struct TenantDb {
    store: Store,
    scope: TenantScope,
}

impl TenantDb {
    pub(crate) fn new(store: Store, scope: TenantScope) -> Self {
        Self { store, scope }
    }

    /// The scope every call is checked against.
    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }

    async fn begin(&self, mode: Mode) -> Result<DatabaseTransaction, StoreError> {
        Ok(scope::begin(
            &self.store.db,
            self.store.backend,
            Access::Tenant(&self.scope),
            mode,
        )
        .await?)
    }

    async fn read(&self) -> Result<DatabaseTransaction, StoreError> {
        self.begin(Mode::Read).await
    }

    async fn write(&self) -> Result<DatabaseTransaction, StoreError> {
        self.begin(Mode::Write).await
    }
}
