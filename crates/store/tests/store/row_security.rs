//! PostgreSQL row-level security, the second guard: proven with raw SQL (no WHERE clause)
//! over a connection as the services' role `postern_app`.
//!
//! That the store sets the settings in its own transactions is proven by every other
//! PostgreSQL test: they run as `postern_app`, where a tenant transaction without them would
//! see no rows and a system one could not write.

use crate::support::{TestDb, World, aggregate, header, records};
use postern_domain::{ClientId, MspId};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};

/// What postern-store sets at the start of a tenant transaction.
struct Settings {
    system: bool,
    msp: Option<MspId>,
    client: Option<ClientId>,
    operator: bool,
}

impl Settings {
    fn tenant(msp: MspId, client: Option<ClientId>, operator: bool) -> Self {
        Self {
            system: false,
            msp: Some(msp),
            client,
            operator,
        }
    }
}

async fn begin(db: &DatabaseConnection, settings: Option<Settings>) -> DatabaseTransaction {
    let txn = db.begin().await.unwrap();
    if let Some(s) = settings {
        let on = |b: bool| if b { "on" } else { "off" };
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('postern.system', $1, true), set_config('postern.msp_id', $2, true), \
             set_config('postern.client_id', $3, true), set_config('postern.operator', $4, true)",
            [
                on(s.system).into(),
                s.msp.map(|m| m.to_string()).unwrap_or_default().into(),
                s.client.map(|c| c.to_string()).unwrap_or_default().into(),
                on(s.operator).into(),
            ],
        ))
        .await
        .unwrap();
    }
    txn
}

async fn count(txn: &DatabaseTransaction, table: &str) -> i64 {
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn counts(db: &DatabaseConnection, settings: Option<Settings>) -> [i64; 4] {
    let txn = begin(db, settings).await;
    let n = [
        count(&txn, "report").await,
        count(&txn, "dmarc_record").await,
        count(&txn, "domain").await,
        count(&txn, "client").await,
    ];
    txn.commit().await.unwrap();
    n
}

async fn app_connection(db: &TestDb) -> DatabaseConnection {
    Database::connect(db.pg_url(Some("postern_app")).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_settings_limit_a_query_without_where_to_the_tenant() {
    let db = TestDb::postgres().await;
    let w = World::build(&db).await;
    let sys = db.system();
    for (domain, id) in [
        (&w.a1_domain, "a1"),
        (&w.a2_domain, "a2"),
        (&w.b1_domain, "b1"),
    ] {
        aggregate(
            &sys,
            Some(domain),
            &header(domain.name.as_str(), id, "org", 3),
            &records(2),
        )
        .await;
    }
    aggregate(
        &sys,
        None,
        &header("nobody.example", "u", "org", 3),
        &records(2),
    )
    .await;
    let app = app_connection(&db).await;

    // [reports, records, domains, clients]
    assert_eq!(
        counts(&app, None).await,
        [0, 0, 0, 0],
        "no settings: no tenant row at all"
    );
    assert_eq!(
        counts(&app, Some(Settings::tenant(w.msp_a, None, false))).await,
        [2, 4, 2, 2]
    );
    assert_eq!(
        counts(&app, Some(Settings::tenant(w.msp_a, Some(w.a1.id), false))).await,
        [1, 2, 1, 1]
    );
    assert_eq!(
        counts(&app, Some(Settings::tenant(w.msp_b, None, false))).await,
        [1, 2, 1, 1]
    );
    // The operator setting adds the unassigned rows, nothing of another MSP.
    assert_eq!(
        counts(&app, Some(Settings::tenant(w.msp_a, None, true))).await,
        [3, 6, 2, 2]
    );
    // A client id of another MSP under this MSP's id matches nothing.
    assert_eq!(
        counts(&app, Some(Settings::tenant(w.msp_a, Some(w.b1.id), false))).await,
        [0, 0, 0, 0]
    );
    let system = Settings {
        system: true,
        msp: None,
        client: None,
        operator: false,
    };
    assert_eq!(counts(&app, Some(system)).await, [4, 8, 3, 3]);

    // Settings are transaction-local: the next transaction on the pool sees nothing again.
    assert_eq!(counts(&app, None).await, [0, 0, 0, 0]);

    // Writes: B's transaction cannot touch A's rows, nor write a row for A.
    let txn = begin(&app, Some(Settings::tenant(w.msp_b, None, false))).await;
    let changed = txn
        .execute_unprepared("UPDATE report SET org_name = 'hijacked'")
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    let deleted = txn
        .execute_unprepared("DELETE FROM domain_daily")
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    txn.commit().await.unwrap();
    let txn = begin(&app, Some(Settings::tenant(w.msp_b, None, false))).await;
    let insert = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO client (id, msp_id, name, created_at) VALUES ($1, $2, 'intruder', now())",
            [uuid::Uuid::now_v7().into(), w.msp_a.as_uuid().into()],
        ))
        .await;
    let error = insert.unwrap_err().to_string();
    assert!(error.contains("row-level security"), "{error}");
    drop(txn);
    let a1 = db.tenant(w.a1_admin());
    let reports = a1
        .list_reports(&Default::default(), postern_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(reports.items[0].org_name, "org");
    app.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_role_can_neither_skip_policies_nor_change_the_schema() {
    let db = TestDb::postgres().await;
    let app = app_connection(&db).await;
    let row = app
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text AS who, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "who").unwrap(), "postern_app");
    assert!(!row.try_get::<bool>("", "rolsuper").unwrap());
    assert!(!row.try_get::<bool>("", "rolbypassrls").unwrap());
    let forced = app
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_class WHERE relname = ANY(ARRAY['client','domain','membership','api_token',\
             'rejection','report','dmarc_aggregate','dmarc_record','failure_report','tls_report','tls_policy',\
             'tls_failure','domain_daily','domain_source_daily']) AND relrowsecurity AND relforcerowsecurity",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        forced.try_get::<i64>("", "n").unwrap(),
        postern_migrations::TENANT_TABLES.len() as i64
    );
    // Every table that carries a tenant (a client_id column), including the ones later
    // migrations add, has row security enabled and forced.
    let unprotected = app
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT DISTINCT c.table_name AS t FROM information_schema.columns c \
             JOIN pg_class p ON p.relname = c.table_name AND p.relkind = 'r' \
             WHERE c.table_schema = 'public' AND c.column_name = 'client_id' \
             AND NOT (p.relrowsecurity AND p.relforcerowsecurity) ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "t").unwrap())
        .collect::<Vec<_>>();
    assert!(
        unprotected.is_empty(),
        "tables without row security: {unprotected:?}"
    );
    assert!(app.execute_unprepared("DROP TABLE report").await.is_err());
    assert!(
        app.execute_unprepared("ALTER TABLE report DISABLE ROW LEVEL SECURITY")
            .await
            .is_err()
    );
    // A service running as the app role may call migrate once the owner has migrated.
    db.store.migrate().await.unwrap();
    app.close().await.unwrap();
}
