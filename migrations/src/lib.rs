//! Postern's database schema as sea-orm-migration migrations. Every migration runs on SQLite
//! and PostgreSQL; the row-level security part (policies, the `postern_app` role and its
//! grants) runs on PostgreSQL only.
//!
//! Tenant tables carry `msp_id` and `client_id`. On PostgreSQL each has a policy that shows a
//! row only to a transaction whose `postern.*` settings name its tenant (see
//! the row security migration); postern-store sets them at the start of every
//! transaction. Run migrations as the schema owner; the services connect as `postern_app`.

use sea_orm_migration::prelude::*;

mod m20261129_000001_foundation;
mod m20261129_000002_reports;
mod m20261129_000003_aggregates;
mod m20261129_000004_outbox;
mod m20261129_000005_row_security;
mod m20261129_000006_issues;
mod m20261129_000007_rule_plugins;
mod m20261129_000008_notifications;
mod m20261129_000009_bounces;
mod m20261129_000010_blocklists;
mod m20261129_000011_dns_posture;
mod m20261129_000012_imap_cursor;
mod schema;

/// The migrations of Postern, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_foundation::Migration),
            Box::new(m20261129_000002_reports::Migration),
            Box::new(m20261129_000003_aggregates::Migration),
            Box::new(m20261129_000004_outbox::Migration),
            Box::new(m20261129_000005_row_security::Migration),
            Box::new(m20261129_000006_issues::Migration),
            Box::new(m20261129_000007_rule_plugins::Migration),
            Box::new(m20261129_000008_notifications::Migration),
            Box::new(m20261129_000009_bounces::Migration),
            Box::new(m20261129_000010_blocklists::Migration),
            Box::new(m20261129_000011_dns_posture::Migration),
            Box::new(m20261129_000012_imap_cursor::Migration),
        ]
    }
}

pub use m20261129_000005_row_security::{APP_ROLE, TENANT_TABLES};
pub use m20261129_000006_issues::ISSUE_TENANT_TABLES;
pub use m20261129_000007_rule_plugins::PLUGIN_TENANT_TABLES;
pub use m20261129_000008_notifications::NOTIFY_TENANT_TABLES;
pub use m20261129_000009_bounces::BOUNCE_TENANT_TABLES;
pub use m20261129_000010_blocklists::BLOCKLIST_TENANT_TABLES;
pub use sea_orm_migration::MigratorTrait;
