//! Postern's one typed configuration: built-in defaults, then a TOML file, then
//! `POSTERN__SECTION__KEY` environment variables, each layer overriding the one before.
//!
//! Promises: every section is a struct with explicit defaults and `deny_unknown_fields`, so
//! a misspelt key is an error naming it rather than a silently ignored setting; [`load`]
//! never reads the process environment (the binary passes `std::env::vars()` in); secrets
//! are [`Secret`]s, which never appear in `Debug` output.

mod config;
mod env;
mod error;
mod esp;
mod imap;
mod notify;
mod rules;
mod secret;
mod smtp;

pub use config::{
    AnalysisConfig, AuthConfig, BusConfig, Config, DatabaseConfig, HttpConfig, IngestConfig,
    LogFormat, TelemetryConfig, load,
};
pub use env::ENV_PREFIX;
pub use error::ConfigError;
pub use esp::EspConfig;
pub use imap::{ImapAfter, ImapIntakeConfig, ImapMailboxConfig, ImapTls};
pub use notify::{NotifyConfig, SmtpTlsMode};
pub use rules::RulesConfig;
pub use secret::Secret;
pub use smtp::SmtpIntakeConfig;
