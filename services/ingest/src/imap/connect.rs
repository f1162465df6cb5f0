//! Connecting to an IMAP server: TCP, then TLS from the first byte, after `STARTTLS`, or
//! not at all (loopback only, checked by the configuration), then `LOGIN`.

use super::ImapError;
use async_imap::{Client, Session};
use postern_config::{ImapMailboxConfig, ImapTls};
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The connection under an IMAP session: plain TCP or TLS over it.
pub(crate) enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A logged-in session.
pub(crate) type ImapSession = Session<ImapStream>;

impl fmt::Debug for ImapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImapStream::Plain(_) => "ImapStream::Plain",
            ImapStream::Tls(_) => "ImapStream::Tls",
        })
    }
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client configuration of a mailbox: the public roots plus `ca_file`'s
/// certificates; `None` with `tls = "none"`.
pub(crate) fn tls_connector(config: &ImapMailboxConfig) -> Result<Option<TlsConnector>, ImapError> {
    if config.tls == ImapTls::None {
        return Ok(None);
    }
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &config.ca_file {
        add_pem_roots(&mut roots, path)?;
    }
    let client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Some(TlsConnector::from(Arc::new(client))))
}

fn add_pem_roots(roots: &mut RootCertStore, path: &Path) -> Result<(), ImapError> {
    let fail = |reason: String| ImapError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let mut added = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(fail("no certificate in the file".into()));
    }
    Ok(())
}

/// Runs `op` with the command timeout.
pub(crate) async fn timed<T, E>(
    timeout: Duration,
    op: &'static str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError>
where
    E: Into<ImapErrorCause>,
{
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.into().with_op(op)),
        Err(_) => Err(ImapError::Timeout {
            op,
            secs: timeout.as_secs(),
        }),
    }
}

/// A cause an IMAP step can fail with, before the step's name is attached.
pub(crate) enum ImapErrorCause {
    Imap(async_imap::error::Error),
    Io(io::Error),
}

impl ImapErrorCause {
    fn with_op(self, op: &'static str) -> ImapError {
        let source = match self {
            ImapErrorCause::Imap(e) => e,
            ImapErrorCause::Io(e) => async_imap::error::Error::Io(e),
        };
        ImapError::Imap { op, source }
    }
}

impl From<async_imap::error::Error> for ImapErrorCause {
    fn from(e: async_imap::error::Error) -> Self {
        ImapErrorCause::Imap(e)
    }
}

impl From<io::Error> for ImapErrorCause {
    fn from(e: io::Error) -> Self {
        ImapErrorCause::Io(e)
    }
}

/// Connects, secures the connection as configured and logs in.
pub(crate) async fn open(
    config: &ImapMailboxConfig,
    tls: Option<&TlsConnector>,
    timeout: Duration,
) -> Result<ImapSession, ImapError> {
    let host = config.host.as_str();
    let port = config.port();
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| ImapError::Timeout {
            op: "connect",
            secs: timeout.as_secs(),
        })?
        .map_err(|source| ImapError::Connect {
            host: host.to_owned(),
            port,
            source,
        })?;
    let stream = match (config.tls, tls) {
        (ImapTls::Implicit, Some(tls)) => {
            let stream = handshake(tls, host, tcp, timeout).await?;
            let mut client = Client::new(stream);
            greeting(&mut client, timeout).await?;
            return login(client, config, timeout).await;
        }
        (ImapTls::Starttls, Some(tls)) => {
            let mut client = Client::new(ImapStream::Plain(tcp));
            greeting(&mut client, timeout).await?;
            timed(
                timeout,
                "starttls",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let ImapStream::Plain(tcp) = client.into_inner() else {
                return Err(ImapError::Closed { op: "starttls" });
            };
            handshake(tls, host, tcp, timeout).await?
        }
        _ => {
            let mut client = Client::new(ImapStream::Plain(tcp));
            greeting(&mut client, timeout).await?;
            return login(client, config, timeout).await;
        }
    };
    login(Client::new(stream), config, timeout).await
}

async fn handshake(
    tls: &TlsConnector,
    host: &str,
    tcp: TcpStream,
    timeout: Duration,
) -> Result<ImapStream, ImapError> {
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|_| ImapError::ServerName(host.to_owned()))?
        .to_owned();
    let stream = tokio::time::timeout(timeout, tls.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Timeout {
            op: "tls handshake",
            secs: timeout.as_secs(),
        })?
        .map_err(|source| ImapError::Tls {
            host: host.to_owned(),
            source,
        })?;
    Ok(ImapStream::Tls(Box::new(stream)))
}

/// Reads the server's greeting.
async fn greeting(client: &mut Client<ImapStream>, timeout: Duration) -> Result<(), ImapError> {
    match timed(timeout, "greeting", client.read_response()).await? {
        Some(_) => Ok(()),
        None => Err(ImapError::Closed { op: "greeting" }),
    }
}

async fn login(
    client: Client<ImapStream>,
    config: &ImapMailboxConfig,
    timeout: Duration,
) -> Result<ImapSession, ImapError> {
    let attempt = async {
        client
            .login(&config.username, config.password.expose())
            .await
            .map_err(|(error, _client)| error)
    };
    timed(timeout, "login", attempt).await
}
