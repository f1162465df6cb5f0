//! `[ingest.esp]`: how ESP webhooks (`POST /v1/esp/{provider}`) are verified. The
//! endpoints always need an ingest API token; these settings add each provider's own
//! signature check.

use crate::error::ConfigError;
use crate::secret::Secret;
use serde::Deserialize;

/// `[ingest.esp]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EspConfig {
    /// Mailgun's HTTP webhook signing key. Set: every Mailgun event must carry a valid
    /// HMAC-SHA256 `signature`.
    pub mailgun_signing_key: Option<Secret>,
    /// SendGrid's signed event webhook verification key (base64 DER public key, as the
    /// SendGrid console shows it). Set: every SendGrid post must carry a valid ECDSA
    /// signature.
    pub sendgrid_public_key: Option<String>,
    /// The SNS topic ARNs Amazon SES notifications may come from. Non-empty: messages of
    /// any other topic are refused. SNS subscriptions are confirmed only for these topics.
    /// (Every SES post's SNS signature is checked, whatever this holds.)
    pub ses_topic_arns: Vec<String>,
}

impl EspConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self
            .mailgun_signing_key
            .as_ref()
            .is_some_and(|k| k.expose().is_empty())
        {
            return Err(ConfigError::Value {
                key: "ingest.esp.mailgun_signing_key",
                reason: "must not be empty".to_owned(),
            });
        }
        if self
            .ses_topic_arns
            .iter()
            .any(|arn| !arn.starts_with("arn:"))
        {
            return Err(ConfigError::Value {
                key: "ingest.esp.ses_topic_arns",
                reason: "must hold SNS topic ARNs (arn:aws:sns:…)".to_owned(),
            });
        }
        Ok(())
    }
}
