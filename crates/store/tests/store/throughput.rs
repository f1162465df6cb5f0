//! How fast the aggregate writer stores records. Prints the rate (run with
//! `--nocapture`); asserts only that everything arrived, since a rate depends on the
//! machine and on what runs beside the test.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at, event, header, records};
use postern_domain::ReportId;
use std::time::Instant;

on_both_backends!(aggregate_writer_rate);

const RECORDS: u32 = 50_000;
/// Records per `add_records` call, like a streaming parser hands them over.
const BATCH: usize = 1_000;

async fn aggregate_writer_rate(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let all = records(RECORDS);
    let (raw, _) = sys
        .store_raw_input(b"rate", "bench", None, at(1, 0))
        .await
        .unwrap();
    let id = ReportId::new();
    let started = Instant::now();
    let mut writer = sys
        .begin_aggregate(
            id,
            raw,
            Some(&w.a1_domain),
            &header("a1.example", "rate", "org", 3),
            at(20, 0),
        )
        .await
        .unwrap();
    for batch in all.chunks(BATCH) {
        writer.add_records(batch).await.unwrap();
    }
    let (stored, _) = writer.commit(&[], event("e")).await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "{:?}: {stored} records in {:.2} s = {:.0} records/s",
        db.store.backend(),
        elapsed.as_secs_f64(),
        f64::from(RECORDS) / elapsed.as_secs_f64()
    );
    assert_eq!(stored, u64::from(RECORDS));
    assert_eq!(
        db.tenant(w.a1_admin())
            .report(id)
            .await
            .unwrap()
            .record_count,
        stored
    );
}
