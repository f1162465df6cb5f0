//! Errors of a lookup that got no usable answer.

use crate::lookup::RecordType;

/// A lookup that failed: no answer, as opposed to an answer without records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// No answer arrived within the configured time.
    #[error("{rtype} lookup of {name} timed out")]
    Timeout {
        /// The name asked for.
        name: String,
        /// The record type asked for.
        rtype: RecordType,
    },
    /// The server answered with an error (SERVFAIL, REFUSED, …) or the transport failed.
    #[error("{rtype} lookup of {name} failed: {detail}")]
    ServerFailure {
        /// The name asked for.
        name: String,
        /// The record type asked for.
        rtype: RecordType,
        /// What went wrong, for people.
        detail: String,
    },
    /// The name cannot be asked for (empty label, label over 63 octets, name over 253).
    #[error("invalid domain name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A CNAME chain loops or is longer than the resolver follows.
    #[error("cname chain from {name} is too long or loops")]
    CnameLoop {
        /// The name asked for.
        name: String,
    },
    /// The resolver could not be built from its settings.
    #[error("resolver configuration: {0}")]
    Config(String),
    /// A zone file (line 0) or one of its lines could not be read.
    #[error("zone line {line}: {reason}")]
    Zone {
        /// 1-based line number; 0 for the file itself.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl DnsError {
    /// True for errors that may go away when asked again (timeouts, server failures).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::ServerFailure { .. })
    }
}
