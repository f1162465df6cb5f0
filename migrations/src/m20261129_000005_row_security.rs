//! Row-level security, PostgreSQL only: the second guard behind postern-store's tenant
//! filters.
//!
//! Every tenant table gets `ENABLE` + `FORCE ROW LEVEL SECURITY` and one policy,
//! `tenant_isolation`, that shows (and lets a transaction write) a row only when
//!
//! * `postern.system = 'on'` (a system job), or
//! * `msp_id` equals `postern.msp_id` and either `postern.client_id` is empty (the whole MSP)
//!   or the row's client equals it, or
//! * the row belongs to nobody yet (`msp_id` and `client_id` NULL) and `postern.operator = 'on'`.
//!
//! postern-store sets these with `set_config(…, true)` (transaction-local) as the first
//! statement of every transaction; without them a transaction sees no tenant row at all.
//! The migration also creates the login role [`APP_ROLE`] (no superuser, no BYPASSRLS: both
//! would skip the policies) if it does not exist yet and grants it DML on this database.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The role the services connect as on PostgreSQL.
pub const APP_ROLE: &str = "postern_app";

/// Tenant tables and the column that holds each row's client.
pub const TENANT_TABLES: [(&str, &str); 14] = [
    ("client", "id"),
    ("domain", "client_id"),
    ("membership", "client_id"),
    ("api_token", "client_id"),
    ("rejection", "client_id"),
    ("report", "client_id"),
    ("dmarc_aggregate", "client_id"),
    ("dmarc_record", "client_id"),
    ("failure_report", "client_id"),
    ("tls_report", "client_id"),
    ("tls_policy", "client_id"),
    ("tls_failure", "client_id"),
    ("domain_daily", "client_id"),
    ("domain_source_daily", "client_id"),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // Roles are cluster-wide: another database (or a concurrent migration) may have made
        // it already. A migrating role without CREATEROLE works when it exists.
        db.execute_unprepared(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
                 BEGIN
                   CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END;
               END IF;
             END $$"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "DO $$ BEGIN
               EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema());
               EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {APP_ROLE}', current_schema());
               EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}', current_schema());
             END $$"
        ))
        .await?;
        // The application reads which migrations ran; it never records one.
        db.execute_unprepared(&format!(
            "REVOKE INSERT, UPDATE, DELETE ON seaql_migrations FROM {APP_ROLE}"
        ))
        .await?;
        for (table, client_col) in TENANT_TABLES {
            let visible = policy_expression(client_col);
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                 CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({visible})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in TENANT_TABLES {
            db.execute_unprepared(&format!(
                "DROP POLICY IF EXISTS tenant_isolation ON {table};
                 ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
                 ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
            ))
            .await?;
        }
        // The role stays: other databases of the cluster may use it.
        db.execute_unprepared(&format!(
            "DO $$ BEGIN
               IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
                 EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {APP_ROLE}', current_schema());
                 EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM {APP_ROLE}', current_schema());
                 EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {APP_ROLE}', current_schema());
               END IF;
             END $$"
        ))
        .await?;
        Ok(())
    }
}

/// The visibility rule of a tenant row, for a table whose client column is `client_col`.
/// `nullif(…)::uuid` (rather than comparing text) keeps the `(msp_id, client_id)` index usable.
pub(crate) fn policy_expression(client_col: &str) -> String {
    format!(
        "coalesce(current_setting('postern.system', true), '') = 'on'
         OR (msp_id = nullif(current_setting('postern.msp_id', true), '')::uuid
             AND (coalesce(current_setting('postern.client_id', true), '') = ''
                  OR {client_col} = nullif(current_setting('postern.client_id', true), '')::uuid))
         OR (msp_id IS NULL AND {client_col} IS NULL
             AND coalesce(current_setting('postern.operator', true), '') = 'on')"
    )
}

/// On PostgreSQL: grants the app role DML on each `(table, client column)` and isolates its
/// rows per tenant with the `tenant_isolation` policy, enabled and forced. A no-op on SQLite.
pub(crate) async fn isolate_tenant_tables(
    manager: &SchemaManager<'_>,
    tables: &[(&str, &str)],
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for (table, client_col) in tables {
        let visible = policy_expression(client_col);
        db.execute_unprepared(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE};
             ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({visible})"
        ))
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_uses_the_tables_client_column() {
        let client = policy_expression("id");
        assert!(client.contains("OR id = nullif"));
        assert!(client.contains("msp_id IS NULL AND id IS NULL"));
        assert!(!client.contains("client_id ="));
    }
}
