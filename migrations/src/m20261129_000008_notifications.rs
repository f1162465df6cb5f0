//! Notifications: per-MSP channels (webhook, e-mail, Slack, Teams), the routing rules that
//! send issue events to them, the delivery log (which doubles as the persistent retry
//! queue) and the items waiting for a channel's daily digest.
//!
//! `notify_channel`, `notify_route` and `notify_delivery` belong to an MSP and optionally to
//! one client (`client_id` NULL: MSP-wide); `notify_digest_item` always belongs to a client
//! (it holds one issue event). On PostgreSQL all four get the `tenant_isolation` policy of
//! the row security migration, and `postern_app` gets DML on them.

use crate::m20261129_000005_row_security::isolate_tenant_tables;
use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The tenant tables this migration adds, with the column that holds each row's client.
pub const NOTIFY_TENANT_TABLES: [(&str, &str); 4] = [
    ("notify_channel", "client_id"),
    ("notify_route", "client_id"),
    ("notify_delivery", "client_id"),
    ("notify_digest_item", "client_id"),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("notify_channel")
                    .col(uuid("id").primary_key())
                    .col(text("name"))
                    // webhook, email, slack or teams
                    .col(text("kind"))
                    // The URL, or the e-mail recipients (comma-separated).
                    .col(text("target"))
                    // The webhook signing secret; never read back by the API.
                    .col(text_null("secret"))
                    .col(boolean("enabled"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at")),
                "notify_channel",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "notify_channel").await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("notify_route")
                    .col(uuid("id").primary_key())
                    .col(uuid("channel_id"))
                    // info, low, medium, high or critical: the lowest severity routed.
                    .col(text("min_severity"))
                    // JSON lists; empty: every code / every event kind.
                    .col(json_binary("codes"))
                    .col(json_binary("event_kinds"))
                    // immediate or digest
                    .col(text("mode"))
                    // NULL: the service's configured default.
                    .col(big_integer_null("quiet_period_secs"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "notify_route",
                        "channel_id",
                        "notify_channel",
                        ForeignKeyAction::Cascade,
                    )),
                "notify_route",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "notify_route").await?;
        index(manager, "notify_route", &["channel_id"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("notify_delivery")
                    .col(uuid("id").primary_key())
                    .col(uuid("channel_id"))
                    // event, test or digest
                    .col(text("kind"))
                    // What the delivery is unique by within its channel: `event:<id>`,
                    // `test:<id>`, `digest:<day>`.
                    .col(text("dedup_key"))
                    // No foreign keys: the log outlives the issue and the event.
                    .col(uuid_null("issue_id"))
                    .col(uuid_null("event_id"))
                    .col(text_null("event_kind"))
                    .col(text_null("code"))
                    .col(text_null("severity"))
                    // pending, delivered, failed or suppressed
                    .col(text("status"))
                    .col(integer("attempts"))
                    .col(text_null("last_error"))
                    .col(integer_null("response_code"))
                    // What to send (rendered per channel kind at send time).
                    .col(json_binary("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    // Pending: when to try (again); also the claim lease of a sender.
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .foreign_key(&mut fk(
                        "notify_delivery",
                        "channel_id",
                        "notify_channel",
                        ForeignKeyAction::Cascade,
                    )),
                "notify_delivery",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "notify_delivery").await?;
        index(
            manager,
            "notify_delivery",
            &["channel_id", "dedup_key"],
            true,
        )
        .await?;
        index(
            manager,
            "notify_delivery",
            &["channel_id", "issue_id", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "notify_delivery",
            &["status", "next_attempt_at"],
            false,
        )
        .await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("notify_digest_item")
                    .col(uuid("id").primary_key())
                    .col(uuid("channel_id"))
                    .col(uuid("event_id"))
                    .col(uuid("issue_id"))
                    .col(json_binary("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    // The digest delivery that summarised it; NULL: still waiting.
                    .col(uuid_null("delivery_id"))
                    .foreign_key(&mut fk(
                        "notify_digest_item",
                        "channel_id",
                        "notify_channel",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "notify_digest_item",
                        "delivery_id",
                        "notify_delivery",
                        ForeignKeyAction::SetNull,
                    )),
                "notify_digest_item",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "notify_digest_item").await?;
        index(
            manager,
            "notify_digest_item",
            &["channel_id", "event_id"],
            true,
        )
        .await?;
        index(
            manager,
            "notify_digest_item",
            &["delivery_id", "created_at"],
            false,
        )
        .await?;

        isolate_tenant_tables(manager, &NOTIFY_TENANT_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "notify_digest_item",
                "notify_delivery",
                "notify_route",
                "notify_channel",
            ],
        )
        .await
    }
}
