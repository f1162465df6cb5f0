//! IMAP pull: for MSPs whose DMARC/TLS reports and bounces already arrive in mailboxes,
//! each configured mailbox (`[[ingest.imap.mailboxes]]`) is pulled on its own task with
//! async-imap over tokio (TLS by tokio-rustls: implicit or `STARTTLS`; plain IMAP only to
//! loopback). Every message goes through the SMTP listener's routing
//! ([`crate::IngestRouter`]), so reports reach report ingestion and everything else bounce
//! ingestion, where mail that is neither is kept with its reason.
//!
//! Promises: a message is flagged `\Seen` (or moved) only after it is stored, and the
//! mailbox's cursor (UIDVALIDITY and last stored UID, in the database) only advances past
//! a stored message, so nothing is lost and a restart resumes where it left off; a changed
//! UIDVALIDITY rescans the folder (what was stored before is recognised as a duplicate);
//! a failing mailbox reconnects with exponential backoff and never holds up the others.

mod connect;
mod envelope;
mod mailbox;

pub use mailbox::{ImapMailbox, ImapTiming, PollSummary};

use crate::error::IngestError;
use crate::pipeline::Ingestor;
use postern_config::ImapIntakeConfig;
use postern_store::StoreError;
use std::path::PathBuf;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a pull of a mailbox failed (it is retried after a backoff), or why the pull could
/// not start.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("connecting to {host}:{port} failed")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("tls with {host} failed")]
    Tls {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0:?} is not a valid tls server name")]
    ServerName(String),
    #[error("reading the ca file {} failed: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("tls configuration failed")]
    TlsConfig(#[from] tokio_rustls::rustls::Error),
    #[error("imap {op} failed")]
    Imap {
        op: &'static str,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("imap {op} timed out after {secs} s")]
    Timeout { op: &'static str, secs: u64 },
    #[error("the server closed the connection during {op}")]
    Closed { op: &'static str },
    #[error("the server gave no uidvalidity for folder {0:?}")]
    NoUidValidity(String),
    #[error("client {0:?} of the mailbox is not a client id")]
    BadClient(String),
    #[error("client {0} of the mailbox does not exist")]
    UnknownClient(String),
    #[error("storing a message failed")]
    Ingest(#[from] IngestError),
    #[error("the mailbox cursor could not be read or written")]
    Store(#[from] StoreError),
}

/// Starts one pull task per configured mailbox; the handle ends when all of them have
/// stopped (after `shutdown` turns true). Fails only on configuration that can never work
/// (an unreadable `ca_file`); a mailbox that cannot be reached is retried.
pub fn spawn_imap(
    config: &ImapIntakeConfig,
    ingestor: Ingestor,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ImapError> {
    let timing = ImapTiming::from(config);
    let mut mailboxes = Vec::with_capacity(config.mailboxes.len());
    for m in &config.mailboxes {
        mailboxes.push(ImapMailbox::new(m.clone(), timing, ingestor.clone())?);
    }
    let tasks: Vec<JoinHandle<()>> = mailboxes
        .into_iter()
        .map(|m| tokio::spawn(m.run(shutdown.clone())))
        .collect();
    Ok(tokio::spawn(async move {
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "imap mailbox task ended abnormally");
            }
        }
    }))
}
