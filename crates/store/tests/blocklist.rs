//! Blocklist monitoring in the store, on SQLite and PostgreSQL (as `postern_app`, so
//! row-level security is live): targets per client, recorded checks with their listing
//! history and transitions (and outbox events), MSP overrides with keys, roles, and the
//! cross-tenant cases; on PostgreSQL the raw row-security policies of the four tables.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly where it cannot go on"
)]

use chrono::{DateTime, TimeZone, Utc};
use postern_domain::{ClientId, EventId, MspId, Role, TenantScope};
use postern_store::testing::TestDb;
use postern_store::{
    Backend, BlocklistObservation, BlocklistTarget, BlocklistTargetKind, BlocklistTransition,
    BlocklistVerdict, KeyChange, NewBlocklistTarget, OutboxEvent, PageRequest,
    SetBlocklistOverride, StoreError,
};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::json;

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(&super::TestDb::open(super::Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario(&super::TestDb::open(super::Backend::Postgres).await).await;
            }
        }
    )*};
}

on_both_backends!(
    targets_belong_to_one_client_and_are_validated,
    checks_open_and_close_listings_and_unknown_never_delists,
    overrides_are_per_msp_and_keys_are_never_read_back_by_tenants,
    removing_a_target_removes_its_verdicts_and_history,
    found_targets_are_added_once_and_states_are_read_per_client,
);

/// Two MSPs: A (clients A1, A2) and B (client B1).
struct World {
    msp_a: MspId,
    msp_b: MspId,
    a1: ClientId,
    a2: ClientId,
    b1: ClientId,
}

impl World {
    async fn build(db: &TestDb) -> World {
        let sys = db.system();
        let msp_a = sys.create_msp("MSP A", true).await.unwrap().id;
        let msp_b = sys.create_msp("MSP B", false).await.unwrap().id;
        let a = db.tenant(TenantScope::msp(msp_a, Role::MspOwner, true));
        let b = db.tenant(TenantScope::msp(msp_b, Role::MspOwner, false));
        World {
            msp_a,
            msp_b,
            a1: a.create_client("A1").await.unwrap().id,
            a2: a.create_client("A2").await.unwrap().id,
            b1: b.create_client("B1").await.unwrap().id,
        }
    }

    fn a_owner(&self) -> TenantScope {
        TenantScope::msp(self.msp_a, Role::MspOwner, true)
    }
    fn a_operator(&self) -> TenantScope {
        TenantScope::msp(self.msp_a, Role::MspOperator, true)
    }
    fn a_viewer(&self) -> TenantScope {
        TenantScope::msp(self.msp_a, Role::MspViewer, true)
    }
    fn a1_admin(&self) -> TenantScope {
        TenantScope::client(self.msp_a, self.a1, Role::ClientAdmin)
    }
    fn a2_admin(&self) -> TenantScope {
        TenantScope::client(self.msp_a, self.a2, Role::ClientAdmin)
    }
    fn b_owner(&self) -> TenantScope {
        TenantScope::msp(self.msp_b, Role::MspOwner, false)
    }
}

fn new_target(value: &str) -> NewBlocklistTarget {
    NewBlocklistTarget {
        value: value.to_owned(),
        note: "outbound relay".to_owned(),
    }
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, hour, 0, 0).unwrap()
}

fn observe(list: &str, verdict: BlocklistVerdict) -> BlocklistObservation {
    let detail = match verdict {
        BlocklistVerdict::Listed => {
            json!({"state": "listed", "codes": [{"code": "127.0.0.2", "meanings": ["SBL"]}], "txt": ["see https://example.org"]})
        }
        BlocklistVerdict::Clear => json!({"state": "clear"}),
        BlocklistVerdict::Unknown => json!({"state": "unknown", "reason": {"kind": "timeout"}}),
    };
    BlocklistObservation {
        list_id: list.to_owned(),
        verdict,
        detail,
    }
}

fn event(transition: &BlocklistTransition) -> OutboxEvent {
    let (topic, listing) = match transition {
        BlocklistTransition::Listed { listing, .. } => ("blocklist.listed", listing),
        BlocklistTransition::Delisted { listing, .. } => ("blocklist.delisted", listing),
    };
    OutboxEvent {
        id: EventId::new(),
        topic: topic.to_owned(),
        payload: listing.id.as_bytes().to_vec(),
    }
}

async fn record(
    db: &TestDb,
    target: &BlocklistTarget,
    observations: &[BlocklistObservation],
    hour: u32,
) -> Vec<BlocklistTransition> {
    db.system()
        .record_blocklist_check(target, observations, at(hour), &event)
        .await
        .unwrap()
}

async fn targets_belong_to_one_client_and_are_validated(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let ip = a
        .add_blocklist_target(w.a1, new_target("192.0.2.010"))
        .await;
    // Leading zeros are not an address; the value is refused, not guessed.
    assert!(matches!(ip, Err(StoreError::Invalid(_))), "{ip:?}");
    let ip = a
        .add_blocklist_target(w.a1, new_target("2001:DB8::1"))
        .await
        .unwrap();
    assert_eq!(
        (ip.kind, ip.value.as_str()),
        (BlocklistTargetKind::Ip, "2001:db8::1")
    );
    let domain = a
        .add_blocklist_target(w.a1, new_target("Mail.Example.COM."))
        .await
        .unwrap();
    assert_eq!(
        (domain.kind, domain.value.as_str()),
        (BlocklistTargetKind::Domain, "mail.example.com")
    );
    assert!(matches!(
        a.add_blocklist_target(w.a1, new_target("mail.example.com"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        a.add_blocklist_target(w.a1, new_target("not a target"))
            .await,
        Err(StoreError::Invalid(_))
    ));
    // Another client of the same MSP may watch the same value.
    a.add_blocklist_target(w.a2, new_target("mail.example.com"))
        .await
        .unwrap();

    // Reads: the MSP sees both clients, a client admin only its own, another MSP nothing.
    assert_eq!(a.blocklist_targets(None).await.unwrap().len(), 3);
    assert_eq!(a.blocklist_targets(Some(w.a1)).await.unwrap().len(), 2);
    let a2 = db.tenant(w.a2_admin());
    let seen = a2.blocklist_targets(None).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].client_id, w.a2);
    let b = db.tenant(w.b_owner());
    assert!(b.blocklist_targets(None).await.unwrap().is_empty());
    // Writes: another MSP's client is not found; viewers and client admins may not add.
    assert!(matches!(
        b.add_blocklist_target(w.a1, new_target("192.0.2.1")).await,
        Err(StoreError::NotFound)
    ));
    b.add_blocklist_target(w.b1, new_target("192.0.2.1"))
        .await
        .unwrap();
    assert!(matches!(
        db.tenant(w.a_viewer())
            .add_blocklist_target(w.a1, new_target("192.0.2.2"))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        db.tenant(w.a1_admin())
            .add_blocklist_target(w.a1, new_target("192.0.2.2"))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        b.remove_blocklist_target(ip.id).await,
        Err(StoreError::NotFound)
    ));
    a.remove_blocklist_target(ip.id).await.unwrap();
    assert!(matches!(
        a.remove_blocklist_target(ip.id).await,
        Err(StoreError::NotFound)
    ));
    // The monitoring job sees every MSP's targets, or one MSP's.
    let sys = db.system();
    assert_eq!(sys.blocklist_targets(None).await.unwrap().len(), 3);
    assert_eq!(sys.blocklist_targets(Some(w.msp_b)).await.unwrap().len(), 1);
}

async fn checks_open_and_close_listings_and_unknown_never_delists(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let target = a
        .add_blocklist_target(w.a1, new_target("192.0.2.10"))
        .await
        .unwrap();
    use BlocklistVerdict::{Clear, Listed, Unknown};

    // 01:00 listed on zen, clear on spamcop: one new listing.
    let t = record(
        db,
        &target,
        &[observe("zen", Listed), observe("spamcop", Clear)],
        1,
    )
    .await;
    assert_eq!(t.len(), 1);
    let BlocklistTransition::Listed {
        target: tt,
        listing,
    } = &t[0]
    else {
        panic!("{t:?}");
    };
    assert_eq!((tt.id, listing.list_id.as_str()), (target.id, "zen"));
    assert_eq!((listing.since, listing.until), (at(1), None));
    assert_eq!(listing.detail["codes"][0]["meanings"][0], "SBL");

    // 02:00 still listed: no transition; the verdict's since stays, checked_at moves.
    assert!(
        record(db, &target, &[observe("zen", Listed)], 2)
            .await
            .is_empty()
    );
    // 03:00 the list times out: unknown, no delisting, the listing stays open.
    assert!(
        record(
            db,
            &target,
            &[observe("zen", Unknown), observe("spamcop", Unknown)],
            3
        )
        .await
        .is_empty()
    );
    let states = a.blocklist_states(Some(target.id)).await.unwrap();
    let zen = states.iter().find(|s| s.list_id == "zen").unwrap();
    assert_eq!(
        (zen.verdict, zen.since, zen.checked_at),
        (Unknown, at(3), at(3))
    );
    let history = a
        .blocklist_history(target.id, None, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].until, None);

    // 04:00 clear: delisted, the listing closes.
    let t = record(db, &target, &[observe("zen", Clear)], 4).await;
    let [BlocklistTransition::Delisted { listing, .. }] = t.as_slice() else {
        panic!("{t:?}");
    };
    assert_eq!((listing.since, listing.until), (at(1), Some(at(4))));
    // 05:00 and 06:00 listed again: a second listing, opened once.
    assert_eq!(
        record(db, &target, &[observe("zen", Listed)], 5)
            .await
            .len(),
        1
    );
    assert!(
        record(db, &target, &[observe("zen", Listed)], 6)
            .await
            .is_empty()
    );
    let states = a.blocklist_states(Some(target.id)).await.unwrap();
    let zen = states.iter().find(|s| s.list_id == "zen").unwrap();
    assert_eq!(
        (zen.verdict, zen.since, zen.checked_at),
        (Listed, at(5), at(6))
    );

    // History newest first, paged, filterable by list.
    let first = a
        .blocklist_history(target.id, Some("zen"), PageRequest::first(1))
        .await
        .unwrap();
    assert!(first.has_next);
    assert_eq!((first.items[0].since, first.items[0].until), (at(5), None));
    let second = a
        .blocklist_history(
            target.id,
            Some("zen"),
            PageRequest::after(first.items[0].id, 1),
        )
        .await
        .unwrap();
    assert!(!second.has_next);
    assert_eq!(second.items[0].until, Some(at(4)));
    assert!(
        a.blocklist_history(target.id, Some("spamcop"), PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Each transition was written to the outbox with the data.
    let outbox = db.system().outbox_unpublished(100).await.unwrap();
    let topics: Vec<&str> = outbox
        .iter()
        .map(|e| e.topic.as_str())
        .filter(|t| t.starts_with("blocklist."))
        .collect();
    assert_eq!(
        topics,
        ["blocklist.listed", "blocklist.delisted", "blocklist.listed"]
    );

    // Tenants: A1's admin sees it; A2's admin and MSP B do not (history: not found).
    assert_eq!(
        db.tenant(w.a1_admin())
            .blocklist_states(None)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        db.tenant(w.a2_admin())
            .blocklist_states(None)
            .await
            .unwrap()
            .is_empty()
    );
    let b = db.tenant(w.b_owner());
    assert!(
        b.blocklist_states(Some(target.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        b.blocklist_history(target.id, None, PageRequest::first(10))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.tenant(w.a2_admin())
            .blocklist_history(target.id, None, PageRequest::first(10))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn overrides_are_per_msp_and_keys_are_never_read_back_by_tenants(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let set = a
        .set_blocklist_override(
            SetBlocklistOverride {
                list_id: "spamhaus-zen".into(),
                enabled: None,
                patch: None,
                key: KeyChange::Set("dqskey123".into()),
            },
            None,
        )
        .await
        .unwrap();
    assert!(set.has_key);
    assert_eq!(set.enabled, None);
    a.set_blocklist_override(
        SetBlocklistOverride {
            list_id: "own-list".into(),
            enabled: Some(Some(true)),
            patch: Some(Some(json!({"zone": "bl.example.net", "kind": "dnsbl", "rate": {"per_minute": 10, "burst": 2}}))),
            key: KeyChange::Keep,
        },
        None,
    )
    .await
    .unwrap();
    // Switching off keeps the key.
    let off = a
        .set_blocklist_override(
            SetBlocklistOverride {
                list_id: "spamhaus-zen".into(),
                enabled: Some(Some(false)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!((off.enabled, off.has_key), (Some(false), true));

    let listed = db.tenant(w.a_viewer()).blocklist_overrides().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|o| o.list_id.as_str()).collect();
    assert_eq!(ids, ["own-list", "spamhaus-zen"]);
    assert_eq!(listed[0].patch.as_ref().unwrap()["zone"], "bl.example.net");
    let with_keys = db.system().blocklist_overrides(w.msp_a).await.unwrap();
    assert_eq!(with_keys[1].key.as_deref(), Some("dqskey123"));
    assert!(!format!("{with_keys:?}").contains("dqskey123"));
    assert!(
        db.system()
            .blocklist_overrides(w.msp_b)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.tenant(w.b_owner())
            .blocklist_overrides()
            .await
            .unwrap()
            .is_empty()
    );

    // Roles: operators and viewers may not change lists; client users may not read them.
    let change = SetBlocklistOverride {
        list_id: "spamcop".into(),
        enabled: Some(Some(false)),
        ..Default::default()
    };
    for scope in [w.a_operator(), w.a_viewer(), w.a1_admin()] {
        assert!(matches!(
            db.tenant(scope)
                .set_blocklist_override(change.clone(), None)
                .await,
            Err(StoreError::Forbidden(_))
        ));
    }
    assert!(matches!(
        db.tenant(w.a1_admin()).blocklist_overrides().await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        a.set_blocklist_override(
            SetBlocklistOverride {
                list_id: "x".into(),
                patch: Some(Some(json!("not an object"))),
                ..Default::default()
            },
            None
        )
        .await,
        Err(StoreError::Invalid(_))
    ));

    // The key goes; MSP B cannot remove A's override.
    let removed = a
        .set_blocklist_override(
            SetBlocklistOverride {
                list_id: "spamhaus-zen".into(),
                key: KeyChange::Remove,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(!removed.has_key);
    assert!(matches!(
        db.tenant(w.b_owner())
            .remove_blocklist_override("own-list")
            .await,
        Err(StoreError::NotFound)
    ));
    a.remove_blocklist_override("own-list").await.unwrap();
    assert_eq!(a.blocklist_overrides().await.unwrap().len(), 1);
}

async fn removing_a_target_removes_its_verdicts_and_history(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let target = a
        .add_blocklist_target(w.a1, new_target("spam.example"))
        .await
        .unwrap();
    record(db, &target, &[observe("dbl", BlocklistVerdict::Listed)], 1).await;
    a.remove_blocklist_target(target.id).await.unwrap();
    assert!(a.blocklist_states(None).await.unwrap().is_empty());
    assert!(matches!(
        a.blocklist_history(target.id, None, PageRequest::first(10))
            .await,
        Err(StoreError::NotFound)
    ));
    // A check finishing after the removal is refused, not resurrected.
    assert!(matches!(
        db.system()
            .record_blocklist_check(
                &target,
                &[observe("dbl", BlocklistVerdict::Clear)],
                at(2),
                &event
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

/// Raw SQL as `postern_app` without a WHERE clause: the policies alone hide other tenants'
/// rows of the four tables, and every table has forced row security.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_security_hides_other_tenants_blocklist_rows() {
    let db = TestDb::postgres().await;
    let w = World::build(&db).await;
    let a = db.tenant(w.a_owner());
    let target = a
        .add_blocklist_target(w.a1, new_target("192.0.2.77"))
        .await
        .unwrap();
    record(&db, &target, &[observe("zen", BlocklistVerdict::Listed)], 1).await;
    a.set_blocklist_override(
        SetBlocklistOverride {
            list_id: "zen".into(),
            enabled: Some(Some(false)),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let app = Database::connect(db.pg_url(Some("postern_app")).unwrap())
        .await
        .unwrap();
    let tables = [
        "blocklist_override",
        "blocklist_target",
        "blocklist_state",
        "blocklist_listing",
    ];
    let count_as = |msp: MspId, client: Option<ClientId>| {
        let app = &app;
        async move {
            let txn = app.begin().await.unwrap();
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('postern.system', 'off', true), set_config('postern.msp_id', $1, true), \
                 set_config('postern.client_id', $2, true), set_config('postern.operator', 'off', true)",
                [
                    msp.to_string().into(),
                    client.map(|c| c.to_string()).unwrap_or_default().into(),
                ],
            ))
            .await
            .unwrap();
            let mut counts = Vec::new();
            for table in tables {
                let row = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT count(*) AS n FROM {table}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                counts.push(row.try_get::<i64>("", "n").unwrap());
            }
            txn.commit().await.unwrap();
            counts
        }
    };
    assert_eq!(count_as(w.msp_a, None).await, [1, 1, 1, 1]);
    // A1's client transaction sees its rows but not the MSP-wide override.
    assert_eq!(count_as(w.msp_a, Some(w.a1)).await, [0, 1, 1, 1]);
    assert_eq!(count_as(w.msp_a, Some(w.a2)).await, [0, 0, 0, 0]);
    assert_eq!(count_as(w.msp_b, None).await, [0, 0, 0, 0]);
    // Without settings nothing at all.
    let txn = app.begin().await.unwrap();
    for table in tables {
        let row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT count(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{table}");
    }
    txn.commit().await.unwrap();
    let forced = app
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'blocklist\\_%' \
             AND relrowsecurity AND relforcerowsecurity",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        forced.try_get::<i64>("", "n").unwrap(),
        postern_migrations::BLOCKLIST_TENANT_TABLES.len() as i64
    );
    app.close().await.unwrap();
}

async fn found_targets_are_added_once_and_states_are_read_per_client(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let found = |value: &str| NewBlocklistTarget {
        value: value.to_owned(),
        note: "auto: dmarc source of a1.example".to_owned(),
    };
    let first = sys
        .ensure_blocklist_target(w.msp_a, w.a1, found("192.0.2.7"))
        .await
        .unwrap();
    assert_eq!(first.kind, BlocklistTargetKind::Ip);
    assert_eq!(first.note, "auto: dmarc source of a1.example");
    // Asked again (or already configured by people): the same row, its note kept.
    let again = sys
        .ensure_blocklist_target(w.msp_a, w.a1, found("192.0.2.7"))
        .await
        .unwrap();
    assert_eq!(again, first);
    let configured = db
        .tenant(w.a_owner())
        .add_blocklist_target(w.a1, new_target("198.51.100.1"))
        .await
        .unwrap();
    let ensured = sys
        .ensure_blocklist_target(w.msp_a, w.a1, found("198.51.100.1"))
        .await
        .unwrap();
    assert_eq!(ensured, configured);
    assert!(matches!(
        sys.ensure_blocklist_target(w.msp_a, w.a1, found("not a target"))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let other = sys
        .ensure_blocklist_target(w.msp_b, w.b1, found("192.0.2.7"))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    record(db, &first, &[observe("zen", BlocklistVerdict::Listed)], 1).await;
    record(db, &other, &[observe("zen", BlocklistVerdict::Clear)], 1).await;
    let states = sys.blocklist_client_states(w.a1).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].target_id, first.id);
    assert_eq!(states[0].verdict, BlocklistVerdict::Listed);
    assert!(sys.blocklist_client_states(w.a2).await.unwrap().is_empty());
}
