//! Bounces, send volume and suppression lists: idempotent batches, immediate suppression,
//! explicit restore, and the tenant walls around all of it.

use crate::support::{TestDb, World, at, event, on_both_backends};
use chrono::{NaiveDate, TimeDelta};
use postern_domain::{ClientId, Role, TenantScope, UserId};
use postern_store::{
    BounceBatch, BounceFilter, BounceGroupBy, BounceKind, BounceOwner, NewBounce, NewDelivery,
    PageRequest, StoreError, SuppressionFilter,
};
use uuid::Uuid;

on_both_backends!(
    batches_store_bounces_once_and_suppress_hard_ones,
    deliveries_count_once_into_send_volume,
    restore_needs_a_reason_and_a_new_hard_bounce_suppresses_again,
    suppression_lists_stop_at_the_tenant_wall,
    unassigned_bounces_are_seen_only_by_the_operator,
    bounce_groups_count_by_recipient_domain,
    bounce_groups_count_by_campaign_and_sending_address,
    bounce_keys_are_made_once_and_route_back,
);

fn owner(w: &World, client: &postern_store::Client) -> BounceOwner {
    BounceOwner {
        msp_id: client.msp_id,
        client_id: client.id,
        domain_id: if client.id == w.a1.id {
            Some(w.a1_domain.id)
        } else {
            None
        },
    }
}

fn bounce(owner: Option<BounceOwner>, recipient: &str, reason: &str, hard: bool) -> NewBounce {
    let domain = recipient.rsplit_once('@').unwrap().1.to_owned();
    NewBounce {
        id: Uuid::now_v7(),
        owner,
        unassigned_reason: owner
            .is_none()
            .then(|| "no client owns x.example".to_owned()),
        kind: BounceKind::Bounced,
        recipient: recipient.to_owned(),
        recipient_domain: domain,
        status: Some(if hard { "5.1.1" } else { "4.2.2" }.to_owned()),
        reply_code: Some(if hard { 550 } else { 452 }),
        diagnostic: "550 5.1.1 user unknown".to_owned(),
        remote_host: Some("mx.example".to_owned()),
        reporting_mta: None,
        time: at(29, 10),
        original_message_id: Some("m1@a1.example".to_owned()),
        sending_ip: Some("192.0.2.1".to_owned()),
        command: Some("RCPT".to_owned()),
        action: Some("failed".to_owned()),
        evidence: None,
        feedback_type: None,
        hard,
        reason: reason.to_owned(),
        provider: "mail".to_owned(),
        provider_event_id: None,
        campaign: None,
        sender_domain: Some("a1.example".to_owned()),
        dedup_key: format!("test:{recipient}:{reason}"),
        suppress: hard,
        count_volume: false,
    }
}

async fn raw(db: &TestDb, bytes: &[u8]) -> postern_domain::RawInputId {
    db.system()
        .store_raw_input(bytes, "test", None, at(29, 10))
        .await
        .unwrap()
        .0
}

fn batch(raw: postern_domain::RawInputId, bounces: Vec<NewBounce>) -> BounceBatch {
    BounceBatch {
        raw_input_id: raw,
        received_at: at(29, 11),
        bounces,
        deliveries: Vec::new(),
    }
}

async fn batches_store_bounces_once_and_suppress_hard_ones(db: &TestDb) {
    let w = World::build(db).await;
    let o = Some(owner(&w, &w.a1));
    let raw = raw(db, b"dsn").await;
    let first = batch(
        raw,
        vec![
            bounce(o, "gone@contoso.example", "userunknown", true),
            bounce(o, "full@contoso.example", "mailboxfull", false),
        ],
    );
    let outcome = db
        .system()
        .store_bounces(&first, |o| {
            Some(event(&format!("stored {}", o.stored.len())))
        })
        .await
        .unwrap();
    assert_eq!(outcome.stored.len(), 2);
    assert_eq!(outcome.suppressed, 1);
    // The same bounces again (new ids, same dedup keys): duplicates, no event, no change.
    let again = batch(
        raw,
        vec![
            bounce(o, "gone@contoso.example", "userunknown", true),
            bounce(o, "full@contoso.example", "mailboxfull", false),
        ],
    );
    let mut called = false;
    let outcome = db
        .system()
        .store_bounces(&again, |o| {
            called = true;
            assert!(o.stored.is_empty());
            None
        })
        .await
        .unwrap();
    assert!(called);
    assert_eq!(outcome.duplicates.len(), 2);
    assert_eq!(outcome.suppressed, 0);

    let a1 = db.tenant(w.a1_admin());
    let page = a1
        .list_bounces(&BounceFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].client_id, Some(w.a1.id));
    assert_eq!(page.items[0].domain_id, Some(w.a1_domain.id));
    let hard = BounceFilter {
        hard: Some(true),
        ..BounceFilter::default()
    };
    assert_eq!(a1.count_bounces(&hard).await.unwrap(), 1);
    assert!(
        a1.is_suppressed(None, "Gone@Contoso.example")
            .await
            .unwrap()
    );
    assert!(
        !a1.is_suppressed(None, "full@contoso.example")
            .await
            .unwrap()
    );
    let unassigned = db.system().outbox_unpublished(10).await.unwrap();
    assert_eq!(
        unassigned.iter().filter(|e| e.topic == "stored 2").count(),
        1
    );
}

async fn deliveries_count_once_into_send_volume(db: &TestDb) {
    let w = World::build(db).await;
    let o = Some(owner(&w, &w.a1));
    let raw = raw(db, b"postfix log").await;
    let delivery = |key: &str| NewDelivery {
        dedup_key: key.to_owned(),
        owner: o,
        sender_domain: Some("a1.example".to_owned()),
        provider: "postfix".to_owned(),
        time: at(29, 9),
    };
    let mut deferred = bounce(o, "slow@fabrikam.example", "expired", false);
    deferred.kind = BounceKind::Deferred;
    deferred.count_volume = true;
    deferred.provider = "postfix".to_owned();
    let mut b = batch(raw, vec![deferred]);
    b.deliveries = vec![delivery("p:1"), delivery("p:2"), delivery("p:2")];
    let outcome = db.system().store_bounces(&b, |_| None).await.unwrap();
    assert_eq!(
        (outcome.deliveries_new, outcome.deliveries_duplicate),
        (2, 1)
    );
    let outcome = db.system().store_bounces(&b, |_| None).await.unwrap();
    assert_eq!(
        (outcome.deliveries_new, outcome.deliveries_duplicate),
        (0, 3)
    );

    let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let volume = db
        .tenant(w.a_owner())
        .send_volume(Some(w.a1.id), day, day)
        .await
        .unwrap();
    assert_eq!(volume.len(), 1);
    assert_eq!((volume[0].delivered, volume[0].deferred), (2, 1));
    assert_eq!(volume[0].provider, "postfix");
    // Another client of the same MSP sees none of it.
    let other = db
        .tenant(w.a2_admin())
        .send_volume(None, day, day)
        .await
        .unwrap();
    assert!(other.is_empty());
}

async fn restore_needs_a_reason_and_a_new_hard_bounce_suppresses_again(db: &TestDb) {
    let w = World::build(db).await;
    let a1 = db.tenant(w.a1_admin());
    let user = Some(UserId::new());
    let row = a1
        .suppress_address(Some(w.a1.id), "<Jane@Example.com>", "asked to stop", user)
        .await
        .unwrap();
    assert_eq!(row.address, "jane@example.com");
    assert!(row.is_active());
    assert!(matches!(
        a1.restore_suppressed(None, "jane@example.com", "  ", user)
            .await
            .unwrap_err(),
        StoreError::Invalid(_)
    ));
    let restored = a1
        .restore_suppressed(None, "jane@example.com", "mailbox re-created", user)
        .await
        .unwrap();
    assert!(!restored.is_active());
    assert_eq!(
        restored.restore_reason.as_deref(),
        Some("mailbox re-created")
    );
    assert!(!a1.is_suppressed(None, "jane@example.com").await.unwrap());
    // Restoring what is not suppressed is not found.
    assert!(matches!(
        a1.restore_suppressed(None, "jane@example.com", "again", user)
            .await
            .unwrap_err(),
        StoreError::NotFound
    ));
    // A new hard bounce puts it back.
    let raw = raw(db, b"second dsn").await;
    let o = Some(owner(&w, &w.a1));
    let outcome = db
        .system()
        .store_bounces(
            &batch(
                raw,
                vec![bounce(o, "jane@example.com", "userunknown", true)],
            ),
            |_| None,
        )
        .await
        .unwrap();
    assert_eq!(outcome.suppressed, 1);
    assert!(a1.is_suppressed(None, "jane@example.com").await.unwrap());
    let list = a1
        .list_suppressions(&SuppressionFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].reason, "userunknown");
    let history = a1.suppression_history(list.items[0].id).await.unwrap();
    let actions: Vec<_> = history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["suppressed", "restored", "suppressed"]);
    assert_eq!(history[0].actor_id, user);
    assert!(history[2].bounce_id.is_some());
    // Malformed addresses are refused with a reason.
    assert!(matches!(
        a1.suppress_address(None, "not an address", "x", None)
            .await
            .unwrap_err(),
        StoreError::Invalid(_)
    ));
}

async fn suppression_lists_stop_at_the_tenant_wall(db: &TestDb) {
    let w = World::build(db).await;
    let a1 = db.tenant(w.a1_admin());
    a1.suppress_address(None, "x@y.example", "test", None)
        .await
        .unwrap();
    // Another MSP, and another client of the same MSP: not found, never the data.
    for scope in [w.b_owner(), w.b1_admin(), w.a2_admin()] {
        let other = db.tenant(scope);
        assert!(matches!(
            other.is_suppressed(Some(w.a1.id), "x@y.example").await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            other
                .suppress_address(Some(w.a1.id), "z@y.example", "x", None)
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            other
                .restore_suppressed(Some(w.a1.id), "x@y.example", "x", None)
                .await,
            Err(StoreError::NotFound)
        ));
        let list = other
            .list_suppressions(&SuppressionFilter::default(), PageRequest::first(10))
            .await
            .unwrap();
        assert!(list.items.is_empty());
    }
    // Viewers read but do not write.
    let viewer = db.tenant(TenantScope::client(w.msp_a, w.a1.id, Role::ClientViewer));
    assert!(viewer.is_suppressed(None, "x@y.example").await.unwrap());
    assert!(matches!(
        viewer
            .restore_suppressed(None, "x@y.example", "x", None)
            .await,
        Err(StoreError::Forbidden(_))
    ));
    // An MSP-wide credential must name the client.
    assert!(matches!(
        db.tenant(w.a_owner())
            .is_suppressed(None, "x@y.example")
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(
        db.tenant(w.a_owner())
            .is_suppressed(Some(w.a1.id), "x@y.example")
            .await
            .unwrap()
    );
    // A client id that does not exist is not found either.
    assert!(matches!(
        db.tenant(w.a_owner())
            .is_suppressed(Some(ClientId::new()), "x@y.example")
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn unassigned_bounces_are_seen_only_by_the_operator(db: &TestDb) {
    let w = World::build(db).await;
    let raw = raw(db, b"unrouted").await;
    db.system()
        .store_bounces(
            &batch(raw, vec![bounce(None, "a@x.example", "userunknown", true)]),
            |_| None,
        )
        .await
        .unwrap();
    let operator = db
        .tenant(w.a_owner())
        .list_bounces(&BounceFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(operator.items.len(), 1);
    assert_eq!(operator.items[0].client_id, None);
    assert_eq!(
        operator.items[0].unassigned_reason.as_deref(),
        Some("no client owns x.example")
    );
    for scope in [w.b_owner(), w.a1_admin(), w.a_viewer()] {
        let seen = db
            .tenant(scope)
            .count_bounces(&BounceFilter::default())
            .await
            .unwrap();
        assert_eq!(seen, 0);
    }
}

async fn bounce_groups_count_by_recipient_domain(db: &TestDb) {
    let w = World::build(db).await;
    let o = Some(owner(&w, &w.a1));
    let raw = raw(db, b"many").await;
    let mut bounces = vec![
        bounce(o, "a@contoso.example", "userunknown", true),
        bounce(o, "b@contoso.example", "userunknown", true),
        bounce(o, "c@contoso.example", "blocked", false),
        bounce(o, "d@fabrikam.example", "mailboxfull", false),
    ];
    let mut b2 = bounce(
        Some(owner(&w, &w.a2)),
        "e@contoso.example",
        "userunknown",
        true,
    );
    b2.dedup_key = "other client".into();
    bounces.push(b2);
    db.system()
        .store_bounces(&batch(raw, bounces), |_| None)
        .await
        .unwrap();
    let since = at(29, 0);
    let until = since + TimeDelta::days(1);
    let groups = db
        .tenant(w.a1_admin())
        .bounce_groups(None, since, until, 10)
        .await
        .unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].recipient_domain, "contoso.example");
    assert_eq!((groups[0].total, groups[0].hard, groups[0].soft), (3, 2, 1));
    assert_eq!(groups[0].reasons[0].reason, "userunknown");
    assert_eq!(groups[0].reasons[0].count, 2);
    assert_eq!(groups[1].recipient_domain, "fabrikam.example");
    // The MSP sees both clients; narrowed to A2 only its bounce.
    let a2 = db
        .tenant(w.a_owner())
        .bounce_groups(Some(w.a2.id), since, until, 10)
        .await
        .unwrap();
    assert_eq!(a2.len(), 1);
    assert_eq!(a2[0].total, 1);
    // Outside the window: nothing.
    let later = db
        .tenant(w.a_owner())
        .bounce_groups(None, until, until + TimeDelta::days(1), 10)
        .await
        .unwrap();
    assert!(later.is_empty());
    let b = db
        .tenant(w.b_owner())
        .bounce_groups(None, since, until, 10)
        .await
        .unwrap();
    assert!(b.is_empty());
}

async fn bounce_groups_count_by_campaign_and_sending_address(db: &TestDb) {
    let w = World::build(db).await;
    let o = Some(owner(&w, &w.a1));
    let raw = raw(db, b"campaigns").await;
    let with = |recipient: &str, reason: &str, campaign: Option<&str>, ip: Option<&str>| {
        let mut b = bounce(o, recipient, reason, true);
        b.campaign = campaign.map(str::to_owned);
        b.sending_ip = ip.map(str::to_owned);
        b
    };
    let bounces = vec![
        with(
            "a@contoso.example",
            "userunknown",
            Some("spring"),
            Some("192.0.2.1"),
        ),
        with(
            "b@fabrikam.example",
            "blocked",
            Some("spring"),
            Some("192.0.2.1"),
        ),
        with(
            "c@fabrikam.example",
            "blocked",
            Some("spring"),
            Some("192.0.2.2"),
        ),
        with("d@contoso.example", "userunknown", None, None),
    ];
    db.system()
        .store_bounces(&batch(raw, bounces), |_| None)
        .await
        .unwrap();
    let since = at(29, 0);
    let until = since + TimeDelta::days(1);
    let tenant = db.tenant(w.a1_admin());
    let campaigns = tenant
        .bounce_groups_by(None, since, until, 10, BounceGroupBy::Campaign)
        .await
        .unwrap();
    assert_eq!(campaigns.len(), 2);
    assert_eq!(campaigns[0].key.as_deref(), Some("spring"));
    assert_eq!(
        (
            campaigns[0].total,
            campaigns[0].addresses,
            campaigns[0].recipient_domains
        ),
        (3, 3, 2)
    );
    assert_eq!(campaigns[0].reasons[0].reason, "blocked");
    assert_eq!(campaigns[0].reasons[0].count, 2);
    assert_eq!(campaigns[0].recipient_domain, "");
    assert_eq!(campaigns[1].key, None);
    assert_eq!(campaigns[1].total, 1);
    let sources = tenant
        .bounce_groups_by(None, since, until, 1, BounceGroupBy::SendingIp)
        .await
        .unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].key.as_deref(), Some("192.0.2.1"));
    assert_eq!((sources[0].total, sources[0].recipient_domains), (2, 2));
    assert_eq!(sources[0].remote_host.as_deref(), Some("mx.example"));
    // Another tenant sees none of it.
    let b = db
        .tenant(w.b_owner())
        .bounce_groups_by(None, since, until, 10, BounceGroupBy::Campaign)
        .await
        .unwrap();
    assert!(b.is_empty());
}

async fn bounce_keys_are_made_once_and_route_back(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let key = sys.bounce_key(w.a1.id).await.unwrap();
    assert_eq!(key.len(), 16);
    assert_eq!(sys.bounce_key(w.a1.id).await.unwrap(), key);
    assert_ne!(sys.bounce_key(w.b1.id).await.unwrap(), key);
    let client = sys
        .client_for_bounce_key(&key.to_uppercase())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.id, w.a1.id);
    assert!(sys.client_for_bounce_key("nope").await.unwrap().is_none());
    // Through a tenant: its own client's key; another tenant's client is not found.
    assert_eq!(db.tenant(w.a1_admin()).bounce_key(None).await.unwrap(), key);
    assert!(matches!(
        db.tenant(w.b_owner()).bounce_key(Some(w.a1.id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sys.bounce_key(ClientId::new()).await,
        Err(StoreError::NotFound)
    ));
}

/// PostgreSQL: the bounce tables have forced row-level security, so the app role without
/// tenant settings sees none of their rows even with a query that has no WHERE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounce_tables_are_behind_row_level_security() {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let db = TestDb::postgres().await;
    let w = World::build(&db).await;
    db.tenant(w.a1_admin())
        .suppress_address(None, "x@y.example", "test", None)
        .await
        .unwrap();
    let raw = raw(&db, b"rls").await;
    let o = Some(owner(&w, &w.a1));
    db.system()
        .store_bounces(
            &batch(
                raw,
                vec![bounce(o, "a@contoso.example", "userunknown", true)],
            ),
            |_| None,
        )
        .await
        .unwrap();
    let app = Database::connect(db.pg_url(Some("postern_app")).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = postern_migrations::BOUNCE_TENANT_TABLES
        .iter()
        .map(|(t, _)| format!("'{t}'"))
        .collect();
    let forced = app
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM pg_class WHERE relname IN ({}) \
                 AND relrowsecurity AND relforcerowsecurity",
                names.join(",")
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        forced.try_get::<i64>("", "n").unwrap(),
        postern_migrations::BOUNCE_TENANT_TABLES.len() as i64
    );
    for (table, _) in postern_migrations::BOUNCE_TENANT_TABLES {
        let row = app
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT count(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{table}");
    }
    app.close().await.unwrap();
}
