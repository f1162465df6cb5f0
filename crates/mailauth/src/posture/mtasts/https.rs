//! [`HttpsPolicyFetcher`]: MTA-STS policies over HTTPS with reqwest and rustls (ring), the
//! Mozilla roots of webpki-roots plus any configured roots, no redirects and a body cap.

use super::{FetchError, FetchedPolicy, MAX_POLICY_BYTES, PolicyFetcher, policy_url};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How an [`HttpsPolicyFetcher`] is built.
#[derive(Debug, Clone)]
pub struct HttpsFetcherSettings {
    /// Time allowed for the whole fetch (connect, handshake, body).
    pub timeout: Duration,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Largest body read; a larger one is [`FetchError::TooLarge`].
    pub max_bytes: usize,
    /// Trust anchors added to the Mozilla roots, DER-encoded (a private or test CA).
    pub extra_roots: Vec<Vec<u8>>,
    /// Leave out the Mozilla roots: trust only `extra_roots` (tests).
    pub only_extra_roots: bool,
    /// Host names connected to fixed addresses instead of resolving them (tests, split
    /// horizons); the port of the address replaces 443.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Let `mta-sts.<domain>` resolve to loopback, private and other internal addresses.
    /// Off by default: a client's DNS must not make Postern fetch from inside its own
    /// network. (`resolve` pins are the operator's choice and are always allowed.)
    pub allow_private_addresses: bool,
}

impl Default for HttpsFetcherSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_bytes: MAX_POLICY_BYTES,
            extra_roots: Vec::new(),
            only_extra_roots: false,
            resolve: Vec::new(),
            allow_private_addresses: false,
        }
    }
}

/// Fetches policies from `https://<host>/.well-known/mta-sts.txt`, validating the
/// certificate for the host name, following no redirects and reading at most
/// `max_bytes`.
#[derive(Debug, Clone)]
pub struct HttpsPolicyFetcher {
    client: reqwest::Client,
    max_bytes: usize,
}

impl HttpsPolicyFetcher {
    /// Builds the HTTP client; fails on an unreadable root certificate.
    pub fn new(settings: &HttpsFetcherSettings) -> Result<Self, FetchError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        if !settings.only_extra_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for der in &settings.extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| FetchError::Tls(format!("root certificate: {e}")))?;
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Postern-MTA-STS/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_addresses {
            // Policy hosts must resolve to public addresses (`postern_dns::is_public`).
            builder = builder.dns_resolver(Arc::new(postern_dns::PublicOnly::new(
                "allow_private_addresses",
            )));
        }
        for (host, addr) in &settings.resolve {
            builder = builder.resolve(host, *addr);
        }
        let client = builder
            .build()
            .map_err(|e| FetchError::Http(format!("client: {e}")))?;
        Ok(Self {
            client,
            max_bytes: settings.max_bytes,
        })
    }
}

#[async_trait]
impl PolicyFetcher for HttpsPolicyFetcher {
    async fn fetch(&self, policy_host: &str) -> Result<FetchedPolicy, FetchError> {
        let url = policy_url(policy_host);
        let mut response = self.client.get(&url).send().await.map_err(classify)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect {
                status: status.as_u16(),
                location: header(&response, reqwest::header::LOCATION),
            });
        }
        let content_type = header(&response, reqwest::header::CONTENT_TYPE);
        let final_url = response.url().to_string();
        let too_large = FetchError::TooLarge {
            limit: self.max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedPolicy {
            status: status.as_u16(),
            content_type,
            body,
            url: final_url,
        })
    }
}

/// A header as text, if present and readable.
fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Sorts a reqwest error into the fetch errors the check tells apart.
fn classify(error: reqwest::Error) -> FetchError {
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    let chain = chain_text(&error);
    if let Some(tls) = tls_cause(&error) {
        return FetchError::Tls(tls);
    }
    // The connector may hide the rustls error behind its own boxes; its text is stable.
    if let Some(at) = TLS_MARKERS.iter().find_map(|m| chain.find(m)) {
        return FetchError::Tls(chain[at..].to_owned());
    }
    if error.is_connect() {
        return FetchError::Connect(chain);
    }
    FetchError::Http(chain)
}

/// How rustls's errors start when displayed.
const TLS_MARKERS: [&str; 5] = [
    "invalid peer certificate",
    "received fatal alert",
    "peer is incompatible",
    "peer misbehaved",
    "no application protocol",
];

/// The rustls error somewhere in the cause chain, as text.
fn tls_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        cause = e.source();
    }
    None
}

/// The error and its causes joined by `: `.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}
