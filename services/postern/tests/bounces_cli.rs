//! `postern bounces classify`: one tab-separated line per bounced recipient, nothing for
//! a message that is not a bounce, directories walked, mbox files split.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const DSN: &str = "From: MAILER-DAEMON@mx.example.jp\n\
To: sender@example.jp\n\
Subject: Undelivered Mail Returned to Sender\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\
\n\
--B\n\
Content-Type: text/plain\n\
\n\
delivery failed\n\
--B\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.example.jp\n\
\n\
Final-Recipient: rfc822; gone@example.org\n\
Action: failed\n\
Status: 5.1.1\n\
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown\n\
\n\
Final-Recipient: rfc822; full@example.org\n\
Action: failed\n\
Status: 4.2.2\n\
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n\
\n\
--B--\n";

#[test]
fn bounces_classify_prints_one_line_per_bounced_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    let bounce = nested.join("bounce.eml");
    std::fs::write(&bounce, DSN.replace('\n', "\r\n")).unwrap();
    std::fs::write(
        dir.path().join("plain.eml"),
        "From: a@example.jp\nTo: b@example.org\nSubject: hi\n\nhello\n",
    )
    .unwrap();
    let mbox = dir.path().join("box.mbox");
    std::fs::write(
        &mbox,
        format!("From MAILER-DAEMON Thu Apr 29 23:34:45 2021\n{DSN}\nFrom a@example.jp Thu Apr 29 23:34:46 2021\nFrom: a@example.jp\nSubject: hi\n\nhello\n"),
    )
    .unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["bounces", "classify"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let expect = |path: &std::path::Path| {
        vec![
            format!(
                "{}\tgone@example.org\t5.1.1\t550\tuserunknown\thard",
                path.display()
            ),
            format!(
                "{}\tfull@example.org\t4.2.2\t452\tmailboxfull\tsoft",
                path.display()
            ),
        ]
    };
    let mut expected = expect(&mbox);
    expected.extend(expect(&bounce));
    assert_eq!(lines, expected);
}

#[test]
fn bounces_classify_reports_a_missing_path_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let bounce = dir.path().join("bounce.eml");
    std::fs::write(&bounce, DSN).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["bounces", "classify"])
        .arg(dir.path().join("missing"))
        .arg(&bounce)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing"));
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 2);
}
