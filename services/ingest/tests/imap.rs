//! IMAP pull against a real Dovecot (Debian's `dovecot-imapd`), one server per test on
//! loopback with a generated configuration, a passwd-file user, Maildir storage in a
//! temporary directory and a certificate of a test CA the client trusts: corpus reports
//! and bounces stored, `\Seen` or moved only once stored, resume after a restart, rescan
//! on a new UIDVALIDITY, a killed server survived, a dead mailbox not holding up the others
//! and a malformed message kept with its reason.
//!
//! Without Dovecot the tests print a loud skip message, unless `CI` is set: then they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use postern_config::{ImapAfter, ImapIntakeConfig, ImapMailboxConfig, ImapTls, Secret};
use postern_domain::{ClientId, DomainName, Role, TenantScope};
use postern_ingest::{ImapMailbox, ImapTiming, IngestSettings, Ingestor, spawn_imap};
use postern_store::testing::TestDb;
use postern_store::{Backend, BounceFilter, PageRequest, ReportFilter, TenantDb};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::net::TcpStream;

const DOVECOT: &str = "/usr/sbin/dovecot";
const USER: &str = "tester";
const PASSWORD: &str = "s3cret-pass";

fn corpus(rel: &str) -> Vec<u8> {
    let root = std::env::var_os("POSTERN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"));
    std::fs::read(root.join(rel)).unwrap()
}

fn report_mail() -> Vec<u8> {
    corpus("parsedmarc-samples/samples/aggregate/twilight.eml")
}

fn bounce_mail() -> Vec<u8> {
    corpus("sisimai-set-of-emails/maildir/bsd/lhost-postfix-01.eml")
}

/// Neither a report nor a bounce, nor much of a message.
/// No NUL byte: IMAP servers may not carry one (Dovecot stores it as 0x80), and the test
/// compares the kept bytes with these.
const MALFORMED: &[u8] = b"\xff\xfe\x01garbage without a header\r\n\r\n\x80\x81 truncated MIME --";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Dovecot serving one user on loopback: plain IMAP with STARTTLS on `imap_port`, IMAPS
/// on `imaps_port`. Stopped (SIGTERM) on drop.
struct Dovecot {
    dir: TempDir,
    child: Option<Child>,
    imap_port: u16,
    imaps_port: u16,
}

impl Dovecot {
    /// `None` (after a loud message) when Dovecot is not installed and `CI` is not set.
    fn start() -> Option<Dovecot> {
        if !Path::new(DOVECOT).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{DOVECOT} is missing: install dovecot-imapd (.ci/run does)"
            );
            eprintln!(
                "\n!!!!!!!! SKIPPED: {DOVECOT} is not installed (apt-get install dovecot-imapd); the IMAP pull was NOT tested !!!!!!!!\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Dovecot's unprivileged processes read the passwd file and write the mail.
        set_mode(root, 0o755);
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        set_mode(&root.join("mail"), 0o777);
        let (ca, cert, key) = test_certificates();
        std::fs::write(root.join("ca.pem"), ca).unwrap();
        std::fs::write(root.join("cert.pem"), cert).unwrap();
        std::fs::write(root.join("key.pem"), key).unwrap();
        std::fs::write(
            root.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .unwrap();
        set_mode(&root.join("passwd"), 0o644);
        let (imap_port, imaps_port) = (free_port(), free_port());
        let r = root.display();
        let config = format!(
            "base_dir = {r}/run
first_valid_uid = 1
first_valid_gid = 1
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
ssl = yes
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {r}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={r}/mail/%u
}}
mail_location = maildir:{r}/mail/%u/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
"
        );
        std::fs::write(root.join("dovecot.conf"), config).unwrap();
        let mut dovecot = Dovecot {
            dir,
            child: None,
            imap_port,
            imaps_port,
        };
        dovecot.spawn();
        Some(dovecot)
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Starts the server and waits until both ports answer.
    fn spawn(&mut self) {
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.imap_port, self.imaps_port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not start: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Stops the server (SIGTERM, which takes its IMAP processes and connections down).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// A mailbox configuration for this server.
    fn mailbox(&self, name: &str, tls: ImapTls, folder: &str) -> ImapMailboxConfig {
        ImapMailboxConfig {
            name: name.to_owned(),
            host: "127.0.0.1".to_owned(),
            port: Some(match tls {
                ImapTls::Implicit => self.imaps_port,
                ImapTls::Starttls | ImapTls::None => self.imap_port,
            }),
            tls,
            username: USER.to_owned(),
            password: Secret::new(PASSWORD),
            folder: folder.to_owned(),
            client: None,
            after: ImapAfter::Seen,
            move_to: None,
            ca_file: Some(self.ca_file()),
            max_message_bytes: 64 * 1024 * 1024,
        }
    }

    /// A plain session of the test user, for putting mail in and looking at flags.
    async fn admin(&self) -> async_imap::Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.imap_port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        client.login(USER, PASSWORD).await.map_err(|e| e.0).unwrap()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A test CA (PEM) and a certificate for `127.0.0.1`/`localhost` it signed, with its key.
fn test_certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Postern IMAP test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        pem("CERTIFICATE", ca.der()),
        pem("CERTIFICATE", cert.der()),
        pem("PRIVATE KEY", &key.serialize_der()),
    )
}

/// PEM armour (rcgen is built without its `pem` feature).
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn timing() -> ImapTiming {
    ImapTiming {
        poll: Duration::from_millis(200),
        timeout: Duration::from_secs(20),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
    }
}

/// A database with one MSP and its client Acme owning `twlnet.com` (the corpus report's
/// domain).
struct Tenant {
    db: TestDb,
    ingestor: Ingestor,
    owner: TenantDb,
    acme: ClientId,
}

async fn tenant() -> Tenant {
    let db = TestDb::open(Backend::Sqlite).await;
    let ingestor = Ingestor::new(
        db.store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let msp = db.system().create_msp("MSP", true).await.unwrap().id;
    let owner = db.store.tenant(TenantScope::msp(msp, Role::MspOwner, true));
    let acme = owner.create_client("Acme").await.unwrap().id;
    owner
        .add_domain(acme, &DomainName::parse("twlnet.com").unwrap(), &|_, _| {
            Vec::new()
        })
        .await
        .unwrap();
    Tenant {
        db,
        ingestor,
        owner,
        acme,
    }
}

impl Tenant {
    async fn reports(&self) -> u64 {
        self.owner
            .count_reports(&ReportFilter {
                client: Some(self.acme),
                ..ReportFilter::default()
            })
            .await
            .unwrap()
    }

    async fn bounces(&self) -> u64 {
        self.owner
            .count_bounces(&BounceFilter {
                client: Some(self.acme),
                ..BounceFilter::default()
            })
            .await
            .unwrap()
    }
}

async fn append(session: &mut async_imap::Session<TcpStream>, folder: &str, mail: &[u8]) {
    session.append(folder, None, None, mail).await.unwrap();
}

async fn unseen(session: &mut async_imap::Session<TcpStream>, folder: &str) -> usize {
    session.select(folder).await.unwrap();
    session.uid_search("UNSEEN").await.unwrap().len()
}

#[tokio::test]
async fn reports_and_bounces_are_stored_over_tls_then_seen_and_the_pull_resumes() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let t = tenant().await;
    let mut admin = dovecot.admin().await;
    append(&mut admin, "INBOX", &report_mail()).await;
    append(&mut admin, "INBOX", &bounce_mail()).await;
    append(&mut admin, "INBOX", MALFORMED).await;

    let mut config = dovecot.mailbox("acme-inbox", ImapTls::Implicit, "INBOX");
    config.client = Some(t.acme.to_string());
    let mut mailbox = ImapMailbox::new(config.clone(), timing(), t.ingestor.clone()).unwrap();
    let first = mailbox.poll_once().await.unwrap();
    assert_eq!(
        (first.reports, first.bounces, first.refused, first.last_uid),
        (1, 2, 0, 3)
    );
    assert!(!first.rescanned);
    // The report by its domain, the bounce by the mailbox's client.
    assert_eq!(t.reports().await, 1);
    assert_eq!(t.bounces().await, 1);
    // The malformed message is kept for Acme with a reason.
    let rejections = t.owner.rejections(PageRequest::first(10)).await.unwrap();
    let kept: Vec<_> = rejections
        .items
        .iter()
        .filter(|r| r.source == "mail:imap:acme-inbox")
        .collect();
    assert_eq!(kept.len(), 1, "{rejections:?}");
    assert_eq!(kept[0].client_id, Some(t.acme));
    assert!(!kept[0].reason.is_empty() && !kept[0].detail.is_empty());
    let bytes = t.owner.raw_input_bytes(kept[0].raw_input_id).await.unwrap();
    assert_eq!(bytes, MALFORMED);
    // Flagged \Seen, only now.
    assert_eq!(unseen(&mut admin, "INBOX").await, 0);

    // Nothing new: nothing fetched, on the same connection or after a restart.
    let again = mailbox.poll_once().await.unwrap();
    assert_eq!((again.reports, again.bounces, again.last_uid), (0, 0, 3));
    let mut restarted = ImapMailbox::new(config, timing(), t.ingestor.clone()).unwrap();
    let resumed = restarted.poll_once().await.unwrap();
    assert_eq!(
        (resumed.reports, resumed.bounces, resumed.last_uid),
        (0, 0, 3)
    );
    let cursor =
        t.db.system()
            .imap_cursor("acme-inbox")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(cursor.last_uid, 3);

    // A new message is the only one fetched.
    append(&mut admin, "INBOX", &bounce_mail()).await;
    let next = restarted.poll_once().await.unwrap();
    assert_eq!((next.reports, next.bounces, next.last_uid), (0, 1, 4));
    // The same bounce again is a duplicate, not a second row.
    assert_eq!(t.bounces().await, 1);
    assert_eq!(t.reports().await, 1);
}

#[tokio::test]
async fn a_new_uidvalidity_rescans_the_folder_and_move_empties_it() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let t = tenant().await;
    let mut admin = dovecot.admin().await;
    admin.create("Reports").await.unwrap();
    admin.create("Done").await.unwrap();
    append(&mut admin, "Reports", &report_mail()).await;

    let mut config = dovecot.mailbox("reports", ImapTls::Starttls, "Reports");
    config.after = ImapAfter::Move;
    config.move_to = Some("Done".into());
    let mut mailbox = ImapMailbox::new(config, timing(), t.ingestor.clone()).unwrap();
    let first = mailbox.poll_once().await.unwrap();
    assert_eq!((first.reports, first.last_uid), (1, 1));
    assert_eq!(t.reports().await, 1);
    // Moved once stored.
    assert_eq!(admin.select("Reports").await.unwrap().exists, 0);
    assert_eq!(admin.select("Done").await.unwrap().exists, 1);

    // The folder is made anew: its UIDs start again under another UIDVALIDITY.
    admin.select("INBOX").await.unwrap();
    admin.delete("Reports").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    admin.create("Reports").await.unwrap();
    append(&mut admin, "Reports", &report_mail()).await;
    append(&mut admin, "Reports", &bounce_mail()).await;
    // Dovecot may end the session whose selected folder was deleted: that poll fails and
    // the next one reconnects.
    let second = match mailbox.poll_once().await {
        Ok(summary) => summary,
        Err(_) => mailbox.poll_once().await.unwrap(),
    };
    assert_ne!(second.uid_validity, first.uid_validity);
    assert!(second.rescanned);
    assert_eq!((second.reports, second.bounces, second.last_uid), (1, 1, 2));
    // UID 1 of the new folder was fetched although the old cursor was past it; the report
    // is recognised as stored before.
    assert_eq!(t.reports().await, 1);
    let cursor = t.db.system().imap_cursor("reports").await.unwrap().unwrap();
    assert_eq!(
        (cursor.uid_validity, cursor.last_uid),
        (second.uid_validity, 2)
    );
    assert_eq!(admin.select("Done").await.unwrap().exists, 3);
}

#[tokio::test]
async fn a_killed_server_is_survived_and_a_dead_mailbox_does_not_stop_the_others() {
    let Some(mut dovecot) = Dovecot::start() else {
        return;
    };
    let t = tenant().await;
    let mut admin = dovecot.admin().await;
    append(&mut admin, "INBOX", &report_mail()).await;

    let mut dead = dovecot.mailbox("dead", ImapTls::None, "INBOX");
    dead.port = Some(free_port());
    let config = ImapIntakeConfig {
        poll_secs: 1,
        timeout_secs: 20,
        backoff_min_secs: 1,
        backoff_max_secs: 2,
        mailboxes: vec![dead, dovecot.mailbox("live", ImapTls::None, "INBOX")],
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = spawn_imap(&config, t.ingestor.clone(), shutdown).unwrap();
    let system = t.db.system();
    let cursor_reaches = |uid: u32| {
        let system = system.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let cursor = system.imap_cursor("live").await.unwrap();
                if cursor.is_some_and(|c| c.last_uid >= uid) {
                    return;
                }
                assert!(Instant::now() < deadline, "cursor stuck at {cursor:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    cursor_reaches(1).await;
    assert_eq!(t.reports().await, 1);

    // The server goes away under the open session and comes back.
    drop(admin);
    dovecot.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    dovecot.spawn();
    let mut admin = dovecot.admin().await;
    append(&mut admin, "INBOX", &bounce_mail()).await;
    cursor_reaches(2).await;
    assert_eq!(unseen(&mut admin, "INBOX").await, 0);
    // The dead mailbox never got anywhere and kept no cursor.
    assert_eq!(system.imap_cursor("dead").await.unwrap(), None);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_wrong_password_fails_the_poll_and_stores_nothing() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let t = tenant().await;
    let mut admin = dovecot.admin().await;
    append(&mut admin, "INBOX", &report_mail()).await;
    let mut config = dovecot.mailbox("wrong", ImapTls::Implicit, "INBOX");
    config.password = Secret::new("not-the-password");
    assert!(!format!("{config:?}").contains("not-the-password"));
    let mut mailbox = ImapMailbox::new(config, timing(), t.ingestor.clone()).unwrap();
    let error = mailbox.poll_once().await.unwrap_err();
    assert!(error.to_string().contains("login"), "{error}");
    assert_eq!(t.reports().await, 0);
    assert_eq!(unseen(&mut admin, "INBOX").await, 1);
    let fetched: Vec<_> = admin
        .uid_fetch("1:*", "(FLAGS)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fetched.len(), 1);
}
