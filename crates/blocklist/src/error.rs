//! The one error type of postern-blocklist.

/// Why a catalogue, an override or a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlocklistError {
    /// The catalogue file (or an override) cannot be read.
    #[error("blocklist catalogue: {0}")]
    Catalogue(String),
    /// One list definition is wrong.
    #[error("blocklist {list}: {reason}")]
    InvalidList {
        /// The list's id.
        list: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A target is neither an IP address nor a domain name.
    #[error("invalid blocklist target {input:?}: {reason}")]
    InvalidTarget {
        /// The input as given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The query name of a target under a zone would be longer than DNS allows.
    #[error("query name {name} is longer than 253 octets")]
    NameTooLong {
        /// The name that was built.
        name: String,
    },
}
