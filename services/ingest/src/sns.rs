//! Amazon SNS over HTTPS, the I/O half of SNS message verification: fetching the signing
//! certificate named by `SigningCertURL` (only from `https://sns.<region>.amazonaws.com[.cn]`,
//! checked before any network call, cached by URL) and confirming subscriptions by a GET
//! of their `SubscribeURL` (the same hosts only). The checks themselves (string to sign,
//! URL pattern, RSA against the certificate, its validity) are
//! `postern_bounce::{sns_url_allowed, verify_sns}`, pure.

use postern_bounce::{EspError, SnsSigned, sns_url_allowed, verify_sns};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Largest signing certificate read (SNS's are about 2 KiB).
const MAX_CERT_BYTES: usize = 16 * 1024;
/// Certificates kept; SNS rotates them rarely, so a full cache is simply emptied.
const CACHE_LIMIT: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why an SNS message was not verified or a subscription not confirmed.
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    /// A URL outside the allowed hosts, refused before any network call.
    #[error("refused URL: {0}")]
    UrlRefused(String),
    /// The signature, or the certificate it is checked with, does not verify.
    #[error(transparent)]
    Signature(#[from] EspError),
    /// The certificate or the confirmation URL could not be fetched.
    #[error("{0}")]
    Fetch(String),
}

/// Which hosts certificates and confirmations may be fetched from.
#[derive(Clone, Debug)]
enum Hosts {
    /// `sns.<region>.amazonaws.com[.cn]`, default port.
    Aws,
    /// Exactly these `host:port` authorities (tests only).
    #[cfg(feature = "testing")]
    Exact(Vec<String>),
}

/// Verifies SNS message signatures and confirms subscriptions. Cheap to clone: clones
/// share the HTTP client and the certificate cache.
#[derive(Clone)]
pub struct SnsVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    hosts: Hosts,
    /// DER roots trusted instead of the webpki roots (tests only); empty: webpki roots.
    roots: Vec<Vec<u8>>,
    /// Built on first use, so that building settings cannot fail.
    client: OnceLock<Result<reqwest::Client, String>>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Default for SnsVerifier {
    /// Amazon SNS hosts only, over TLS checked against the webpki roots.
    fn default() -> Self {
        Self::with(Hosts::Aws, Vec::new())
    }
}

impl fmt::Debug for SnsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsVerifier")
            .field("hosts", &self.inner.hosts)
            .field("extra_roots", &self.inner.roots.len())
            .finish_non_exhaustive()
    }
}

impl SnsVerifier {
    fn with(hosts: Hosts, roots: Vec<Vec<u8>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                hosts,
                roots,
                client: OnceLock::new(),
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// UNSAFE outside tests (feature `testing`): accepts certificate and subscribe URLs on
    /// exactly the `host:port` authorities in `hosts` instead of Amazon SNS, and trusts
    /// only the DER certificates `roots` for their TLS.
    #[cfg(feature = "testing")]
    pub fn unsafe_for_testing(hosts: Vec<String>, roots: Vec<Vec<u8>>) -> Self {
        Self::with(Hosts::Exact(hosts), roots)
    }

    /// Checks `signed` against the certificate its `SigningCertURL` names (fetched once
    /// per URL), at `now`.
    pub async fn verify(
        &self,
        signed: &SnsSigned,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), SnsError> {
        let url = self.allowed(&signed.signing_cert_url, true)?;
        let certificate = self.certificate(url).await?;
        let signed = signed.clone();
        // RSA off the executor.
        tokio::task::spawn_blocking(move || verify_sns(&signed, &certificate, now))
            .await
            .map_err(|e| SnsError::Fetch(format!("verification task failed: {e}")))??;
        Ok(())
    }

    /// Confirms a subscription: a GET of its `SubscribeURL`, which must be an SNS URL.
    pub async fn confirm(&self, subscribe_url: &str) -> Result<(), SnsError> {
        let url = self.allowed(subscribe_url, false)?;
        let response = self
            .client()?
            .get(url)
            .send()
            .await
            .map_err(|e| SnsError::Fetch(format!("confirming the subscription: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SnsError::Fetch(format!(
                "confirming the subscription: SNS answered HTTP {}",
                status.as_u16()
            )));
        }
        Ok(())
    }

    /// The parsed URL when it may be fetched (`pem`: a signing certificate).
    fn allowed(&self, url: &str, pem: bool) -> Result<reqwest::Url, SnsError> {
        match &self.inner.hosts {
            Hosts::Aws => sns_url_allowed(url, pem).map_err(SnsError::UrlRefused)?,
            #[cfg(feature = "testing")]
            Hosts::Exact(_) => {}
        }
        let refused = || SnsError::UrlRefused(format!("{url} is not an allowed SNS URL"));
        let parsed = reqwest::Url::parse(url).map_err(|_| refused())?;
        let host = parsed.host_str().unwrap_or_default();
        let host_ok = match &self.inner.hosts {
            // Parsed again: the host reqwest would connect to is the one checked.
            Hosts::Aws => {
                parsed.port().is_none()
                    && sns_url_allowed(&format!("https://{host}/a.pem"), true).is_ok()
            }
            #[cfg(feature = "testing")]
            Hosts::Exact(hosts) => parsed
                .port()
                .is_some_and(|port| hosts.contains(&format!("{host}:{port}"))),
        };
        if parsed.scheme() != "https"
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || !host_ok
        {
            return Err(refused());
        }
        if pem && !parsed.path().ends_with(".pem") {
            return Err(SnsError::UrlRefused(format!(
                "{url} is not a .pem certificate URL"
            )));
        }
        Ok(parsed)
    }

    fn client(&self) -> Result<&reqwest::Client, SnsError> {
        self.inner
            .client
            .get_or_init(|| build_client(&self.inner.roots))
            .as_ref()
            .map_err(|e| SnsError::Fetch(e.clone()))
    }

    async fn certificate(&self, url: reqwest::Url) -> Result<Arc<Vec<u8>>, SnsError> {
        let key = url.as_str().to_owned();
        if let Some(found) = self.cached(&key) {
            return Ok(found);
        }
        let fetch =
            |why: String| SnsError::Fetch(format!("fetching the signing certificate {key}: {why}"));
        let mut response = self
            .client()?
            .get(url.clone())
            .send()
            .await
            .map_err(|e| fetch(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fetch(format!("HTTP {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fetch(e.to_string()))? {
            if body.len() + chunk.len() > MAX_CERT_BYTES {
                return Err(fetch(format!("larger than {MAX_CERT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let body = Arc::new(body);
        if let Ok(mut cache) = self.inner.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, body.clone());
        }
        Ok(body)
    }

    fn cached(&self, url: &str) -> Option<Arc<Vec<u8>>> {
        self.inner
            .cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(url).cloned())
    }
}

/// reqwest over rustls (ring), https only, no redirects, no proxy, a timeout.
fn build_client(extra_roots: &[Vec<u8>]) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if extra_roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("root certificate: {e}"))?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Postern-SNS/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_outside_amazon_sns_are_refused_before_any_fetch() {
        let v = SnsVerifier::default();
        for url in [
            "https://127.0.0.1/cert.pem",
            "http://sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
            "https://sns.us-east-1.amazonaws.com:444/cert.pem",
        ] {
            assert!(
                matches!(v.allowed(url, true), Err(SnsError::UrlRefused(_))),
                "{url}"
            );
        }
        assert!(
            v.allowed(
                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                true
            )
            .is_ok()
        );
        // Nothing was built or fetched for the refusals.
        assert!(v.inner.client.get().is_none());
    }
}
