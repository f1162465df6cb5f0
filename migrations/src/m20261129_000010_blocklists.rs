//! Blocklist monitoring: each MSP's overrides of the built-in list catalogue, the targets
//! (IPs and domains) each client watches, the current verdict per (target, list), and the
//! listing history.
//!
//! * `blocklist_override` belongs to an MSP (`client_id` always NULL): one row per
//!   (msp_id, list_id) switching a list on or off, patching or adding its definition (JSON)
//!   and holding the key of a DQS-style keyed zone.
//! * `blocklist_target` belongs to a client: an IP address or a domain, unique per client.
//! * `blocklist_state` holds the latest verdict (`listed`, `clear` or `unknown`) per
//!   (target, list), with its codes, TXT and reason (JSON) and since when it holds.
//! * `blocklist_listing` is the history: one row per listing period of a (target, list),
//!   open (`until` NULL) while listed.
//!
//! On PostgreSQL all four get the `tenant_isolation` policy of the row security migration
//! (an MSP-wide override is visible to the MSP's staff, never to a client-bound
//! transaction) and `postern_app` gets DML on them.

use crate::m20261129_000005_row_security::isolate_tenant_tables;
use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The tenant tables this migration adds, with the column that holds each row's client.
pub const BLOCKLIST_TENANT_TABLES: [(&str, &str); 4] = [
    ("blocklist_override", "client_id"),
    ("blocklist_target", "client_id"),
    ("blocklist_state", "client_id"),
    ("blocklist_listing", "client_id"),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("blocklist_override")
                    .col(uuid("id").primary_key())
                    .col(text("list_id"))
                    // NULL: keep the catalogue's choice.
                    .col(boolean_null("enabled"))
                    // A patch of the list's definition (or a whole new list); NULL: none.
                    .col(json_binary_null("patch"))
                    // The key of a keyed zone; never read back by the API.
                    .col(text_null("list_key"))
                    .col(uuid_null("updated_by"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "blocklist_override",
                        "updated_by",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    )),
                "blocklist_override",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "blocklist_override").await?;
        index(manager, "blocklist_override", &["msp_id", "list_id"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("blocklist_target")
                    .col(uuid("id").primary_key())
                    // ip or domain
                    .col(text("kind"))
                    // The address or the lower-case domain.
                    .col(text("value"))
                    .col(text("note"))
                    .col(timestamp_with_time_zone("created_at")),
                "blocklist_target",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "blocklist_target").await?;
        index(manager, "blocklist_target", &["client_id", "value"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("blocklist_state")
                    .col(uuid("id").primary_key())
                    .col(uuid("target_id"))
                    .col(text("list_id"))
                    // listed, clear or unknown
                    .col(text("state"))
                    // Codes with meanings, TXT, reason of unknown.
                    .col(json_binary("detail"))
                    .col(timestamp_with_time_zone("since"))
                    .col(timestamp_with_time_zone("checked_at"))
                    .foreign_key(&mut fk(
                        "blocklist_state",
                        "target_id",
                        "blocklist_target",
                        ForeignKeyAction::Cascade,
                    )),
                "blocklist_state",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "blocklist_state").await?;
        index(manager, "blocklist_state", &["target_id", "list_id"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("blocklist_listing")
                    .col(uuid("id").primary_key())
                    .col(uuid("target_id"))
                    .col(text("list_id"))
                    .col(timestamp_with_time_zone("since"))
                    // NULL: still listed.
                    .col(timestamp_with_time_zone_null("until"))
                    // The codes (with meanings) and TXT when the listing was seen.
                    .col(json_binary("detail"))
                    .foreign_key(&mut fk(
                        "blocklist_listing",
                        "target_id",
                        "blocklist_target",
                        ForeignKeyAction::Cascade,
                    )),
                "blocklist_listing",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "blocklist_listing").await?;
        index(
            manager,
            "blocklist_listing",
            &["target_id", "list_id", "since"],
            false,
        )
        .await?;

        isolate_tenant_tables(manager, &BLOCKLIST_TENANT_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "blocklist_listing",
                "blocklist_state",
                "blocklist_target",
                "blocklist_override",
            ],
        )
        .await
    }
}
