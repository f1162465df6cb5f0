//! The configuration sections, their defaults, and [`load`].

use crate::env::EnvLayer;
use crate::error::ConfigError;
use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
/// A session token lives at most a year.
const MAX_TOKEN_TTL_SECS: u64 = 365 * 24 * 3600;

/// Everything a Postern process is configured with. Per-tenant settings are data in the
/// database, not here.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database, the generated signing secret and the first admin's
    /// credentials live. Default `./postern-data` (relative to the working directory).
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub ingest: IngestConfig,
    pub analysis: AnalysisConfig,
    pub telemetry: TelemetryConfig,
    pub notify: crate::notify::NotifyConfig,
    pub rules: crate::rules::RulesConfig,
}

/// `[database]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://…`. Unset: the SQLite file `<data_dir>/postern.db`
    /// (see [`Config::database_url`]).
    pub url: Option<Secret>,
    /// Pool size. Default 10.
    pub max_connections: u32,
}

/// `[bus]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `redis://…` for Redis Streams. Unset: the in-process bus (one process only).
    pub redis_url: Option<Secret>,
    /// Prefix of every stream and key, so installations can share a Redis. Default `postern`.
    pub namespace: String,
}

/// `[http]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the API listens on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Serve GraphiQL at `/graphiql`. Default true.
    pub graphiql: bool,
    /// Largest request body outside report upload (GraphQL). Default 1 MiB.
    pub max_body_bytes: u64,
}

/// `[auth]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing secret, at least 32 bytes. Unset: 32 random bytes generated once into
    /// `<data_dir>/jwt-secret` (see [`Config::jwt_secret_path`]). Every process of one
    /// installation must use the same secret.
    pub jwt_secret: Option<Secret>,
    /// `iss` of session tokens. Default `postern`.
    pub issuer: String,
    /// `aud` of session tokens. Default `postern`.
    pub audience: String,
    /// Session token lifetime in seconds. Default 3600.
    pub token_ttl_secs: u64,
}

/// `[ingest]`: the limits that keep hostile input from exhausting the machine.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest upload (compressed, as received). Default 64 MiB.
    pub max_body_bytes: u64,
    /// Most bytes one input may decompress to, all layers together. Default 256 MiB.
    pub max_decompressed_bytes: u64,
    /// Most entries read from one zip archive. Default 64.
    pub max_archive_entries: usize,
    /// Deepest nesting of containers (gzip in zip in email …). Default 4.
    pub max_nesting: usize,
    /// Most records accepted in one report. Default 2,000,000.
    pub max_records_per_report: usize,
    /// `[ingest.smtp]`: the SMTP listener (off unless `listen` is set).
    pub smtp: crate::smtp::SmtpIntakeConfig,
    /// `[ingest.esp]`: signature checks of the ESP webhooks.
    pub esp: crate::esp::EspConfig,
    /// `[ingest.imap]`: IMAP pull of report and bounce mailboxes (off while empty).
    pub imap: crate::imap::ImapIntakeConfig,
    /// Headers of a bounced message (as returned inside the bounce) that name its campaign,
    /// in order of preference; bounces are grouped by it. ESP events carry their own tag.
    /// Default `X-Campaign`, `X-Campaign-ID`, `X-Mailgun-Tag`, `X-PM-Tag`.
    pub campaign_headers: Vec<String>,
}

/// `[analysis]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Look up reverse DNS of report sources. Default false.
    pub reverse_dns: bool,
    /// Per-query DNS timeout in milliseconds. Default 2000.
    pub dns_timeout_ms: u64,
    /// Most reverse lookups in flight at once. Default 16.
    pub rdns_concurrency: usize,
    /// Resolvers to ask (`ip:port`). Empty (the default): the system's resolvers.
    pub nameservers: Vec<SocketAddr>,
    /// Seconds between scheduled re-evaluations of every domain's rules (facts such as
    /// "how long has p=none lasted" change with time alone). 0 turns the schedule off.
    /// Default 3600.
    pub reevaluate_every_secs: u64,
    /// After a report, how long (milliseconds) analysis waits for more reports of the same
    /// domain before evaluating its rules once for all of them. Default 500.
    pub evaluation_debounce_ms: u64,
    /// Check client domains' DNS posture (when added, on the schedule below and on demand
    /// with `checkDomainNow`) through `nameservers`. Default true.
    pub dns_posture: bool,
    /// Seconds between DNS posture checks of each domain (SPF, DMARC, DKIM, MTA-STS,
    /// TLS-RPT, BIMI, MX); each domain keeps its own offset within ±10 %. 0 turns the
    /// schedule off (domains are still checked when added and on demand). Default 21600.
    pub posture_every_secs: u64,
    /// Seconds between looks for domains whose posture check is due. Default 60.
    pub posture_tick_secs: u64,
    /// Check client domains, their DMARC sending sources and the clients' configured
    /// targets against the blocklist catalogue (on the schedule below and on demand with
    /// `checkBlocklistsNow`) through `nameservers`. Default true.
    pub blocklists: bool,
    /// Seconds between blocklist checks of every MSP (±10 %). 0 turns the schedule off.
    /// Default 3600.
    pub blocklist_every_secs: u64,
    /// A DMARC sending source is checked when it sent at least this many messages for a
    /// domain over the last 7 days. Default 100.
    pub blocklist_source_min_messages: u64,
}

/// `[telemetry]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `pretty` (human-readable lines) or `json` (one object per line). Default `pretty`.
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,postern_ingest=debug`. Default `info`.
    pub log_filter: String,
    /// OTLP/HTTP collector base URL (e.g. `http://localhost:4318`). Unset (the default):
    /// nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `service.name` reported to the collector. Unset: the name of the running service.
    pub service_name: Option<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./postern-data"),
            database: DatabaseConfig::default(),
            bus: BusConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            ingest: IngestConfig::default(),
            analysis: AnalysisConfig::default(),
            telemetry: TelemetryConfig::default(),
            notify: crate::notify::NotifyConfig::default(),
            rules: crate::rules::RulesConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            namespace: "postern".into(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            graphiql: true,
            max_body_bytes: MIB,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "postern".into(),
            audience: "postern".into(),
            token_ttl_secs: 3600,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * MIB,
            max_decompressed_bytes: 256 * MIB,
            max_archive_entries: 64,
            max_nesting: 4,
            max_records_per_report: 2_000_000,
            smtp: crate::smtp::SmtpIntakeConfig::default(),
            esp: crate::esp::EspConfig::default(),
            imap: crate::imap::ImapIntakeConfig::default(),
            campaign_headers: ["X-Campaign", "X-Campaign-ID", "X-Mailgun-Tag", "X-PM-Tag"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            reverse_dns: false,
            dns_timeout_ms: 2000,
            rdns_concurrency: 16,
            nameservers: Vec::new(),
            reevaluate_every_secs: 3600,
            evaluation_debounce_ms: 500,
            dns_posture: true,
            posture_every_secs: 21_600,
            posture_tick_secs: 60,
            blocklists: true,
            blocklist_every_secs: 3600,
            blocklist_source_min_messages: 100,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".into(),
            otlp_endpoint: None,
            service_name: None,
        }
    }
}

impl Config {
    /// The database to connect to: the configured URL, or the embedded SQLite file
    /// `sqlite://{data_dir}/postern.db?mode=rwc` (created if missing).
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("postern.db").display()
            ),
        }
    }

    /// Where the JWT signing secret is generated when `auth.jwt_secret` is unset.
    pub fn jwt_secret_path(&self) -> PathBuf {
        self.data_dir.join("jwt-secret")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn check(ok: bool, key: &'static str, reason: &str) -> Result<(), ConfigError> {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Value {
                    key,
                    reason: reason.to_owned(),
                })
            }
        }
        let secret_set = |s: &Option<Secret>| s.as_ref().is_none_or(|s| !s.expose().is_empty());
        check(
            !self.data_dir.as_os_str().is_empty(),
            "data_dir",
            "must not be empty",
        )?;
        check(
            secret_set(&self.database.url),
            "database.url",
            "must not be empty",
        )?;
        check(
            self.database.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        )?;
        check(
            secret_set(&self.bus.redis_url),
            "bus.redis_url",
            "must not be empty",
        )?;
        check(
            !self.bus.namespace.is_empty(),
            "bus.namespace",
            "must not be empty",
        )?;
        check(
            self.http.max_body_bytes >= 1,
            "http.max_body_bytes",
            "must be at least 1",
        )?;
        check(
            self.auth
                .jwt_secret
                .as_ref()
                .is_none_or(|s| s.expose().len() >= 32),
            "auth.jwt_secret",
            "must be at least 32 bytes",
        )?;
        check(
            !self.auth.issuer.is_empty(),
            "auth.issuer",
            "must not be empty",
        )?;
        check(
            !self.auth.audience.is_empty(),
            "auth.audience",
            "must not be empty",
        )?;
        check(
            (1..=MAX_TOKEN_TTL_SECS).contains(&self.auth.token_ttl_secs),
            "auth.token_ttl_secs",
            "must be between 1 and 31536000 (one year)",
        )?;
        let i = &self.ingest;
        check(
            i.max_body_bytes >= 1,
            "ingest.max_body_bytes",
            "must be at least 1",
        )?;
        check(
            i.max_decompressed_bytes >= 1,
            "ingest.max_decompressed_bytes",
            "must be at least 1",
        )?;
        check(
            i.max_archive_entries >= 1,
            "ingest.max_archive_entries",
            "must be at least 1",
        )?;
        check(
            i.max_nesting >= 1,
            "ingest.max_nesting",
            "must be at least 1",
        )?;
        check(
            i.max_records_per_report >= 1,
            "ingest.max_records_per_report",
            "must be at least 1",
        )?;
        check(
            self.analysis.dns_timeout_ms >= 1,
            "analysis.dns_timeout_ms",
            "must be at least 1",
        )?;
        check(
            self.analysis.rdns_concurrency >= 1,
            "analysis.rdns_concurrency",
            "must be at least 1",
        )?;
        check(
            !self.telemetry.log_filter.trim().is_empty(),
            "telemetry.log_filter",
            "must not be empty",
        )?;
        check(
            self.telemetry
                .otlp_endpoint
                .as_deref()
                .is_none_or(|e| e.starts_with("http://") || e.starts_with("https://")),
            "telemetry.otlp_endpoint",
            "must be an http:// or https:// URL",
        )?;
        self.notify.validate()?;
        self.rules.validate()?;
        self.ingest.smtp.validate()?;
        self.ingest.esp.validate()?;
        self.ingest.imap.validate()?;
        Ok(())
    }
}

impl AuthConfig {
    /// Session token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}

impl AnalysisConfig {
    /// Per-query DNS timeout.
    pub fn dns_timeout(&self) -> Duration {
        Duration::from_millis(self.dns_timeout_ms)
    }

    /// The period of scheduled re-evaluation; `None` when it is off.
    pub fn reevaluate_every(&self) -> Option<Duration> {
        (self.reevaluate_every_secs > 0).then(|| Duration::from_secs(self.reevaluate_every_secs))
    }

    /// How long evaluation waits for more reports of a domain.
    pub fn evaluation_debounce(&self) -> Duration {
        Duration::from_millis(self.evaluation_debounce_ms)
    }

    /// The period of each domain's DNS posture checks; `None` when the schedule is off.
    pub fn posture_every(&self) -> Option<Duration> {
        (self.posture_every_secs > 0).then(|| Duration::from_secs(self.posture_every_secs))
    }

    /// How often the posture schedule looks for due domains (at least one second).
    pub fn posture_tick(&self) -> Duration {
        Duration::from_secs(self.posture_tick_secs.max(1))
    }

    /// The period of blocklist checks; `None` when the schedule is off.
    pub fn blocklist_every(&self) -> Option<Duration> {
        (self.blocklist_every_secs > 0).then(|| Duration::from_secs(self.blocklist_every_secs))
    }
}

/// Loads the configuration: defaults, then `file` (TOML) if given, then the `POSTERN__…`
/// entries of `env` (`POSTERN__SECTION__KEY`, names case-insensitive; other entries are
/// ignored). Pass `std::env::vars()` from `main`; this function never reads the process
/// environment itself.
///
/// An unknown key in either layer, a value of the wrong type, a file that cannot be read or
/// a value out of range is an error that names the key and where it came from.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        // figment treats a missing file as empty; a file named on the command line must exist.
        std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        figment = figment.merge(Toml::file_exact(path));
    }
    // Lossy: environment values are strings; numbers and booleans are read from them when
    // the field asks for one ("8080", "true").
    let config: Config = figment.merge(EnvLayer::new(env)).extract_lossy()?;
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(toml: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_without_file_or_env() {
        let c = load(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.data_dir, PathBuf::from("./postern-data"));
        assert_eq!(c.database.url, None);
        assert_eq!(
            c.database_url(),
            "sqlite://./postern-data/postern.db?mode=rwc"
        );
        assert_eq!(
            c.jwt_secret_path(),
            PathBuf::from("./postern-data/jwt-secret")
        );
        assert_eq!(c.bus.redis_url, None);
        assert_eq!(c.bus.namespace, "postern");
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(c.http.graphiql);
        assert_eq!(c.http.max_body_bytes, 1024 * 1024);
        assert_eq!(c.auth.token_ttl(), Duration::from_secs(3600));
        assert_eq!(c.ingest.max_decompressed_bytes, 256 * 1024 * 1024);
        assert_eq!(c.ingest.max_archive_entries, 64);
        assert_eq!(c.ingest.max_nesting, 4);
        assert_eq!(c.ingest.max_records_per_report, 2_000_000);
        assert!(!c.analysis.reverse_dns);
        assert_eq!(c.analysis.dns_timeout(), Duration::from_millis(2000));
        assert!(c.analysis.nameservers.is_empty());
        assert_eq!(
            c.analysis.reevaluate_every(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(c.analysis.evaluation_debounce(), Duration::from_millis(500));
        assert_eq!(c.telemetry.log_format, LogFormat::Pretty);
        assert_eq!(c.telemetry.log_filter, "info");
        assert_eq!(c.telemetry.otlp_endpoint, None);
    }

    #[test]
    fn file_overrides_defaults_and_keeps_the_rest() {
        let f = file(
            r#"
            data_dir = "/var/lib/postern"
            [database]
            url = "postgres://postern:pw@db/postern"
            [http]
            listen = "0.0.0.0:9000"
            [telemetry]
            log_format = "json"
            [analysis]
            nameservers = ["1.1.1.1:53"]
            "#,
        );
        let c = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/postern"));
        assert_eq!(c.database_url(), "postgres://postern:pw@db/postern");
        assert_eq!(c.http.listen, "0.0.0.0:9000".parse().unwrap());
        assert!(c.http.graphiql, "untouched keys keep their defaults");
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
        assert_eq!(c.analysis.nameservers, vec!["1.1.1.1:53".parse().unwrap()]);
        assert_eq!(c.database.max_connections, 10);
    }

    #[test]
    fn sqlite_default_follows_data_dir() {
        let c = load(None, env(&[("POSTERN__DATA_DIR", "/srv/p")])).unwrap();
        assert_eq!(c.database_url(), "sqlite:///srv/p/postern.db?mode=rwc");
        assert_eq!(c.jwt_secret_path(), PathBuf::from("/srv/p/jwt-secret"));
    }

    #[test]
    fn env_overrides_file() {
        let f = file(
            r#"
            [http]
            listen = "0.0.0.0:9000"
            graphiql = true
            [database]
            max_connections = 5
            "#,
        );
        let c = load(
            Some(f.path()),
            env(&[
                ("POSTERN__HTTP__LISTEN", "[::1]:7000"),
                ("POSTERN__HTTP__GRAPHIQL", "false"),
                ("POSTERN__DATABASE__MAX_CONNECTIONS", "20"),
                ("POSTERN__DATABASE__URL", "postgres://u:p@h/db"),
                ("postern__bus__redis_url", "redis://127.0.0.1:6379"),
                ("POSTERN__ANALYSIS__NAMESERVERS", "[9.9.9.9:53, 1.1.1.1:53]"),
                (
                    "POSTERN__AUTH__JWT_SECRET",
                    "12345678901234567890123456789012",
                ),
                ("POSTERN__TELEMETRY__LOG_FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.listen, "[::1]:7000".parse().unwrap());
        assert!(!c.http.graphiql);
        assert_eq!(c.database.max_connections, 20);
        assert_eq!(c.database_url(), "postgres://u:p@h/db");
        assert_eq!(
            c.bus.redis_url.as_ref().map(Secret::expose),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(c.analysis.nameservers.len(), 2);
        // A numeric-looking secret stays the exact string.
        assert_eq!(
            c.auth.jwt_secret.as_ref().map(Secret::expose),
            Some("12345678901234567890123456789012")
        );
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
    }

    #[test]
    fn unknown_file_key_is_rejected_by_name() {
        let f = file("[http]\nlisten_addr = \"0.0.0.0:1\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        assert!(err.contains("listen_addr"), "{err}");
        assert!(err.contains(&f.path().display().to_string()), "{err}");
    }

    #[test]
    fn unknown_section_is_rejected() {
        let f = file("[htpp]\nlisten = \"0.0.0.0:1\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("unknown field") && err.contains("htpp"),
            "{err}"
        );
    }

    #[test]
    fn unknown_env_key_is_rejected_naming_the_variable() {
        let err = load(None, env(&[("POSTERN__HTTP__LISTN", "0.0.0.0:1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field") && err.contains("listn"),
            "{err}"
        );
        assert!(err.contains("POSTERN__HTTP__LISTN"), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let err = load(None, env(&[("POSTERN__HTTP__LISTEN", "not an address")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("POSTERN__HTTP__LISTEN"), "{err}");
        let f = file("[ingest]\nmax_nesting = \"deep\"\n");
        assert!(load(Some(f.path()), env(&[])).is_err());
        let f = file("[telemetry]\nlog_format = \"xml\"\n");
        assert!(load(Some(f.path()), env(&[])).is_err());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for (k, v) in [
            ("POSTERN__DATABASE__MAX_CONNECTIONS", "0"),
            ("POSTERN__AUTH__JWT_SECRET", "short"),
            ("POSTERN__AUTH__TOKEN_TTL_SECS", "0"),
            ("POSTERN__ANALYSIS__RDNS_CONCURRENCY", "0"),
            ("POSTERN__TELEMETRY__OTLP_ENDPOINT", "localhost:4318"),
        ] {
            let err = load(None, env(&[(k, v)])).unwrap_err();
            assert!(matches!(err, ConfigError::Value { .. }), "{k}: {err}");
        }
        let f = file("[database]\nurl = \"\"\n");
        assert!(matches!(
            load(Some(f.path()), env(&[])),
            Err(ConfigError::Value {
                key: "database.url",
                ..
            })
        ));
    }

    #[test]
    fn missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let err = load(Some(&path), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        assert!(err.to_string().contains("absent.toml"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = load(
            None,
            env(&[
                ("POSTERN__DATABASE__URL", "postgres://u:dbpassword@h/db"),
                ("POSTERN__BUS__REDIS_URL", "redis://:redispassword@h"),
                (
                    "POSTERN__AUTH__JWT_SECRET",
                    "jwtsecretjwtsecretjwtsecretjwtsecret",
                ),
            ]),
        )
        .unwrap();
        let debug = format!("{c:?} {c:#?}");
        for secret in ["dbpassword", "redispassword", "jwtsecret"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(debug.contains("***"));
    }
}
