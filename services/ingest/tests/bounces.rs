//! Bounce intake against real databases: bounce mail routed by bounce address and by sender
//! domain, unroutable and non-bounce mail kept with reasons, a 10,000-recipient DSN, garbage,
//! delivery events (idempotent, routed by credential or sender domain, never across
//! tenants) and a Postfix log end to end. Each scenario runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, Utc};
use postern_bounce::{DeliveryEvent, DeliveryKind};
use postern_domain::{DomainName, MspId, Role, TenantScope};
use postern_ingest::{
    IngestSettings, Ingestor, MailEnvelope, MailKind, RecipientStatus, RoutedBy, Source,
    parse_postfix_log,
};
use postern_store::testing::TestDb;
use postern_store::{BounceFilter, Client, PageRequest, Store};
use std::sync::Arc;

fn ingestor(store: &Store) -> Ingestor {
    Ingestor::new(
        store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    )
}

struct World {
    msp: MspId,
    acme: Client,
    other_msp: MspId,
}

async fn world(store: &Store) -> World {
    let sys = store.system();
    let msp = sys.create_msp("MSP", true).await.unwrap().id;
    let other_msp = sys.create_msp("Other MSP", false).await.unwrap().id;
    let owner = store.tenant(TenantScope::msp(msp, Role::MspOwner, true));
    let acme = owner.create_client("Acme").await.unwrap();
    owner
        .add_domain(
            acme.id,
            &DomainName::parse("acme.example").unwrap(),
            &|_, _| Vec::new(),
        )
        .await
        .unwrap();
    let other = store.tenant(TenantScope::msp(other_msp, Role::MspOwner, false));
    other.create_client("Elsewhere").await.unwrap();
    World {
        msp,
        acme,
        other_msp,
    }
}

fn acme_admin(w: &World) -> TenantScope {
    TenantScope::client(w.msp, w.acme.id, Role::ClientAdmin)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A Postfix DSN (RFC 3464) for `recipients`, returning the original headers with `from`.
fn dsn(from: &str, recipients: &[String], status: &str) -> Vec<u8> {
    let mut per_recipient = String::new();
    for r in recipients {
        per_recipient.push_str(&format!(
            "Final-Recipient: rfc822; {r}\r\nOriginal-Recipient: rfc822;{r}\r\nAction: failed\r\n\
Status: {status}\r\nRemote-MTA: dns; mx.contoso.example\r\n\
Diagnostic-Code: smtp; 550 {status} <{r}>: Recipient address rejected: User unknown in virtual mailbox table\r\n\r\n"
        ));
    }
    format!(
        "Return-Path: <>\r\nReceived: by mail.acme.example (Postfix)\r\n\
From: MAILER-DAEMON@mail.acme.example (Mail Delivery System)\r\nSubject: Undelivered Mail Returned to Sender\r\n\
To: {from}\r\nDate: Sun, 29 Nov 2026 10:00:05 +0000 (UTC)\r\nMessage-Id: <20261129100005.ABC@mail.acme.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n\
--B1\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
This is the mail system at host mail.acme.example.\r\n\r\nI'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients.\r\n\r\n\
--B1\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mail.acme.example\r\nX-Postfix-Queue-ID: 4F9D21A2B3C\r\nArrival-Date: Sun, 29 Nov 2026 10:00:00 +0000 (UTC)\r\n\r\n\
{per_recipient}--B1\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n\
Return-Path: <{from}>\r\nFrom: Acme News <{from}>\r\nTo: someone@contoso.example\r\nSubject: November news\r\n\
Message-Id: <news-1@acme.example>\r\n\r\n--B1--\r\n"
    )
    .into_bytes()
}

fn envelope(rcpt: &str) -> MailEnvelope {
    MailEnvelope {
        mail_from: None,
        rcpt_to: vec![rcpt.to_owned()],
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = postern_store::testing::TestDb::open(postern_store::Backend::Sqlite).await;
                super::$scenario(&db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = postern_store::testing::TestDb::open(postern_store::Backend::Postgres).await;
                super::$scenario(&db).await;
            }
        }
    )*};
}

on_both_backends!(
    bounce_address_routes_and_hard_bounces_are_suppressed_once,
    sender_domain_routes_when_there_is_no_bounce_address,
    unroutable_bounces_are_kept_unassigned_with_the_reason,
    mail_that_is_not_a_bounce_and_garbage_are_kept_with_reasons,
    a_dsn_with_ten_thousand_recipients_is_stored_whole,
    delivery_events_are_idempotent_and_routed_by_credential_or_sender,
    events_never_cross_into_another_tenant,
    postfix_log_gives_bounces_and_send_volume,
);

async fn bounce_address_routes_and_hard_bounces_are_suppressed_once(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let key = db.store.system().bounce_key(w.acme.id).await.unwrap();
    // The sender domain belongs to nobody: the bounce address alone routes it.
    let bytes = dsn(
        "news@unregistered.example",
        &["gone@contoso.example".to_owned()],
        "5.1.1",
    );
    let rcpt = format!("bounces+{key}@intake.postern.example");
    let intake = ing
        .ingest_bounce_mail(
            bytes.clone(),
            &envelope(&rcpt),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.kind, MailKind::Bounce);
    assert_eq!(intake.routed_by, Some(RoutedBy::BounceAddress));
    assert_eq!(intake.client_id, Some(w.acme.id));
    assert_eq!((intake.stored, intake.suppressed), (1, 1));
    let r = &intake.recipients[0];
    assert_eq!(r.recipient, "gone@contoso.example");
    assert_eq!(r.reason, "userunknown");
    assert!(r.hard);

    let acme = db.store.tenant(acme_admin(&w));
    assert!(
        acme.is_suppressed(None, "gone@contoso.example")
            .await
            .unwrap()
    );
    let stored = acme
        .list_bounces(&BounceFilter::default(), PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1);
    let b = &stored.items[0];
    assert_eq!(b.provider, "mail");
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(b.raw_input_id, intake.input.id);
    assert_eq!(b.sender_domain.as_deref(), Some("unregistered.example"));
    let events = db.store.system().outbox_unpublished(10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.topic == "bounces.received")
            .count(),
        1
    );

    // The same message again: one copy of the bytes, a duplicate, no new event.
    let again = ing
        .ingest_bounce_mail(bytes, &envelope(&rcpt), Source::Mail("test".into()), now())
        .await
        .unwrap();
    assert!(again.input.already_stored);
    assert_eq!((again.stored, again.duplicates), (0, 1));
    assert_eq!(again.recipients[0].status, RecipientStatus::Duplicate);
    let events = db.store.system().outbox_unpublished(10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.topic == "bounces.received")
            .count(),
        1
    );
}

async fn sender_domain_routes_when_there_is_no_bounce_address(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    // A subdomain of the registered acme.example, and an intake address without a key.
    let bytes = dsn(
        "news@mail.acme.example",
        &["full@fabrikam.example".to_owned()],
        "5.2.2",
    );
    let intake = ing
        .ingest_bounce_mail(
            bytes,
            &envelope("bounces@intake.postern.example"),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.routed_by, Some(RoutedBy::SenderDomain));
    assert_eq!(intake.client_id, Some(w.acme.id));
    assert_eq!(intake.stored, 1);
    assert!(!intake.recipients[0].hard);
    assert_eq!(intake.suppressed, 0);
    let acme = db.store.tenant(acme_admin(&w));
    let stored = acme
        .list_bounces(&BounceFilter::default(), PageRequest::first(5))
        .await
        .unwrap();
    assert!(stored.items[0].domain_id.is_some());
    assert!(
        !acme
            .is_suppressed(None, "full@fabrikam.example")
            .await
            .unwrap()
    );
}

async fn unroutable_bounces_are_kept_unassigned_with_the_reason(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let bytes = dsn(
        "news@nobody.example",
        &["gone@contoso.example".to_owned()],
        "5.1.1",
    );
    let intake = ing
        .ingest_bounce_mail(
            bytes,
            &envelope("bounces+0000000000000000@intake.postern.example"),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.client_id, None);
    assert_eq!(intake.unassigned, 1);
    let reason = intake.unassigned_reason.unwrap();
    assert!(reason.contains("unknown bounce address key"), "{reason}");
    assert!(reason.contains("nobody.example"), "{reason}");
    // The operator sees it; the client does not, and nothing is suppressed for anyone.
    let operator = db
        .store
        .tenant(TenantScope::msp(w.msp, Role::MspOwner, true));
    assert_eq!(
        operator
            .count_bounces(&BounceFilter::default())
            .await
            .unwrap(),
        1
    );
    let acme = db.store.tenant(acme_admin(&w));
    assert_eq!(
        acme.count_bounces(&BounceFilter::default()).await.unwrap(),
        0
    );
}

async fn mail_that_is_not_a_bounce_and_garbage_are_kept_with_reasons(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let plain =
        b"From: alice@acme.example\r\nTo: bob@contoso.example\r\nSubject: lunch?\r\n\r\nNoon?\r\n"
            .to_vec();
    let intake = ing
        .ingest_bounce_mail(
            plain,
            &envelope("bounces@intake.postern.example"),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.kind, MailKind::NotABounce);
    assert_eq!(intake.reason.as_deref(), Some("not_a_bounce"));
    assert!(intake.recipients.is_empty());
    let raw = db.store.system().raw_input(intake.input.id).await.unwrap();
    assert_eq!(raw.source, "mail:test");

    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let intake = ing
        .ingest_bounce_mail(
            garbage.clone(),
            &envelope("bounces@intake.postern.example"),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_ne!(intake.kind, MailKind::Bounce);
    assert!(intake.reason.is_some());
    let raw = db.store.system().raw_input(intake.input.id).await.unwrap();
    assert_eq!(raw.size, garbage.len() as u64);
    let empty = ing
        .ingest_bounce_mail(
            Vec::new(),
            &MailEnvelope::default(),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(empty.kind, MailKind::Unreadable);
    assert_eq!(empty.reason.as_deref(), Some("empty"));
    // The operator's rejection list names them.
    let operator = db
        .store
        .tenant(TenantScope::msp(w.msp, Role::MspOwner, true));
    let rejections = operator.rejections(PageRequest::first(10)).await.unwrap();
    assert!(rejections.items.iter().any(|r| r.reason == "not_a_bounce"));
    assert!(rejections.items.iter().any(|r| r.reason == "empty"));
}

async fn a_dsn_with_ten_thousand_recipients_is_stored_whole(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let recipients: Vec<String> = (0..10_000)
        .map(|i| format!("user{i}@contoso.example"))
        .collect();
    let bytes = dsn("news@acme.example", &recipients, "5.1.1");
    let intake = ing
        .ingest_bounce_mail(
            bytes,
            &envelope("x@intake.example"),
            Source::Mail("test".into()),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.client_id, Some(w.acme.id));
    assert_eq!(intake.stored, 10_000);
    assert_eq!(intake.suppressed, 10_000);
    let acme = db.store.tenant(acme_admin(&w));
    assert_eq!(
        acme.count_bounces(&BounceFilter::default()).await.unwrap(),
        10_000
    );
    assert!(
        acme.is_suppressed(None, "user9999@contoso.example")
            .await
            .unwrap()
    );
}

fn event(kind: DeliveryKind, recipient: &str, sender: &str, id: &str) -> DeliveryEvent {
    DeliveryEvent {
        kind,
        recipient: recipient.to_owned(),
        sender: Some(sender.to_owned()),
        time: now(),
        bounce: None,
        message_id: Some("m-1@acme.example".to_owned()),
        sending_ip: Some("192.0.2.10".to_owned()),
        campaign: Some("november".to_owned()),
        provider: "ses",
        provider_event_id: Some(id.to_owned()),
    }
}

async fn delivery_events_are_idempotent_and_routed_by_credential_or_sender(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let events = vec![
        event(
            DeliveryKind::Delivered,
            "a@contoso.example",
            "news@acme.example",
            "e1",
        ),
        event(
            DeliveryKind::Delivered,
            "b@contoso.example",
            "news@acme.example",
            "e2",
        ),
        event(
            DeliveryKind::Complained,
            "c@contoso.example",
            "news@acme.example",
            "e3",
        ),
        event(
            DeliveryKind::Bounced,
            "not-an-address",
            "news@acme.example",
            "e4",
        ),
    ];
    let raw = br#"{"sns":"payload"}"#.to_vec();
    let intake = ing
        .ingest_delivery_events(
            None,
            Source::Esp("ses".into()),
            raw.clone(),
            events.clone(),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.delivered, 2);
    assert_eq!(intake.stored, 1);
    assert_eq!(intake.skipped, 1);
    assert_eq!(intake.suppressed, 1);
    assert_eq!(intake.clients, vec![w.acme.id]);
    let acme = db.store.tenant(acme_admin(&w));
    assert!(acme.is_suppressed(None, "c@contoso.example").await.unwrap());
    let complaint = acme
        .list_bounces(&BounceFilter::default(), PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(complaint.items[0].reason, "feedback");
    assert_eq!(complaint.items[0].campaign.as_deref(), Some("november"));

    // Again: every event is a duplicate and the volume does not grow.
    let again = ing
        .ingest_delivery_events(None, Source::Esp("ses".into()), raw, events, now())
        .await
        .unwrap();
    assert_eq!((again.delivered, again.stored, again.duplicates), (0, 0, 3));
    let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let volume = acme.send_volume(None, day, day).await.unwrap();
    assert_eq!(volume.len(), 1);
    assert_eq!((volume[0].delivered, volume[0].complaints), (2, 1));

    // A client credential routes events with a foreign sender domain to its own client.
    let scoped = ing
        .ingest_delivery_events(
            Some(acme_admin(&w)),
            Source::Esp("ses".into()),
            b"second".to_vec(),
            vec![event(
                DeliveryKind::Delivered,
                "d@contoso.example",
                "x@elsewhere.example",
                "e5",
            )],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(scoped.clients, vec![w.acme.id]);
    assert_eq!(scoped.events[0].client_id, Some(w.acme.id));
}

async fn events_never_cross_into_another_tenant(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    // MSP B's credential reports a bounce for a sender domain that MSP A's client owns.
    let foreign = TenantScope::msp(w.other_msp, Role::MspOwner, false);
    let intake = ing
        .ingest_delivery_events(
            Some(foreign),
            Source::Esp("ses".into()),
            b"foreign".to_vec(),
            vec![event(
                DeliveryKind::Bounced,
                "a@contoso.example",
                "news@acme.example",
                "f1",
            )],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(intake.unassigned, 1);
    assert!(intake.clients.is_empty());
    assert!(
        intake.events[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("does not reach")
    );
    let acme = db.store.tenant(acme_admin(&w));
    assert_eq!(
        acme.count_bounces(&BounceFilter::default()).await.unwrap(),
        0
    );
    let b = db.store.tenant(foreign);
    assert_eq!(b.count_bounces(&BounceFilter::default()).await.unwrap(), 0);
}

const POSTFIX_LOG: &str = "\
Nov 29 10:00:00 mail postfix/qmgr[1100]: 4F9D21A2B3C: from=<news@acme.example>, size=2345, nrcpt=3 (queue active)
Nov 29 10:00:01 mail postfix/smtp[1203]: 4F9D21A2B3C: to=<gone@contoso.example>, relay=contoso-example.mail.protection.outlook.com[52.101.0.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host contoso-example.mail.protection.outlook.com[52.101.0.1] said: 550 5.1.1 <gone@contoso.example>: Recipient address rejected: User unknown (in reply to RCPT TO command))
Nov 29 10:00:01 mail postfix/smtp[1203]: 4F9D21A2B3C: to=<alice@fabrikam.example>, relay=mx.fabrikam.example[198.51.100.7]:25, delay=0.9, dsn=2.0.0, status=sent (250 2.0.0 OK)
Nov 29 10:00:02 mail postfix/smtp[1204]: 4F9D21A2B3C: to=<bob@slow.example>, relay=none, delay=30, dsn=4.4.1, status=deferred (connect to mx.slow.example[203.0.113.9]:25: Connection timed out)
Nov 29 10:05:00 mail postfix/qmgr[1100]: 5B0E32B3C4D: from=<someone@unknown-sender.example>, size=999, nrcpt=1 (queue active)
Nov 29 10:05:01 mail postfix/smtp[1205]: 5B0E32B3C4D: to=<x@contoso.example>, relay=mx.contoso.example[192.0.2.3]:25, delay=1, dsn=2.0.0, status=sent (250 ok)
";

async fn postfix_log_gives_bounces_and_send_volume(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let log = parse_postfix_log(POSTFIX_LOG, now());
    assert_eq!(log.events.len(), 4);
    let intake = ing
        .ingest_delivery_events(
            None,
            Source::Import("postfix:test.log".into()),
            POSTFIX_LOG.as_bytes().to_vec(),
            log.events.clone(),
            now(),
        )
        .await
        .unwrap();
    // Two deliveries counted (one for nobody's domain counts nothing for a client), one
    // bounce and one deferral stored for Acme.
    assert_eq!(intake.delivered, 2);
    assert_eq!(intake.stored, 2);
    assert_eq!(intake.suppressed, 1);
    let acme = db.store.tenant(acme_admin(&w));
    assert!(
        acme.is_suppressed(None, "gone@contoso.example")
            .await
            .unwrap()
    );
    let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let volume = acme.send_volume(None, day, day).await.unwrap();
    assert_eq!(volume.len(), 1);
    assert_eq!(volume[0].provider, "postfix");
    assert_eq!(
        (volume[0].delivered, volume[0].bounced, volume[0].deferred),
        (1, 1, 1)
    );
    let hard = acme
        .list_bounces(
            &BounceFilter {
                hard: Some(true),
                ..BounceFilter::default()
            },
            PageRequest::first(5),
        )
        .await
        .unwrap();
    assert_eq!(hard.items.len(), 1);
    assert_eq!(hard.items[0].provider, "postfix");
    assert_eq!(hard.items[0].reply_code, Some(550));
    assert_eq!(hard.items[0].command.as_deref(), Some("RCPT"));
    // Importing the same log again changes nothing.
    let again = ing
        .ingest_delivery_events(
            None,
            Source::Import("postfix:test.log".into()),
            POSTFIX_LOG.as_bytes().to_vec(),
            log.events,
            now(),
        )
        .await
        .unwrap();
    assert_eq!((again.delivered, again.stored), (0, 0));
    let volume = acme.send_volume(None, day, day).await.unwrap();
    assert_eq!(volume[0].delivered, 1);
}
