//! The service's settings (built from the `[notify]` configuration section by the binary).

use std::fmt;
use std::time::Duration;

/// How the notification service runs.
#[derive(Clone, Debug)]
pub struct NotifySettings {
    /// Attempts per delivery before it is `failed` (at least 1).
    pub max_attempts: u32,
    /// Pause after the first failed attempt; it doubles per attempt up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Quiet period of routes that do not set their own.
    pub default_quiet_period: Duration,
    /// Hour of the day (UTC, 0–23) the daily digests are queued.
    pub digest_hour: u32,
    /// Timeout of one webhook request (connect and response).
    pub http_timeout: Duration,
    /// How often the delivery loop looks for due deliveries when nothing wakes it.
    pub poll_interval: Duration,
    /// How long a claimed delivery belongs to its sender before another may take it over
    /// (longer than any single attempt can take).
    pub lease: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// The SMTP relay for e-mail channels; `None`: e-mail deliveries fail with that reason.
    pub smtp: Option<SmtpSettings>,
    /// Let webhook, Slack and Teams deliveries reach loopback, private, link-local and other
    /// non-public addresses. Off by default: a tenant's webhook URL must not become a way
    /// into the installation's own network (cloud metadata, databases, admin ports).
    pub allow_private_targets: bool,
}

/// How e-mail leaves: an SMTP relay.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, if the relay wants them.
    pub credentials: Option<(String, String)>,
    /// The `From:` address.
    pub from: String,
    /// Timeout of each SMTP command.
    pub timeout: Duration,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network only).
    None,
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            backoff_initial: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            default_quiet_period: Duration::from_secs(3600),
            digest_hour: 8,
            http_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(300),
            concurrency: 16,
            smtp: None,
            allow_private_targets: false,
        }
    }
}

impl NotifySettings {
    /// The pause before attempt `failed + 1`, after `failed` failed attempts (≥ 1):
    /// `backoff_initial · 2^(failed-1)`, at most `backoff_max`.
    pub fn backoff(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1).min(30);
        self.backoff_initial
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max)
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl From<&postern_config::NotifyConfig> for NotifySettings {
    /// The settings of the `[notify]` section (SMTP only when `smtp_host` is set).
    fn from(c: &postern_config::NotifyConfig) -> Self {
        let smtp = c.smtp_host.as_ref().map(|host| SmtpSettings {
            host: host.clone(),
            port: c.smtp_port,
            tls: match c.smtp_tls {
                postern_config::SmtpTlsMode::None => SmtpTls::None,
                postern_config::SmtpTlsMode::Starttls => SmtpTls::StartTls,
                postern_config::SmtpTlsMode::Tls => SmtpTls::Tls,
            },
            credentials: c.smtp_username.as_ref().map(|user| {
                (
                    user.clone(),
                    c.smtp_password
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                )
            }),
            from: c.smtp_from.clone(),
            timeout: c.smtp_timeout(),
        });
        Self {
            max_attempts: c.max_attempts,
            backoff_initial: c.backoff_initial(),
            backoff_max: c.backoff_max(),
            default_quiet_period: c.quiet_period(),
            digest_hour: c.digest_hour,
            http_timeout: c.http_timeout(),
            concurrency: c.concurrency,
            smtp,
            allow_private_targets: c.allow_private_targets,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        let s = NotifySettings {
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..NotifySettings::default()
        };
        let pauses: Vec<u64> = (1..=6).map(|n| s.backoff(n).as_secs()).collect();
        assert_eq!(pauses, [10, 20, 40, 60, 60, 60]);
        assert_eq!(s.backoff(u32::MAX).as_secs(), 60);
    }

    #[test]
    fn smtp_password_stays_out_of_debug_output() {
        let smtp = SmtpSettings {
            host: "relay.example".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            credentials: Some(("postern".into(), "hunter2".into())),
            from: "postern@example.com".into(),
            timeout: Duration::from_secs(30),
        };
        let debug = format!("{smtp:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("postern"));
    }
}
