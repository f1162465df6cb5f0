//! Ingested evidence: raw input bytes (content-addressed), rejections, reports and their
//! typed details (DMARC aggregate with its records, DMARC failure, SMTP TLS).

use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Not a tenant table: the same bytes may reach several tenants. Access goes through
        // the reports and rejections that reference a row.
        manager
            .create_table(
                Table::create()
                    .table("raw_input")
                    .col(pk_uuid("id"))
                    .col(text_uniq("sha256"))
                    .col(blob("bytes"))
                    .col(big_integer("size"))
                    .col(text_null("content_type"))
                    .col(text("source"))
                    .col(timestamp_with_time_zone("first_received_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("rejection")
                    .col(pk_uuid("id"))
                    .col(uuid("raw_input_id"))
                    .col(text_null("domain"))
                    .col(text("source"))
                    .col(text("location"))
                    .col(text("reason"))
                    .col(text("detail"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "rejection",
                        "raw_input_id",
                        "raw_input",
                        ForeignKeyAction::NoAction,
                    )),
                "rejection",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "rejection").await?;
        index(manager, "rejection", &["raw_input_id"], false).await?;
        index(manager, "rejection", &["domain"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("report")
                    .col(pk_uuid("id"))
                    .col(text("kind"))
                    .col(uuid_null("domain_id"))
                    .col(text("domain"))
                    .col(text("org_name"))
                    .col(text("external_id"))
                    .col(timestamp_with_time_zone("date_begin"))
                    .col(timestamp_with_time_zone("date_end"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(big_integer("record_count"))
                    .col(big_integer("message_count"))
                    .col(uuid("raw_input_id"))
                    .col(json_binary("problems"))
                    .foreign_key(&mut fk(
                        "report",
                        "domain_id",
                        "domain",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "report",
                        "raw_input_id",
                        "raw_input",
                        ForeignKeyAction::NoAction,
                    )),
                "report",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "report").await?;
        index(
            manager,
            "report",
            &["kind", "org_name", "external_id", "domain"],
            true,
        )
        .await?;
        index(manager, "report", &["domain"], false).await?;
        index(manager, "report", &["date_begin"], false).await?;
        index(manager, "report", &["domain_id"], false).await?;
        index(manager, "report", &["raw_input_id"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("dmarc_aggregate")
                    .col(uuid("report_id").primary_key())
                    .col(text("schema"))
                    .col(text_null("version"))
                    .col(text_null("org_email"))
                    .col(text_null("extra_contact_info"))
                    .col(json_binary("errors"))
                    .col(text_null("generator"))
                    .col(text("policy_domain"))
                    .col(text_null("adkim"))
                    .col(text_null("aspf"))
                    .col(text_null("p"))
                    .col(text_null("sp"))
                    .col(text_null("np"))
                    .col(integer_null("pct"))
                    .col(text_null("fo"))
                    .col(boolean_null("testing"))
                    .col(text_null("discovery_method"))
                    .foreign_key(&mut report_fk("dmarc_aggregate")),
                "dmarc_aggregate",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "dmarc_aggregate").await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("dmarc_record")
                    .col(pk_uuid("id"))
                    .col(uuid("report_id"))
                    .col(big_integer("seq"))
                    .col(text("source_ip"))
                    .col(big_integer("count"))
                    .col(text("disposition"))
                    .col(text_null("dkim"))
                    .col(text_null("spf"))
                    .col(text("header_from"))
                    .col(text_null("envelope_from"))
                    .col(text_null("envelope_to"))
                    .col(json_binary("reasons"))
                    .col(json_binary("dkim_results"))
                    .col(json_binary("spf_results"))
                    .foreign_key(&mut report_fk("dmarc_record")),
                "dmarc_record",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "dmarc_record").await?;
        index(manager, "dmarc_record", &["report_id", "seq"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("failure_report")
                    .col(uuid("report_id").primary_key())
                    .col(text("feedback_type"))
                    .col(text_null("user_agent"))
                    .col(text_null("version"))
                    .col(timestamp_with_time_zone_null("arrival_date"))
                    .col(text_null("source_ip"))
                    .col(text_null("original_mail_from"))
                    .col(json_binary("original_rcpt_to"))
                    .col(text("reported_domain"))
                    .col(json_binary("auth_failure"))
                    .col(text_null("delivery_result"))
                    .col(text_null("dkim_domain"))
                    .col(text_null("dkim_selector"))
                    .col(text_null("dkim_identity"))
                    .col(text_null("spf_dns"))
                    .col(json_binary("authentication_results"))
                    .col(text_null("identity_alignment"))
                    .col(text_null("reporter"))
                    .col(text_null("original_subject"))
                    .col(text_null("original_message_id"))
                    .col(text_null("original_headers"))
                    .foreign_key(&mut report_fk("failure_report")),
                "failure_report",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "failure_report").await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("tls_report")
                    .col(uuid("report_id").primary_key())
                    .col(text_null("contact_info"))
                    .foreign_key(&mut report_fk("tls_report")),
                "tls_report",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "tls_report").await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("tls_policy")
                    .col(pk_uuid("id"))
                    .col(uuid("report_id"))
                    .col(big_integer("seq"))
                    .col(text("policy_type"))
                    .col(text("policy_domain"))
                    .col(json_binary("policy_strings"))
                    .col(json_binary("mx_hosts"))
                    .col(big_integer("successful"))
                    .col(big_integer("failed"))
                    .foreign_key(&mut report_fk("tls_policy")),
                "tls_policy",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "tls_policy").await?;
        index(manager, "tls_policy", &["report_id", "seq"], true).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("tls_failure")
                    .col(pk_uuid("id"))
                    .col(uuid("policy_id"))
                    .col(uuid("report_id"))
                    .col(big_integer("seq"))
                    .col(text("result_type"))
                    .col(text_null("sending_mta_ip"))
                    .col(text_null("receiving_mx_hostname"))
                    .col(text_null("receiving_mx_helo"))
                    .col(text_null("receiving_ip"))
                    .col(big_integer("failed_session_count"))
                    .col(text_null("additional_information"))
                    .col(text_null("failure_reason_code"))
                    .foreign_key(&mut fk(
                        "tls_failure",
                        "policy_id",
                        "tls_policy",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut report_fk("tls_failure")),
                "tls_failure",
                Owner::Optional,
            ))
            .await?;
        tenant_index(manager, "tls_failure").await?;
        index(manager, "tls_failure", &["policy_id", "seq"], true).await?;
        index(manager, "tls_failure", &["report_id"], false).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "tls_failure",
                "tls_policy",
                "tls_report",
                "failure_report",
                "dmarc_record",
                "dmarc_aggregate",
                "report",
                "rejection",
                "raw_input",
            ],
        )
        .await
    }
}

/// `<table>.report_id → report.id`, deleted with the report.
fn report_fk(table: &'static str) -> ForeignKeyCreateStatement {
    fk(table, "report_id", "report", ForeignKeyAction::Cascade)
}
