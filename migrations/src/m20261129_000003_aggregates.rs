//! Per-domain daily aggregates maintained by analysis, and the reverse DNS cache of sources.

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
                    .table("domain_daily")
                    .col(uuid("domain_id"))
                    .col(date("day"))
                    .col(big_integer("messages"))
                    .col(big_integer("dmarc_pass"))
                    .col(big_integer("dmarc_fail"))
                    .col(big_integer("spf_aligned_pass"))
                    .col(big_integer("dkim_aligned_pass"))
                    .col(big_integer("disposition_none"))
                    .col(big_integer("disposition_quarantine"))
                    .col(big_integer("disposition_reject"))
                    .col(big_integer("disposition_pass"))
                    .primary_key(Index::create().col("domain_id").col("day"))
                    .foreign_key(&mut fk(
                        "domain_daily",
                        "domain_id",
                        "domain",
                        ForeignKeyAction::Cascade,
                    )),
                "domain_daily",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "domain_daily").await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("domain_source_daily")
                    .col(uuid("domain_id"))
                    .col(date("day"))
                    .col(text("source_ip"))
                    .col(big_integer("messages"))
                    .col(big_integer("dmarc_pass"))
                    .col(big_integer("spf_aligned_pass"))
                    .col(big_integer("dkim_aligned_pass"))
                    .col(timestamp_with_time_zone("first_seen"))
                    .col(timestamp_with_time_zone("last_seen"))
                    .primary_key(Index::create().col("domain_id").col("day").col("source_ip"))
                    .foreign_key(&mut fk(
                        "domain_source_daily",
                        "domain_id",
                        "domain",
                        ForeignKeyAction::Cascade,
                    )),
                "domain_source_daily",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "domain_source_daily").await?;
        index(manager, "domain_source_daily", &["source_ip"], false).await?;

        // Not a tenant table: a name for an IP is public knowledge.
        manager
            .create_table(
                Table::create()
                    .table("ip_reverse_dns")
                    .col(text("ip").primary_key())
                    .col(text_null("name"))
                    .col(timestamp_with_time_zone("checked_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["ip_reverse_dns", "domain_source_daily", "domain_daily"],
        )
        .await
    }
}
