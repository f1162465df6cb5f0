//! One mailbox's pull: select the folder, compare its UIDVALIDITY with the stored cursor,
//! fetch every message above the cursor in UID order, hand each to the router, flag it
//! `\Seen` (or move it) once stored and advance the cursor; and the loop around it that
//! polls, reconnects and backs off.

use super::ImapError;
use super::connect::{self, ImapSession, timed};
use super::envelope::envelope_of;
use crate::bounce::BOUNCE_LOCAL_PART;
use crate::pipeline::{Ingestor, Refusal, Source};
use crate::smtp::{IngestRouter, Route};
use chrono::Utc;
use futures::TryStreamExt;
use postern_config::{ImapAfter, ImapIntakeConfig, ImapMailboxConfig};
use postern_domain::{ClientId, Role, TenantScope};
use postern_store::ImapCursor;
use std::time::Duration;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tracing::{info, warn};

/// How much of a message over `max_message_bytes` is downloaded and kept.
const REFUSED_PREFIX: u32 = 64 * 1024;

/// When a mailbox is looked at and how long its steps may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImapTiming {
    /// Between two looks at the mailbox.
    pub poll: Duration,
    /// For one IMAP command (connecting, a whole message fetch).
    pub timeout: Duration,
    /// The first wait after a failure; doubles with each failure in a row.
    pub backoff_min: Duration,
    /// The longest wait after failures.
    pub backoff_max: Duration,
}

/// What one look at a mailbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollSummary {
    /// The folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// The cursor was for another UIDVALIDITY, so the folder was scanned from the start.
    pub rescanned: bool,
    /// Messages handed to report ingestion.
    pub reports: u64,
    /// Messages handed to bounce ingestion (bounces and unclassified mail).
    pub bounces: u64,
    /// Messages over `max_message_bytes`, kept as refused (`too_large`).
    pub refused: u64,
    /// The highest UID stored, the cursor now.
    pub last_uid: u32,
}

/// One configured mailbox and its connection, if open.
pub struct ImapMailbox {
    config: ImapMailboxConfig,
    timing: ImapTiming,
    router: IngestRouter,
    ingestor: Ingestor,
    tls: Option<TlsConnector>,
    /// The configured client, once looked up: its scope and bounce address.
    client: Option<(TenantScope, String)>,
    session: Option<ImapSession>,
    stop: Option<watch::Receiver<bool>>,
}

/// What became of one message.
enum Taken {
    Routed(Route),
    Refused,
    /// Gone from the folder between listing and fetching.
    Vanished,
}

impl From<&ImapIntakeConfig> for ImapTiming {
    fn from(c: &ImapIntakeConfig) -> Self {
        Self {
            poll: c.poll(),
            timeout: c.timeout(),
            backoff_min: c.backoff_min(),
            backoff_max: c.backoff_max(),
        }
    }
}

impl ImapMailbox {
    /// Prepares the mailbox (its TLS configuration); connects on the first poll.
    pub fn new(
        config: ImapMailboxConfig,
        timing: ImapTiming,
        ingestor: Ingestor,
    ) -> Result<Self, ImapError> {
        let tls = connect::tls_connector(&config)?;
        Ok(Self {
            config,
            timing,
            router: IngestRouter::new(ingestor.clone()),
            ingestor,
            tls,
            client: None,
            session: None,
            stop: None,
        })
    }

    /// The configured name (the key of the stored cursor).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Looks at the mailbox once: connects if not connected, stores every message above
    /// the cursor and marks it. On `Err` the connection is dropped (the next poll
    /// reconnects); whatever was stored before the failure stays stored and counted in the
    /// cursor.
    #[tracing::instrument(name = "postern_ingest.imap.poll", skip_all, fields(mailbox = %self.config.name))]
    pub async fn poll_once(&mut self) -> Result<PollSummary, ImapError> {
        let extra_rcpt = self.client_route().await?;
        let mut session = match self.session.take() {
            Some(session) => session,
            None => connect::open(&self.config, self.tls.as_ref(), self.timing.timeout).await?,
        };
        let summary = self.pull(&mut session, &extra_rcpt).await?;
        self.session = Some(session);
        Ok(summary)
    }

    /// Polls until `shutdown` turns true: every `poll` after a good look, after a backoff
    /// (doubling from `backoff_min` to `backoff_max`) after a failure. A message being
    /// stored when shutdown comes is finished first.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        self.stop = Some(shutdown.clone());
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = match self.poll_once().await {
                Ok(_) => {
                    if failures > 0 {
                        info!(mailbox = %self.config.name, "imap mailbox reachable again");
                    }
                    failures = 0;
                    self.timing.poll
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(&self.timing, failures);
                    warn!(
                        error = %error_chain(&error),
                        mailbox = %self.config.name,
                        failures,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "imap mailbox failed"
                    );
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        if let Some(mut session) = self.session.take() {
            let _ = tokio::time::timeout(self.timing.timeout, session.logout()).await;
        }
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    /// The configured client's bounce address, looked up once (and its scope kept).
    async fn client_route(&mut self) -> Result<Vec<String>, ImapError> {
        let Some(raw) = self.config.client.as_deref() else {
            return Ok(Vec::new());
        };
        if let Some((_, address)) = &self.client {
            return Ok(vec![address.clone()]);
        }
        let id: ClientId = raw
            .trim()
            .parse()
            .map_err(|_| ImapError::BadClient(raw.to_owned()))?;
        let system = self.ingestor.store().system();
        let msp = system
            .client_owner(id)
            .await?
            .ok_or_else(|| ImapError::UnknownClient(raw.to_owned()))?;
        let key = system.bounce_key(id).await?;
        let address = format!("{BOUNCE_LOCAL_PART}+{key}@imap.invalid");
        self.client = Some((
            TenantScope::client(msp, id, Role::ClientAdmin),
            address.clone(),
        ));
        Ok(vec![address])
    }

    async fn pull(
        &self,
        session: &mut ImapSession,
        extra_rcpt: &[String],
    ) -> Result<PollSummary, ImapError> {
        let timeout = self.timing.timeout;
        let name = self.config.name.as_str();
        let folder = timed(timeout, "select", session.select(&self.config.folder)).await?;
        while session.unsolicited_responses.try_recv().is_ok() {}
        let validity = folder
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(self.config.folder.clone()))?;
        let system = self.ingestor.store().system();
        let stored = system.imap_cursor(name).await?;
        let mut summary = PollSummary {
            uid_validity: validity,
            ..PollSummary::default()
        };
        let mut last = match stored {
            Some(c) if c.uid_validity == validity => c.last_uid,
            Some(c) => {
                warn!(mailbox = %name, old = c.uid_validity, new = validity, "uidvalidity changed: rescanning the folder");
                summary.rescanned = true;
                0
            }
            None => 0,
        };
        if stored.is_none_or(|c| c.uid_validity != validity) {
            let cursor = ImapCursor {
                uid_validity: validity,
                last_uid: last,
            };
            system.save_imap_cursor(name, cursor).await?;
        }
        summary.last_uid = last;
        if folder.exists == 0 {
            return Ok(summary);
        }
        let range = format!("{}:*", u64::from(last) + 1);
        let listing = timed(timeout, "list", async {
            session
                .uid_fetch(&range, "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        // `n:*` names the highest UID even when it is below n (RFC 3501 6.4.8).
        let mut todo: Vec<(u32, Option<u32>)> = listing
            .iter()
            .filter_map(|f| f.uid.map(|uid| (uid, f.size)))
            .filter(|(uid, _)| *uid > last)
            .collect();
        todo.sort_unstable();
        todo.dedup_by_key(|(uid, _)| *uid);
        for (uid, size) in todo {
            if self.stopping() {
                break;
            }
            match self.take(session, uid, size, extra_rcpt).await? {
                Taken::Routed(Route::Report) => summary.reports += 1,
                Taken::Routed(Route::Bounce) => summary.bounces += 1,
                Taken::Refused => summary.refused += 1,
                Taken::Vanished => {}
            }
            self.mark(session, uid).await?;
            last = uid;
            let cursor = ImapCursor {
                uid_validity: validity,
                last_uid: last,
            };
            system.save_imap_cursor(name, cursor).await?;
            summary.last_uid = last;
        }
        if summary.reports + summary.bounces + summary.refused > 0 {
            info!(mailbox = %name, reports = summary.reports, bounces = summary.bounces, refused = summary.refused, last_uid = last, "imap messages stored");
        }
        Ok(summary)
    }

    /// Fetches message `uid` (a prefix of it when it is too large) and stores it.
    async fn take(
        &self,
        session: &mut ImapSession,
        uid: u32,
        size: Option<u32>,
        extra_rcpt: &[String],
    ) -> Result<Taken, ImapError> {
        let max = self.config.max_message_bytes;
        let too_large = size.is_some_and(|s| u64::from(s) > max);
        let query = if too_large {
            format!("(UID INTERNALDATE BODY.PEEK[]<0.{REFUSED_PREFIX}>)")
        } else {
            "(UID INTERNALDATE BODY.PEEK[])".to_owned()
        };
        let fetched = timed(self.timing.timeout, "fetch", async {
            session
                .uid_fetch(uid.to_string(), &query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let Some(message) = fetched.iter().find(|f| f.uid == Some(uid)) else {
            return Ok(Taken::Vanished);
        };
        let bytes = message.body().unwrap_or_default().to_vec();
        let received_at = message
            .internal_date()
            .map_or_else(Utc::now, |d| d.with_timezone(&Utc));
        let source = Source::Mail(format!("imap:{}", self.config.name));
        let uploader = self.client.as_ref().map(|(scope, _)| *scope);
        if too_large {
            let detail = format!(
                "the message is {} bytes, more than max_message_bytes {max}; its first {REFUSED_PREFIX} bytes are kept",
                size.unwrap_or_default()
            );
            let refusal = Refusal {
                reason: "too_large",
                detail: &detail,
            };
            self.ingestor
                .refuse(
                    &bytes,
                    Some("message/rfc822"),
                    source,
                    uploader.as_ref(),
                    refusal,
                    received_at,
                )
                .await?;
            return Ok(Taken::Refused);
        }
        let envelope = envelope_of(&bytes, extra_rcpt);
        let (route, _) = self
            .router
            .dispatch(bytes, envelope, source, uploader, received_at)
            .await?;
        Ok(Taken::Routed(route))
    }

    /// Flags a stored message `\Seen`, or moves it.
    async fn mark(&self, session: &mut ImapSession, uid: u32) -> Result<(), ImapError> {
        let timeout = self.timing.timeout;
        let uid = uid.to_string();
        match (self.config.after, self.config.move_to.as_deref()) {
            (ImapAfter::Move, Some(target)) => {
                let caps = timed(timeout, "capability", session.capabilities()).await?;
                if caps.has_str("MOVE") {
                    timed(timeout, "move", session.uid_mv(&uid, target)).await?;
                } else {
                    timed(timeout, "copy", session.uid_copy(&uid, target)).await?;
                    flag(session, &uid, "+FLAGS.SILENT (\\Seen \\Deleted)", timeout).await?;
                    if caps.has_str("UIDPLUS") {
                        timed(timeout, "expunge", async {
                            session
                                .uid_expunge(&uid)
                                .await?
                                .try_collect::<Vec<_>>()
                                .await
                        })
                        .await?;
                    }
                }
            }
            _ => flag(session, &uid, "+FLAGS.SILENT (\\Seen)", timeout).await?,
        }
        while session.unsolicited_responses.try_recv().is_ok() {}
        Ok(())
    }
}

async fn flag(
    session: &mut ImapSession,
    uid: &str,
    flags: &str,
    timeout: Duration,
) -> Result<(), ImapError> {
    timed(timeout, "store", async {
        session
            .uid_store(uid, flags)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    Ok(())
}

/// The wait after `failures` failures in a row: `backoff_min` doubled per failure, at
/// most `backoff_max`.
fn backoff(timing: &ImapTiming, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    timing
        .backoff_min
        .saturating_mul(factor)
        .min(timing.backoff_max)
}

/// An error with its causes, for the log.
fn error_chain(error: &ImapError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
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
    fn backoff_doubles_up_to_the_maximum() {
        let timing = ImapTiming {
            poll: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
            backoff_min: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
        };
        let waits: Vec<u64> = [1, 2, 3, 4, 7, 8, 100]
            .iter()
            .map(|f| backoff(&timing, *f).as_secs())
            .collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 300, 300, 300]);
    }
}
