//! Domains: scoped reads and writes, installation-wide names, routing of unassigned input.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, add_domain, aggregate, at, event, header, records, send};
use postern_domain::{DomainName, EventId, ReportId, Role, TenantScope};
use postern_store::{OutboxEvent, PageRequest, ReportFilter, StoreError};

on_both_backends!(
    domains_of_other_tenants_are_not_found,
    domain_name_conflicts_across_msps_and_clients,
    adding_domains_needs_operate_and_a_reachable_client,
    add_domain_assigns_unassigned_input_and_writes_its_events,
    add_domain_writes_nothing_when_it_fails,
    remove_domain_keeps_reports_with_the_client_and_frees_the_name,
);

async fn domains_of_other_tenants_are_not_found(db: &TestDb) {
    let w = World::build(db).await;
    let b = db.tenant(w.b_owner());
    let page = b.list_domains(None, PageRequest::first(10)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, w.b1_domain.id);
    assert_eq!(b.count_domains(None).await.unwrap(), 1);
    assert_eq!(b.count_domains(Some(w.a1.id)).await.unwrap(), 0);
    assert!(matches!(
        b.domain(w.a1_domain.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.domain_by_name(&w.a1_domain.name).await,
        Err(StoreError::NotFound)
    ));
    // Change/delete: B's owner cannot remove A's domain, and it survives the attempt.
    let removed = b
        .remove_domain(w.a1_domain.id, event("domain.removed"))
        .await;
    assert!(matches!(removed, Err(StoreError::NotFound)));
    let a = db.tenant(w.a_owner());
    assert_eq!(
        a.domain(w.a1_domain.id).await.unwrap().name,
        w.a1_domain.name
    );
    assert_eq!(a.count_domains(None).await.unwrap(), 2);
    assert_eq!(a.count_domains(Some(w.a2.id)).await.unwrap(), 1);

    // A client user sees its own client's domains only.
    let a1 = db.tenant(w.a1_admin());
    let page = a1.list_domains(None, PageRequest::first(10)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, w.a1_domain.id);
    assert!(matches!(
        a1.domain(w.a2_domain.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        a1.domain_by_name(&w.a2_domain.name).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        a1.domain_by_name(&w.a1_domain.name).await.unwrap().id,
        w.a1_domain.id
    );
    // The system side routes by name across tenants.
    let owner = db
        .system()
        .domain_owner("A1.Example.")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.client_id, w.a1.id);
    assert!(
        db.system()
            .domain_is_registered("b1.example")
            .await
            .unwrap()
    );
    assert!(
        !db.system()
            .domain_is_registered("nobody.example")
            .await
            .unwrap()
    );
}

async fn domain_name_conflicts_across_msps_and_clients(db: &TestDb) {
    let w = World::build(db).await;
    let b = db.tenant(w.b_owner());
    let taken = DomainName::parse("A1.example").unwrap();
    let result = b
        .add_domain(w.b1.id, &taken, &|_, _| vec![event("x")])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    let a = db.tenant(w.a_owner());
    let result = a.add_domain(w.a2.id, &taken, &|_, _| Vec::new()).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))));
    // Nothing was written by the refused attempts.
    assert!(
        db.system()
            .outbox_unpublished(100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.count_domains(None).await.unwrap(), 1);
}

async fn adding_domains_needs_operate_and_a_reachable_client(db: &TestDb) {
    let w = World::build(db).await;
    let name = DomainName::parse("new.example").unwrap();
    for scope in [w.a1_admin(), w.a_viewer()] {
        let result = db
            .tenant(scope)
            .add_domain(w.a1.id, &name, &|_, _| Vec::new())
            .await;
        assert!(matches!(result, Err(StoreError::Forbidden(_))));
    }
    let b = db.tenant(w.b_owner());
    let result = b.add_domain(w.a1.id, &name, &|_, _| Vec::new()).await;
    assert!(matches!(result, Err(StoreError::NotFound)));
    let operator = db.tenant(TenantScope::msp(w.msp_a, Role::MspOperator, true));
    let domain = add_domain(&operator, w.a1.id, "new.example").await;
    assert_eq!((domain.msp_id, domain.client_id), (w.msp_a, w.a1.id));
    assert!(
        db.system()
            .domain_is_registered("new.example")
            .await
            .unwrap()
    );
}

async fn add_domain_assigns_unassigned_input_and_writes_its_events(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (first, raw) = aggregate(
        &sys,
        None,
        &header("New.Example", "r1", "org", 3),
        &records(5),
    )
    .await;
    let (second, _) = aggregate(
        &sys,
        None,
        &header("new.example", "r2", "org", 4),
        &records(2),
    )
    .await;
    let (other, _) = aggregate(
        &sys,
        None,
        &header("other.example", "r3", "org", 4),
        &records(1),
    )
    .await;
    sys.insert_rejection_for_domain(
        raw,
        "NEW.example",
        None,
        "upload",
        "record 7",
        "bad_ip",
        "x",
        at(20, 1),
    )
    .await
    .unwrap();
    sys.insert_rejection(raw, None, "upload", "file", "not_xml", "y", at(20, 1))
        .await
        .unwrap();
    // Published so that only add_domain's events remain below.
    let pending: Vec<EventId> = sys
        .outbox_unpublished(100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    sys.outbox_mark_published(&pending, at(20, 2))
        .await
        .unwrap();

    let owner = db.tenant(w.a_owner());
    assert_eq!(owner.count_unassigned_reports().await.unwrap(), 3);
    let a1 = db.tenant(w.a1_admin());
    assert!(matches!(a1.report(first).await, Err(StoreError::NotFound)));
    assert_eq!(a1.count_rejections().await.unwrap(), 0);

    let name = DomainName::parse("new.example").unwrap();
    let events = |domain: postern_domain::DomainId, reports: &[ReportId]| -> Vec<OutboxEvent> {
        reports
            .iter()
            .map(|r| OutboxEvent {
                id: EventId::new(),
                topic: "report.assigned".into(),
                payload: format!("{domain}:{r}").into_bytes(),
            })
            .collect()
    };
    let (domain, assigned) = send(owner.add_domain(w.a1.id, &name, &events))
        .await
        .unwrap();
    assert_eq!(assigned, vec![first, second]);

    let written = sys.outbox_unpublished(100).await.unwrap();
    let payloads: Vec<String> = written
        .iter()
        .map(|e| String::from_utf8(e.payload.clone()).unwrap())
        .collect();
    assert_eq!(
        payloads,
        vec![
            format!("{}:{first}", domain.id),
            format!("{}:{second}", domain.id)
        ]
    );

    // The client now owns the reports, their records and the rejection naming the domain.
    let report = a1.report(first).await.unwrap();
    assert_eq!(
        (report.client_id, report.domain_id),
        (Some(w.a1.id), Some(domain.id))
    );
    assert_eq!(
        a1.aggregate_records(first, PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        5
    );
    assert_eq!(
        a1.aggregate_detail(second).await.unwrap().header.report_id,
        "r2"
    );
    let filter = ReportFilter {
        domain: Some("NEW.example".into()),
        ..ReportFilter::default()
    };
    assert_eq!(a1.count_reports(&filter).await.unwrap(), 2);
    let rejections = a1.rejections(PageRequest::first(10)).await.unwrap().items;
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].domain.as_deref(), Some("new.example"));
    // The rest stays unassigned; the sibling client and the other MSP see none of it.
    assert_eq!(owner.count_unassigned_reports().await.unwrap(), 1);
    assert_eq!(
        owner
            .unassigned_reports(PageRequest::first(5))
            .await
            .unwrap()
            .items[0]
            .id,
        other
    );
    assert!(matches!(
        db.tenant(w.a2_admin()).report(first).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.tenant(w.b_owner()).report(first).await,
        Err(StoreError::NotFound)
    ));
}

async fn add_domain_writes_nothing_when_it_fails(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (unassigned, _) = aggregate(
        &sys,
        None,
        &header("a1.example", "late", "org", 3),
        &records(1),
    )
    .await;
    let pending: Vec<EventId> = sys
        .outbox_unpublished(100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    sys.outbox_mark_published(&pending, at(20, 2))
        .await
        .unwrap();
    let b = db.tenant(w.b_owner());
    let result = b
        .add_domain(w.b1.id, &w.a1_domain.name, &|_, _| vec![event("never")])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))));
    assert!(sys.outbox_unpublished(100).await.unwrap().is_empty());
    let report = sys.report_for_analysis(unassigned).await.unwrap().unwrap();
    assert_eq!(report.client_id, None);
}

async fn remove_domain_keeps_reports_with_the_client_and_frees_the_name(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (report, _) = aggregate(
        &sys,
        Some(&w.a1_domain),
        &header("a1.example", "r1", "org", 3),
        &records(3),
    )
    .await;
    let a = db.tenant(w.a_owner());
    assert!(matches!(
        db.tenant(w.a1_admin())
            .remove_domain(w.a1_domain.id, event("x"))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    send(a.remove_domain(w.a1_domain.id, event("domain.removed")))
        .await
        .unwrap();
    assert!(matches!(
        a.domain(w.a1_domain.id).await,
        Err(StoreError::NotFound)
    ));
    let topics: Vec<String> = sys
        .outbox_unpublished(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(topics.last().map(String::as_str), Some("domain.removed"));
    let kept = db.tenant(w.a1_admin()).report(report).await.unwrap();
    assert_eq!((kept.client_id, kept.domain_id), (Some(w.a1.id), None));
    assert_eq!(a.count_unassigned_reports().await.unwrap(), 0);

    // Re-adding to the same client re-attaches its history.
    let name = w.a1_domain.name.clone();
    let (again, reattached) = a
        .add_domain(w.a1.id, &name, &|_, _| Vec::new())
        .await
        .unwrap();
    assert_eq!(reattached, vec![report]);
    assert_eq!(
        db.tenant(w.a1_admin())
            .report(report)
            .await
            .unwrap()
            .domain_id,
        Some(again.id)
    );

    // Freed again, another MSP may take the name; A's history stays A's.
    a.remove_domain(again.id, event("domain.removed"))
        .await
        .unwrap();
    let b = db.tenant(w.b_owner());
    let (taken, moved) = b
        .add_domain(w.b1.id, &name, &|_, _| Vec::new())
        .await
        .unwrap();
    assert!(moved.is_empty());
    assert_eq!(taken.client_id, w.b1.id);
    assert!(matches!(b.report(report).await, Err(StoreError::NotFound)));
    assert_eq!(
        db.tenant(w.a1_admin())
            .report(report)
            .await
            .unwrap()
            .client_id,
        Some(w.a1.id)
    );
}
