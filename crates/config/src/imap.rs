//! `[ingest.imap]`: IMAP pull of mailboxes where DMARC/TLS reports and bounces already
//! arrive. Off while `mailboxes` is empty.

use crate::error::ConfigError;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// `[ingest.imap]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapIntakeConfig {
    /// Seconds between two looks at a mailbox. Default 60.
    pub poll_secs: u64,
    /// Seconds one IMAP command (a whole message fetch included) may take. Default 120.
    pub timeout_secs: u64,
    /// First wait after a mailbox failed (connection, login, server error), in seconds; it
    /// doubles with each failure in a row. Default 5.
    pub backoff_min_secs: u64,
    /// Longest wait between two attempts, in seconds. Default 300.
    pub backoff_max_secs: u64,
    /// `[[ingest.imap.mailboxes]]`: the mailboxes pulled, each on its own.
    pub mailboxes: Vec<ImapMailboxConfig>,
}

/// How the connection to the IMAP server is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapTls {
    /// TLS from the first byte (IMAPS, port 993). The default.
    #[default]
    Implicit,
    /// Plain IMAP upgraded with `STARTTLS` before logging in (port 143).
    Starttls,
    /// No TLS at all: allowed only for a loopback `host` (tests, a local Dovecot).
    None,
}

/// What happens to a message once it is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapAfter {
    /// Flag it `\Seen` and leave it in the folder. The default.
    #[default]
    Seen,
    /// Move it to `move_to`.
    Move,
}

/// `[[ingest.imap.mailboxes]]`: one folder of one account.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapMailboxConfig {
    /// Unique name of the mailbox; the pull's position is stored under it, so renaming a
    /// mailbox makes it start from the beginning (already stored mail is recognised).
    pub name: String,
    pub host: String,
    /// Default 993 with `tls = "implicit"`, 143 otherwise.
    #[serde(default)]
    pub port: Option<u16>,
    /// `implicit` (default), `starttls`, or `none` (loopback hosts only).
    #[serde(default)]
    pub tls: ImapTls,
    pub username: String,
    /// Never printed.
    pub password: Secret,
    /// The folder pulled. Default `INBOX`.
    #[serde(default = "default_folder")]
    pub folder: String,
    /// The client (UUID) the mailbox belongs to: its reports may only be for that client's
    /// domains and its bounces go to that client. Unset: routed by content and address,
    /// as the SMTP listener does.
    #[serde(default)]
    pub client: Option<String>,
    /// `seen` (default) or `move` (to `move_to`).
    #[serde(default)]
    pub after: ImapAfter,
    /// The folder stored messages are moved to with `after = "move"`.
    #[serde(default)]
    pub move_to: Option<String>,
    /// PEM file of extra CA certificates trusted for this server besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Largest message downloaded; a larger one is recorded as refused (`too_large`) with
    /// its first 64 KiB kept. Default 64 MiB.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
}

impl Default for ImapIntakeConfig {
    fn default() -> Self {
        Self {
            poll_secs: 60,
            timeout_secs: 120,
            backoff_min_secs: 5,
            backoff_max_secs: 300,
            mailboxes: Vec::new(),
        }
    }
}

impl ImapIntakeConfig {
    /// How long to wait between two looks at a mailbox.
    pub fn poll(&self) -> Duration {
        Duration::from_secs(self.poll_secs)
    }

    /// How long one IMAP command may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The first wait after a failure.
    pub fn backoff_min(&self) -> Duration {
        Duration::from_secs(self.backoff_min_secs)
    }

    /// The longest wait after failures.
    pub fn backoff_max(&self) -> Duration {
        Duration::from_secs(self.backoff_max_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &'static str, reason: String| Err(ConfigError::Value { key, reason });
        if self.poll_secs < 1 {
            return fail("ingest.imap.poll_secs", "must be at least 1".into());
        }
        if self.timeout_secs < 1 {
            return fail("ingest.imap.timeout_secs", "must be at least 1".into());
        }
        if self.backoff_min_secs < 1 || self.backoff_max_secs < self.backoff_min_secs {
            return fail(
                "ingest.imap.backoff_min_secs",
                "must be at least 1 and at most ingest.imap.backoff_max_secs".into(),
            );
        }
        let mut names = BTreeSet::new();
        for m in &self.mailboxes {
            if m.name.trim().is_empty() || !names.insert(m.name.as_str()) {
                return fail(
                    "ingest.imap.mailboxes.name",
                    format!("{:?} must be non-empty and unique", m.name),
                );
            }
            if m.host.trim().is_empty() || m.host.contains(char::is_whitespace) {
                return fail(
                    "ingest.imap.mailboxes.host",
                    format!("of mailbox {} must be a host name", m.name),
                );
            }
            if m.tls == ImapTls::None && !is_loopback(&m.host) {
                return fail(
                    "ingest.imap.mailboxes.tls",
                    format!(
                        "of mailbox {}: \"none\" is allowed for loopback hosts only",
                        m.name
                    ),
                );
            }
            if m.port == Some(0) {
                return fail(
                    "ingest.imap.mailboxes.port",
                    format!("of mailbox {} must be at least 1", m.name),
                );
            }
            if m.folder.is_empty() {
                return fail(
                    "ingest.imap.mailboxes.folder",
                    format!("of mailbox {} must not be empty", m.name),
                );
            }
            if (m.after == ImapAfter::Move) != m.move_to.as_deref().is_some_and(|f| !f.is_empty()) {
                return fail(
                    "ingest.imap.mailboxes.move_to",
                    format!(
                        "of mailbox {} must be set exactly when after = \"move\"",
                        m.name
                    ),
                );
            }
            if m.max_message_bytes < 1024 {
                return fail(
                    "ingest.imap.mailboxes.max_message_bytes",
                    format!("of mailbox {} must be at least 1024", m.name),
                );
            }
        }
        Ok(())
    }
}

impl ImapMailboxConfig {
    /// The configured port, or the default of the TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            ImapTls::Implicit => 993,
            ImapTls::Starttls | ImapTls::None => 143,
        })
    }
}

fn default_folder() -> String {
    "INBOX".into()
}

fn default_max_message_bytes() -> u64 {
    64 * MIB
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, ConfigError};

    fn parse(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.toml");
        std::fs::write(&path, toml).unwrap();
        crate::load(Some(&path), Vec::new())
    }

    #[test]
    fn imap_is_off_by_default() {
        let c = crate::load(None, Vec::new()).unwrap();
        assert!(c.ingest.imap.mailboxes.is_empty());
        assert_eq!(c.ingest.imap.poll(), Duration::from_secs(60));
    }

    #[test]
    fn mailboxes_are_read_with_defaults_and_the_password_is_never_printed() {
        let c = parse(
            r#"
[[ingest.imap.mailboxes]]
name = "acme-dmarc"
host = "imap.example.net"
username = "dmarc@acme.example"
password = "hunter2"
"#,
        )
        .unwrap();
        let m = &c.ingest.imap.mailboxes[0];
        assert_eq!(m.tls, ImapTls::Implicit);
        assert_eq!(m.port(), 993);
        assert_eq!(m.folder, "INBOX");
        assert_eq!(m.after, ImapAfter::Seen);
        assert_eq!(m.password.expose(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn bad_mailboxes_are_rejected_by_key() {
        for (body, key) in [
            (
                "name = \"a\"\nhost = \"imap.example.net\"\ntls = \"none\"",
                "ingest.imap.mailboxes.tls",
            ),
            (
                "name = \"a\"\nhost = \"127.0.0.1\"\nafter = \"move\"",
                "ingest.imap.mailboxes.move_to",
            ),
            (
                "name = \"\"\nhost = \"127.0.0.1\"",
                "ingest.imap.mailboxes.name",
            ),
        ] {
            let toml =
                format!("[[ingest.imap.mailboxes]]\n{body}\nusername = \"u\"\npassword = \"p\"\n");
            match parse(&toml) {
                Err(ConfigError::Value { key: got, .. }) => assert_eq!(got, key, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let unknown = parse(
            "[[ingest.imap.mailboxes]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\npasword = \"x\"\n",
        );
        assert!(
            matches!(unknown, Err(ConfigError::Invalid(_))),
            "{unknown:?}"
        );
    }
}
