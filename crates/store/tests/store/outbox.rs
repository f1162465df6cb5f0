//! The outbox: events commit with their data, and the relay reads and marks them.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at, event, header, records};
use postern_domain::ReportId;
use postern_store::StoreError;

on_both_backends!(
    unpublished_events_come_oldest_first_until_marked,
    events_vanish_with_the_data_they_describe,
);

async fn unpublished_events_come_oldest_first_until_marked(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let a = db.tenant(w.a_owner());
    let first = event("one");
    let second = event("two");
    a.remove_domain(w.a1_domain.id, first.clone())
        .await
        .unwrap();
    a.remove_domain(w.a2_domain.id, second.clone())
        .await
        .unwrap();
    let pending = sys.outbox_unpublished(10).await.unwrap();
    assert_eq!(pending, vec![first.clone(), second.clone()]);
    assert_eq!(
        sys.outbox_unpublished(1).await.unwrap(),
        vec![first.clone()]
    );
    sys.outbox_mark_published(&[first.id], at(20, 0))
        .await
        .unwrap();
    assert_eq!(
        sys.outbox_unpublished(10).await.unwrap(),
        vec![second.clone()]
    );
    sys.outbox_mark_published(&[first.id, second.id], at(21, 0))
        .await
        .unwrap();
    sys.outbox_mark_published(&[], at(21, 0)).await.unwrap();
    assert!(sys.outbox_unpublished(10).await.unwrap().is_empty());
}

async fn events_vanish_with_the_data_they_describe(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (raw, _) = sys
        .store_raw_input(b"x", "upload", None, at(1, 0))
        .await
        .unwrap();
    let h = header("a1.example", "ev", "org", 3);
    let mut writer = sys
        .begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    writer.add_records(&records(3)).await.unwrap();
    writer.rollback().await.unwrap();
    assert!(sys.outbox_unpublished(10).await.unwrap().is_empty());

    let committed = event("report.ingested");
    let writer = sys
        .begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    writer.commit(&[], committed.clone()).await.unwrap();
    assert_eq!(
        sys.outbox_unpublished(10).await.unwrap(),
        vec![committed.clone()]
    );
    // A refused duplicate writes no event; nor does reusing an event id.
    assert!(matches!(
        sys.begin_aggregate(ReportId::new(), raw, None, &h, at(20, 0))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let mut other = h.clone();
    other.report_id = "ev-2".into();
    let writer = sys
        .begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &other, at(20, 0))
        .await
        .unwrap();
    assert!(matches!(
        writer.commit(&[], committed.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(sys.outbox_unpublished(10).await.unwrap(), vec![committed]);
    assert_eq!(
        sys.report_exists(
            postern_domain::ReportKind::Aggregate,
            "org",
            "ev-2",
            "a1.example"
        )
        .await
        .unwrap(),
        None
    );
}
