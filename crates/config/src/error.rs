//! The one error type of the crate.

use std::path::PathBuf;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file given could not be opened.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A layer is not valid TOML, names an unknown key, or has a value of the wrong type.
    /// The message names the key and where it came from (file or environment variable).
    #[error("invalid configuration: {0}")]
    Invalid(#[source] Box<figment::Error>),
    /// A value has the right type but is out of range.
    #[error("invalid configuration: {key} {reason}")]
    Value { key: &'static str, reason: String },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Invalid(Box::new(e))
    }
}
