//! Ingest writes: raw input stored once, duplicate reports refused, the aggregate writer
//! all-or-nothing and chunked.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at, event, header, records};
use postern_domain::{ReportId, ReportKind};
use postern_store::{PageRequest, StoreError};
use std::time::Duration;

/// `printf 'same bytes' | sha256sum`
const SAME_BYTES_SHA256: &str = "58100dc8fc06562ce3e578231dc948e083520ee49c4b4ee5a5a28bb4b4003feb";

on_both_backends!(
    raw_input_is_stored_once_per_sha256,
    duplicate_reports_are_refused_and_found,
    concurrent_duplicate_aggregate_gives_conflict,
    abandoned_aggregate_leaves_nothing_behind,
    aggregate_writer_streams_batches_across_insert_chunks,
);

async fn raw_input_is_stored_once_per_sha256(db: &TestDb) {
    let sys = db.system();
    let (first, new) = sys
        .store_raw_input(b"same bytes", "upload", Some("application/gzip"), at(1, 0))
        .await
        .unwrap();
    assert!(new);
    let (second, new) = sys
        .store_raw_input(b"same bytes", "imap", None, at(2, 0))
        .await
        .unwrap();
    assert!(!new);
    assert_eq!(first, second);
    let (third, new) = sys
        .store_raw_input(b"other bytes", "imap", None, at(2, 0))
        .await
        .unwrap();
    assert!(new);
    assert_ne!(third, first);
    let meta = sys.raw_input(first).await.unwrap();
    assert_eq!(meta.size, 10);
    assert_eq!(meta.source, "upload");
    assert_eq!(meta.content_type.as_deref(), Some("application/gzip"));
    assert_eq!(meta.first_received_at, at(1, 0));
    assert_eq!(meta.sha256, SAME_BYTES_SHA256);
}

async fn duplicate_reports_are_refused_and_found(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (raw, _) = sys
        .store_raw_input(b"x", "upload", None, at(1, 0))
        .await
        .unwrap();
    let h = header("a1.example", "dup", "Reporter", 3);
    let id = ReportId::new();
    let writer = sys
        .begin_aggregate(id, raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    writer.commit(&[], event("e")).await.unwrap();
    // Same key, even unassigned and with the domain spelled differently.
    let mut again = h.clone();
    again.policy.domain = "A1.Example.".into();
    let result = sys
        .begin_aggregate(ReportId::new(), raw, None, &again, at(21, 0))
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(
        sys.report_exists(ReportKind::Aggregate, "Reporter", "dup", "a1.example.")
            .await
            .unwrap(),
        Some(id)
    );
    assert_eq!(
        sys.report_exists(ReportKind::Failure, "Reporter", "dup", "a1.example")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        sys.report_exists(ReportKind::Aggregate, "Other", "dup", "a1.example")
            .await
            .unwrap(),
        None
    );
    // Another report id from the same reporter is a different report.
    let mut next = h.clone();
    next.report_id = "dup-2".into();
    sys.begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &next, at(21, 0))
        .await
        .unwrap()
        .commit(&[], event("e"))
        .await
        .unwrap();
}

async fn concurrent_duplicate_aggregate_gives_conflict(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (raw, _) = sys
        .store_raw_input(b"x", "upload", None, at(1, 0))
        .await
        .unwrap();
    let h = header("a1.example", "race", "Reporter", 3);
    let mut first = sys
        .begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    first.add_records(&records(10)).await.unwrap();
    let second = {
        let sys = sys.clone();
        let h = h.clone();
        let domain = w.a1_domain.clone();
        tokio::spawn(async move {
            sys.begin_aggregate(ReportId::new(), raw, Some(&domain), &h, at(20, 0))
                .await
        })
    };
    // The second writer waits for the first (row lock / SQLite write lock) …
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished());
    first.commit(&[], event("e")).await.unwrap();
    // … and then finds the report stored.
    let result = second.await.unwrap();
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
}

async fn abandoned_aggregate_leaves_nothing_behind(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (raw, _) = sys
        .store_raw_input(b"x", "upload", None, at(1, 0))
        .await
        .unwrap();
    let h = header("a1.example", "gone", "Reporter", 3);
    let mut writer = sys
        .begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    writer.add_records(&records(50)).await.unwrap();
    writer.rollback().await.unwrap();
    assert_eq!(
        sys.report_exists(ReportKind::Aggregate, "Reporter", "gone", "a1.example")
            .await
            .unwrap(),
        None
    );
    let mut dropped = sys
        .begin_aggregate(ReportId::new(), raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    dropped.add_records(&records(5)).await.unwrap();
    drop(dropped);
    assert_eq!(
        sys.report_exists(ReportKind::Aggregate, "Reporter", "gone", "a1.example")
            .await
            .unwrap(),
        None
    );
    assert!(sys.outbox_unpublished(10).await.unwrap().is_empty());
    // The key is free: a later attempt stores it.
    let id = ReportId::new();
    let writer = sys
        .begin_aggregate(id, raw, Some(&w.a1_domain), &h, at(20, 0))
        .await
        .unwrap();
    writer.commit(&[], event("e")).await.unwrap();
    assert_eq!(
        sys.report_exists(ReportKind::Aggregate, "Reporter", "gone", "a1.example")
            .await
            .unwrap(),
        Some(id)
    );
}

async fn aggregate_writer_streams_batches_across_insert_chunks(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let (raw, _) = sys
        .store_raw_input(b"big", "upload", None, at(1, 0))
        .await
        .unwrap();
    let all = records(4_500);
    let id = ReportId::new();
    let mut writer = sys
        .begin_aggregate(
            id,
            raw,
            Some(&w.a1_domain),
            &header("a1.example", "big", "org", 3),
            at(20, 0),
        )
        .await
        .unwrap();
    assert_eq!(writer.report_id(), id);
    // Uneven batches: one bigger than a chunk, one tiny, one empty, the rest.
    writer.add_records(&all[..2_345]).await.unwrap();
    writer.add_records(&all[2_345..2_346]).await.unwrap();
    writer.add_records(&[]).await.unwrap();
    writer.add_records(&all[2_346..]).await.unwrap();
    let (count, messages) = writer.commit(&[], event("e")).await.unwrap();
    assert_eq!(count, 4_500);
    assert_eq!(messages, all.iter().map(|r| r.count).sum::<u64>());
    assert_eq!(sys.all_aggregate_records(id).await.unwrap(), all);
    let a1 = db.tenant(w.a1_admin());
    let page = a1
        .aggregate_records(id, PageRequest::first(3))
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|r| r.record.clone())
            .collect::<Vec<_>>(),
        all[..3].to_vec()
    );
    let summary = a1.report(id).await.unwrap();
    assert_eq!(
        (summary.record_count, summary.message_count),
        (count, messages)
    );
}
