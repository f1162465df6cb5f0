//! `postern import` over a directory holding a Maildir, an mbox and a plain file.

// Fixture builders are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use postern_domain::{Role, TenantScope};
use postern_ingest::{IngestSettings, Ingestor, import_paths};
use postern_store::testing::TestDb;
use postern_store::{Backend, ReportFilter};
use std::io::Write;
use std::sync::Arc;

fn report(id: &str) -> Vec<u8> {
    format!(
        "<feedback><report_metadata><org_name>rx.example</org_name><email>a@rx.example</email><report_id>{id}</report_id>\
<date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata>\
<policy_published><domain>imp.example</domain><p>reject</p></policy_published>\
<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
<identifiers><header_from>imp.example</header_from></identifiers><auth_results><spf><domain>imp.example</domain><result>pass</result></spf></auth_results></record></feedback>"
    )
    .into_bytes()
}

/// A report mail as receivers send it: gzip attachment, base64, CRLF line ends.
fn mail(id: &str) -> Vec<u8> {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&report(id)).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: dmarc@rx.example\r\nTo: rua@imp.example\r\nSubject: Report Domain: imp.example Report-ID: {id}\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nreport attached\r\n\
--b1\r\nContent-Type: application/gzip; name=\"r.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_maildir_mbox_and_plain_files() {
    let db = TestDb::open(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("new/1.host"), mail("m-1")).unwrap();
    std::fs::write(maildir.join("cur/2.host:2,S"), mail("m-2")).unwrap();
    std::fs::write(maildir.join("tmp/3.host"), mail("m-3")).unwrap();
    let mut mbox = Vec::new();
    for id in ["x-1", "x-2"] {
        mbox.extend_from_slice(b"From dmarc@rx.example Thu Jan  1 00:00:00 2026\n");
        mbox.extend_from_slice(&mail(id));
        mbox.extend_from_slice(b"\n");
    }
    std::fs::write(dir.path().join("reports.mbox"), mbox).unwrap();
    std::fs::write(dir.path().join("plain.xml"), report("p-1")).unwrap();
    std::fs::write(dir.path().join("junk.bin"), b"\x00\x00junk").unwrap();

    let ing = Ingestor::new(
        db.store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let summary = import_paths(&ing, &[dir.path().to_path_buf()])
        .await
        .unwrap();
    // Maildir new + cur (never tmp), two mbox messages, the plain file, the junk file.
    assert_eq!(summary.inputs, 6, "{summary:?}");
    assert_eq!(summary.accepted, 5);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.records, 5);
    // Importing again finds only duplicates.
    let again = import_paths(&ing, &[dir.path().to_path_buf()])
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicate), (0, 5));

    let msp = db.store.system().create_msp("Op", true).await.unwrap().id;
    let op = db.store.tenant(TenantScope::msp(msp, Role::MspAdmin, true));
    assert_eq!(op.count_unassigned_reports().await.unwrap(), 5);
    assert_eq!(op.count_reports(&ReportFilter::default()).await.unwrap(), 0);
}
