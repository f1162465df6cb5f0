//! A generated report of 100,000+ records, streamed through gzip: the counts come out
//! right, records arrive in batches, and memory does not grow with the report.
//!
//! One test per binary on purpose: the peak-memory reading is per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use flate2::Compression;
use flate2::write::GzEncoder;
use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};
use postern_mailauth::{AggregateEnd, Limits, Location, Rejection, ReportSink, extract};
use std::io::Write;

/// Counts what arrives and keeps nothing.
#[derive(Default)]
struct Counter {
    begins: u32,
    records: u64,
    messages: u64,
    batches: u64,
    largest_batch: usize,
    ipv6: u64,
    end: Option<AggregateEnd>,
    other: u32,
}

impl ReportSink for Counter {
    fn aggregate_begin(&mut self, _: &Location, header: &AggregateHeader) -> bool {
        assert_eq!(header.report_id, "generated-1");
        self.begins += 1;
        true
    }
    fn aggregate_records(&mut self, records: Vec<AggregateRecord>) {
        self.batches += 1;
        self.largest_batch = self.largest_batch.max(records.len());
        self.records += records.len() as u64;
        for r in &records {
            self.messages += r.count;
            self.ipv6 += u64::from(r.source_ip.is_ipv6());
        }
    }
    fn aggregate_end(&mut self, end: AggregateEnd) {
        self.end = Some(end);
    }
    fn failure(&mut self, _: &Location, _: FailureReport, _: Vec<String>) {
        self.other += 1;
    }
    fn tls(&mut self, _: &Location, _: TlsReport, _: Vec<String>) {
        self.other += 1;
    }
    fn rejected(&mut self, at: &Location, rejection: Rejection) {
        panic!("rejected at {at}: {rejection}");
    }
}

/// Writes a report of `n` varied records into `out`; returns the message total.
fn generate(n: u64, out: &mut impl Write) -> u64 {
    write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n<version>1.0</version>\n\
         <report_metadata><org_name>Generator</org_name><email>dmarc@generator.example</email>\
         <report_id>generated-1</report_id><date_range><begin>1700000000</begin>\
         <end>1700086399</end></date_range>\
         <generator>postern streaming test</generator></report_metadata>\n\
         <policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf>\
         <p>reject</p><sp>quarantine</sp><np>reject</np><testing>n</testing>\
         <discovery_method>treewalk</discovery_method></policy_published>\n"
    )
    .unwrap();
    let mut total = 0;
    for i in 0..n {
        let count = i % 17 + 1;
        total += count;
        let ip = if i % 5 == 0 {
            format!("2001:db8::{:x}", i % 65_536)
        } else {
            format!("198.{}.{}.{}", (i >> 16) % 256, (i >> 8) % 256, i % 256)
        };
        let disposition = ["none", "quarantine", "reject", "pass"][(i % 4) as usize];
        let reason = if i % 7 == 0 {
            "<reason><type>local_policy</type><comment>generated</comment></reason>"
        } else {
            ""
        };
        writeln!(
            out,
            "<record><row><source_ip>{ip}</source_ip><count>{count}</count>\
             <policy_evaluated><disposition>{disposition}</disposition><dkim>pass</dkim>\
             <spf>fail</spf>{reason}</policy_evaluated></row>\
             <identifiers><envelope_from>bounce{m}.example.com</envelope_from>\
             <header_from>example.com</header_from></identifiers>\
             <auth_results><dkim><domain>example.com</domain><selector>s{m}</selector>\
             <result>pass</result></dkim><spf><domain>bounce{m}.example.com</domain>\
             <scope>mfrom</scope><result>fail</result></spf></auth_results></record>",
            m = i % 13
        )
        .unwrap();
    }
    out.write_all(b"</feedback>\n").unwrap();
    total
}

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Counts bytes written, to know the decompressed size without keeping it.
struct Measured<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Measured<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn a_generated_report_of_300000_records_streams_in_bounded_memory() {
    const RECORDS: u64 = 300_000;
    let mut gz = Measured {
        inner: GzEncoder::new(Vec::new(), Compression::fast()),
        written: 0,
    };
    let expected_messages = generate(RECORDS, &mut gz);
    let xml_bytes = gz.written;
    let compressed = gz.inner.finish().unwrap();
    assert!(
        xml_bytes > 100 * 1024 * 1024,
        "only {xml_bytes} bytes of XML"
    );

    let before = peak_rss_kib();
    let mut counter = Counter::default();
    extract(&compressed, &Limits::default(), &mut counter);
    let after = peak_rss_kib();

    assert_eq!(counter.begins, 1);
    assert_eq!(counter.other, 0);
    assert_eq!(counter.records, RECORDS);
    assert_eq!(counter.messages, expected_messages);
    assert_eq!(counter.ipv6, RECORDS / 5);
    assert_eq!(counter.batches, RECORDS.div_ceil(1000));
    assert_eq!(counter.largest_batch, 1000);
    match counter.end {
        Some(AggregateEnd::Complete {
            records,
            messages,
            problems,
        }) => {
            assert_eq!(records, RECORDS);
            assert_eq!(messages, expected_messages);
            assert!(problems.is_empty(), "{problems:?}");
        }
        other => panic!("{other:?}"),
    }
    // The decompressed XML is over 100 MiB; parsing it must not need more than a small
    // fraction of that (no DOM, no whole-document string).
    if let (Some(before), Some(after)) = (before, after) {
        let grown_mib = (after.saturating_sub(before)) / 1024;
        println!(
            "{} MiB of XML ({} KiB gzip): peak RSS grew by {grown_mib} MiB",
            xml_bytes / (1024 * 1024),
            compressed.len() / 1024
        );
        assert!(grown_mib < 24, "peak memory grew by {grown_mib} MiB");
    } else {
        println!("no /proc/self/status here: peak memory not measured");
    }
}
