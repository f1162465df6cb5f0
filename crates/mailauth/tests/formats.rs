//! Report variants and containers, one behaviour per test: schemas and namespaces,
//! RFC 9990 fields, vocabulary quirks, encodings, and where reports hide in messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use flate2::Compression;
use flate2::write::GzEncoder;
use postern_domain::{
    AggregateHeader, AggregateRecord, AggregateSchema, DiscoveryMethod, Disposition, DmarcResult,
    PolicyOverride, RequestedPolicy, SpfDomainScope, SpfResult,
};
use postern_mailauth::{Extracted, Limits, RejectReason, extract_all};
use std::io::Write;

fn one_aggregate(bytes: &[u8]) -> (String, AggregateHeader, Vec<AggregateRecord>, Vec<String>) {
    let found = extract_all(bytes, &Limits::default());
    match found.as_slice() {
        [
            Extracted::Aggregate {
                at,
                header,
                records,
                problems,
            },
        ] => (
            at.0.clone(),
            header.clone(),
            records.clone(),
            problems.clone(),
        ),
        other => panic!("expected one aggregate report, got {other:?}"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

const RFC9990_PREFIXED: &str = r#"<?xml version="1.0"?>
<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0" xmlns:x="urn:example:ext">
  <d:version>1.0</d:version>
  <d:report_metadata>
    <d:org_name>Sample Reporter</d:org_name>
    <d:email>report_sender@example-reporter.com</d:email>
    <d:report_id>3v98abbp8ya9n3va8yr8oa3ya</d:report_id>
    <d:date_range><d:begin>302832000</d:begin><d:end>302918399</d:end></d:date_range>
    <d:generator>Example DMARC Aggregate Reporter v1.2</d:generator>
    <x:report_id>not this one</x:report_id>
  </d:report_metadata>
  <d:policy_published>
    <d:domain>example.com</d:domain>
    <d:p>quarantine</d:p><d:sp>none</d:sp><d:np>none</d:np>
    <d:testing>n</d:testing><d:discovery_method>treewalk</d:discovery_method>
  </d:policy_published>
  <d:extensions><x:thing><x:count>99</x:count></x:thing></d:extensions>
  <d:record>
    <d:row>
      <d:source_ip>192.0.2.123</d:source_ip>
      <x:count>5</x:count>
      <d:count>123</d:count>
      <d:policy_evaluated>
        <d:disposition>pass</d:disposition><d:dkim>pass</d:dkim><d:spf>fail</d:spf>
        <d:reason><d:type>policy_test_mode</d:type></d:reason>
      </d:policy_evaluated>
    </d:row>
    <d:identifiers><d:envelope_from>example.com</d:envelope_from><d:header_from>example.com</d:header_from></d:identifiers>
    <d:auth_results>
      <d:dkim><d:domain>example.com</d:domain><d:selector>abc123</d:selector><d:result>pass</d:result></d:dkim>
      <d:spf><d:domain>example.com</d:domain><d:scope>mfrom</d:scope><d:result>fail</d:result></d:spf>
    </d:auth_results>
    <x:note>ignored</x:note>
  </d:record>
</d:feedback>
"#;

#[test]
fn rfc9990_with_a_prefixed_namespace_reads_its_fields_and_skips_extensions() {
    let (at, header, records, problems) = one_aggregate(RFC9990_PREFIXED.as_bytes());
    assert_eq!(at, "body");
    assert_eq!(header.schema, AggregateSchema::Rfc9990);
    assert_eq!(header.report_id, "3v98abbp8ya9n3va8yr8oa3ya");
    assert_eq!(
        header.generator.as_deref(),
        Some("Example DMARC Aggregate Reporter v1.2")
    );
    assert_eq!(header.policy.np, Some(RequestedPolicy::None));
    assert_eq!(header.policy.testing, Some(false));
    assert_eq!(
        header.policy.discovery_method,
        Some(DiscoveryMethod::TreeWalk)
    );
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.count, 123);
    assert_eq!(r.disposition, Disposition::Pass);
    assert_eq!(r.reasons[0].kind, PolicyOverride::PolicyTestMode);
    assert_eq!(r.dkim_results[0].selector.as_deref(), Some("abc123"));
    assert_eq!(r.spf_results[0].scope, Some(SpfDomainScope::MailFrom));
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn the_default_namespace_and_the_draft_version_choose_the_schema() {
    let default_ns = RFC9990_PREFIXED
        .replace("d:", "")
        .replace("xmlns:d=", "xmlns=")
        .replace("<x:report_id>not this one</x:report_id>", "")
        .replace("<x:count>5</x:count>", "");
    assert_eq!(
        one_aggregate(default_ns.as_bytes()).1.schema,
        AggregateSchema::Rfc9990
    );
    let draft = default_ns
        .replace(" xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\"", "")
        .replace("<version>1.0</version>", "<version>2.0</version>");
    assert_eq!(
        one_aggregate(draft.as_bytes()).1.schema,
        AggregateSchema::Draft
    );
    let old = draft.replace("<version>2.0</version>", "");
    assert_eq!(
        one_aggregate(old.as_bytes()).1.schema,
        AggregateSchema::Rfc7489
    );
}

const RFC7489: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>"backschues.NET</org_name>
    <email>noreply@example.net</email>
    <report_id>legacy-1</report_id>
    <date_range><begin> 100 </begin><end>200</end></date_range>
    <error>one</error><error>two</error>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain><adkim>S</adkim><aspf>r</aspf><p>reject</p><pct>50</pct><fo>1:d</fo>
  </policy_published>
  <record>
    <row>
      <source_ip>2001:DB8::1</source_ip><count>2</count>
      <policy_evaluated>
        <disposition>Quarantine</disposition><dkim>PASS</dkim><spf>Fail</spf>
        <reason><type>sampled_out</type><comment>sampling</comment></reason>
        <reason><type>mystery</type></reason>
      </policy_evaluated>
    </row>
    <identifiers><header_from>Example.com</header_from></identifiers>
    <auth_results>
      <spf><domain>example.com</domain><scope>helo</scope><result>HardFail</result></spf>
      <spf><domain>example.com</domain><result>bogus</result></spf>
    </auth_results>
  </record>
</feedback>
"#;

#[test]
fn rfc7489_quirks_are_read_and_the_odd_parts_noted() {
    let (_, header, records, problems) = one_aggregate(RFC7489.as_bytes());
    // A stray quote in org_name is kept as sent (both peers keep it too).
    assert_eq!(header.org_name, "\"backschues.NET");
    assert_eq!(header.errors, vec!["one", "two"]);
    assert_eq!(header.date_begin.timestamp(), 100);
    assert_eq!(header.policy.pct, Some(50));
    assert_eq!(header.policy.fo.as_deref(), Some("1:d"));
    let r = &records[0];
    assert_eq!(r.source_ip.to_string(), "2001:db8::1");
    assert_eq!(r.disposition, Disposition::Quarantine);
    assert_eq!(
        (r.dkim, r.spf),
        (Some(DmarcResult::Pass), Some(DmarcResult::Fail))
    );
    assert_eq!(r.reasons[0].kind, PolicyOverride::SampledOut);
    assert_eq!(r.reasons[1].kind, PolicyOverride::Other);
    assert_eq!(r.spf_results.len(), 1);
    assert_eq!(r.spf_results[0].result, SpfResult::Fail);
    assert_eq!(r.spf_results[0].scope, Some(SpfDomainScope::Helo));
    assert_eq!(
        problems,
        vec![
            "record 1: unknown override reason \"mystery\" read as other".to_owned(),
            "record 1: spf result \"bogus\" for \"example.com\" not understood; dropped".to_owned(),
        ]
    );
}

#[test]
fn latin1_utf16_and_wrapped_documents_are_read() {
    let latin1 = RFC7489
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace("\"backschues.NET", "M\u{fc}ller");
    let bytes: Vec<u8> = latin1.chars().map(|c| c as u32 as u8).collect();
    assert_eq!(one_aggregate(&bytes).1.org_name, "Müller");

    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(RFC7489.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(one_aggregate(&utf16).1.report_id, "legacy-1");

    let wrapped = RFC7489.replace(
        "<feedback>",
        "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><feedback>",
    ) + "</xs:schema>";
    assert_eq!(one_aggregate(wrapped.as_bytes()).1.report_id, "legacy-1");
}

#[test]
fn xml_that_is_no_report_is_unrecognized() {
    let found = extract_all(b"<html><body>hi</body></html>", &Limits::default());
    assert!(matches!(found.as_slice(),
        [Extracted::Rejected { rejection, .. }] if rejection.reason == RejectReason::UnrecognizedFormat));
}

/// An email whose text/xml part was declared ISO-8859-1: mail-parser decodes the
/// charset, so the XML declaration must not be applied a second time.
#[test]
fn a_charset_decoded_text_part_is_not_decoded_twice() {
    let xml = RFC7489
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace("\"backschues.NET", "M=FCller");
    let mail = format!(
        "From: r@example.net\r\nSubject: Report\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nHello\r\n\
         --b\r\nContent-Type: text/xml; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{xml}\r\n--b--\r\n"
    );
    let (at, header, _, _) = one_aggregate(mail.as_bytes());
    assert_eq!(at, "body/part 2");
    assert_eq!(header.org_name, "Müller");
}

#[test]
fn reports_are_found_in_forwarded_messages_and_every_attachment() {
    let tls = r#"{"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"report-id":"t1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}"#;
    let inner = format!(
        "From: reporter@example.net\r\nSubject: Report domain: example.com\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=in\r\n\r\n\
         --in\r\nContent-Type: application/octet-stream; name=\"r.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --in\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--in--\r\n",
        base64(&gzip(RFC7489.as_bytes())),
        base64(&gzip(tls.as_bytes())),
    );
    let outer = format!(
        "From: admin@example.com\r\nSubject: Fwd: report\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=out\r\n\r\n\
         --out\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --out\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--out--\r\n"
    );
    let found = extract_all(outer.as_bytes(), &Limits::default());
    let places: Vec<(&str, &str)> = found
        .iter()
        .map(|f| match f {
            Extracted::Aggregate { at, .. } => ("aggregate", at.0.as_str()),
            Extracted::Tls { at, .. } => ("tls", at.0.as_str()),
            Extracted::Failure { at, .. } => ("failure", at.0.as_str()),
            Extracted::Rejected { at, .. } => ("rejected", at.0.as_str()),
        })
        .collect();
    assert_eq!(
        places,
        vec![
            ("aggregate", "body/part 2/part 1 (r.bin)/gzip"),
            ("tls", "body/part 2/part 2/gzip"),
        ]
    );
}

#[test]
fn a_tls_report_posted_as_gzip_is_read() {
    let tls = r#"{"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"report-id":"t1","policies":[{"policy":{"policy-type":"tlsa","policy-domain":"example.com","mx-host":["mx1.example.com"]},"summary":{"total-successful-session-count":1,"total-failure-session-count":2},"failure-details":[{"result-type":"dane-required","receiving-ip":"2001:db8::25","failed-session-count":2}]}]}"#;
    let found = extract_all(&gzip(tls.as_bytes()), &Limits::default());
    match found.as_slice() {
        [
            Extracted::Tls {
                at,
                report,
                problems,
            },
        ] => {
            assert_eq!(at.0, "body/gzip");
            let p = &report.policies[0];
            assert_eq!(p.mx_host, vec!["mx1.example.com"]);
            assert_eq!(p.total_failure_session_count, 2);
            assert_eq!(
                p.failure_details[0]
                    .receiving_ip
                    .map(|i| i.to_string())
                    .as_deref(),
                Some("2001:db8::25")
            );
            assert!(problems.is_empty());
        }
        other => panic!("{other:?}"),
    }
}
