//! DNS posture snapshots: stored per domain, newest first, visible only within the tenant;
//! DKIM selectors learned from the domain's own aggregate records.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, aggregate, at, header, record};
use postern_domain::{DkimAuthResult, DkimResult};
use postern_store::{NewDnsSnapshot, PageRequest, StoreError};
use std::collections::BTreeMap;

on_both_backends!(
    snapshots_are_kept_per_domain_newest_first_within_the_tenant,
    dkim_selectors_come_from_the_domains_own_signatures,
);

fn snapshot(day: u32, dmarc: &str) -> NewDnsSnapshot {
    let mut summary = BTreeMap::new();
    summary.insert("spf".to_owned(), "pass".to_owned());
    summary.insert("dmarc".to_owned(), dmarc.to_owned());
    NewDnsSnapshot {
        checked_at: at(day, 0),
        summary,
        report: serde_json::json!({ "checks": [{ "check": "dmarc", "status": dmarc }] }),
        changes: serde_json::json!([]),
        queries: 12,
    }
}

async fn snapshots_are_kept_per_domain_newest_first_within_the_tenant(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    assert_eq!(sys.latest_dns_snapshot(w.a1_domain.id).await.unwrap(), None);
    sys.record_dns_snapshot(&w.a1_domain, snapshot(1, "warn"))
        .await
        .unwrap();
    let second = sys
        .record_dns_snapshot(&w.a1_domain, snapshot(2, "pass"))
        .await
        .unwrap();
    sys.record_dns_snapshot(&w.b1_domain, snapshot(2, "missing"))
        .await
        .unwrap();
    assert_eq!(
        sys.latest_dns_snapshot(w.a1_domain.id).await.unwrap(),
        Some(second.clone())
    );
    let last = sys
        .last_dns_checks(&[w.a1_domain.id, w.a2_domain.id, w.b1_domain.id])
        .await
        .unwrap();
    assert_eq!(last.len(), 2, "a2 was never checked");
    assert_eq!(last[&w.a1_domain.id], at(2, 0));

    let a1 = db.tenant(w.a1_admin());
    let current = a1.dns_posture(w.a1_domain.id).await.unwrap().unwrap();
    assert_eq!(current.summary["dmarc"], "pass");
    assert_eq!(current.queries, 12);
    assert_eq!(current.report["checks"][0]["status"], "pass");
    let history = a1
        .dns_history(w.a1_domain.id, PageRequest::first(10))
        .await
        .unwrap();
    let days: Vec<_> = history.items.iter().map(|s| s.checked_at).collect();
    assert_eq!(days, [at(2, 0), at(1, 0)]);
    // A never-checked domain of the tenant has no posture yet.
    let a = db.tenant(w.a_owner());
    assert_eq!(a.dns_posture(w.a2_domain.id).await.unwrap(), None);
    // Another client's or another MSP's domain is not found.
    let a2 = db.tenant(w.a2_admin());
    assert!(matches!(
        a2.dns_posture(w.a1_domain.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        a.dns_history(w.b1_domain.id, PageRequest::first(10)).await,
        Err(StoreError::NotFound)
    ));
}

async fn dkim_selectors_come_from_the_domains_own_signatures(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let mut records = Vec::new();
    for (n, (domain, selector)) in [
        ("a1.example", Some("s2024")),
        ("a1.example", Some("Google")),
        ("a1.example", Some("s2024")),
        ("a1.example", None),
        ("esp.example", Some("esp1")),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = record(n as u32);
        r.header_from = "a1.example".into();
        r.dkim_results = vec![DkimAuthResult {
            domain: domain.into(),
            selector: selector.map(str::to_owned),
            result: DkimResult::Pass,
            human_result: None,
        }];
        records.push(r);
    }
    aggregate(
        &sys,
        Some(&w.a1_domain),
        &header("a1.example", "sel-1", "Receiver", 3),
        &records,
    )
    .await;
    assert_eq!(
        sys.dkim_selectors(&w.a1_domain).await.unwrap(),
        ["google", "s2024"]
    );
    assert!(sys.dkim_selectors(&w.a2_domain).await.unwrap().is_empty());
}
