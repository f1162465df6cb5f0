//! [`SystemDb`]: the loud handle for jobs that cross tenants — bootstrap and
//! authentication, ingest, analysis and the outbox relay. On PostgreSQL its transactions set
//! `postern.system = on`, which the row-level security policies let through.

mod analysis;
mod auth;
mod blocklist;
mod bounce_facts;
mod bounces;
mod facts;
mod imap;
mod ingest;
mod issues;
mod notify;
mod outbox;
mod plugins;
mod posture;
mod schedule;
mod writer;

pub use imap::ImapCursor;
pub use schedule::{ScheduledCheck, schedule_factor};
pub use writer::AggregateWriter;

pub(crate) use issues::{history, record};

use crate::error::StoreError;
use crate::scope::{self, Access, Mode};
use crate::store::Store;
use sea_orm::DatabaseTransaction;

/// Crosses tenants. Never hand one to request code: requests get a [`crate::TenantDb`].
#[derive(Clone, Debug)]
pub struct SystemDb {
    store: Store,
}

impl SystemDb {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    async fn read(&self) -> Result<DatabaseTransaction, StoreError> {
        Ok(scope::begin(
            &self.store.db,
            self.store.backend,
            Access::System,
            Mode::Read,
        )
        .await?)
    }

    async fn write(&self) -> Result<DatabaseTransaction, StoreError> {
        Ok(scope::begin(
            &self.store.db,
            self.store.backend,
            Access::System,
            Mode::Write,
        )
        .await?)
    }
}
