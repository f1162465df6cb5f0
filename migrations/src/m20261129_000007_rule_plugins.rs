//! MSP rule plugins: `rule_plugin` (a component an MSP uploaded, runs only for its own
//! clients' domains), `rule_setting` (a rule switched on or off for a whole MSP or for one
//! client, built-in rules included) and `plugin_failure` (a `plugin_failed` record: which
//! plugin failed on which domain, and why).
//!
//! `rule_plugin` and `rule_setting` rows belong to an MSP (`client_id` NULL) or, for a
//! setting, to one client; `plugin_failure` rows to one client. On PostgreSQL all three get
//! the `tenant_isolation` policy of the row security migration (an MSP-wide row is visible
//! to the MSP's staff, never to a client-bound transaction) and `postern_app` gets DML.
//!
//! Unique settings: `(msp_id, client_id, rule_id)` with a NULL client cannot be one unique
//! index (NULLs are distinct on both backends), so there are two partial unique indexes, one
//! for MSP-wide rows and one for client rows; both SQLite and PostgreSQL support them.

use crate::m20261129_000005_row_security::isolate_tenant_tables;
use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The tenant tables this migration adds, with the column that holds each row's client.
pub const PLUGIN_TENANT_TABLES: [(&str, &str); 3] = [
    ("rule_plugin", "client_id"),
    ("rule_setting", "client_id"),
    ("plugin_failure", "client_id"),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("rule_plugin")
                    .col(uuid("id").primary_key())
                    .col(text("rule_id"))
                    .col(text("version"))
                    .col(text("title"))
                    .col(json_binary("reads"))
                    .col(text("sha256"))
                    .col(big_integer("size"))
                    .col(blob("component"))
                    // NULL: uploaded with an API token (or the user was deleted).
                    .col(uuid_null("uploaded_by"))
                    .col(timestamp_with_time_zone("uploaded_at"))
                    .col(boolean("enabled"))
                    .foreign_key(&mut fk(
                        "rule_plugin",
                        "uploaded_by",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    )),
                "rule_plugin",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "rule_plugin").await?;
        index(manager, "rule_plugin", &["msp_id", "rule_id"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("rule_setting")
                    .col(uuid("id").primary_key())
                    .col(text("rule_id"))
                    .col(boolean("enabled"))
                    .col(uuid_null("updated_by"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "rule_setting",
                        "updated_by",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    )),
                "rule_setting",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "rule_setting").await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_rule_setting_msp_rule_id ON rule_setting (msp_id, rule_id)
               WHERE client_id IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_rule_setting_msp_client_rule_id
               ON rule_setting (msp_id, client_id, rule_id) WHERE client_id IS NOT NULL",
        )
        .await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("plugin_failure")
                    .col(uuid("id").primary_key())
                    .col(uuid("domain_id"))
                    .col(text("rule_id"))
                    .col(text("kind"))
                    .col(text("reason"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .foreign_key(&mut fk(
                        "plugin_failure",
                        "domain_id",
                        "domain",
                        ForeignKeyAction::Cascade,
                    )),
                "plugin_failure",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "plugin_failure").await?;
        index(manager, "plugin_failure", &["domain_id", "id"], false).await?;
        index(manager, "plugin_failure", &["msp_id", "rule_id"], false).await?;

        isolate_tenant_tables(manager, &PLUGIN_TENANT_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["plugin_failure", "rule_setting", "rule_plugin"]).await
    }
}
