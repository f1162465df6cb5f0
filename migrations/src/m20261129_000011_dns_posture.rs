//! DNS posture snapshots: `dns_snapshot`, one row per posture check run of a domain (SPF,
//! DMARC, DKIM, MTA-STS, TLS-RPT, BIMI, MX), with the whole report as JSON, a per-check
//! status summary and what changed since the run before. The newest row of a domain is its
//! current posture; the rows before it are the history.
//!
//! A client's rows (`client_id` NOT NULL); on PostgreSQL the `tenant_isolation` policy of
//! the row security migration applies and `postern_app` gets DML.

use crate::m20261129_000005_row_security::isolate_tenant_tables;
use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("dns_snapshot")
                    .col(uuid("id").primary_key())
                    .col(uuid("domain_id"))
                    .col(timestamp_with_time_zone("checked_at"))
                    // {"spf": "pass", "dmarc": "warn", ...}
                    .col(json_binary("summary"))
                    // the posture report: every check with records, findings and details
                    .col(json_binary("report"))
                    // what differs from the previous snapshot (empty list for the first)
                    .col(json_binary("changes"))
                    .col(big_integer("queries"))
                    .foreign_key(&mut fk(
                        "dns_snapshot",
                        "domain_id",
                        "domain",
                        ForeignKeyAction::Cascade,
                    )),
                "dns_snapshot",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "dns_snapshot").await?;
        index(manager, "dns_snapshot", &["domain_id", "id"], false).await?;

        isolate_tenant_tables(manager, &[("dns_snapshot", "client_id")]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["dns_snapshot"]).await
    }
}
