//! The ingest service: takes reports in (HTTP upload, RFC 8460 HTTPS delivery, files,
//! Maildir and mbox, SMTP, IMAP pull), keeps the original bytes, parses them with
//! `postern-mailauth`, routes each report to the client that owns its domain and stores it
//! with an outbox event in one transaction.
//!
//! Promises: nothing is lost (every input's bytes are stored before parsing, every part
//! that cannot be used is recorded with its reason), one bad part never stops the rest,
//! and parsing runs off the async executor with bounded memory.

mod bounce;
mod error;
mod esp_http;
mod http;
mod imap;
mod import;
mod outbox;
mod pipeline;
mod postfix;
mod sink;
mod smtp;
mod sns;
mod tokens;

pub use bounce::{
    BOUNCE_LOCAL_PART, BounceIntake, DeliveryIntake, EventOutcome, MailEnvelope, MailKind,
    RecipientOutcome, RecipientStatus, RoutedBy,
};
pub use error::IngestError;
pub use esp_http::EspSettings;
pub use http::{IntakeState, configure};
pub use imap::{ImapError, ImapMailbox, ImapTiming, PollSummary, spawn_imap};
pub use import::{ImportSummary, import_paths};
pub use outbox::StoreOutbox;
pub use pipeline::{
    IngestOutcome, IngestSettings, Ingestor, InputSummary, ItemOutcome, ItemStatus, Refusal, Source,
};
pub use postfix::{PostfixLog, parse_postfix_log};
pub use smtp::{
    IngestRouter, MailSink, ReceivedMail, SmtpError, SmtpListener, SmtpSettings, load_tls,
};
pub use sns::{SnsError, SnsVerifier};
pub use tokens::StoreTokens;
