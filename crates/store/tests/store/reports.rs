//! Reports, their details, rejections and raw bytes: visible to their tenant only, and
//! unassigned input to the operating MSP's owners and admins only.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, aggregate, at, event, header, record, records};
use postern_domain::{
    FailureReport, ReportId, ReportKind, Role, TenantScope, TlsFailureDetail, TlsPolicy,
    TlsPolicyType, TlsReport,
};
use postern_store::{PageRequest, ReportFilter, StoreError, TenantDb};

on_both_backends!(
    reports_of_other_tenants_cannot_be_read,
    report_filters_narrow_by_client_domain_period_and_kind,
    aggregate_reports_round_trip_with_record_pages,
    failure_and_tls_reports_round_trip,
    unassigned_reports_are_for_operator_owners_and_admins_only,
    rejections_are_visible_to_their_tenant_only,
    raw_bytes_are_reachable_only_through_visible_input,
);

fn failure_report(domain: &str) -> FailureReport {
    FailureReport {
        feedback_type: "auth-failure".into(),
        user_agent: Some("agent/1".into()),
        version: Some("1".into()),
        arrival_date: Some(at(5, 12)),
        source_ip: Some("198.51.100.7".parse().unwrap()),
        original_mail_from: Some("a@b.example".into()),
        original_rcpt_to: vec!["x@y.example".into(), "z@y.example".into()],
        reported_domain: domain.into(),
        auth_failure: vec!["dmarc".into(), "dkim".into()],
        delivery_result: Some("reject".into()),
        dkim_domain: Some(domain.into()),
        dkim_selector: Some("s1".into()),
        dkim_identity: None,
        spf_dns: Some("v=spf1 -all".into()),
        authentication_results: vec!["spf=fail".into()],
        identity_alignment: Some("dkim".into()),
        reporter: Some("reporter.example".into()),
        original_subject: Some("hello".into()),
        original_message_id: Some("<m1@b.example>".into()),
        original_headers: Some("From: a@b.example".into()),
    }
}

fn tls_report(domain: &str, id: &str) -> TlsReport {
    TlsReport {
        organization_name: "Big Mail".into(),
        date_begin: at(6, 0),
        date_end: at(7, 0),
        contact_info: Some("tls@big.example".into()),
        report_id: id.into(),
        policies: vec![
            TlsPolicy {
                policy_type: TlsPolicyType::Sts,
                policy_string: vec!["version: STSv1".into(), "mode: enforce".into()],
                policy_domain: domain.into(),
                mx_host: vec!["mx1.example".into()],
                total_successful_session_count: 90,
                total_failure_session_count: 10,
                failure_details: vec![
                    TlsFailureDetail {
                        result_type: "certificate-expired".into(),
                        sending_mta_ip: Some("203.0.113.9".parse().unwrap()),
                        receiving_mx_hostname: Some("mx1.example".into()),
                        receiving_mx_helo: None,
                        receiving_ip: Some("2001:db8::25".parse().unwrap()),
                        failed_session_count: 7,
                        additional_information: None,
                        failure_reason_code: Some("X509".into()),
                    },
                    TlsFailureDetail {
                        result_type: "starttls-not-supported".into(),
                        sending_mta_ip: None,
                        receiving_mx_hostname: None,
                        receiving_mx_helo: Some("helo".into()),
                        receiving_ip: None,
                        failed_session_count: 3,
                        additional_information: Some("https://info".into()),
                        failure_reason_code: None,
                    },
                ],
            },
            TlsPolicy {
                policy_type: TlsPolicyType::NoPolicyFound,
                policy_string: Vec::new(),
                policy_domain: domain.into(),
                mx_host: Vec::new(),
                total_successful_session_count: 5,
                total_failure_session_count: 0,
                failure_details: Vec::new(),
            },
        ],
    }
}

/// One report of each kind for the domain; returns (aggregate, failure, tls).
async fn reports_for(
    db: &TestDb,
    domain: &postern_store::Domain,
) -> (ReportId, ReportId, ReportId) {
    let sys = db.system();
    let name = domain.name.as_str();
    let (agg, raw) = aggregate(
        &sys,
        Some(domain),
        &header(name, "agg", "org", 3),
        &records(4),
    )
    .await;
    let failure = ReportId::new();
    sys.insert_failure_report(
        failure,
        raw,
        Some(domain),
        &failure_report(name),
        "sha:part-1",
        at(20, 0),
        event("f"),
    )
    .await
    .unwrap();
    let tls = ReportId::new();
    sys.insert_tls_report(
        tls,
        raw,
        Some(domain),
        &tls_report(name, "tls-1"),
        at(20, 0),
        event("t"),
    )
    .await
    .unwrap();
    (agg, failure, tls)
}

async fn assert_cannot_read(db: &TenantDb, (agg, failure, tls): (ReportId, ReportId, ReportId)) {
    for id in [agg, failure, tls] {
        assert!(matches!(db.report(id).await, Err(StoreError::NotFound)));
    }
    assert!(matches!(
        db.aggregate_detail(agg).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.aggregate_records(agg, PageRequest::first(10)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.failure_detail(failure).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.tls_detail(tls).await,
        Err(StoreError::NotFound)
    ));
}

async fn reports_of_other_tenants_cannot_be_read(db: &TestDb) {
    let w = World::build(db).await;
    let a1_reports = reports_for(db, &w.a1_domain).await;
    let a2_reports = reports_for(db, &w.a2_domain).await;
    let b1_reports = reports_for(db, &w.b1_domain).await;
    let all = ReportFilter::default();

    let b = db.tenant(w.b_owner());
    assert_eq!(b.count_reports(&all).await.unwrap(), 3);
    let listed = b
        .list_reports(&all, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert!(listed.iter().all(|r| r.msp_id == Some(w.msp_b)));
    assert_cannot_read(&b, a1_reports).await;
    assert_cannot_read(&db.tenant(w.b1_admin()), a2_reports).await;

    let a1 = db.tenant(w.a1_admin());
    assert_eq!(a1.count_reports(&all).await.unwrap(), 3);
    // Asking for the sibling client's reports by filter yields nothing.
    let sibling = ReportFilter {
        client: Some(w.a2.id),
        ..ReportFilter::default()
    };
    assert_eq!(a1.count_reports(&sibling).await.unwrap(), 0);
    assert_cannot_read(&a1, a2_reports).await;
    assert_cannot_read(&a1, b1_reports).await;
    assert_eq!(
        a1.report(a1_reports.0).await.unwrap().client_id,
        Some(w.a1.id)
    );

    let a = db.tenant(w.a_viewer());
    assert_eq!(a.count_reports(&all).await.unwrap(), 6);
    assert_eq!(a.count_reports(&sibling).await.unwrap(), 3);
    assert_cannot_read(&a, b1_reports).await;
}

async fn report_filters_narrow_by_client_domain_period_and_kind(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (early, _) = aggregate(
        &sys,
        Some(&w.a1_domain),
        &header("a1.example", "e", "org", 3),
        &records(1),
    )
    .await;
    let (late, _) = aggregate(
        &sys,
        Some(&w.a1_domain),
        &header("a1.example", "l", "org", 10),
        &records(1),
    )
    .await;
    let (other, _) = aggregate(
        &sys,
        Some(&w.a2_domain),
        &header("a2.example", "o", "org", 10),
        &records(1),
    )
    .await;
    let a = db.tenant(w.a_owner());
    let ids = |filter: ReportFilter| {
        let a = a.clone();
        async move {
            let page = a
                .list_reports(&filter, PageRequest::first(50))
                .await
                .unwrap();
            assert_eq!(
                a.count_reports(&filter).await.unwrap(),
                page.items.len() as u64
            );
            page.items.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(ReportFilter::default()).await, vec![other, late, early]);
    assert_eq!(
        ids(ReportFilter {
            client: Some(w.a1.id),
            ..Default::default()
        })
        .await,
        vec![late, early]
    );
    assert_eq!(
        ids(ReportFilter {
            domain: Some("A2.EXAMPLE".into()),
            ..Default::default()
        })
        .await,
        vec![other]
    );
    // Period overlap is inclusive: [4th 00:00, 10th 00:00] touches "early" (3rd–4th) at its
    // end and "late" (10th–11th) at its start.
    let period = ReportFilter {
        from: Some(at(4, 0)),
        to: Some(at(10, 0)),
        ..Default::default()
    };
    assert_eq!(ids(period).await, vec![other, late, early]);
    let period = ReportFilter {
        from: Some(at(4, 1)),
        to: Some(at(10, 0)),
        ..Default::default()
    };
    assert_eq!(ids(period).await, vec![other, late]);
    let before = ReportFilter {
        to: Some(at(3, 12)),
        ..Default::default()
    };
    assert_eq!(ids(before).await, vec![early]);
    let after = ReportFilter {
        from: Some(at(4, 1)),
        ..Default::default()
    };
    assert_eq!(ids(after).await, vec![other, late]);
    assert!(
        ids(ReportFilter {
            kind: Some(ReportKind::Tls),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        ids(ReportFilter {
            kind: Some(ReportKind::Aggregate),
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    // Keyset pages, newest first.
    let first = a
        .list_reports(&ReportFilter::default(), PageRequest::first(2))
        .await
        .unwrap();
    assert!(first.has_next);
    let next = PageRequest::after(first.items[1].id.as_uuid(), 2);
    let second = a
        .list_reports(&ReportFilter::default(), next)
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![early]
    );
    assert!(!second.has_next);
}

async fn aggregate_reports_round_trip_with_record_pages(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let h = header("a1.example", "rt", "Org Name", 3);
    let recs = records(25);
    let (id, raw) = aggregate(&sys, Some(&w.a1_domain), &h, &recs).await;
    let a1 = db.tenant(w.a1_admin());
    let detail = a1.aggregate_detail(id).await.unwrap();
    assert_eq!(detail.header, h);
    assert_eq!(detail.problems, vec!["a problem".to_owned()]);
    let summary = a1.report(id).await.unwrap();
    assert_eq!(summary.kind, ReportKind::Aggregate);
    assert_eq!(summary.record_count, 25);
    assert_eq!(
        summary.message_count,
        recs.iter().map(|r| r.count).sum::<u64>()
    );
    assert_eq!(summary.raw_input_id, raw);
    assert_eq!(
        (summary.org_name.as_str(), summary.external_id.as_str()),
        ("Org Name", "rt")
    );
    assert_eq!(summary.domain_id, Some(w.a1_domain.id));

    let mut seen = Vec::new();
    let mut page = PageRequest::first(10);
    loop {
        let got = a1.aggregate_records(id, page).await.unwrap();
        seen.extend(got.items.iter().map(|r| r.record.clone()));
        if !got.has_next {
            break;
        }
        page = PageRequest::after(got.items.last().unwrap().id, 10);
    }
    assert_eq!(seen, recs);
    assert_eq!(sys.all_aggregate_records(id).await.unwrap(), recs);
    let tail = sys.aggregate_records_page(id, Some(19), 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![20, 21, 22, 23, 24]
    );
    assert_eq!(tail[0].1, record(20));
    assert_eq!(
        sys.aggregate_records_page(id, None, 1).await.unwrap()[0].0,
        0
    );
    // A cursor from another report is refused.
    let (other, _) = aggregate(
        &sys,
        Some(&w.a1_domain),
        &header("a1.example", "o", "o", 3),
        &records(2),
    )
    .await;
    let foreign = a1
        .aggregate_records(other, PageRequest::first(1))
        .await
        .unwrap()
        .items[0]
        .id;
    assert!(matches!(
        a1.aggregate_records(id, PageRequest::after(foreign, 5))
            .await,
        Err(StoreError::Invalid(_))
    ));
    // Details of another kind answer NotFound.
    assert!(matches!(a1.tls_detail(id).await, Err(StoreError::NotFound)));
}

async fn failure_and_tls_reports_round_trip(db: &TestDb) {
    let w = World::build(db).await;
    let (_, failure, tls) = reports_for(db, &w.a1_domain).await;
    let a1 = db.tenant(w.a1_admin());
    assert_eq!(
        a1.failure_detail(failure).await.unwrap().report,
        failure_report("a1.example")
    );
    assert_eq!(
        a1.tls_detail(tls).await.unwrap().report,
        tls_report("a1.example", "tls-1")
    );
    let summary = a1.report(tls).await.unwrap();
    assert_eq!(
        (summary.kind, summary.record_count, summary.message_count),
        (ReportKind::Tls, 2, 105)
    );
    let summary = a1.report(failure).await.unwrap();
    assert_eq!(summary.kind, ReportKind::Failure);
    assert_eq!(summary.external_id, "sha:part-1");
    assert_eq!(summary.org_name, "reporter.example");
    assert_eq!(summary.date_begin, at(5, 12));
    // Duplicates by dedup key are refused.
    let sys = db.system();
    let raw = summary.raw_input_id;
    let again = sys
        .insert_tls_report(
            ReportId::new(),
            raw,
            Some(&w.a1_domain),
            &tls_report("a1.example", "tls-1"),
            at(21, 0),
            event("t"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    let again = sys
        .insert_failure_report(
            ReportId::new(),
            raw,
            None,
            &failure_report("A1.example"),
            " sha:part-1 ",
            at(21, 0),
            event("f"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    assert_eq!(
        sys.report_exists(
            ReportKind::Failure,
            "reporter.example",
            "sha:part-1",
            "a1.example"
        )
        .await
        .unwrap(),
        Some(failure)
    );
    // The same failure in another input part is another report.
    sys.insert_failure_report(
        ReportId::new(),
        raw,
        Some(&w.a1_domain),
        &failure_report("a1.example"),
        "sha:part-2",
        at(21, 0),
        event("f"),
    )
    .await
    .unwrap();
    assert_eq!(
        sys.report_exists(ReportKind::Tls, "Big Mail", "tls-1", "A1.EXAMPLE.")
            .await
            .unwrap(),
        Some(tls)
    );
}

async fn unassigned_reports_are_for_operator_owners_and_admins_only(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (id, raw) = aggregate(
        &sys,
        None,
        &header("nobody.example", "u", "org", 3),
        &records(3),
    )
    .await;
    let admin = db.tenant(TenantScope::msp(w.msp_a, Role::MspAdmin, true));
    let page = admin
        .unassigned_reports(PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![id]
    );
    assert_eq!(page.items[0].domain, "nobody.example");
    assert_eq!(
        admin
            .aggregate_records(id, PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    assert_eq!(
        admin.aggregate_detail(id).await.unwrap().header.report_id,
        "u"
    );
    assert!(!admin.raw_input_bytes(raw).await.unwrap().is_empty());
    // Unassigned reports are not in the tenant's report list.
    assert_eq!(
        admin.count_reports(&ReportFilter::default()).await.unwrap(),
        0
    );
    let refused = [
        w.a_viewer(),
        TenantScope::msp(w.msp_a, Role::MspOperator, true),
        w.a1_admin(),
        w.b_owner(),
        TenantScope::msp(w.msp_a, Role::MspOwner, false),
    ];
    for scope in refused {
        let db = db.tenant(scope);
        assert!(matches!(
            db.unassigned_reports(PageRequest::first(1)).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            db.count_unassigned_reports().await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(
            matches!(db.report(id).await, Err(StoreError::NotFound)),
            "{scope:?}"
        );
        assert!(matches!(
            db.raw_input_bytes(raw).await,
            Err(StoreError::NotFound)
        ));
    }
}

async fn rejections_are_visible_to_their_tenant_only(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (raw, _) = sys
        .store_raw_input(b"<broken", "upload", None, at(20, 0))
        .await
        .unwrap();
    let reject = |owner| {
        let sys = sys.clone();
        async move {
            sys.insert_rejection(raw, owner, "upload", "file", "not_xml", "bad", at(20, 0))
                .await
                .unwrap()
        }
    };
    let for_a1 = reject(Some((w.msp_a, Some(w.a1.id)))).await;
    let for_a = reject(Some((w.msp_a, None))).await;
    let nobodys = reject(None).await;
    let for_b1 = reject(Some((w.msp_b, Some(w.b1.id)))).await;
    let ids = |scope| {
        let db = db.tenant(scope);
        async move {
            let page = db.rejections(PageRequest::first(10)).await.unwrap();
            assert_eq!(
                db.count_rejections().await.unwrap(),
                page.items.len() as u64
            );
            page.items.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(w.a1_admin()).await, vec![for_a1]);
    assert!(ids(w.a2_admin()).await.is_empty());
    assert_eq!(ids(w.a_viewer()).await, vec![for_a, for_a1]);
    assert_eq!(ids(w.a_owner()).await, vec![nobodys, for_a, for_a1]);
    assert_eq!(ids(w.b_owner()).await, vec![for_b1]);
    let row = db
        .tenant(w.a1_admin())
        .rejections(PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        (row.reason.as_str(), row.raw_input_id, row.domain),
        ("not_xml", raw, None)
    );
}

async fn raw_bytes_are_reachable_only_through_visible_input(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (_, raw) = aggregate(
        &sys,
        Some(&w.a1_domain),
        &header("a1.example", "r", "org", 3),
        &records(1),
    )
    .await;
    let expected = b"org|r|a1.example".to_vec();
    assert_eq!(
        db.tenant(w.a1_admin()).raw_input_bytes(raw).await.unwrap(),
        expected
    );
    assert_eq!(
        db.tenant(w.a_viewer()).raw_input_bytes(raw).await.unwrap(),
        expected
    );
    let meta = db.tenant(w.a1_admin()).raw_input(raw).await.unwrap();
    assert_eq!(
        (
            meta.size,
            meta.content_type.as_deref(),
            meta.source.as_str()
        ),
        (16, Some("text/xml"), "test")
    );
    for scope in [w.a2_admin(), w.b_owner(), w.b1_admin()] {
        let db = db.tenant(scope);
        assert!(matches!(
            db.raw_input_bytes(raw).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(db.raw_input(raw).await, Err(StoreError::NotFound)));
    }
    // Bytes only an unattributed rejection references: operator owner yes, viewer no.
    let (orphan, _) = sys
        .store_raw_input(b"junk", "mailbox", None, at(20, 0))
        .await
        .unwrap();
    sys.insert_rejection(
        orphan,
        None,
        "mailbox",
        "message 3",
        "not_a_report",
        "",
        at(20, 0),
    )
    .await
    .unwrap();
    assert_eq!(
        db.tenant(w.a_owner())
            .raw_input_bytes(orphan)
            .await
            .unwrap(),
        b"junk"
    );
    assert!(matches!(
        db.tenant(w.a_viewer()).raw_input_bytes(orphan).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.tenant(w.b_owner()).raw_input_bytes(orphan).await,
        Err(StoreError::NotFound)
    ));
}
