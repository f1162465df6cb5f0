//! The two tenant guards: SQL conditions every tenant query carries (first guard) and the
//! PostgreSQL row-level security settings every transaction starts with (second guard).

use crate::store::Backend;
use postern_domain::TenantScope;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

/// Whose rows a transaction may touch.
#[derive(Clone, Copy)]
pub(crate) enum Access<'a> {
    Tenant(&'a TenantScope),
    System,
}

/// Whether a transaction writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
}

/// Begins a transaction for `access`. On SQLite a writing transaction takes the write lock
/// up front (`BEGIN IMMEDIATE`), so it waits for other writers instead of failing when it
/// upgrades. On PostgreSQL one statement sets the row-level security settings (and makes a
/// reading transaction read-only) before anything else runs.
pub(crate) async fn begin(
    db: &DatabaseConnection,
    backend: Backend,
    access: Access<'_>,
    mode: Mode,
) -> Result<DatabaseTransaction, DbErr> {
    match backend {
        Backend::Sqlite => {
            let sqlite_transaction_mode = match mode {
                Mode::Read => SqliteTransactionMode::Deferred,
                Mode::Write => SqliteTransactionMode::Immediate,
            };
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(sqlite_transaction_mode),
                ..TransactionOptions::default()
            })
            .await
        }
        Backend::Postgres => {
            let txn = db.begin().await?;
            let mut settings = match access {
                Access::Tenant(scope) => tenant_settings(scope).to_vec(),
                Access::System => system_settings().to_vec(),
            };
            if mode == Mode::Read {
                // Turning read-only on is allowed after the transaction started.
                settings.push(("transaction_read_only", "on".to_owned()));
            }
            apply(&txn, settings).await?;
            Ok(txn)
        }
    }
}

/// The settings the PostgreSQL policies read, for a tenant.
pub(crate) fn tenant_settings(scope: &TenantScope) -> [(&'static str, String); 4] {
    [
        ("postern.system", "off".to_owned()),
        ("postern.msp_id", scope.msp.to_string()),
        (
            "postern.client_id",
            scope.client_id().map(|c| c.to_string()).unwrap_or_default(),
        ),
        (
            "postern.operator",
            if scope.sees_unassigned() { "on" } else { "off" }.to_owned(),
        ),
    ]
}

/// The settings of a system job: every tenant's rows.
fn system_settings() -> [(&'static str, String); 4] {
    [
        ("postern.system", "on".to_owned()),
        ("postern.msp_id", String::new()),
        ("postern.client_id", String::new()),
        ("postern.operator", "off".to_owned()),
    ]
}

/// Sets `settings` for the rest of the transaction (`set_config(…, true)`), in one statement.
async fn apply(
    txn: &DatabaseTransaction,
    settings: Vec<(&'static str, String)>,
) -> Result<(), DbErr> {
    let sql = (1..=settings.len())
        .map(|i| format!("set_config(${}, ${}, true)", 2 * i - 1, 2 * i))
        .collect::<Vec<_>>()
        .join(", ");
    let values = settings
        .into_iter()
        .flat_map(|(k, v)| [Value::from(k), Value::from(v)]);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT {sql}"),
        values,
    ))
    .await?;
    Ok(())
}

/// Makes the rest of a PostgreSQL transaction act for `scope`.
pub(crate) async fn set_tenant(
    txn: &DatabaseTransaction,
    scope: &TenantScope,
) -> Result<(), DbErr> {
    apply(txn, tenant_settings(scope).to_vec()).await
}

/// Makes the rest of a PostgreSQL transaction a system job (sees every tenant).
pub(crate) async fn set_system(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    apply(txn, system_settings().to_vec()).await
}

/// Rows of the scope's tenant: its MSP and, for a client-bound scope, its client.
pub(crate) fn owned_by(
    scope: &TenantScope,
    msp: impl ColumnTrait,
    client: impl ColumnTrait,
) -> Condition {
    let mut condition = Condition::all().add(msp.eq(scope.msp.as_uuid()));
    if let Some(id) = scope.client_id() {
        condition = condition.add(client.eq(id.as_uuid()));
    }
    condition
}

/// [`owned_by`], plus rows that belong to nobody yet when the scope sees unassigned input.
pub(crate) fn owned_or_unassigned(
    scope: &TenantScope,
    msp: impl ColumnTrait,
    client: impl ColumnTrait,
) -> Condition {
    let owned = owned_by(scope, msp, client);
    if scope.sees_unassigned() {
        Condition::any().add(owned).add(msp.is_null())
    } else {
        owned
    }
}

/// Positional parameters for hand-written SQL (`$1`, `$2`, … work on both backends).
#[derive(Default)]
pub(crate) struct Params(Vec<Value>);

impl Params {
    /// Adds a value and returns its placeholder.
    pub(crate) fn push(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    /// `alias.msp_id = $n [AND alias.client_id = $m]` for the scope.
    pub(crate) fn owned_by(&mut self, scope: &TenantScope, alias: &str) -> String {
        let msp = self.push(scope.msp.as_uuid());
        match scope.client_id() {
            Some(client) => {
                let client = self.push(client.as_uuid());
                format!("{alias}.msp_id = {msp} AND {alias}.client_id = {client}")
            }
            None => format!("{alias}.msp_id = {msp}"),
        }
    }

    pub(crate) fn statement(self, backend: Backend, sql: impl Into<String>) -> Statement {
        Statement::from_sql_and_values(db_backend(backend), sql, self.0)
    }
}

pub(crate) fn db_backend(backend: Backend) -> DbBackend {
    match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_domain::{ClientId, MspId, Role};

    #[test]
    fn client_scope_settings_name_the_client_and_never_the_operator() {
        let msp = MspId::new();
        let client = ClientId::new();
        let settings = tenant_settings(&TenantScope::client(msp, client, Role::ClientAdmin));
        assert_eq!(settings[0].1, "off");
        assert_eq!(settings[1].1, msp.to_string());
        assert_eq!(settings[2].1, client.to_string());
        assert_eq!(settings[3].1, "off");
    }

    #[test]
    fn operator_setting_follows_sees_unassigned() {
        let msp = MspId::new();
        let admin = tenant_settings(&TenantScope::msp(msp, Role::MspAdmin, true));
        assert_eq!(admin[2].1, "");
        assert_eq!(admin[3].1, "on");
        let viewer = tenant_settings(&TenantScope::msp(msp, Role::MspViewer, true));
        assert_eq!(viewer[3].1, "off");
        let other = tenant_settings(&TenantScope::msp(msp, Role::MspOwner, false));
        assert_eq!(other[3].1, "off");
    }

    #[test]
    fn params_number_placeholders_in_order() {
        let mut params = Params::default();
        let scope = TenantScope::client(MspId::new(), ClientId::new(), Role::ClientViewer);
        assert_eq!(params.push(1_i64), "$1");
        assert_eq!(
            params.owned_by(&scope, "r"),
            "r.msp_id = $2 AND r.client_id = $3"
        );
    }
}
