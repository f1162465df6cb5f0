//! `[ingest.smtp]`: the SMTP listener that receives DMARC/TLS reports and bounces for the
//! installation's intake domains. Off unless `listen` is set.

use crate::error::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// `[ingest.smtp]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpIntakeConfig {
    /// Address the listener binds, e.g. `0.0.0.0:25`. Unset (the default): no listener.
    pub listen: Option<SocketAddr>,
    /// The name the listener gives in its greeting and EHLO reply. Default `localhost`.
    pub hostname: String,
    /// Domains mail is accepted for (`reports.example.net`); recipients in any other
    /// domain are refused, so the listener is never an open relay. Required when
    /// `listen` is set.
    pub intake_domains: Vec<String>,
    /// Largest message accepted (advertised with `SIZE`). Default 64 MiB.
    pub max_message_bytes: u64,
    /// Most recipients of one message. Default 100.
    pub max_recipients: usize,
    /// Longest command line, CRLF included. Default 2048 (RFC 5321 asks for 512 at least).
    pub max_line_bytes: usize,
    /// Failed commands after which the connection is closed. Default 10.
    pub max_errors: u32,
    /// Seconds the listener waits for the next command. Default 300 (RFC 5321 4.5.3.2.7).
    pub command_timeout_secs: u64,
    /// Seconds the listener waits for the next line of a message. Default 600.
    pub data_timeout_secs: u64,
    /// Connections served at once; more are answered `421` and closed. Default 100.
    pub max_connections: usize,
    /// PEM certificate chain; with `tls_key` it turns on `STARTTLS`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for SmtpIntakeConfig {
    fn default() -> Self {
        Self {
            listen: None,
            hostname: "localhost".into(),
            intake_domains: Vec::new(),
            max_message_bytes: 64 * MIB,
            max_recipients: 100,
            max_line_bytes: 2048,
            max_errors: 10,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_connections: 100,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl SmtpIntakeConfig {
    /// How long the listener waits for a command.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.command_timeout_secs)
    }

    /// How long the listener waits for a line of message data.
    pub fn data_timeout(&self) -> Duration {
        Duration::from_secs(self.data_timeout_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &'static str, reason: &str| {
            Err(ConfigError::Value {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.listen.is_some() && self.intake_domains.is_empty() {
            return fail(
                "ingest.smtp.intake_domains",
                "must name at least one domain when ingest.smtp.listen is set",
            );
        }
        if self
            .intake_domains
            .iter()
            .any(|d| d.is_empty() || d.contains('@') || d.contains(char::is_whitespace))
        {
            return fail("ingest.smtp.intake_domains", "must hold bare domain names");
        }
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            return fail("ingest.smtp.hostname", "must be a host name");
        }
        if self.max_message_bytes < 1024 {
            return fail("ingest.smtp.max_message_bytes", "must be at least 1024");
        }
        if self.max_recipients < 1 {
            return fail("ingest.smtp.max_recipients", "must be at least 1");
        }
        if self.max_line_bytes < 512 {
            return fail(
                "ingest.smtp.max_line_bytes",
                "must be at least 512 (RFC 5321 4.5.3.1.4)",
            );
        }
        if self.max_errors < 1 {
            return fail("ingest.smtp.max_errors", "must be at least 1");
        }
        if self.command_timeout_secs < 1 {
            return fail("ingest.smtp.command_timeout_secs", "must be at least 1");
        }
        if self.data_timeout_secs < 1 {
            return fail("ingest.smtp.data_timeout_secs", "must be at least 1");
        }
        if self.max_connections < 1 {
            return fail("ingest.smtp.max_connections", "must be at least 1");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return fail(
                "ingest.smtp.tls_cert",
                "and ingest.smtp.tls_key must be set together",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, load};
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn smtp_is_off_by_default_and_set_from_the_environment() {
        let c = load(None, env(&[])).unwrap();
        assert_eq!(c.ingest.smtp.listen, None);
        let c = load(
            None,
            env(&[
                ("POSTERN__INGEST__SMTP__LISTEN", "127.0.0.1:2525"),
                (
                    "POSTERN__INGEST__SMTP__INTAKE_DOMAINS",
                    "[reports.example.net]",
                ),
                ("POSTERN__INGEST__SMTP__MAX_RECIPIENTS", "5"),
                ("POSTERN__INGEST__SMTP__DATA_TIMEOUT_SECS", "30"),
            ]),
        )
        .unwrap();
        let smtp = &c.ingest.smtp;
        assert_eq!(smtp.listen.map(|a| a.port()), Some(2525));
        assert_eq!(smtp.intake_domains, vec!["reports.example.net".to_owned()]);
        assert_eq!(smtp.max_recipients, 5);
        assert_eq!(smtp.data_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn smtp_values_out_of_range_are_rejected_by_key() {
        for (pairs, key) in [
            (
                vec![("POSTERN__INGEST__SMTP__LISTEN", "127.0.0.1:25")],
                "ingest.smtp.intake_domains",
            ),
            (
                vec![("POSTERN__INGEST__SMTP__INTAKE_DOMAINS", "[a@b.example]")],
                "ingest.smtp.intake_domains",
            ),
            (
                vec![("POSTERN__INGEST__SMTP__MAX_LINE_BYTES", "100")],
                "ingest.smtp.max_line_bytes",
            ),
            (
                vec![("POSTERN__INGEST__SMTP__TLS_CERT", "/etc/cert.pem")],
                "ingest.smtp.tls_cert",
            ),
        ] {
            match load(None, env(&pairs)) {
                Err(ConfigError::Value { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
