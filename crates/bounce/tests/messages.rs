//! Whole messages through `classify_message`: DSN fields, line endings, transfer
//! encodings, the returned original message, feedback reports, auto-replies and
//! malformed or oversized input.

use postern_bounce::{
    BounceError, Limits, Reason, classify_file, classify_message, classify_message_with,
};
use std::time::{Duration, Instant};

const DSN: &str = "Return-Path: <>\n\
From: Mail Delivery System <MAILER-DAEMON@mx.example.jp>\n\
To: sender@example.jp\n\
Subject: Undelivered Mail Returned to Sender\n\
Date: Thu, 29 Apr 2021 23:34:45 +0900\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\
\n\
--B\n\
Content-Type: text/plain\n\
\n\
<rcpt@example.org>: host mx.example.org[192.0.2.1] said: 550 5.4.1 Recipient\n\
\x20   address rejected: Access denied. AS(201806281) (in reply to RCPT TO command)\n\
\n\
--B\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.example.jp\n\
Arrival-Date: Thu, 29 Apr 2021 23:34:40 +0900\n\
\n\
Final-Recipient: rfc822; rcpt@EXAMPLE.org\n\
Action: failed\n\
Status: 5.4.1\n\
Remote-MTA: dns; example-org.mail.protection.outlook.com\n\
Diagnostic-Code: smtp; 550 5.4.1 Recipient address rejected: Access denied.\n\
\x20   AS(201806281) [DM6NAM.prod.outlook.com]\n\
Last-Attempt-Date: Thu, 29 Apr 2021 23:34:45 +0900\n\
\n\
--B\n\
Content-Type: message/rfc822\n\
\n\
Received: from client.example.jp (client.example.jp [198.51.100.7])\n\
\tby mx.example.jp (Postfix) with ESMTP id 1; Thu, 29 Apr 2021 23:34:40 +0900\n\
Message-ID: <original-1@example.jp>\n\
From: sender@example.jp\n\
To: rcpt@example.org\n\
Subject: hello\n\
\n\
hello\n\
--B--\n";

#[test]
fn dsn_fields_become_one_bounce_with_evidence() {
    let found = classify_message(DSN.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    let b = &found[0];
    assert_eq!(b.recipient, "rcpt@example.org");
    assert_eq!(b.recipient_domain, "example.org");
    assert_eq!(b.status.as_deref(), Some("5.4.1"));
    assert_eq!(b.reply_code, Some(550));
    assert_eq!(b.reason, Reason::UserUnknown);
    assert!(b.hard);
    assert_eq!(b.evidence.as_deref(), Some("AS(201806281)"));
    assert_eq!(
        b.remote_host.as_deref(),
        Some("example-org.mail.protection.outlook.com")
    );
    assert_eq!(b.reporting_mta.as_deref(), Some("mx.example.jp"));
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("original-1@example.jp")
    );
    assert_eq!(b.sending_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(b.command.as_deref(), Some("RCPT"));
    assert_eq!(
        b.time.map(|t| t.to_rfc3339()).as_deref(),
        Some("2021-04-29T14:34:45+00:00")
    );
    assert!(
        b.diagnostic.contains("Access denied. AS(201806281)"),
        "{}",
        b.diagnostic
    );
}

#[test]
fn crlf_and_cr_line_endings_give_the_same_result_as_lf() {
    let lf = classify_message(DSN.as_bytes()).unwrap();
    let crlf = classify_message(DSN.replace('\n', "\r\n").as_bytes()).unwrap();
    let cr = classify_message(DSN.replace('\n', "\r").as_bytes()).unwrap();
    assert_eq!(lf, crlf);
    assert_eq!(lf, cr);
}

#[test]
fn a_base64_encoded_delivery_status_part_is_decoded() {
    use std::fmt::Write;
    let fields = "Final-Recipient: rfc822; full@example.org\nAction: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n";
    let encoded = base64(fields.as_bytes());
    let mut msg = String::new();
    let _ = write!(
        msg,
        "From: MAILER-DAEMON@example.jp\nTo: s@example.jp\nSubject: failure\nContent-Type: multipart/report; report-type=delivery-status; boundary=X\n\n--X\nContent-Type: text/plain\n\nfailed\n--X\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n{encoded}\n--X--\n"
    );
    let found = classify_message(msg.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reason, Reason::MailboxFull);
    assert!(!found[0].hard);
}

#[test]
fn a_plain_text_bounce_without_dsn_is_read() {
    let msg = "From: MAILER-DAEMON@mx4.example.jp\nTo: s@example.jp\nSubject: failure notice\n\n\
Hi. This is the qmail-send program at mx4.example.jp.\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\n\n\
<gone@example.ne.jp>:\n\
192.0.2.32 does not like recipient.\n\
Remote host said: 550 5.1.1 <gone@example.ne.jp>... User Unknown\n\
Giving up on 192.0.2.32.\n\n\
--- Below this line is a copy of the message.\n\n\
Message-ID: <m1@example.jp>\nFrom: s@example.jp\nTo: gone@example.ne.jp\n\nhi\n";
    let found = classify_message(msg.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].recipient, "gone@example.ne.jp");
    assert_eq!(found[0].reason, Reason::UserUnknown);
    assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(
        found[0].original_message_id.as_deref(),
        Some("m1@example.jp")
    );
}

#[test]
fn a_feedback_report_is_feedback() {
    let msg = "From: feedback@example.net\nTo: abuse@example.jp\nSubject: FW: report\nContent-Type: multipart/report; report-type=feedback-report; boundary=F\n\n--F\nContent-Type: text/plain\n\nspam report\n--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\nOriginal-Rcpt-To: <complainer@example.net>\n\n--F--\n";
    let found = classify_message(msg.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reason, Reason::Feedback);
    assert_eq!(found[0].feedback_type.as_deref(), Some("abuse"));
    assert_eq!(found[0].recipient, "complainer@example.net");
}

#[test]
fn an_ordinary_message_is_no_bounce() {
    let msg = "From: a@example.jp\nTo: b@example.org\nSubject: lunch?\n\nShall we meet at noon?\n";
    assert_eq!(classify_message(msg.as_bytes()).unwrap(), Vec::new());
}

#[test]
fn empty_and_headerless_input_are_clear_errors() {
    assert_eq!(classify_message(b""), Err(BounceError::Empty));
    assert_eq!(classify_message(b"  \n\n"), Err(BounceError::Empty));
    assert!(matches!(
        classify_message(b"\x00\x01\x02 no header here"),
        Err(BounceError::NotAMessage) | Ok(_)
    ));
}

#[test]
fn truncated_mime_still_gives_what_arrived() {
    let cut = &DSN[..DSN.find("Last-Attempt-Date").unwrap()];
    let found = classify_message(cut.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reason, Reason::UserUnknown);
    // cut inside the headers: no panic, a result either way
    for at in (0..DSN.len()).step_by(97) {
        let _ = classify_message(&DSN.as_bytes()[..at]);
    }
}

#[test]
fn eight_bit_garbage_does_not_panic() {
    let mut seed: u32 = 0x1234_5678;
    for round in 0..200 {
        let mut bytes = DSN.as_bytes().to_vec();
        for _ in 0..(round % 40 + 1) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let at = (seed as usize >> 8) % bytes.len();
            bytes[at] = (seed >> 16) as u8 | 0x80;
        }
        let _ = classify_message(&bytes);
    }
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let _ = classify_message(&garbage);
}

#[test]
fn a_dsn_with_ten_thousand_recipients_is_fast_and_complete() {
    let mut fields = String::from("Reporting-MTA: dns; mx.example.jp\n\n");
    for i in 0..10_000 {
        fields.push_str(&format!("Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"));
    }
    let msg = format!(
        "From: MAILER-DAEMON@example.jp\nTo: s@example.jp\nSubject: Undelivered\nContent-Type: multipart/report; report-type=delivery-status; boundary=Z\n\n--Z\nContent-Type: text/plain\n\nmany failed\n--Z\nContent-Type: message/delivery-status\n\n{fields}--Z--\n"
    );
    let started = Instant::now();
    let found = classify_message(msg.as_bytes()).unwrap();
    assert_eq!(found.len(), 10_000);
    assert!(
        found
            .iter()
            .all(|b| b.reason == Reason::UserUnknown && b.hard)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    let limited = classify_message_with(
        msg.as_bytes(),
        &Limits {
            max_recipients: 100,
            ..Limits::default()
        },
    )
    .unwrap();
    assert_eq!(limited.len(), 100);
}

#[test]
fn a_fifty_megabyte_message_is_bounded() {
    let mut msg = DSN.replace("hello\n--B--\n", "");
    let line = "A".repeat(76) + "\n";
    while msg.len() < 50 * 1024 * 1024 {
        msg.push_str(&line);
    }
    msg.push_str("--B--\n");
    let started = Instant::now();
    let found = classify_message(msg.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reason, Reason::UserUnknown);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn an_mbox_file_is_split_into_messages() {
    let mbox = format!(
        "From MAILER-DAEMON Thu Apr 29 23:34:45 2021\n{DSN}\nFrom someone@example.jp Thu Apr 29 23:34:46 2021\nFrom: a@example.jp\nTo: b@example.org\nSubject: hi\n\nhello\n"
    );
    let results = classify_file(mbox.as_bytes());
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap().len(), 1);
    assert!(results[1].as_ref().unwrap().is_empty());
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
