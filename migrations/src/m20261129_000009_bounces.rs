//! Bounces: one row per bounced, deferred or complained-about recipient (from bounce mail,
//! ESP events or MTA logs), the per-client send volume those sources report, the per-client
//! suppression list with its history, and each client's bounce-address key.
//!
//! * `bounce` may belong to nobody yet (`Owner::Optional`): a bounce that could not be routed
//!   to a client is kept with `unassigned_reason`. `dedup_key` makes ingestion idempotent
//!   (same mail and recipient, or the provider's event id).
//! * `send_volume` counts outcomes per (client, sender domain, day, provider).
//! * `suppression` holds one row per (client, address): active while `restored_at` is NULL;
//!   suppressing a restored address again re-activates the row. `suppression_event` keeps
//!   every suppress and restore with who and why.
//! * `bounce_key` is the key in a client's bounce address `bounces+<key>@<intake>`.
//! * `bounce_delivery_seen` remembers the dedup keys of delivery events that leave no bounce row
//!   (sent volume), so re-imported events are counted once. System table, no tenant.
//!
//! On PostgreSQL the tenant tables get the `tenant_isolation` policy of the row security
//! migration, and `postern_app` gets DML on all of them.

use crate::m20261129_000005_row_security::{APP_ROLE, isolate_tenant_tables};
use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The tenant tables this migration adds, with the column that holds each row's client.
pub const BOUNCE_TENANT_TABLES: [(&str, &str); 5] = [
    ("bounce", "client_id"),
    ("send_volume", "client_id"),
    ("suppression", "client_id"),
    ("suppression_event", "client_id"),
    ("bounce_key", "client_id"),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("bounce")
                    .col(uuid("id").primary_key())
                    .col(uuid("raw_input_id"))
                    // Why it belongs to nobody (no bounce key, no owned sender domain).
                    .col(text_null("unassigned_reason"))
                    .col(uuid_null("domain_id"))
                    // bounced, deferred or complained
                    .col(text("kind"))
                    .col(text("recipient"))
                    .col(text("recipient_domain"))
                    .col(text_null("status"))
                    .col(integer_null("reply_code"))
                    .col(text("diagnostic"))
                    .col(text_null("remote_host"))
                    .col(text_null("reporting_mta"))
                    .col(timestamp_with_time_zone("time"))
                    .col(text_null("original_message_id"))
                    .col(text_null("sending_ip"))
                    .col(text_null("command"))
                    .col(text_null("action"))
                    .col(text_null("evidence"))
                    .col(text_null("feedback_type"))
                    .col(boolean("hard"))
                    .col(text("reason"))
                    // mail, ses, sendgrid, mailgun, postmark, postfix, ...
                    .col(text("provider"))
                    .col(text_null("provider_event_id"))
                    .col(text_null("campaign"))
                    .col(text_null("sender_domain"))
                    .col(text("dedup_key"))
                    .col(timestamp_with_time_zone("received_at"))
                    .foreign_key(&mut fk(
                        "bounce",
                        "raw_input_id",
                        "raw_input",
                        ForeignKeyAction::NoAction,
                    )),
                "bounce",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "bounce").await?;
        index(manager, "bounce", &["dedup_key"], true).await?;
        index(manager, "bounce", &["client_id", "time"], false).await?;
        index(manager, "bounce", &["client_id", "recipient_domain"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("send_volume")
                    .col(text("sender_domain"))
                    .col(date("day"))
                    .col(text("provider"))
                    .col(big_integer("delivered"))
                    .col(big_integer("deferred"))
                    .col(big_integer("bounced"))
                    .col(big_integer("complaints"))
                    .primary_key(
                        Index::create()
                            .col("client_id")
                            .col("sender_domain")
                            .col("day")
                            .col("provider"),
                    ),
                "send_volume",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "send_volume").await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("suppression")
                    .col(uuid("id").primary_key())
                    // Lower case.
                    .col(text("address"))
                    .col(text("reason"))
                    .col(uuid_null("source_bounce_id"))
                    .col(timestamp_with_time_zone("suppressed_at"))
                    .col(uuid_null("suppressed_by"))
                    // NULL: the address is suppressed.
                    .col(timestamp_with_time_zone_null("restored_at"))
                    .col(uuid_null("restored_by"))
                    .col(text_null("restore_reason")),
                "suppression",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "suppression").await?;
        index(manager, "suppression", &["client_id", "address"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("suppression_event")
                    .col(uuid("id").primary_key())
                    .col(uuid("suppression_id"))
                    .col(text("address"))
                    // suppressed or restored
                    .col(text("action"))
                    .col(text("reason"))
                    .col(uuid_null("bounce_id"))
                    // The user who acted; NULL: ingestion (or an API token).
                    .col(uuid_null("actor_id"))
                    .col(timestamp_with_time_zone("at"))
                    .foreign_key(&mut fk(
                        "suppression_event",
                        "suppression_id",
                        "suppression",
                        ForeignKeyAction::Cascade,
                    )),
                "suppression_event",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "suppression_event").await?;
        index(manager, "suppression_event", &["suppression_id"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("bounce_key")
                    .col(text("key").primary_key())
                    .col(timestamp_with_time_zone("created_at")),
                "bounce_key",
                Owner::Client,
            ))
            .await?;
        index(manager, "bounce_key", &["client_id"], true).await?;

        manager
            .create_table(
                Table::create()
                    .table("bounce_delivery_seen")
                    .col(text("dedup_key").primary_key())
                    .col(timestamp_with_time_zone("received_at"))
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(&format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON bounce_delivery_seen TO {APP_ROLE}"
            ))
            .await?;
        }
        isolate_tenant_tables(manager, &BOUNCE_TENANT_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "bounce_delivery_seen",
                "bounce_key",
                "suppression_event",
                "suppression",
                "send_volume",
                "bounce",
            ],
        )
        .await
    }
}
