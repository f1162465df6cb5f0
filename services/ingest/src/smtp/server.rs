//! The listener: accepts connections (at most `max_connections` at once), speaks the
//! protocol of [`Session`] over them with timeouts, upgrades to TLS on `STARTTLS` and
//! hands each message to a [`MailSink`]; the reply to DATA waits for the sink, so a
//! message is acknowledged only once it is stored.

use super::reader::{self, Data, DataError, Line};
use super::session::{DataResult, Next, Policy, Reply, Session};
use crate::error::IngestError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postern_config::SmtpIntakeConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tracing::{debug, info, warn};

/// A message received over SMTP, with its envelope.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// The envelope sender (`MAIL FROM`); empty for the null sender of a bounce.
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), all in intake domains (or `postmaster`).
    pub rcpt_to: Vec<String>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The message came over TLS.
    pub tls: bool,
    pub received_at: DateTime<Utc>,
    /// The message with a `Received:` trace header added in front (RFC 5321 4.4).
    pub bytes: Vec<u8>,
}

/// Where the listener hands accepted messages. `Ok` carries the id the sender is told.
#[async_trait]
pub trait MailSink: Send + Sync + 'static {
    async fn deliver(&self, mail: ReceivedMail) -> Result<String, IngestError>;
}

/// The listener's limits and names.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub hostname: String,
    pub intake_domains: Vec<String>,
    pub max_message_bytes: u64,
    pub max_recipients: usize,
    pub max_line_bytes: usize,
    pub max_errors: u32,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub max_connections: usize,
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("binding {addr} failed")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the TLS {what} {} failed: {reason}", path.display())]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the TLS certificate and key do not fit together: {0}")]
    Tls(#[from] rustls::Error),
}

/// A bound SMTP listener; [`SmtpListener::run`] serves it.
pub struct SmtpListener {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    policy: Arc<Policy>,
    settings: SmtpSettings,
    tls: Option<TlsAcceptor>,
    sink: Arc<dyn MailSink>,
    permits: Arc<Semaphore>,
}

/// How one leg of a conversation ended.
enum Ended {
    Closed,
    StartTls,
}

impl From<&SmtpIntakeConfig> for SmtpSettings {
    fn from(c: &SmtpIntakeConfig) -> Self {
        Self {
            hostname: c.hostname.clone(),
            intake_domains: c.intake_domains.clone(),
            max_message_bytes: c.max_message_bytes,
            max_recipients: c.max_recipients,
            max_line_bytes: c.max_line_bytes,
            max_errors: c.max_errors,
            command_timeout: c.command_timeout(),
            data_timeout: c.data_timeout(),
            max_connections: c.max_connections,
        }
    }
}

impl SmtpListener {
    /// Binds `addr`. With `tls`, `STARTTLS` is offered.
    pub async fn bind(
        addr: SocketAddr,
        settings: SmtpSettings,
        tls: Option<Arc<rustls::ServerConfig>>,
        sink: Arc<dyn MailSink>,
    ) -> Result<Self, SmtpError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SmtpError::Bind { addr, source })?;
        let policy = Arc::new(Policy {
            hostname: settings.hostname.clone(),
            intake_domains: settings
                .intake_domains
                .iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            max_message_bytes: settings.max_message_bytes,
            max_recipients: settings.max_recipients,
            max_errors: settings.max_errors,
            tls_available: tls.is_some(),
        });
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                policy,
                permits: Arc::new(Semaphore::new(settings.max_connections)),
                settings,
                tls: tls.map(TlsAcceptor::from),
                sink,
            }),
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `shutdown` turns true; connections in progress finish.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        info!(addr = ?self.listener.local_addr().ok(), "smtp listener started");
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = shutdown.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    warn!(%error, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let shared = self.shared.clone();
            tokio::spawn(async move { shared.connection(stream, peer).await });
        }
        info!("smtp listener stopped");
    }
}

impl Shared {
    async fn connection(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            let busy = Reply::new(421, "4.3.2 too many connections, try again later");
            let _ = stream.write_all(&busy.to_wire()).await;
            let _ = stream.shutdown().await;
            return;
        };
        let mut session = Session::new(self.policy.clone());
        let mut io = BufReader::new(stream);
        if send(&mut io, &session.greeting()).await.is_err() {
            return;
        }
        match self.converse(&mut session, &mut io, peer).await {
            Ok(Ended::StartTls) => {}
            Ok(Ended::Closed) => return,
            Err(error) => {
                debug!(%error, "smtp connection failed");
                return;
            }
        }
        // Commands sent after STARTTLS before the handshake would be injected into the
        // TLS session (CVE-2011-0411 class); refuse the connection instead.
        if !io.buffer().is_empty() {
            return;
        }
        let Some(acceptor) = self.tls.clone() else {
            return;
        };
        let tcp = io.into_inner();
        let tls =
            match tokio::time::timeout(self.settings.command_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    debug!(%error, "smtp tls handshake failed");
                    return;
                }
                Err(_) => return,
            };
        session.tls_started();
        let mut io = BufReader::new(tls);
        if let Err(error) = self.converse(&mut session, &mut io, peer).await {
            debug!(%error, "smtp connection failed");
        }
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        session: &mut Session,
        io: &mut BufReader<S>,
        peer: SocketAddr,
    ) -> std::io::Result<Ended> {
        let s = &self.settings;
        let mut line = Vec::new();
        loop {
            let read = tokio::time::timeout(
                s.command_timeout,
                reader::read_line(io, &mut line, s.max_line_bytes),
            )
            .await;
            let (reply, next) = match read {
                Err(_) => return timed_out(io, &s.hostname).await,
                Ok(Err(error)) => return Err(error),
                Ok(Ok(Line::Eof)) => return Ok(Ended::Closed),
                Ok(Ok(Line::TooLong)) => session.line_too_long(),
                Ok(Ok(Line::Complete)) => session.command(reader::trim_eol(&line)),
            };
            send(io, &reply).await?;
            let (reply, next) = match next {
                Next::Command => continue,
                Next::Close => return Ok(Ended::Closed),
                Next::StartTls => return Ok(Ended::StartTls),
                Next::Data => {
                    let result =
                        match reader::read_data(io, s.max_message_bytes, s.data_timeout).await {
                            Ok(Data::Message(bytes)) => self.store(session, bytes, peer).await,
                            Ok(Data::TooBig) => DataResult::TooBig,
                            Err(DataError::Timeout) => return timed_out(io, &s.hostname).await,
                            Err(DataError::Eof) => return Ok(Ended::Closed),
                            Err(DataError::Io(error)) => return Err(error),
                        };
                    session.data_finished(result)
                }
            };
            send(io, &reply).await?;
            if next == Next::Close {
                return Ok(Ended::Closed);
            }
        }
    }

    async fn store(&self, session: &Session, body: Vec<u8>, peer: SocketAddr) -> DataResult {
        let envelope = session.envelope();
        let received_at = Utc::now();
        let mail = ReceivedMail {
            bytes: with_trace_header(
                &body,
                &envelope.helo,
                peer,
                &self.settings.hostname,
                session.is_tls(),
                received_at,
            ),
            helo: envelope.helo,
            mail_from: envelope.mail_from,
            rcpt_to: envelope.rcpt_to,
            peer,
            tls: session.is_tls(),
            received_at,
        };
        match self.sink.deliver(mail).await {
            Ok(id) => DataResult::Stored(id),
            Err(error) => {
                warn!(%error, peer = %peer.ip(), "storing an smtp message failed");
                DataResult::StoreFailed
            }
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    reply: &Reply,
) -> std::io::Result<()> {
    let stream = io.get_mut();
    stream.write_all(&reply.to_wire()).await?;
    stream.flush().await
}

async fn timed_out<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    hostname: &str,
) -> std::io::Result<Ended> {
    let reply = Reply::new(
        421,
        format!("4.4.2 {hostname} timeout exceeded, closing connection"),
    );
    send(io, &reply).await?;
    Ok(Ended::Closed)
}

/// The message with a `Received:` header in front, in the message's own line ending.
fn with_trace_header(
    body: &[u8],
    helo: &str,
    peer: SocketAddr,
    hostname: &str,
    tls: bool,
    at: DateTime<Utc>,
) -> Vec<u8> {
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let eol: &[u8] = if first_line.ends_with(b"\r") || body.is_empty() {
        b"\r\n"
    } else {
        b"\n"
    };
    let helo: String = helo
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let protocol = if tls { "ESMTPS" } else { "ESMTP" };
    let header = format!(
        "Received: from {helo} ([{}]) by {hostname} with {protocol}; {}",
        peer.ip(),
        at.to_rfc2822()
    );
    let mut out = Vec::with_capacity(header.len() + 2 + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(body);
    out
}

/// Reads a PEM certificate chain and private key into a TLS server configuration.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, SmtpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| SmtpError::TlsFile {
            what: "certificate",
            path: cert.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SmtpError::TlsFile {
            what: "certificate",
            path: cert.to_owned(),
            reason: "no certificate in the file".to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| SmtpError::TlsFile {
        what: "key",
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_header_follows_the_message_line_ending() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let crlf = with_trace_header(
            b"Subject: a\r\n\r\nb\r\n",
            "c.example",
            peer,
            "mx",
            true,
            at,
        );
        assert!(crlf.starts_with(
            b"Received: from c.example ([192.0.2.7]) by mx with ESMTPS; Fri, 2 Jan 2026 03:04:05 +0000\r\nSubject: a"
        ));
        let lf = with_trace_header(b"Subject: a\n\nb\n", "bad\r\nhelo", peer, "mx", false, at);
        assert!(lf.starts_with(b"Received: from badhelo ([192.0.2.7]) by mx with ESMTP;"));
        assert!(lf.ends_with(b"+0000\nSubject: a\n\nb\n"));
    }
}
