//! The SMTP listener over real sockets: a real client (lettre) delivering a real DSN and a
//! DMARC report into the ingest pipeline, STARTTLS with a test certificate, and raw
//! protocol sessions for each limit and error path.

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use postern_domain::{DomainName, RawInputId, Role, TenantScope};
use postern_ingest::{
    IngestError, IngestRouter, IngestSettings, Ingestor, MailSink, ReceivedMail, SmtpListener,
    SmtpSettings, load_tls,
};
use postern_store::testing::TestDb;
use postern_store::{Backend, BounceFilter, ReportFilter};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

fn corpora() -> PathBuf {
    std::env::var_os("POSTERN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/smtp")
        .join(name)
}

fn settings() -> SmtpSettings {
    SmtpSettings {
        hostname: "mx.intake.example".into(),
        intake_domains: vec!["intake.example".into()],
        max_message_bytes: 64 * 1024,
        max_recipients: 3,
        max_line_bytes: 512,
        max_errors: 5,
        command_timeout: Duration::from_secs(10),
        data_timeout: Duration::from_secs(10),
        max_connections: 8,
    }
}

/// Keeps what it is given; fails every delivery when `fail` is set.
#[derive(Default)]
struct Recording {
    mail: Mutex<Vec<ReceivedMail>>,
    fail: bool,
}

#[async_trait]
impl MailSink for Recording {
    async fn deliver(&self, mail: ReceivedMail) -> Result<String, IngestError> {
        if self.fail {
            return Err(IngestError::Parser("storage is down".into()));
        }
        let mut all = self.mail.lock().unwrap();
        all.push(mail);
        Ok(format!("m{}", all.len()))
    }
}

async fn start(
    settings: SmtpSettings,
    sink: Arc<dyn MailSink>,
    tls: bool,
) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let tls = tls.then(|| load_tls(&fixture("cert.pem"), &fixture("key.pem")).unwrap());
    let listener = SmtpListener::bind("127.0.0.1:0".parse().unwrap(), settings, tls, sink)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(listener.run(stopped));
    (addr, stop)
}

/// A raw SMTP client: sends lines, reads whole (multi-line) replies.
struct Raw {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw {
            read: BufReader::new(read),
            write,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    /// The next reply's lines; empty when the connection closed.
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.read.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            if n == 0 {
                return lines;
            }
            let done = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.trim_end().to_owned());
            if done {
                return lines;
            }
        }
    }

    /// Sends one command and returns the last line of its reply.
    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await.pop().unwrap_or_default()
    }

    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.read.read_to_end(&mut rest)).await,
            Ok(Ok(0))
        )
    }

    async fn greeted(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        assert!(raw.reply().await[0].starts_with("220 mx.intake.example"));
        assert!(raw.cmd("EHLO client.example").await.starts_with("250 "));
        raw
    }
}

fn assert_code(reply: &str, expected: &str) {
    assert!(
        reply.starts_with(expected),
        "expected {expected}, got {reply:?}"
    );
}

#[tokio::test]
async fn lettre_delivers_a_real_dsn_and_a_dmarc_report_into_the_pipeline() {
    let db = TestDb::open(Backend::Sqlite).await;
    let ingestor = Ingestor::new(
        db.store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let (addr, _stop) = start(settings(), Arc::new(IngestRouter::new(ingestor)), false).await;
    let msp = db.system().create_msp("MSP", true).await.unwrap().id;
    let owner = db.store.tenant(TenantScope::msp(msp, Role::MspOwner, true));
    let acme = owner.create_client("Acme").await.unwrap();
    owner
        .add_domain(
            acme.id,
            &DomainName::parse("twlnet.com").unwrap(),
            &|_, _| Vec::new(),
        )
        .await
        .unwrap();
    let bounce_address = format!(
        "bounces+{}@intake.example",
        db.system().bounce_key(acme.id).await.unwrap()
    );
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .build();
    let root = corpora();
    for (rel, from, to) in [
        (
            "sisimai-set-of-emails/maildir/bsd/lhost-postfix-01.eml",
            None,
            bounce_address.as_str(),
        ),
        (
            "parsedmarc-samples/samples/aggregate/twilight.eml",
            Some("noreply-dmarc@reporter.example"),
            "dmarc@intake.example",
        ),
    ] {
        let bytes = std::fs::read(root.join(rel)).unwrap();
        let envelope = Envelope::new(
            from.map(|f: &str| f.parse::<Address>().unwrap()),
            vec![to.parse().unwrap()],
        )
        .unwrap();
        let response = client.send_raw(&envelope, &bytes).await.unwrap();
        assert!(response.is_positive(), "{rel}: {response:?}");
        let text: Vec<&str> = response.message().collect();
        let id = text[0].strip_prefix("2.0.0 queued as ").unwrap();
        let stored = db
            .system()
            .raw_input(id.parse::<RawInputId>().unwrap())
            .await
            .unwrap();
        assert_eq!(stored.source, "mail:smtp:127.0.0.1", "{rel}");
        // The trace header is added in front of the message, nothing taken away.
        assert!(stored.size > bytes.len() as u64, "{rel}");
    }
    // The DSN went to bounce ingestion and, by its bounces+key address, to Acme.
    let bounces = owner
        .count_bounces(&BounceFilter {
            client: Some(acme.id),
            ..BounceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(bounces, 1);
    // The aggregate report went to report ingestion and, by its domain, to Acme.
    let reports = owner
        .count_reports(&ReportFilter {
            client: Some(acme.id),
            ..ReportFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reports, 1);
}

#[tokio::test]
async fn lettre_delivers_over_starttls_with_the_configured_certificate() {
    let sink = Arc::new(Recording::default());
    let (addr, _stop) = start(settings(), sink.clone(), true).await;
    let cert = Certificate::from_pem(&std::fs::read(fixture("cert.pem")).unwrap()).unwrap();
    let tls = TlsParameters::builder("localhost".into())
        .add_root_certificate(cert)
        .build_rustls()
        .unwrap();
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(addr.port())
        .tls(Tls::Required(tls))
        .build();
    let envelope = Envelope::new(
        Some("a@sender.example".parse().unwrap()),
        vec!["reports@intake.example".parse().unwrap()],
    )
    .unwrap();
    let response = client
        .send_raw(&envelope, b"Subject: over tls\r\n\r\nhello\r\n")
        .await
        .unwrap();
    assert!(response.is_positive());
    let mail = sink.mail.lock().unwrap();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].tls);
    // lettre ends the data with CRLF.CRLF after the message's own final CRLF.
    let text = String::from_utf8_lossy(&mail[0].bytes);
    assert!(
        text.contains("\r\nSubject: over tls\r\n\r\nhello\r\n"),
        "{text:?}"
    );
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order_and_data_is_unstuffed() {
    let sink = Arc::new(Recording::default());
    let (addr, _stop) = start(settings(), sink.clone(), false).await;
    let mut raw = Raw::connect(addr).await;
    raw.reply().await;
    raw.send(b"EHLO c.example\r\nMAIL FROM:<> SIZE=100\r\nRCPT TO:<a@intake.example>\r\nRCPT TO:<b@Intake.Example>\r\nDATA\r\n")
        .await;
    let ehlo = raw.reply().await;
    for ext in [
        "PIPELINING",
        "SIZE 65536",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(ehlo.iter().any(|l| l[4..] == *ext), "{ext}: {ehlo:?}");
    }
    assert!(!ehlo.iter().any(|l| l.ends_with("STARTTLS")));
    for expected in ["250 2.1.0", "250 2.1.5", "250 2.1.5", "354"] {
        assert_code(&raw.reply().await[0], expected);
    }
    raw.send(b"Subject: x\r\n\r\n..dot\nbare lf line\r\n.\r\n")
        .await;
    assert_code(&raw.reply().await[0], "250 2.0.0 queued as m1");
    assert_code(&raw.cmd("QUIT").await, "221");
    let mail = sink.mail.lock().unwrap();
    assert_eq!(mail[0].mail_from, "");
    assert_eq!(mail[0].rcpt_to, ["a@intake.example", "b@Intake.Example"]);
    assert!(
        mail[0]
            .bytes
            .ends_with(b"\r\nSubject: x\r\n\r\n.dot\nbare lf line\r\n")
    );
}

#[tokio::test]
async fn oversized_messages_get_552_and_the_session_goes_on() {
    let sink = Arc::new(Recording::default());
    let (addr, _stop) = start(settings(), sink.clone(), false).await;
    let mut raw = Raw::greeted(addr).await;
    assert_code(
        &raw.cmd("MAIL FROM:<a@s.example> SIZE=99999999").await,
        "552 5.3.4",
    );
    assert_code(&raw.cmd("MAIL FROM:<a@s.example>").await, "250");
    assert_code(&raw.cmd("RCPT TO:<r@intake.example>").await, "250");
    assert_code(&raw.cmd("DATA").await, "354");
    let line = "x".repeat(998) + "\r\n";
    raw.send(line.repeat(70).as_bytes()).await;
    raw.send(b".\r\n").await;
    assert_code(&raw.reply().await[0], "552 5.3.4");
    assert!(sink.mail.lock().unwrap().is_empty());
    assert_code(&raw.cmd("MAIL FROM:<a@s.example>").await, "250");
}

#[tokio::test]
async fn too_many_recipients_get_452() {
    let (addr, _stop) = start(settings(), Arc::new(Recording::default()), false).await;
    let mut raw = Raw::greeted(addr).await;
    raw.cmd("MAIL FROM:<a@s.example>").await;
    for r in ["a", "b", "c"] {
        assert_code(
            &raw.cmd(&format!("RCPT TO:<{r}@intake.example>")).await,
            "250",
        );
    }
    assert_code(&raw.cmd("RCPT TO:<d@intake.example>").await, "452 4.5.3");
}

#[tokio::test]
async fn commands_out_of_sequence_get_503() {
    let s = SmtpSettings {
        max_errors: 10,
        ..settings()
    };
    let (addr, _stop) = start(s, Arc::new(Recording::default()), false).await;
    let mut raw = Raw::connect(addr).await;
    raw.reply().await;
    assert_code(&raw.cmd("MAIL FROM:<a@s.example>").await, "503 5.5.1");
    assert_code(&raw.cmd("HELO c.example").await, "250");
    assert_code(&raw.cmd("DATA").await, "503 5.5.1");
    assert_code(&raw.cmd("RCPT TO:<a@intake.example>").await, "503 5.5.1");
    assert_code(&raw.cmd("FROB").await, "500 5.5.1");
    assert_code(&raw.cmd("EXPN staff").await, "502 5.5.1");
    assert_code(&raw.cmd("VRFY someone").await, "252");
    assert_code(&raw.cmd("NOOP").await, "250");
    assert_code(&raw.cmd("HELP").await, "214");
    assert_code(&raw.cmd("RSET").await, "250");
}

#[tokio::test]
async fn a_line_too_long_gets_500_and_is_skipped() {
    let (addr, _stop) = start(settings(), Arc::new(Recording::default()), false).await;
    let mut raw = Raw::greeted(addr).await;
    let long = format!("NOOP {}", "y".repeat(4000));
    assert_code(&raw.cmd(&long).await, "500 5.5.2");
    assert_code(&raw.cmd("NOOP").await, "250");
}

#[tokio::test]
async fn relay_attempts_are_refused_and_nothing_is_delivered() {
    let sink = Arc::new(Recording::default());
    let (addr, _stop) = start(settings(), sink.clone(), false).await;
    let mut raw = Raw::greeted(addr).await;
    raw.cmd("MAIL FROM:<spammer@s.example>").await;
    assert_code(
        &raw.cmd("RCPT TO:<victim@gmail.example>").await,
        "550 5.7.1",
    );
    assert_code(
        &raw.cmd("RCPT TO:<a@intake.example.evil.example>").await,
        "550 5.7.1",
    );
    assert_code(&raw.cmd("DATA").await, "554");
    assert!(sink.mail.lock().unwrap().is_empty());
}

#[tokio::test]
async fn silence_times_out_with_421_in_commands_and_in_data() {
    let s = SmtpSettings {
        command_timeout: Duration::from_millis(300),
        data_timeout: Duration::from_millis(300),
        ..settings()
    };
    let (addr, _stop) = start(s, Arc::new(Recording::default()), false).await;
    let mut raw = Raw::greeted(addr).await;
    assert_code(&raw.reply().await[0], "421 4.4.2");
    assert!(raw.closed().await);
    let mut raw = Raw::greeted(addr).await;
    raw.cmd("MAIL FROM:<a@s.example>").await;
    raw.cmd("RCPT TO:<a@intake.example>").await;
    assert_code(&raw.cmd("DATA").await, "354");
    raw.send(b"Subject: half a message\r\n").await;
    assert_code(&raw.reply().await[0], "421 4.4.2");
    assert!(raw.closed().await);
}

#[tokio::test]
async fn too_many_errors_close_the_connection() {
    let (addr, _stop) = start(settings(), Arc::new(Recording::default()), false).await;
    let mut raw = Raw::greeted(addr).await;
    for _ in 0..4 {
        assert_code(&raw.cmd("FROB").await, "500");
    }
    assert_code(&raw.cmd("FROB").await, "421 4.7.0");
    assert!(raw.closed().await);
}

#[tokio::test]
async fn connections_over_the_limit_get_421() {
    let s = SmtpSettings {
        max_connections: 1,
        ..settings()
    };
    let (addr, _stop) = start(s, Arc::new(Recording::default()), false).await;
    let mut first = Raw::greeted(addr).await;
    let mut second = Raw::connect(addr).await;
    assert_code(&second.reply().await[0], "421 4.3.2");
    assert!(second.closed().await);
    assert_code(&first.cmd("QUIT").await, "221");
    assert!(first.closed().await);
    // The slot is free again once the first connection is gone.
    let mut third = Raw::connect(addr).await;
    let mut greeting = third.reply().await;
    for _ in 0..50 {
        if greeting[0].starts_with("220") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        third = Raw::connect(addr).await;
        greeting = third.reply().await;
    }
    assert_code(&greeting[0], "220");
}

#[tokio::test]
async fn a_storage_failure_gets_451_so_the_sender_retries() {
    let sink = Arc::new(Recording {
        fail: true,
        ..Recording::default()
    });
    let (addr, _stop) = start(settings(), sink, false).await;
    let mut raw = Raw::greeted(addr).await;
    raw.cmd("MAIL FROM:<a@s.example>").await;
    raw.cmd("RCPT TO:<a@intake.example>").await;
    raw.cmd("DATA").await;
    assert_code(&raw.cmd("Subject: x\r\n\r\nbody\r\n.").await, "451 4.3.0");
}

#[tokio::test]
async fn commands_pipelined_behind_starttls_are_not_carried_into_tls() {
    let (addr, _stop) = start(settings(), Arc::new(Recording::default()), true).await;
    let mut raw = Raw::greeted(addr).await;
    raw.send(b"STARTTLS\r\nMAIL FROM:<injected@s.example>\r\n")
        .await;
    assert_code(&raw.reply().await[0], "220 2.0.0");
    assert!(raw.closed().await);
}
