//! `[notify]`: how the notification service sends (the SMTP relay for e-mail channels),
//! retries and batches. Channels, routes and their secrets are per-tenant data in the
//! database, not configuration.

use crate::error::ConfigError;
use crate::secret::Secret;
use serde::Deserialize;
use std::time::Duration;

/// `[notify]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The SMTP relay e-mail channels send through. Unset (the default): e-mail
    /// deliveries fail with "e-mail is not configured".
    pub smtp_host: Option<String>,
    /// Default 587.
    pub smtp_port: u16,
    /// `starttls` (required STARTTLS, the default), `tls` (TLS from the first byte, port
    /// 465) or `none` (plain text: a relay on the same host or network only).
    pub smtp_tls: SmtpTlsMode,
    /// SMTP user name; unset: no authentication.
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    /// The `From:` of notification e-mail. Default `Postern <postern@localhost>`.
    pub smtp_from: String,
    /// Per SMTP command, in seconds. Default 30.
    pub smtp_timeout_secs: u64,
    /// Attempts per delivery before it is logged as failed. Default 8.
    pub max_attempts: u32,
    /// Pause after the first failed attempt, in seconds; doubles per attempt. Default 30.
    pub backoff_initial_secs: u64,
    /// Longest pause between attempts, in seconds. Default 3600.
    pub backoff_max_secs: u64,
    /// Quiet period of routes that do not set one, in seconds: the same issue is not
    /// notified again on a channel within it unless it got worse. Default 3600.
    pub quiet_period_secs: u64,
    /// Hour (UTC, 0–23) the daily digests are sent. Default 8.
    pub digest_hour: u32,
    /// Timeout of one webhook request, in seconds. Default 10.
    pub http_timeout_secs: u64,
    /// Deliveries in flight at once. Default 16.
    pub concurrency: usize,
    /// Let webhook, Slack and Teams deliveries reach loopback, private and other
    /// non-public addresses (a receiver inside the installation's own network). Default
    /// false: such targets fail with the reason.
    pub allow_private_targets: bool,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsMode {
    None,
    #[default]
    Starttls,
    Tls,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTlsMode::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: "Postern <postern@localhost>".into(),
            smtp_timeout_secs: 30,
            max_attempts: 8,
            backoff_initial_secs: 30,
            backoff_max_secs: 3600,
            quiet_period_secs: 3600,
            digest_hour: 8,
            http_timeout_secs: 10,
            concurrency: 16,
            allow_private_targets: false,
        }
    }
}

impl NotifyConfig {
    pub fn smtp_timeout(&self) -> Duration {
        Duration::from_secs(self.smtp_timeout_secs)
    }

    pub fn backoff_initial(&self) -> Duration {
        Duration::from_secs(self.backoff_initial_secs)
    }

    pub fn backoff_max(&self) -> Duration {
        Duration::from_secs(self.backoff_max_secs)
    }

    pub fn quiet_period(&self) -> Duration {
        Duration::from_secs(self.quiet_period_secs)
    }

    pub fn http_timeout(&self) -> Duration {
        Duration::from_secs(self.http_timeout_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, key: &'static str, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Value {
                    key,
                    reason: reason.to_owned(),
                })
            }
        };
        check(
            self.smtp_host
                .as_deref()
                .is_none_or(|h| !h.trim().is_empty()),
            "notify.smtp_host",
            "must not be empty",
        )?;
        check(
            self.smtp_port >= 1,
            "notify.smtp_port",
            "must be at least 1",
        )?;
        check(
            self.smtp_password.is_none() || self.smtp_username.is_some(),
            "notify.smtp_password",
            "needs notify.smtp_username",
        )?;
        check(
            self.smtp_from.contains('@'),
            "notify.smtp_from",
            "must be an e-mail address",
        )?;
        check(
            self.smtp_timeout_secs >= 1,
            "notify.smtp_timeout_secs",
            "must be at least 1",
        )?;
        check(
            (1..=100).contains(&self.max_attempts),
            "notify.max_attempts",
            "must be between 1 and 100",
        )?;
        check(
            self.backoff_initial_secs <= self.backoff_max_secs,
            "notify.backoff_initial_secs",
            "must not exceed notify.backoff_max_secs",
        )?;
        check(
            self.digest_hour <= 23,
            "notify.digest_hour",
            "must be 0 to 23",
        )?;
        check(
            self.http_timeout_secs >= 1,
            "notify.http_timeout_secs",
            "must be at least 1",
        )?;
        check(
            self.concurrency >= 1,
            "notify.concurrency",
            "must be at least 1",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn notify_section_defaults_and_environment() {
        let c = load(None, env(&[])).unwrap();
        assert_eq!(c.notify, NotifyConfig::default());
        assert_eq!(c.notify.smtp_tls, SmtpTlsMode::Starttls);
        assert_eq!(c.notify.quiet_period(), Duration::from_secs(3600));
        let c = load(
            None,
            env(&[
                ("POSTERN__NOTIFY__SMTP_HOST", "relay.example"),
                ("POSTERN__NOTIFY__SMTP_TLS", "none"),
                ("POSTERN__NOTIFY__SMTP_USERNAME", "postern"),
                ("POSTERN__NOTIFY__SMTP_PASSWORD", "smtp-password-value"),
                ("POSTERN__NOTIFY__MAX_ATTEMPTS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(c.notify.smtp_host.as_deref(), Some("relay.example"));
        assert_eq!(c.notify.smtp_tls, SmtpTlsMode::None);
        assert_eq!(c.notify.max_attempts, 3);
        assert!(!format!("{c:?}").contains("smtp-password-value"));
    }

    #[test]
    fn notify_values_out_of_range_are_rejected_by_key() {
        for (k, v, key) in [
            ("POSTERN__NOTIFY__DIGEST_HOUR", "24", "notify.digest_hour"),
            ("POSTERN__NOTIFY__MAX_ATTEMPTS", "0", "notify.max_attempts"),
            ("POSTERN__NOTIFY__SMTP_FROM", "nobody", "notify.smtp_from"),
            (
                "POSTERN__NOTIFY__SMTP_PASSWORD",
                "x",
                "notify.smtp_password",
            ),
            (
                "POSTERN__NOTIFY__BACKOFF_INITIAL_SECS",
                "7200",
                "notify.backoff_initial_secs",
            ),
        ] {
            match load(None, env(&[(k, v)])) {
                Err(ConfigError::Value { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{k}: {other:?}"),
            }
        }
    }
}
