//! Issues: reconciliation of findings (open, update, auto-resolve, reopen, ignored, codes
//! outside the evaluated set), the workflow's role rules and tenant isolation.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at, send};
use postern_domain::{
    ClientId, Evidence, Finding, FixStep, FixStepKind, IssueId, IssueState, MspId, Role, Severity,
    TenantScope, UserId, Verification,
};
use postern_store::{
    Domain, Issue, IssueEvent, IssueEventKind, IssueFilter, OutboxEvent, PageRequest, StoreError,
    TenantDb,
};
use std::sync::Mutex;

on_both_backends!(
    a_new_finding_opens_an_issue_with_an_event_and_an_outbox_event,
    a_persisting_finding_updates_content_and_writes_an_event_only_on_change,
    a_vanished_finding_resolves_its_issue_as_verified,
    a_returning_finding_reopens_a_resolved_issue,
    an_ignored_issue_stays_ignored_until_unignored,
    codes_outside_the_evaluated_set_are_left_alone,
    reconcile_rejects_invalid_codes_and_writes_nothing,
    issues_list_with_filters_and_history_pages,
    workflow_transitions_follow_the_state_machine,
    role_rules_of_the_workflow,
    assignees_must_reach_the_issues_client,
    every_issue_method_answers_not_found_for_another_tenant,
    removing_a_domain_removes_its_issues_and_their_history,
    issue_people_are_only_those_named_in_visible_issues,
);

fn finding(code: &str, severity: Severity, evidence: &str) -> Finding {
    Finding {
        code: code.to_owned(),
        severity,
        title: format!("title of {code}"),
        explanation: "why it matters".into(),
        evidence: vec![Evidence {
            label: "messages".into(),
            value: evidence.into(),
        }],
        fix_steps: vec![FixStep {
            kind: FixStepKind::ChangeDnsRecord,
            title: "Publish a DMARC record with p=quarantine".into(),
            detail: "Move the policy on.".into(),
            record: Some(postern_domain::DnsRecordChange {
                name: "_dmarc.example.com".into(),
                record_type: "TXT".into(),
                current: Some("v=DMARC1; p=none".into()),
                proposed: "v=DMARC1; p=quarantine; t=y".into(),
            }),
        }],
        verification: Verification {
            description: "the published policy is quarantine".into(),
        },
    }
}

fn all(prefixes: &[&str]) -> Vec<String> {
    prefixes.iter().map(|p| (*p).to_owned()).collect()
}

/// Records what reconciliation and workflow calls hand to the outbox callback, and makes one
/// outbox event per history entry.
#[derive(Default)]
struct Outbox(Mutex<Vec<(IssueId, IssueEventKind)>>);

impl Outbox {
    fn make(&self, issue: &Issue, entry: &IssueEvent) -> Vec<OutboxEvent> {
        self.0.lock().unwrap().push((issue.id, entry.kind));
        vec![OutboxEvent {
            id: postern_domain::EventId::new(),
            topic: "issue.changed".into(),
            payload: format!("{}:{}", issue.id, entry.kind).into_bytes(),
        }]
    }

    fn kinds(&self) -> Vec<IssueEventKind> {
        self.0.lock().unwrap().iter().map(|(_, k)| *k).collect()
    }
}

async fn reconcile(
    db: &TestDb,
    domain: &Domain,
    evaluated: &[&str],
    findings: &[Finding],
    day: u32,
) -> postern_store::ReconcileOutcome {
    db.system()
        .reconcile_findings(domain, &all(evaluated), findings, at(day, 0), &|_, _| {
            Vec::new()
        })
        .await
        .unwrap()
}

async fn history(db: &TenantDb, id: IssueId) -> Vec<IssueEvent> {
    db.issue_events(id, PageRequest::first(100))
        .await
        .unwrap()
        .items
}

fn kinds(events: &[IssueEvent]) -> Vec<IssueEventKind> {
    events.iter().map(|e| e.kind).collect()
}

async fn a_new_finding_opens_an_issue_with_an_event_and_an_outbox_event(db: &TestDb) {
    let w = World::build(db).await;
    let outbox = Outbox::default();
    let events = |i: &Issue, e: &IssueEvent| outbox.make(i, e);
    let f = finding("dmarc.policy_none", Severity::High, "120");
    let outcome = send(db.system().reconcile_findings(
        &w.a1_domain,
        &all(&["dmarc."]),
        std::slice::from_ref(&f),
        at(20, 0),
        &events,
    ))
    .await
    .unwrap();
    assert_eq!(outcome.opened.len(), 1);
    assert!(outcome.updated.is_empty() && outcome.resolved.is_empty());
    let a = db.tenant(w.a_owner());
    let issue = a.issue(outcome.opened[0]).await.unwrap();
    assert_eq!(issue.code, "dmarc.policy_none");
    assert_eq!(issue.state, IssueState::Open);
    assert_eq!(issue.severity, Severity::High);
    assert_eq!(issue.domain_id, w.a1_domain.id);
    assert_eq!(issue.client_id, w.a1.id);
    assert_eq!(issue.msp_id, w.msp_a);
    assert_eq!(issue.evidence, f.evidence);
    assert_eq!(issue.fix_steps, f.fix_steps);
    assert_eq!(issue.verification, f.verification);
    assert_eq!(issue.opened_at, at(20, 0));
    assert_eq!(issue.last_seen_at, at(20, 0));
    assert_eq!(issue.resolved_at, None);
    let h = history(&a, issue.id).await;
    assert_eq!(kinds(&h), [IssueEventKind::Opened]);
    assert_eq!(h[0].actor, None);
    assert_eq!(h[0].from_state, None);
    assert_eq!(h[0].to_state, IssueState::Open);
    assert_eq!(outbox.kinds(), [IssueEventKind::Opened]);
    let written = db.system().outbox_unpublished(100).await.unwrap();
    let issue_events: Vec<_> = written
        .iter()
        .filter(|e| e.topic == "issue.changed")
        .collect();
    assert_eq!(issue_events.len(), 1);
    assert_eq!(
        issue_events[0].payload,
        format!("{}:opened", issue.id).into_bytes()
    );
}

async fn a_persisting_finding_updates_content_and_writes_an_event_only_on_change(db: &TestDb) {
    let w = World::build(db).await;
    let first = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::Medium, "10")],
        20,
    )
    .await;
    let id = first.opened[0];
    // Same content, later: only last_seen moves.
    let same = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::Medium, "10")],
        21,
    )
    .await;
    assert_eq!(same, postern_store::ReconcileOutcome::default());
    let a = db.tenant(w.a_owner());
    let issue = a.issue(id).await.unwrap();
    assert_eq!(issue.last_seen_at, at(21, 0));
    assert_eq!(issue.updated_at, at(20, 0));
    // New evidence and severity: updated, with an event; the state (acknowledged) stays.
    a.acknowledge_issue(id, None, &|_, _| Vec::new())
        .await
        .unwrap();
    let changed = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "99")],
        22,
    )
    .await;
    assert_eq!(changed.updated, [id]);
    let issue = a.issue(id).await.unwrap();
    assert_eq!(issue.state, IssueState::Acknowledged);
    assert_eq!(issue.severity, Severity::High);
    assert_eq!(issue.evidence[0].value, "99");
    assert_eq!(issue.updated_at, at(22, 0));
    assert_eq!(
        kinds(&history(&a, id).await),
        [
            IssueEventKind::Opened,
            IssueEventKind::Acknowledged,
            IssueEventKind::Updated
        ]
    );
}

async fn a_vanished_finding_resolves_its_issue_as_verified(db: &TestDb) {
    let w = World::build(db).await;
    let opened = reconcile(
        db,
        &w.a1_domain,
        &["dmarc.", "spf."],
        &[
            finding("dmarc.policy_none", Severity::High, "1"),
            finding("spf.too_many_lookups", Severity::Medium, "12"),
        ],
        20,
    )
    .await;
    assert_eq!(opened.opened.len(), 2);
    let a = db.tenant(w.a_owner());
    let spf = a
        .list_issues(
            &IssueFilter {
                code: Some("spf.too_many_lookups".into()),
                ..IssueFilter::default()
            },
            PageRequest::first(10),
        )
        .await
        .unwrap()
        .items[0]
        .id;
    a.set_in_progress(spf, None, &|_, _| Vec::new())
        .await
        .unwrap();
    let outbox = Outbox::default();
    let outcome = db
        .system()
        .reconcile_findings(
            &w.a1_domain,
            &all(&["dmarc.", "spf."]),
            &[finding("dmarc.policy_none", Severity::High, "1")],
            at(21, 0),
            &|i, e| outbox.make(i, e),
        )
        .await
        .unwrap();
    assert_eq!(outcome.resolved, [spf]);
    assert_eq!(outbox.kinds(), [IssueEventKind::VerifiedResolved]);
    let issue = a.issue(spf).await.unwrap();
    assert_eq!(issue.state, IssueState::Resolved);
    assert_eq!(issue.resolved_at, Some(at(21, 0)));
    let h = history(&a, spf).await;
    let last = h.last().unwrap();
    assert_eq!(last.kind, IssueEventKind::VerifiedResolved);
    assert_eq!(last.from_state, Some(IssueState::InProgress));
    assert_eq!(last.to_state, IssueState::Resolved);
    assert_eq!(last.actor, None);
    // Resolved stays resolved while the finding stays away: nothing more happens.
    let again = reconcile(
        db,
        &w.a1_domain,
        &["dmarc.", "spf."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        22,
    )
    .await;
    assert_eq!(again, postern_store::ReconcileOutcome::default());
    assert_eq!(history(&a, spf).await.len(), h.len());
}

async fn a_returning_finding_reopens_a_resolved_issue(db: &TestDb) {
    let w = World::build(db).await;
    let f = finding("dmarc.policy_none", Severity::High, "1");
    let id = reconcile(db, &w.a1_domain, &["dmarc."], std::slice::from_ref(&f), 20)
        .await
        .opened[0];
    reconcile(db, &w.a1_domain, &["dmarc."], &[], 21).await;
    let back = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::Critical, "2")],
        22,
    )
    .await;
    assert_eq!(back.reopened, [id]);
    assert!(back.opened.is_empty());
    let a = db.tenant(w.a_owner());
    let issue = a.issue(id).await.unwrap();
    assert_eq!(issue.state, IssueState::Open);
    assert_eq!(issue.resolved_at, None);
    assert_eq!(issue.severity, Severity::Critical);
    assert_eq!(issue.opened_at, at(20, 0));
    assert_eq!(
        kinds(&history(&a, id).await),
        [
            IssueEventKind::Opened,
            IssueEventKind::VerifiedResolved,
            IssueEventKind::Reopened
        ]
    );
    assert_eq!(a.count_issues(&IssueFilter::default()).await.unwrap(), 1);
}

async fn an_ignored_issue_stays_ignored_until_unignored(db: &TestDb) {
    let w = World::build(db).await;
    let id = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let a = db.tenant(w.a_owner());
    a.ignore_issue(id, None, &|_, _| Vec::new()).await.unwrap();
    // The finding persists with new evidence: content updated, still ignored.
    let outcome = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "2")],
        21,
    )
    .await;
    assert_eq!(outcome.updated, [id]);
    let issue = a.issue(id).await.unwrap();
    assert_eq!(issue.state, IssueState::Ignored);
    assert_eq!(issue.evidence[0].value, "2");
    // The finding goes away: an ignored issue is not resolved either.
    let gone = reconcile(db, &w.a1_domain, &["dmarc."], &[], 22).await;
    assert_eq!(gone, postern_store::ReconcileOutcome::default());
    assert_eq!(a.issue(id).await.unwrap().state, IssueState::Ignored);
    // Un-ignored it is open again, and the next evaluation resolves it.
    let reopened = a
        .unignore_issue(id, None, &|_, _| Vec::new())
        .await
        .unwrap();
    assert_eq!(reopened.state, IssueState::Open);
    let resolved = reconcile(db, &w.a1_domain, &["dmarc."], &[], 23).await;
    assert_eq!(resolved.resolved, [id]);
    assert_eq!(
        kinds(&history(&a, id).await),
        [
            IssueEventKind::Opened,
            IssueEventKind::Ignored,
            IssueEventKind::Updated,
            IssueEventKind::Unignored,
            IssueEventKind::VerifiedResolved
        ]
    );
}

async fn codes_outside_the_evaluated_set_are_left_alone(db: &TestDb) {
    let w = World::build(db).await;
    let opened = reconcile(
        db,
        &w.a1_domain,
        &["dmarc.", "tlsrpt.sts_failures"],
        &[
            finding("dmarc.policy_none", Severity::High, "1"),
            finding("tlsrpt.sts_failures", Severity::Low, "3"),
            finding("tlsrpt.dane_failures", Severity::Low, "4"),
        ],
        20,
    )
    .await;
    assert_eq!(opened.opened.len(), 3);
    // Only the DKIM rule ran this time: nothing of dmarc.* or tlsrpt.* is resolved.
    let dkim_only = reconcile(db, &w.a1_domain, &["dkim."], &[], 21).await;
    assert_eq!(dkim_only, postern_store::ReconcileOutcome::default());
    // An exact code covers only itself: the other tlsrpt code stays open.
    let sts = reconcile(db, &w.a1_domain, &["tlsrpt.sts_failures"], &[], 22).await;
    assert_eq!(sts.resolved.len(), 1);
    let a = db.tenant(w.a_owner());
    let open = a
        .list_issues(
            &IssueFilter {
                state: Some(IssueState::Open),
                ..IssueFilter::default()
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    let mut codes: Vec<_> = open.items.iter().map(|i| i.code.as_str()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["dmarc.policy_none", "tlsrpt.dane_failures"]);
    // Another domain's issues are never touched by this domain's evaluation.
    let other = reconcile(
        db,
        &w.a2_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        22,
    )
    .await;
    assert_eq!(other.opened.len(), 1);
    reconcile(db, &w.a1_domain, &["dmarc."], &[], 23).await;
    assert_eq!(
        a.issue(other.opened[0]).await.unwrap().state,
        IssueState::Open
    );
}

async fn reconcile_rejects_invalid_codes_and_writes_nothing(db: &TestDb) {
    let w = World::build(db).await;
    let result = db
        .system()
        .reconcile_findings(
            &w.a1_domain,
            &all(&["dmarc."]),
            &[
                finding("dmarc.policy_none", Severity::High, "1"),
                finding("Not A Code", Severity::High, "1"),
            ],
            at(20, 0),
            &|_, _| Vec::new(),
        )
        .await;
    assert!(matches!(result, Err(StoreError::Invalid(_))));
    let a = db.tenant(w.a_owner());
    assert_eq!(a.count_issues(&IssueFilter::default()).await.unwrap(), 0);
    // A repeated code counts once.
    let twice = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[
            finding("dmarc.policy_none", Severity::High, "1"),
            finding("dmarc.policy_none", Severity::Low, "2"),
        ],
        20,
    )
    .await;
    assert_eq!(twice.opened.len(), 1);
    assert_eq!(
        a.issue(twice.opened[0]).await.unwrap().severity,
        Severity::High
    );
    // A removed domain: not found.
    let b = db.tenant(w.b_owner());
    b.remove_domain(w.b1_domain.id, crate::support::event("domain.removed"))
        .await
        .unwrap();
    let gone = db
        .system()
        .reconcile_findings(&w.b1_domain, &[], &[], at(20, 0), &|_, _| Vec::new())
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound)));
}

async fn issues_list_with_filters_and_history_pages(db: &TestDb) {
    let w = World::build(db).await;
    reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[
            finding("dmarc.policy_none", Severity::High, "1"),
            finding("dmarc.unaligned_source", Severity::Medium, "2"),
        ],
        20,
    )
    .await;
    reconcile(
        db,
        &w.a2_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::Low, "3")],
        20,
    )
    .await;
    let a = db.tenant(w.a_owner());
    let count = |filter: IssueFilter| {
        let a = a.clone();
        async move {
            let n = a.count_issues(&filter).await.unwrap();
            let listed = a
                .list_issues(&filter, PageRequest::first(100))
                .await
                .unwrap()
                .items
                .len();
            assert_eq!(n, listed as u64);
            n
        }
    };
    assert_eq!(count(IssueFilter::default()).await, 3);
    let by_client = IssueFilter {
        client: Some(w.a2.id),
        ..IssueFilter::default()
    };
    assert_eq!(count(by_client).await, 1);
    let by_domain = IssueFilter {
        domain: Some(w.a1_domain.id),
        ..IssueFilter::default()
    };
    assert_eq!(count(by_domain).await, 2);
    let by_name = IssueFilter {
        domain_name: Some("A1.Example.".into()),
        ..IssueFilter::default()
    };
    assert_eq!(count(by_name).await, 2);
    let by_code = IssueFilter {
        code: Some("dmarc.policy_none".into()),
        ..IssueFilter::default()
    };
    assert_eq!(count(by_code).await, 2);
    let by_severity = IssueFilter {
        severity: Some(Severity::Medium),
        ..IssueFilter::default()
    };
    assert_eq!(count(by_severity).await, 1);
    let by_state = IssueFilter {
        state: Some(IssueState::Resolved),
        ..IssueFilter::default()
    };
    assert_eq!(count(by_state).await, 0);

    // Keyset pages: every issue once, newest first.
    let first = a
        .list_issues(&IssueFilter::default(), PageRequest::first(2))
        .await
        .unwrap();
    assert!(first.has_next);
    let rest = a
        .list_issues(
            &IssueFilter::default(),
            PageRequest::after(first.items[1].id.as_uuid(), 2),
        )
        .await
        .unwrap();
    assert!(!rest.has_next);
    assert_eq!(rest.items.len(), 1);
    assert!(first.items[0].id > first.items[1].id && first.items[1].id > rest.items[0].id);

    // History pages oldest first.
    let id = first.items[0].id;
    for text in ["one", "two", "three"] {
        a.comment_issue(id, text, None, &|_, _| Vec::new())
            .await
            .unwrap();
    }
    assert_eq!(a.count_issue_events(id).await.unwrap(), 4);
    let page = a.issue_events(id, PageRequest::first(2)).await.unwrap();
    assert!(page.has_next);
    assert_eq!(page.items[0].kind, IssueEventKind::Opened);
    assert_eq!(page.items[1].comment.as_deref(), Some("one"));
    let next = a
        .issue_events(id, PageRequest::after(page.items[1].id.as_uuid(), 2))
        .await
        .unwrap();
    assert!(!next.has_next);
    let comments: Vec<_> = next
        .items
        .iter()
        .filter_map(|e| e.comment.clone())
        .collect();
    assert_eq!(comments, ["two", "three"]);
}

async fn workflow_transitions_follow_the_state_machine(db: &TestDb) {
    let w = World::build(db).await;
    let id = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let user = db
        .system()
        .create_user_with_membership("op@a.example", "Op", "x", w.msp_a, None, Role::MspOperator)
        .await
        .unwrap()
        .id;
    let a = db.tenant(TenantScope::msp(w.msp_a, Role::MspOperator, true));
    let outbox = Outbox::default();
    let events = |i: &Issue, e: &IssueEvent| outbox.make(i, e);
    let none = |_: &Issue, _: &IssueEvent| Vec::new();

    let acked = a.acknowledge_issue(id, Some(user), &events).await.unwrap();
    assert_eq!(acked.state, IssueState::Acknowledged);
    // Acknowledging twice changes nothing and writes nothing.
    a.acknowledge_issue(id, Some(user), &events).await.unwrap();
    let started = a.set_in_progress(id, Some(user), &events).await.unwrap();
    assert_eq!(started.state, IssueState::InProgress);
    assert!(matches!(
        a.acknowledge_issue(id, Some(user), &none).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        a.unignore_issue(id, Some(user), &none).await,
        Err(StoreError::Conflict(_))
    ));
    let assigned = a
        .assign_issue(id, Some(user), Some(user), &events)
        .await
        .unwrap();
    assert_eq!(assigned.assignee, Some(user));
    assert_eq!(assigned.state, IssueState::InProgress);
    let reopened = a.reopen_issue(id, Some(user), &events).await.unwrap();
    assert_eq!(reopened.state, IssueState::Open);
    assert_eq!(reopened.assignee, Some(user));
    let ignored = a.ignore_issue(id, Some(user), &events).await.unwrap();
    assert_eq!(ignored.state, IssueState::Ignored);
    let back = a.reopen_issue(id, Some(user), &events).await.unwrap();
    assert_eq!(back.state, IssueState::Open);
    let unassigned = a.assign_issue(id, None, Some(user), &events).await.unwrap();
    assert_eq!(unassigned.assignee, None);
    assert!(matches!(
        a.comment_issue(id, "   ", Some(user), &none).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        a.comment_issue(id, &"x".repeat(10_001), Some(user), &none)
            .await,
        Err(StoreError::Invalid(_))
    ));
    a.comment_issue(id, "  looking at the SPF record  ", Some(user), &events)
        .await
        .unwrap();

    let h = history(&a, id).await;
    assert_eq!(
        kinds(&h),
        [
            IssueEventKind::Opened,
            IssueEventKind::Acknowledged,
            IssueEventKind::InProgress,
            IssueEventKind::Assigned,
            IssueEventKind::ReopenedByUser,
            IssueEventKind::Ignored,
            IssueEventKind::Unignored,
            IssueEventKind::Assigned,
            IssueEventKind::Commented,
        ]
    );
    assert_eq!(outbox.kinds(), kinds(&h)[1..]);
    assert!(h[1..].iter().all(|e| e.actor == Some(user)));
    assert_eq!(h[3].assignee, Some(user));
    assert_eq!(h[4].from_state, Some(IssueState::InProgress));
    assert_eq!(h[4].to_state, IssueState::Open);
    assert_eq!(h[7].assignee, None);
    assert_eq!(h[8].comment.as_deref(), Some("looking at the SPF record"));
    assert_eq!(h[8].from_state, Some(IssueState::Open));
    assert_eq!(h[8].to_state, IssueState::Open);
}

async fn role_rules_of_the_workflow(db: &TestDb) {
    let w = World::build(db).await;
    let id = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let none = |_: &Issue, _: &IssueEvent| Vec::new();
    let forbidden = |r: Result<Issue, StoreError>| matches!(r, Err(StoreError::Forbidden(_)));
    let staff_user = db
        .system()
        .create_user_with_membership("s@a.example", "S", "x", w.msp_a, None, Role::MspAdmin)
        .await
        .unwrap()
        .id;

    // MSP viewers read, and nothing else.
    for scope in [w.a_viewer()] {
        let v = db.tenant(scope);
        assert_eq!(v.issue(id).await.unwrap().id, id);
        assert_eq!(v.count_issue_events(id).await.unwrap(), 1);
        assert!(forbidden(v.acknowledge_issue(id, None, &none).await));
        assert!(forbidden(v.set_in_progress(id, None, &none).await));
        assert!(forbidden(v.comment_issue(id, "hi", None, &none).await));
        assert!(forbidden(v.ignore_issue(id, None, &none).await));
        assert!(forbidden(v.unignore_issue(id, None, &none).await));
        assert!(forbidden(v.reopen_issue(id, None, &none).await));
        assert!(forbidden(
            v.assign_issue(id, Some(staff_user), None, &none).await
        ));
    }

    // A client viewer (a client user) may comment, but not ignore, reopen or assign.
    let cv = db.tenant(TenantScope::client(w.msp_a, w.a1.id, Role::ClientViewer));
    cv.comment_issue(id, "seen", None, &none).await.unwrap();
    assert!(forbidden(cv.ignore_issue(id, None, &none).await));
    assert!(forbidden(cv.reopen_issue(id, None, &none).await));
    assert!(forbidden(
        cv.assign_issue(id, Some(staff_user), None, &none).await
    ));

    // A client admin acknowledges and comments on their own client's issues only.
    let c = db.tenant(w.a1_admin());
    assert_eq!(
        c.acknowledge_issue(id, None, &none).await.unwrap().state,
        IssueState::Acknowledged
    );
    c.comment_issue(id, "on it", None, &none).await.unwrap();
    c.set_in_progress(id, None, &none).await.unwrap();
    assert!(forbidden(c.ignore_issue(id, None, &none).await));
    assert!(forbidden(c.reopen_issue(id, None, &none).await));
    assert!(forbidden(c.unignore_issue(id, None, &none).await));
    assert!(forbidden(
        c.assign_issue(id, Some(staff_user), None, &none).await
    ));

    // MSP staff (owner, admin, operator) do everything.
    for role in [Role::MspOwner, Role::MspAdmin, Role::MspOperator] {
        let s = db.tenant(TenantScope::msp(w.msp_a, role, true));
        s.ignore_issue(id, None, &none).await.unwrap();
        s.reopen_issue(id, None, &none).await.unwrap();
        s.assign_issue(id, Some(staff_user), None, &none)
            .await
            .unwrap();
        s.assign_issue(id, None, None, &none).await.unwrap();
    }
    // Nothing the refused calls tried made it into the history.
    let h = history(&db.tenant(w.a_owner()), id).await;
    // opened, the client viewer's comment, the client admin's three, four per staff role.
    assert_eq!(h.len(), 1 + 1 + 3 + 3 * 4);
}

async fn assignees_must_reach_the_issues_client(db: &TestDb) {
    let w = World::build(db).await;
    let id = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let sys = db.system();
    let make = |email: &'static str, msp: MspId, client: Option<ClientId>, role: Role| {
        let sys = sys.clone();
        async move {
            sys.create_user_with_membership(email, email, "x", msp, client, role)
                .await
                .unwrap()
                .id
        }
    };
    let a1_user = make("c@a1.example", w.msp_a, Some(w.a1.id), Role::ClientAdmin).await;
    let a2_user = make("c@a2.example", w.msp_a, Some(w.a2.id), Role::ClientAdmin).await;
    let b_user = make("o@b.example", w.msp_b, None, Role::MspOwner).await;
    let a = db.tenant(w.a_owner());
    let none = |_: &Issue, _: &IssueEvent| Vec::new();
    assert_eq!(
        a.assign_issue(id, Some(a1_user), None, &none)
            .await
            .unwrap()
            .assignee,
        Some(a1_user)
    );
    for outsider in [a2_user, b_user, UserId::new()] {
        assert!(matches!(
            a.assign_issue(id, Some(outsider), None, &none).await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(a.issue(id).await.unwrap().assignee, Some(a1_user));
}

async fn every_issue_method_answers_not_found_for_another_tenant(db: &TestDb) {
    let w = World::build(db).await;
    let id = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let b_owner = db
        .system()
        .create_user_with_membership("o@b.example", "O", "x", w.msp_b, None, Role::MspOwner)
        .await
        .unwrap()
        .id;
    let none = |_: &Issue, _: &IssueEvent| Vec::new();
    let not_found = |r: Result<Issue, StoreError>| matches!(r, Err(StoreError::NotFound));
    // Another MSP's owner, and another client of the same MSP.
    for (scope, actor) in [
        (w.b_owner(), Some(b_owner)),
        (w.a2_admin(), None),
        (w.b1_admin(), None),
    ] {
        let other = db.tenant(scope);
        assert!(not_found(other.issue(id).await));
        assert!(matches!(
            other.issue_events(id, PageRequest::first(10)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            other.count_issue_events(id).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            other.count_issues(&IssueFilter::default()).await.unwrap(),
            0
        );
        let filtered = IssueFilter {
            client: Some(w.a1.id),
            domain: Some(w.a1_domain.id),
            ..IssueFilter::default()
        };
        assert!(
            other
                .list_issues(&filtered, PageRequest::first(10))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(not_found(other.acknowledge_issue(id, actor, &none).await));
        assert!(not_found(other.set_in_progress(id, actor, &none).await));
        assert!(not_found(other.comment_issue(id, "x", actor, &none).await));
        if scope.can_operate() {
            assert!(not_found(other.ignore_issue(id, actor, &none).await));
            assert!(not_found(other.unignore_issue(id, actor, &none).await));
            assert!(not_found(other.reopen_issue(id, actor, &none).await));
            assert!(not_found(other.assign_issue(id, actor, actor, &none).await));
        }
    }
    // Untouched.
    let a = db.tenant(w.a_owner());
    let issue = a.issue(id).await.unwrap();
    assert_eq!(issue.state, IssueState::Open);
    assert_eq!(issue.assignee, None);
    assert_eq!(history(&a, id).await.len(), 1);
}

async fn removing_a_domain_removes_its_issues_and_their_history(db: &TestDb) {
    let w = World::build(db).await;
    let id = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let kept = reconcile(
        db,
        &w.a2_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let a = db.tenant(w.a_owner());
    a.comment_issue(id, "history", None, &|_, _| Vec::new())
        .await
        .unwrap();
    a.remove_domain(w.a1_domain.id, crate::support::event("domain.removed"))
        .await
        .unwrap();
    assert!(matches!(a.issue(id).await, Err(StoreError::NotFound)));
    assert_eq!(a.count_issues(&IssueFilter::default()).await.unwrap(), 1);
    assert_eq!(a.issue(kept).await.unwrap().state, IssueState::Open);
}

/// Row-level security covers the issue tables: as `postern_app`, a raw query without a WHERE
/// clause sees only the tenant its settings name, and cannot write another tenant's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_security_isolates_issue_tables_on_postgres() {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
    let db = TestDb::postgres().await;
    let w = World::build(&db).await;
    reconcile(
        &db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await;
    let app = Database::connect(db.pg_url(Some("postern_app")).unwrap())
        .await
        .unwrap();
    let counts = |msp: Option<MspId>, client: Option<ClientId>| {
        let app = app.clone();
        async move {
            let txn = app.begin().await.unwrap();
            if let Some(msp) = msp {
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
            }
            let mut n = Vec::new();
            for table in ["issue", "issue_event"] {
                let row = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT count(*) AS n FROM {table}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                n.push(row.try_get::<i64>("", "n").unwrap());
            }
            txn.commit().await.unwrap();
            n
        }
    };
    assert_eq!(counts(Some(w.msp_a), None).await, [1, 1]);
    assert_eq!(counts(Some(w.msp_a), Some(w.a1.id)).await, [1, 1]);
    assert_eq!(counts(Some(w.msp_a), Some(w.a2.id)).await, [0, 0]);
    assert_eq!(counts(Some(w.msp_b), None).await, [0, 0]);
    assert_eq!(counts(None, None).await, [0, 0]);
    // B cannot rewrite A's issue: the policy hides it from UPDATE.
    let txn = app.begin().await.unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('postern.msp_id', $1, true)",
        [w.msp_b.to_string().into()],
    ))
    .await
    .unwrap();
    let updated = txn
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "UPDATE issue SET state = 'ignored'",
        ))
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    txn.commit().await.unwrap();
    app.close().await.unwrap();
}

async fn issue_people_are_only_those_named_in_visible_issues(db: &TestDb) {
    let w = World::build(db).await;
    let a1_issue = reconcile(
        db,
        &w.a1_domain,
        &["dmarc."],
        &[finding("dmarc.policy_none", Severity::High, "1")],
        20,
    )
    .await
    .opened[0];
    let sys = db.system();
    let staff = sys
        .create_user_with_membership("s@a.example", "Staff", "x", w.msp_a, None, Role::MspAdmin)
        .await
        .unwrap()
        .id;
    let client = sys
        .create_user_with_membership(
            "c@a1.example",
            "Client",
            "x",
            w.msp_a,
            Some(w.a1.id),
            Role::ClientAdmin,
        )
        .await
        .unwrap()
        .id;
    let bystander = sys
        .create_user_with_membership("x@a.example", "X", "x", w.msp_a, None, Role::MspAdmin)
        .await
        .unwrap()
        .id;
    let none = |_: &Issue, _: &IssueEvent| Vec::new();
    let a = db.tenant(w.a_owner());
    a.assign_issue(a1_issue, Some(client), Some(staff), &none)
        .await
        .unwrap();
    let names = |tenant: TenantDb| async move {
        let mut names: Vec<String> = tenant
            .issue_people(&[staff, client, bystander, UserId::new()])
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.display_name)
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(a.clone()).await, ["Client", "Staff"]);
    assert_eq!(names(db.tenant(w.a1_admin())).await, ["Client", "Staff"]);
    assert!(names(db.tenant(w.a2_admin())).await.is_empty());
    assert!(names(db.tenant(w.b_owner())).await.is_empty());
    assert!(a.issue_people(&[]).await.unwrap().is_empty());
}
