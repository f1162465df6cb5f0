//! The bus's error type.

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A Redis command failed (connection, timeout, server error).
    #[error("redis command failed")]
    Redis(#[from] redis::RedisError),
    /// Bytes were not the protobuf message they should be.
    #[error("cannot decode protobuf message")]
    Decode(#[from] prost::DecodeError),
    /// A decoded envelope has a field that is not valid (bad id, time out of range, …).
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// The bus was closed; no more events are published or delivered.
    #[error("bus is closed")]
    Closed,
    /// The outbox source (the store) failed.
    #[error("outbox source failed: {0}")]
    Source(String),
    /// A delivery was acknowledged or dead-lettered through a subscription that did not
    /// deliver it.
    #[error("delivery does not belong to this subscription")]
    ForeignDelivery,
}

/// An error with its chain of sources, for logs: `outer: inner: innermost`.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_the_sources() {
        let Err(error) = crate::Envelope::decode(&[0x0a, 0x05]) else {
            panic!("a truncated message decoded");
        };
        let text = chain(&error);
        assert!(
            text.starts_with("cannot decode protobuf message: "),
            "{text}"
        );
        assert!(
            text.len() > "cannot decode protobuf message: ".len(),
            "{text}"
        );
    }
}
