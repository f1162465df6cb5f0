//! The intake pipeline against real databases: every corpus input, batches with bad parts,
//! routing, scope and deduplication. Each scenario runs on SQLite and on PostgreSQL.

// Scenario helpers are plain async fns shared by the per-backend tests, which clippy's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use postern_domain::{DomainName, MspId, ReportKind, Role, TenantScope};
use postern_ingest::{IngestOutcome, IngestSettings, Ingestor, ItemStatus, Source};
use postern_store::testing::TestDb;
use postern_store::{Backend, Client, PageRequest, ReportFilter, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn corpora() -> PathBuf {
    std::env::var_os("POSTERN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"))
}

fn ingestor(store: &Store) -> Ingestor {
    Ingestor::new(
        store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    )
}

async fn ingest(ing: &Ingestor, bytes: Vec<u8>, scope: Option<TenantScope>) -> IngestOutcome {
    ing.ingest(bytes, None, Source::Http, scope, Utc::now())
        .await
        .unwrap()
}

fn report(domain: &str, id: &str) -> Vec<u8> {
    format!(
        "<feedback><report_metadata><org_name>rx.example</org_name><email>a@rx.example</email><report_id>{id}</report_id>\
<date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><p>none</p></policy_published>\
<record><row><source_ip>192.0.2.1</source_ip><count>7</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers><auth_results><spf><domain>{domain}</domain><result>fail</result></spf></auth_results></record></feedback>"
    )
    .into_bytes()
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

struct World {
    msp: MspId,
    acme: Client,
    other: Client,
}

async fn world(store: &Store) -> World {
    let sys = store.system();
    let msp = sys.create_msp("MSP", true).await.unwrap().id;
    let owner = store.tenant(TenantScope::msp(msp, Role::MspOwner, true));
    let acme = owner.create_client("Acme").await.unwrap();
    let other = owner.create_client("Other").await.unwrap();
    for (client, name) in [(&acme, "acme.example"), (&other, "other.example")] {
        owner
            .add_domain(client.id, &DomainName::parse(name).unwrap(), &|_, _| {
                Vec::new()
            })
            .await
            .unwrap();
    }
    World { msp, acme, other }
}

fn owner(w: &World) -> TenantScope {
    TenantScope::msp(w.msp, Role::MspOwner, true)
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
    every_corpus_input_is_stored_and_accounted_for,
    one_bad_entry_does_not_stop_the_rest_of_a_batch,
    same_bytes_are_one_copy_and_same_report_is_a_duplicate,
    reports_are_routed_by_domain_ownership,
    credential_cannot_push_reports_into_another_clients_domain,
    hostile_inputs_are_rejected_with_reasons_and_kept,
);

/// Every report input of the shared corpora goes through the whole pipeline: the bytes are
/// stored, each part is accepted, duplicate or rejected with a reason, and nothing errors.
async fn every_corpus_input_is_stored_and_accounted_for(db: &TestDb) {
    let ing = ingestor(&db.store);
    let root = corpora();
    let dirs = [
        "parsedmarc-samples/samples",
        "stalwart-mail-auth",
        "dmarc-report-viewer-testdata",
        "dmarc-report-converter-testdata",
        "mail-dmarc-fixtures",
        "tlsrpt-digest-testdata",
    ];
    let mut files = Vec::new();
    for dir in dirs {
        collect(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 60,
        "corpora not found under {}",
        root.display()
    );
    let (mut accepted, mut rejected) = (0, 0);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let outcome = ing
            .ingest(
                bytes.clone(),
                None,
                Source::Import(file.display().to_string()),
                None,
                Utc::now(),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!outcome.items.is_empty(), "{}: no outcome", file.display());
        assert_eq!(outcome.input.size, bytes.len() as u64);
        for item in &outcome.items {
            match item.status {
                ItemStatus::Accepted => accepted += 1,
                ItemStatus::Rejected => {
                    assert!(
                        item.reason.is_some(),
                        "{}: rejected without a reason",
                        file.display()
                    );
                    rejected += 1;
                }
                ItemStatus::Duplicate => {}
            }
        }
    }
    // Nearly everything real parses; the rejects are the deliberately broken samples.
    assert!(accepted >= 60, "accepted {accepted}");
    assert!(rejected >= 3, "rejected {rejected}");
    let sys = db.store.system();
    // Nothing of it belongs to a client: all unassigned, visible to the operator.
    let msp = sys.create_msp("Operator", true).await.unwrap().id;
    let op = db.store.tenant(TenantScope::msp(msp, Role::MspAdmin, true));
    assert_eq!(op.count_unassigned_reports().await.unwrap(), accepted);
    assert!(op.count_rejections().await.unwrap() >= rejected);
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if p.is_dir() {
            if name != "spf" {
                collect(&p, files);
            }
        } else if !(name.ends_with(".json") && p.with_extension("xml").exists()
            || name.ends_with(".json") && p.with_extension("eml").exists()
            || name.ends_with(".md")
            || name.ends_with(".go")
            || name.starts_with("LICENSE")
            || name.ends_with(".tsv")
            || name.ends_with(".txt"))
        {
            files.push(p);
        }
    }
}

async fn one_bad_entry_does_not_stop_the_rest_of_a_batch(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let batch = zip(&[
        ("good-1.xml", &report("acme.example", "b-1")),
        ("broken.xml", b"<feedback><report_metadata><org_name>x</org"),
        ("good-2.xml", &report("other.example", "b-2")),
    ]);
    let outcome = ingest(&ing, batch, Some(owner(&w))).await;
    let statuses: Vec<_> = outcome.items.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        [
            ItemStatus::Accepted,
            ItemStatus::Rejected,
            ItemStatus::Accepted
        ],
        "{:#?}",
        outcome.items
    );
    assert_eq!(outcome.items[1].reason.as_deref(), Some("invalid_xml"));
    let t = db.store.tenant(owner(&w));
    assert_eq!(t.count_reports(&ReportFilter::default()).await.unwrap(), 2);
    assert_eq!(t.count_rejections().await.unwrap(), 1);
}

async fn same_bytes_are_one_copy_and_same_report_is_a_duplicate(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let first = ingest(&ing, report("acme.example", "d-1"), Some(owner(&w))).await;
    assert!(!first.input.already_stored);
    let again = ingest(&ing, report("acme.example", "d-1"), Some(owner(&w))).await;
    assert!(again.input.already_stored);
    assert_eq!(again.input.id, first.input.id);
    assert_eq!(again.items[0].status, ItemStatus::Duplicate);
    assert_eq!(again.items[0].report_id, first.items[0].report_id);
    // The same report in other bytes (gzip) is still the same report.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&report("acme.example", "d-1")).unwrap();
    let third = ingest(&ing, gz.finish().unwrap(), Some(owner(&w))).await;
    assert!(!third.input.already_stored);
    assert_eq!(third.items[0].status, ItemStatus::Duplicate);
    let t = db.store.tenant(owner(&w));
    assert_eq!(t.count_reports(&ReportFilter::default()).await.unwrap(), 1);
}

async fn reports_are_routed_by_domain_ownership(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    // Imported without a credential: routed by the policy domain alone.
    let a = ing
        .ingest(
            report("ACME.example.", "r-1"),
            None,
            Source::Import("x".into()),
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(a.items[0].assigned);
    let acme = db
        .store
        .tenant(TenantScope::client(w.msp, w.acme.id, Role::ClientViewer));
    let other = db
        .store
        .tenant(TenantScope::client(w.msp, w.other.id, Role::ClientViewer));
    assert_eq!(
        acme.count_reports(&ReportFilter::default()).await.unwrap(),
        1
    );
    assert_eq!(
        other.count_reports(&ReportFilter::default()).await.unwrap(),
        0
    );
    let page = acme
        .list_reports(
            &ReportFilter::default(),
            PageRequest {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].kind, ReportKind::Aggregate);
    assert_eq!(page.items[0].domain, "acme.example");
    assert_eq!(page.items[0].message_count, 7);
    // Nobody's domain: kept unassigned.
    let n = ing
        .ingest(
            report("nobody.example", "r-2"),
            None,
            Source::Import("x".into()),
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(n.items[0].status, ItemStatus::Accepted);
    assert!(!n.items[0].assigned);
}

async fn credential_cannot_push_reports_into_another_clients_domain(db: &TestDb) {
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let acme_admin = TenantScope::client(w.msp, w.acme.id, Role::ClientAdmin);
    let outcome = ingest(&ing, report("other.example", "s-1"), Some(acme_admin)).await;
    assert_eq!(outcome.items[0].status, ItemStatus::Rejected);
    assert_eq!(
        outcome.items[0].reason.as_deref(),
        Some("domain_not_in_scope")
    );
    let other = db
        .store
        .tenant(TenantScope::client(w.msp, w.other.id, Role::ClientViewer));
    assert_eq!(
        other.count_reports(&ReportFilter::default()).await.unwrap(),
        0
    );
    // The refusal is the uploader's to see, not the other client's.
    let acme = db.store.tenant(acme_admin);
    assert_eq!(acme.count_rejections().await.unwrap(), 1);
    assert_eq!(other.count_rejections().await.unwrap(), 0);
}

async fn hostile_inputs_are_rejected_with_reasons_and_kept(db: &TestDb) {
    let w = world(&db.store).await;
    // A small decompression limit keeps the bomb small; the mechanism is the same.
    let mut settings = IngestSettings::default();
    settings.limits.max_decompressed_bytes = 8 << 20;
    let ing = Ingestor::new(
        db.store.clone(),
        settings,
        Arc::new(tokio::sync::Notify::new()),
    );
    let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><feedback>&lol2;</feedback>"#;
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Valid-looking XML that inflates past the limit.
    bomb.write_all(b"<feedback>").unwrap();
    let filler = b"<x/>".repeat(1 << 18);
    for _ in 0..12 {
        bomb.write_all(&filler).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    let mut truncated = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    truncated.write_all(&report("acme.example", "t-1")).unwrap();
    let mut truncated = truncated.finish().unwrap();
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("entity_declaration", laughs.to_vec()),
        ("decompressed_too_large", bomb),
        ("truncated_compression", truncated),
        ("empty", Vec::new()),
        ("unrecognized_format", b"\x00\x01\x02 not a report".to_vec()),
    ];
    for (reason, bytes) in cases {
        let size = bytes.len() as u64;
        let outcome = ingest(&ing, bytes, Some(owner(&w))).await;
        assert_eq!(outcome.items.len(), 1, "{reason}: {:#?}", outcome.items);
        assert_eq!(outcome.items[0].status, ItemStatus::Rejected);
        assert_eq!(outcome.items[0].reason.as_deref(), Some(reason));
        // The original bytes are kept.
        let kept = db
            .store
            .tenant(owner(&w))
            .raw_input_bytes(outcome.input.id)
            .await
            .unwrap();
        assert_eq!(kept.len() as u64, size);
    }
}

#[tokio::test]
async fn a_report_with_one_bad_record_keeps_the_good_ones() {
    let db = TestDb::open(Backend::Sqlite).await;
    let w = world(&db.store).await;
    let ing = ingestor(&db.store);
    let xml = String::from_utf8(report("acme.example", "p-1")).unwrap().replace(
        "</feedback>",
        "<record><row><source_ip></source_ip><count>3</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>acme.example</header_from></identifiers></record></feedback>",
    );
    let outcome = ingest(&ing, xml.into_bytes(), Some(owner(&w))).await;
    assert_eq!(outcome.items[0].status, ItemStatus::Accepted);
    assert_eq!(outcome.items[0].records, Some(1));
    assert_eq!(outcome.items[0].messages, Some(7));
    assert!(
        outcome.items[0]
            .problems
            .iter()
            .any(|p| p.contains("source_ip")),
        "{:?}",
        outcome.items[0].problems
    );
}
