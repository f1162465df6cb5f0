//! [`PublicOnly`]: a resolver for reqwest that answers only public addresses, for outbound
//! HTTP to names a tenant supplied (webhooks, MTA-STS policy hosts), so a name that points
//! inside the installation's network fails to connect instead of reaching it.

use crate::public::is_public;
use std::net::SocketAddr;

/// Resolves host names with the system resolver and keeps only the addresses
/// [`is_public`] accepts; a name with none fails to resolve, saying why. reqwest asks its
/// resolver for every host name it connects to; IP-literal URLs never reach a resolver, so
/// callers check those with [`is_public`] themselves.
#[derive(Clone, Copy, Debug)]
pub struct PublicOnly {
    setting: &'static str,
}

impl PublicOnly {
    /// A resolver whose refusals name `setting`, the configuration switch that would allow
    /// internal addresses (such as `allow_private_targets`).
    pub fn new(setting: &'static str) -> Self {
        Self { setting }
    }

    /// The addresses of `found` that may be connected to, or why none may.
    fn keep(&self, host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
        let public: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| is_public(a.ip()))
            .collect();
        match (public.is_empty(), found.is_empty()) {
            (false, _) => Ok(public),
            (true, true) => Err(format!("{host} has no address")),
            (true, false) => Err(format!(
                "{host} resolves only to internal addresses ({} is off)",
                self.setting
            )),
        }
    }
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let this = *self;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = this
                .keep(&host, found)
                .map_err(|reason| -> Box<dyn std::error::Error + Send + Sync> { reason.into() })?;
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn only_public_addresses_are_kept() {
        let only = PublicOnly::new("allow_private_targets");
        let kept = only
            .keep(
                "mixed.example",
                addrs(&["10.0.0.1:0", "203.0.113.9:0", "8.8.8.8:0"]),
            )
            .unwrap();
        assert_eq!(kept, addrs(&["8.8.8.8:0"]));
    }

    #[test]
    fn a_name_with_only_internal_addresses_is_refused_naming_the_setting() {
        let only = PublicOnly::new("allow_private_addresses");
        let error = only
            .keep("inside.example", addrs(&["127.0.0.1:0", "[fd00::1]:0"]))
            .unwrap_err();
        assert_eq!(
            error,
            "inside.example resolves only to internal addresses (allow_private_addresses is off)"
        );
        let error = only.keep("empty.example", Vec::new()).unwrap_err();
        assert_eq!(error, "empty.example has no address");
    }

    #[tokio::test]
    async fn localhost_does_not_resolve_through_it() {
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let outcome = PublicOnly::new("allow_private_targets").resolve(name).await;
        let error = outcome.err().expect("localhost is internal").to_string();
        assert!(
            error.contains("internal addresses") || error.contains("has no address"),
            "{error}"
        );
    }
}
