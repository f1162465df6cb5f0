//! Inputs that could not be stored as reports, with why.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use postern_store::{RawInput, Rejection};

use crate::context::{tenant, to_id};
use crate::error::ApiError;

pub(crate) struct RejectionNode(pub(crate) Rejection);
pub(crate) struct RawInputNode(RawInput);

/// A part of an input that was rejected. The original bytes are kept (see `rawInput`), so
/// nothing is lost.
#[Object(name = "Rejection")]
impl RejectionNode {
    /// The rejection's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// How the input arrived (e.g. `http`, `import`, `mailbox`, `tlsrpt`).
    async fn source(&self) -> &str {
        &self.0.source
    }

    /// Where in the input the rejected part was (e.g. an attachment or archive entry).
    async fn location(&self) -> &str {
        &self.0.location
    }

    /// A stable reason code (e.g. `invalid_xml`, `zip_bomb`, `too_large`).
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// A human explanation of the reason.
    async fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The policy domain, when the input got far enough to name one.
    async fn domain(&self) -> Option<&str> {
        self.0.domain.as_deref()
    }

    /// When the input was rejected.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The stored original input.
    async fn raw_input(&self, ctx: &Context<'_>) -> Result<RawInputNode, ApiError> {
        Ok(RawInputNode(
            tenant(ctx)?.raw_input(self.0.raw_input_id).await?,
        ))
    }
}

/// Original input bytes as received, stored once per content hash.
#[Object(name = "RawInput")]
impl RawInputNode {
    /// The stored input's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Lower-case hex SHA-256 of the bytes.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }

    /// Size in bytes.
    async fn size(&self) -> u64 {
        self.0.size
    }

    /// The declared content type, when there was one.
    async fn content_type(&self) -> Option<&str> {
        self.0.content_type.as_deref()
    }

    /// When the bytes were first received.
    async fn first_received_at(&self) -> DateTime<Utc> {
        self.0.first_received_at
    }
}
