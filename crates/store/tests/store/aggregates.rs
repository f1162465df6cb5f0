//! Daily aggregates: applied once per event, added up, read per tenant only.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at};
use chrono::NaiveDate;
use postern_domain::EventId;
use postern_store::{DailySummary, SourceDelta, StoreError};
use std::net::IpAddr;

on_both_backends!(
    aggregates_of_an_event_are_applied_once_and_added_up,
    summaries_and_sources_of_other_tenants_are_not_found,
    reverse_dns_is_looked_up_once_per_source,
);

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn summary(messages: u64) -> DailySummary {
    DailySummary {
        messages,
        dmarc_pass: messages / 2,
        dmarc_fail: messages - messages / 2,
        spf_aligned_pass: 1,
        dkim_aligned_pass: 2,
        disposition_none: 3,
        disposition_quarantine: 4,
        disposition_reject: 5,
        disposition_pass: 6,
    }
}

fn delta(messages: u64, first: u32, last: u32) -> SourceDelta {
    SourceDelta {
        messages,
        dmarc_pass: messages,
        spf_aligned_pass: 1,
        dkim_aligned_pass: 0,
        first_seen: at(first, 0),
        last_seen: at(last, 0),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn aggregates_of_an_event_are_applied_once_and_added_up(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let d = &w.a1_domain;
    let event = EventId::new();
    // Duplicate keys within one call are merged, not refused.
    let days = [
        (day(3), summary(10)),
        (day(3), summary(4)),
        (day(4), summary(1)),
    ];
    let sources = [
        (day(3), ip("192.0.2.1"), delta(10, 3, 4)),
        (day(3), ip("192.0.2.1"), delta(4, 2, 3)),
        (day(3), ip("2001:db8::1"), delta(3, 3, 3)),
    ];
    assert!(
        sys.apply_aggregates("analysis", event, d, &days, &sources)
            .await
            .unwrap()
    );
    assert!(
        !sys.apply_aggregates("analysis", event, d, &days, &sources)
            .await
            .unwrap()
    );
    // Another consumer keeps its own record of the event.
    assert!(
        sys.apply_aggregates("other", event, d, &[], &[])
            .await
            .unwrap()
    );
    // A later event adds to the counters and widens first/last seen.
    let later = [(day(3), ip("192.0.2.1"), delta(1, 1, 9))];
    assert!(
        sys.apply_aggregates(
            "analysis",
            EventId::new(),
            d,
            &[(day(3), summary(2))],
            &later
        )
        .await
        .unwrap()
    );

    let a1 = db.tenant(w.a1_admin());
    let mut expected = summary(10);
    expected.add(&summary(4));
    expected.add(&summary(2));
    assert_eq!(
        a1.domain_summary(d.id, at(3, 5), at(3, 6)).await.unwrap(),
        expected
    );
    let mut both = expected;
    both.add(&summary(1));
    assert_eq!(
        a1.domain_summary(d.id, at(1, 0), at(30, 0)).await.unwrap(),
        both
    );
    assert_eq!(
        a1.domain_summary(d.id, at(5, 0), at(6, 0)).await.unwrap(),
        DailySummary::default()
    );
    let days = a1.domain_days(d.id, at(1, 0), at(30, 0)).await.unwrap();
    assert_eq!(
        days.iter().map(|s| (s.day, s.summary)).collect::<Vec<_>>(),
        vec![(day(3), expected), (day(4), summary(1))]
    );

    let sources = a1
        .domain_sources(d.id, at(1, 0), at(30, 0), 10)
        .await
        .unwrap();
    assert_eq!(sources.len(), 2);
    let top = &sources[0];
    assert_eq!(
        (
            top.source_ip,
            top.messages,
            top.dmarc_pass,
            top.spf_aligned_pass
        ),
        (ip("192.0.2.1"), 15, 15, 3)
    );
    assert_eq!((top.first_seen, top.last_seen), (at(1, 0), at(9, 0)));
    assert_eq!(top.reverse_dns, None);
    assert_eq!(
        (sources[1].source_ip, sources[1].messages),
        (ip("2001:db8::1"), 3)
    );
    assert_eq!(
        a1.domain_sources(d.id, at(1, 0), at(30, 0), 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn summaries_and_sources_of_other_tenants_are_not_found(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let d = &w.a1_domain;
    sys.apply_aggregates(
        "analysis",
        EventId::new(),
        d,
        &[(day(3), summary(7))],
        &[(day(3), ip("192.0.2.9"), delta(7, 3, 3))],
    )
    .await
    .unwrap();
    for scope in [w.a2_admin(), w.b_owner(), w.b1_admin()] {
        let other = db.tenant(scope);
        assert!(matches!(
            other.domain_summary(d.id, at(1, 0), at(30, 0)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            other.domain_days(d.id, at(1, 0), at(30, 0)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            other.domain_sources(d.id, at(1, 0), at(30, 0), 10).await,
            Err(StoreError::NotFound)
        ));
    }
    // B's own domain shows none of A's numbers.
    let b = db.tenant(w.b_owner());
    assert_eq!(
        b.domain_summary(w.b1_domain.id, at(1, 0), at(30, 0))
            .await
            .unwrap(),
        DailySummary::default()
    );
    assert!(
        b.domain_sources(w.b1_domain.id, at(1, 0), at(30, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.tenant(w.a_viewer())
            .domain_summary(d.id, at(1, 0), at(30, 0))
            .await
            .unwrap()
            .messages,
        7
    );
}

async fn reverse_dns_is_looked_up_once_per_source(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let sources = [
        (day(3), ip("192.0.2.1"), delta(1, 3, 3)),
        (day(4), ip("192.0.2.1"), delta(1, 4, 4)),
        (day(5), ip("192.0.2.2"), delta(1, 5, 5)),
    ];
    sys.apply_aggregates("analysis", EventId::new(), &w.a1_domain, &[], &sources)
        .await
        .unwrap();
    sys.apply_aggregates(
        "analysis",
        EventId::new(),
        &w.b1_domain,
        &[],
        &[(day(6), ip("192.0.2.1"), delta(1, 6, 6))],
    )
    .await
    .unwrap();
    let missing = sys.sources_missing_rdns(10).await.unwrap();
    assert_eq!(
        missing.iter().map(|(_, ip)| *ip).collect::<Vec<_>>(),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );
    assert_eq!(missing[1].0, w.a1_domain.id);
    sys.set_reverse_dns(ip("192.0.2.1"), Some("mail.example.net"), at(20, 0))
        .await
        .unwrap();
    sys.set_reverse_dns(ip("192.0.2.2"), None, at(20, 0))
        .await
        .unwrap();
    assert!(sys.sources_missing_rdns(10).await.unwrap().is_empty());
    sys.set_reverse_dns(ip("192.0.2.2"), Some("later.example.net"), at(21, 0))
        .await
        .unwrap();
    let seen = db
        .tenant(w.a1_admin())
        .domain_sources(w.a1_domain.id, at(1, 0), at(30, 0), 10)
        .await
        .unwrap();
    let names: Vec<_> = seen.iter().map(|s| s.reverse_dns.as_deref()).collect();
    assert_eq!(
        names,
        vec![Some("mail.example.net"), Some("later.example.net")]
    );
}
