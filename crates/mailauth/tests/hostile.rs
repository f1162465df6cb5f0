//! Hostile and broken inputs: each is rejected with its specific reason, quickly, without
//! a panic and without unbounded memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use flate2::Compression;
use flate2::write::GzEncoder;
use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};
use postern_mailauth::{
    AggregateEnd, Extracted, Limits, Location, RejectReason, Rejection, ReportSink, extract,
    extract_all,
};
use std::io::Write;

const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>example.net</org_name>
    <email>dmarc@example.net</email>
    <report_id>r-1</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain><p>reject</p></policy_published>
  <record>
    <row><source_ip>192.0.2.1</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results>
  </record>
</feedback>
"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The one rejection `bytes` yields.
fn rejection(bytes: &[u8], limits: &Limits) -> Rejection {
    let found = extract_all(bytes, limits);
    match found.as_slice() {
        [Extracted::Rejected { rejection, .. }] => rejection.clone(),
        other => panic!("expected one rejection, got {other:?}"),
    }
}

fn reason(bytes: &[u8]) -> RejectReason {
    rejection(bytes, &Limits::default()).reason
}

#[test]
fn billion_laughs_is_refused_before_anything_expands() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        doc.push_str(&format!(
            " <!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    doc.push_str(
        "]>\n<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>",
    );
    assert_eq!(reason(doc.as_bytes()), RejectReason::EntityDeclaration);
    // The same inside gzip inside an email.
    let mail = format!(
        "From: a@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&gzip(doc.as_bytes()))
    );
    assert_eq!(reason(mail.as_bytes()), RejectReason::EntityDeclaration);
}

/// A report with `n` bytes of white space inside it: compresses to almost nothing.
fn padded_report(n: usize) -> Vec<u8> {
    let at = REPORT.find("<record>").unwrap();
    let mut doc = REPORT.as_bytes()[..at].to_vec();
    doc.extend(std::iter::repeat_n(b' ', n));
    doc.extend_from_slice(&REPORT.as_bytes()[at..]);
    doc
}

#[test]
fn a_zip_bomb_stops_at_the_decompression_limit() {
    let limits = Limits {
        max_decompressed_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let bomb = zip_of(&[("report.xml", &padded_report(8 * 1024 * 1024))]);
    assert!(bomb.len() < 64 * 1024, "the bomb is {} bytes", bomb.len());
    assert_eq!(
        rejection(&bomb, &limits).reason,
        RejectReason::DecompressedTooLarge
    );

    // Zeros are not a report: the entry is given up after its first bytes.
    let zeros = zip_of(&[("report.xml", &vec![0u8; 8 * 1024 * 1024])]);
    assert_eq!(
        rejection(&zeros, &limits).reason,
        RejectReason::NoReportFound
    );

    // Many entries, each under the limit, share one budget.
    let chunk = padded_report(300 * 1024);
    let entries: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("{i}.xml"), chunk.clone()))
        .collect();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let found = extract_all(&zip_of(&refs), &limits);
    assert!(
        found
            .iter()
            .any(|f| matches!(f, Extracted::Rejected { rejection, .. }
            if rejection.reason == RejectReason::DecompressedTooLarge)),
        "{found:?}"
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_decompression_limit() {
    let big = padded_report(4 * 1024 * 1024);
    let limits = Limits {
        max_decompressed_bytes: 1024 * 1024,
        ..Limits::default()
    };
    assert_eq!(
        rejection(&gzip(&big), &limits).reason,
        RejectReason::DecompressedTooLarge
    );
    // Data after the report counts too: it is read to check the gzip trailer.
    let mut trailing = REPORT.as_bytes().to_vec();
    trailing.extend(std::iter::repeat_n(b'\n', 4 * 1024 * 1024));
    let mut trace = Trace {
        accept: true,
        ..Trace::default()
    };
    extract(&gzip(&trailing), &limits, &mut trace);
    assert_eq!(
        trace.events,
        vec!["begin body/gzip r-1", "aborted decompressed_too_large"]
    );
}

#[test]
fn truncated_gzip_is_named_as_such() {
    let whole = gzip(REPORT.as_bytes());
    for cut in [whole.len() - 4, whole.len() / 2, 12] {
        let r = rejection(&whole[..cut], &Limits::default());
        assert_eq!(
            r.reason,
            RejectReason::TruncatedCompression,
            "cut at {cut}: {r:?}"
        );
    }
    // A large report whose gzip trailer is cut: every record was read, yet the report
    // is aborted because the stream is incomplete.
    let big = gzip(many_records(3000).as_bytes());
    let mut trace = Trace {
        accept: true,
        ..Trace::default()
    };
    extract(&big[..big.len() - 3], &Limits::default(), &mut trace);
    assert_eq!(
        trace.events.last().map(String::as_str),
        Some("aborted truncated_compression")
    );
}

#[test]
fn a_truncated_zip_is_named_as_such() {
    let whole = zip_of(&[("a.xml", REPORT.as_bytes())]);
    let r = rejection(&whole[..whole.len() - 30], &Limits::default());
    assert_eq!(r.reason, RejectReason::TruncatedCompression, "{r:?}");
}

#[test]
fn a_claimed_size_of_two_gigabytes_is_not_believed() {
    // gzip: the ISIZE trailer claims 2 GiB; the data says otherwise.
    let mut gz = gzip(REPORT.as_bytes());
    let n = gz.len();
    gz[n - 4..].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    assert_eq!(reason(&gz), RejectReason::InvalidCompression);

    // zip: the headers claim a 2 GiB entry; nothing is allocated for it, the entry is
    // read as the stream it really is.
    let mut z = zip_of(&[("a.xml", REPORT.as_bytes())]);
    let claim = 0x8000_0000u32.to_le_bytes();
    // Local header: uncompressed size at offset 22. Central directory: offset 24.
    z[22..26].copy_from_slice(&claim);
    let cd = z
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    z[cd + 24..cd + 28].copy_from_slice(&claim);
    let found = extract_all(&z, &Limits::default());
    assert!(
        matches!(found.as_slice(), [Extracted::Aggregate { records, .. }] if records.len() == 1),
        "{found:?}"
    );
}

#[test]
fn empty_input_is_empty() {
    assert_eq!(reason(b""), RejectReason::Empty);
    assert_eq!(reason(b" \r\n "), RejectReason::Empty);
    assert_eq!(reason(&gzip(b"")), RejectReason::Empty);
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_bytes_behind_any_magic_give_a_callback_and_no_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let prefixes: [&[u8]; 7] = [
        b"",
        b"\x1f\x8b",
        b"PK\x03\x04",
        b"<feedback><report_metadata>",
        b"{\"organization-name\":",
        b"Received: from x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
        b"\xFF\xFE<\0",
    ];
    let limits = Limits {
        max_decompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    for round in 0..300 {
        let prefix = prefixes[round % prefixes.len()];
        let len = (rng.next() % 2048) as usize;
        let mut input = prefix.to_vec();
        input.extend(rng.bytes(len));
        let found = extract_all(&input, &limits);
        assert!(!found.is_empty(), "round {round}: no callback");
    }
    assert_eq!(
        reason(&Rng(7).bytes(4096)),
        RejectReason::UnrecognizedFormat
    );
}

#[test]
fn nesting_is_limited() {
    let mut layered = REPORT.as_bytes().to_vec();
    for _ in 0..4 {
        layered = gzip(&layered);
    }
    let found = extract_all(&layered, &Limits::default());
    match found.as_slice() {
        [Extracted::Aggregate { at, records, .. }] => {
            assert_eq!(at.0, "body/gzip/gzip/gzip/gzip");
            assert_eq!(records.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let deeper = gzip(&layered);
    assert_eq!(reason(&deeper), RejectReason::NestingTooDeep);
}

#[test]
fn too_many_zip_entries_are_refused() {
    let names: Vec<String> = (0..5).map(|i| format!("{i}.xml")).collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), REPORT.as_bytes()))
        .collect();
    let limits = Limits {
        max_archive_entries: 4,
        ..Limits::default()
    };
    assert_eq!(
        rejection(&zip_of(&entries), &limits).reason,
        RejectReason::TooManyArchiveEntries
    );
    // Within the limit, every entry is read.
    let found = extract_all(&zip_of(&entries[..4]), &limits);
    assert_eq!(found.len(), 4);
    assert!(
        found
            .iter()
            .all(|f| matches!(f, Extracted::Aggregate { .. }))
    );
}

#[test]
fn an_oversized_xml_token_is_refused() {
    let mut doc = REPORT.replace("<org_name>example.net</org_name>", "<org_name>");
    let at = doc.find("<org_name>").unwrap() + "<org_name>".len();
    doc.insert_str(at, &format!("{}</org_name>", "x".repeat(300_000)));
    let limits = Limits {
        max_xml_token_bytes: 64 * 1024,
        ..Limits::default()
    };
    assert_eq!(
        rejection(doc.as_bytes(), &limits).reason,
        RejectReason::OversizedElement
    );
    assert!(matches!(
        extract_all(doc.as_bytes(), &Limits::default()).as_slice(),
        [Extracted::Aggregate { .. }]
    ));
}

/// Records every callback in order.
#[derive(Default)]
struct Trace {
    events: Vec<String>,
    accept: bool,
}

impl ReportSink for Trace {
    fn aggregate_begin(&mut self, at: &Location, header: &AggregateHeader) -> bool {
        self.events.push(format!("begin {at} {}", header.report_id));
        self.accept
    }
    fn aggregate_records(&mut self, records: Vec<AggregateRecord>) {
        self.events.push(format!("records {}", records.len()));
    }
    fn aggregate_end(&mut self, end: AggregateEnd) {
        self.events.push(match end {
            AggregateEnd::Complete {
                records, messages, ..
            } => {
                format!("complete {records} {messages}")
            }
            AggregateEnd::Aborted(r) => format!("aborted {}", r.reason.code()),
        });
    }
    fn failure(&mut self, at: &Location, _: FailureReport, _: Vec<String>) {
        self.events.push(format!("failure {at}"));
    }
    fn tls(&mut self, at: &Location, _: TlsReport, _: Vec<String>) {
        self.events.push(format!("tls {at}"));
    }
    fn rejected(&mut self, at: &Location, rejection: Rejection) {
        self.events
            .push(format!("rejected {at} {}", rejection.reason.code()));
    }
}

fn many_records(n: usize) -> String {
    let record = &REPORT[REPORT.find("<record>").unwrap()..REPORT.find("</feedback>").unwrap()];
    let head = &REPORT[..REPORT.find("<record>").unwrap()];
    format!("{head}{}</feedback>\n", record.repeat(n))
}

#[test]
fn a_structural_error_after_begin_aborts_the_report() {
    let doc = many_records(2500);
    let cut = &doc.as_bytes()[..doc.len() - 200];
    let mut trace = Trace {
        accept: true,
        ..Trace::default()
    };
    extract(&gzip(cut), &Limits::default(), &mut trace);
    assert_eq!(
        trace.events,
        vec![
            "begin body/gzip r-1".to_owned(),
            "records 1000".to_owned(),
            "records 1000".to_owned(),
            "aborted invalid_xml".to_owned(),
        ]
    );
}

#[test]
fn too_many_records_aborts_the_report() {
    let limits = Limits {
        max_records_per_report: 10,
        record_batch: 4,
        ..Limits::default()
    };
    let mut trace = Trace {
        accept: true,
        ..Trace::default()
    };
    extract(many_records(11).as_bytes(), &limits, &mut trace);
    assert_eq!(
        trace.events,
        vec![
            "begin body r-1",
            "records 4",
            "records 4",
            "aborted too_many_records"
        ]
    );
}

#[test]
fn a_declined_report_is_not_read_further() {
    let mut trace = Trace::default();
    extract(
        many_records(5000).as_bytes(),
        &Limits::default(),
        &mut trace,
    );
    assert_eq!(trace.events, vec!["begin body r-1", "complete 0 0"]);
}

#[test]
fn a_bad_record_is_skipped_with_a_problem_and_the_rest_kept() {
    let doc = many_records(3)
        .replacen(
            "<source_ip>192.0.2.1</source_ip>",
            "<source_ip></source_ip>",
            1,
        )
        .replacen("<count>3</count>", "<count>x</count>", 2)
        .replacen("<count>x</count>", "<count>3</count>", 1);
    match extract_all(doc.as_bytes(), &Limits::default()).as_slice() {
        [
            Extracted::Aggregate {
                records, problems, ..
            },
        ] => {
            assert_eq!(records.len(), 1);
            assert_eq!(
                problems,
                &vec![
                    "record 1: empty source_ip; record skipped".to_owned(),
                    "record 2: invalid count \"x\"; record skipped".to_owned(),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_identity_fields_reject_the_report() {
    for (from, to, field) in [
        (
            "<report_id>r-1</report_id>",
            "",
            "report_metadata/report_id",
        ),
        (
            "<domain>example.com</domain><p>",
            "<p>",
            "policy_published/domain",
        ),
        (
            "<date_range><begin>1700000000</begin><end>1700086399</end></date_range>",
            "",
            "report_metadata/date_range/begin",
        ),
    ] {
        let doc = REPORT.replace(from, to);
        let r = rejection(doc.as_bytes(), &Limits::default());
        assert_eq!(r.reason, RejectReason::MissingField);
        assert_eq!(r.detail, field);
    }
    let bad_date = REPORT.replace("<begin>1700000000</begin>", "<begin>yesterday</begin>");
    assert_eq!(reason(bad_date.as_bytes()), RejectReason::InvalidField);
    let bad_id = REPORT.replace(
        "<report_id>r-1</report_id>",
        "<report_id>r-\u{1}\u{2}</report_id>",
    );
    let mut bytes = bad_id.into_bytes();
    let at = bytes.windows(2).position(|w| w == [1, 2]).unwrap();
    bytes[at] = 0xC3;
    bytes[at + 1] = 0x28;
    assert_eq!(reason(&bytes), RejectReason::InvalidUtf8);
}

#[test]
fn an_email_without_a_report_is_no_report_found() {
    let mail = "From: a@example.net\r\nSubject: hello\r\n\r\nJust some text.\r\n";
    assert_eq!(reason(mail.as_bytes()), RejectReason::NoReportFound);
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Found by `cargo fuzz` (target `extract`): a mangled ARF mail on which mail-parser 0.11.9
/// panics ("Invalid part ID, could not find multipart"). The panic must become an
/// `internal` rejection of that input, never take the process down.
#[test]
fn a_panic_inside_mail_parser_is_an_internal_rejection() {
    let bytes = include_bytes!("fixtures/mail-parser-panic.eml");
    let found = extract_all(bytes, &Limits::default());
    assert_eq!(found.len(), 1, "{found:?}");
    match &found[0] {
        Extracted::Rejected { rejection, .. } => {
            assert_eq!(rejection.reason, RejectReason::Internal)
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
