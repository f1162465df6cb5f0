//! Opening the backends named by configuration and starting the services.

use anyhow::Context;
use postern_analysis::{AnalysisEngine, Evaluator, HickoryReverse, ReverseResolver, RuleSet};
use postern_api::{ApiServices, HttpSettings};
use postern_auth::{Authenticator, JwtKeys, JwtSettings};
use postern_bus::{Bus, BusSettings, InProcessBus, LiveFeed, RedisBus};
use postern_config::Config;
use postern_ingest::{IngestSettings, Ingestor, IntakeState, StoreOutbox, StoreTokens};
use postern_mailauth::Limits;
use postern_rules::RuleLimits;
use postern_store::Store;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::info;

/// Makes ring the process's TLS crypto provider (reqwest is built without one, so one
/// provider serves every TLS client: webhooks, OTLP export). Call once at start; later
/// calls change nothing.
pub fn install_crypto_provider() {
    // Err: a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Opens (and migrates) the database: PostgreSQL when configured, else the SQLite file in
/// the data directory.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let url = config.database_url();
    let store = Store::connect(&url, config.database.max_connections)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// The event bus: Redis Streams when a Redis URL is configured, else in-process.
pub async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    let settings = BusSettings::default();
    Ok(match &config.bus.redis_url {
        Some(url) => Arc::new(
            RedisBus::connect(url.expose(), &config.bus.namespace, settings)
                .await
                .context("connecting to Redis")?,
        ),
        None => Arc::new(InProcessBus::new(settings)),
    })
}

/// The parser limits of the ingest section.
pub fn ingest_limits(config: &Config) -> Limits {
    Limits {
        max_decompressed_bytes: config.ingest.max_decompressed_bytes,
        max_archive_entries: config.ingest.max_archive_entries,
        max_nesting: config.ingest.max_nesting,
        max_records_per_report: config.ingest.max_records_per_report,
        ..Limits::default()
    }
}

/// JWT keys from the configured secret or the one generated into the data directory.
fn jwt_keys(config: &Config) -> anyhow::Result<JwtKeys> {
    let secret = match &config.auth.jwt_secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => postern_auth::load_or_generate_secret(&config.data_dir.join("jwt-secret"))?,
    };
    let settings = JwtSettings {
        issuer: config.auth.issuer.clone(),
        audience: config.auth.audience.clone(),
        ttl: chrono::Duration::seconds(i64::try_from(config.auth.token_ttl_secs).unwrap_or(3600)),
    };
    Ok(JwtKeys::from_secret(&secret, settings)?)
}

/// Every service of `postern up`, running.
pub struct Running {
    /// Where the HTTP server listens (useful with port 0).
    pub addr: SocketAddr,
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    server: postern_api::ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops the HTTP server gracefully, then the relay and the consumers.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.server_task.await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Runs until the process gets Ctrl-C (SIGINT) or SIGTERM, then stops.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await?;
        info!("shutting down");
        self.stop().await;
        Ok(())
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Which services a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Services {
    pub ingest: bool,
    pub analysis: bool,
    pub api: bool,
    /// The notification service (`issue.changed` → channels).
    pub notify: bool,
}

impl Services {
    /// Everything, as `postern up` runs it.
    pub const ALL: Services = Services {
        ingest: true,
        analysis: true,
        api: true,
        notify: true,
    };
}

/// Starts ingest, analysis and api in this process on `store` and `bus`, listening on
/// `config.http.listen`.
pub async fn start(config: &Config, store: Store, bus: Arc<dyn Bus>) -> anyhow::Result<Running> {
    start_services(config, store, bus, Services::ALL).await
}

/// Starts the chosen services. The HTTP server always runs (health endpoints; GraphQL with
/// api, intake with ingest); every process runs an outbox relay.
pub async fn start_services(
    config: &Config,
    store: Store,
    bus: Arc<dyn Bus>,
    services: Services,
) -> anyhow::Result<Running> {
    // One set of keys (the secret is read once) for the authenticator and for login.
    let jwt = jwt_keys(config)?;
    let auth = Arc::new(Authenticator::new(
        jwt.clone(),
        StoreTokens::new(store.clone()),
    ));
    // Compiling the plugins is CPU work: once per process, off the executor, and only in a
    // process that evaluates rules (analysis) or answers for them (api: uploads,
    // verifyIssueNow); an ingest- or notify-only process gets a host with no plugins.
    // Analysis and the API share the one rule set.
    let needs_rules = services.analysis || services.api;
    let rules_config = config.rules.clone();
    let precompiled = config.data_dir.join("plugins");
    let rules = tokio::task::spawn_blocking(move || {
        let host = postern_rules::PluginHost::new(rule_limits(&rules_config))?
            .with_cache_capacity(rules_config.compiled_cache_entries)
            .with_precompiled_dir_bounded(precompiled, rules_config.precompiled_files);
        if needs_rules {
            RuleSet::builtin_on(host)
        } else {
            Ok(RuleSet::new(host, Vec::new()))
        }
    })
    .await
    .context("loading the rule plugins")??;
    // Provider families of bounced recipient domains from their MX records: DNS lookups,
    // so part of the DNS checks (`analysis.dns_posture`).
    let rules = if needs_rules && config.analysis.dns_posture {
        rules.with_mx_families(Arc::new(postern_analysis::MxFamilies::new(
            Arc::new(dns_resolver(config).context("DNS resolver for MX lookups")?),
            Duration::from_secs(3600),
        )))
    } else {
        rules
    };
    let rules = Arc::new(rules);
    // One evaluator (one evaluation per domain at a time) for the API's verifyIssueNow, the
    // consumer and the schedule.
    let evaluator = Evaluator::new(store.clone(), rules);
    // DNS posture checks: in analysis (when added, on schedule) and in the api
    // (checkDomainNow); both evaluate the domain's rules afterwards.
    let posture = if config.analysis.dns_posture && (services.analysis || services.api) {
        Some(posture_checker(config, &store, &evaluator)?)
    } else {
        None
    };
    // Blocklist checks: in analysis (on schedule) and in the api (checkBlocklistsNow),
    // through one monitor (its rate limits and cache bound the queries of the process).
    let blocklists = if config.analysis.blocklists && (services.analysis || services.api) {
        Some(blocklist_checker(config, &store, &evaluator)?)
    } else {
        None
    };
    let mut engine = AnalysisEngine::with_evaluator(evaluator.clone());
    if let Some(checker) = &posture {
        engine = engine.with_posture(checker.clone());
    }
    if let Some(checker) = &blocklists {
        engine = engine.with_blocklists(checker.clone());
    }
    let engine = Arc::new(engine);
    let schema = postern_graphql::build_schema(store.clone(), Arc::new(jwt), engine);
    let wake = Arc::new(Notify::new());
    let ingestor = Ingestor::new(
        store.clone(),
        IngestSettings {
            limits: ingest_limits(config),
            campaign_headers: config.ingest.campaign_headers.clone(),
        },
        wake.clone(),
    );
    let intake = IntakeState {
        ingestor,
        auth: auth.clone(),
        max_body_bytes: config.ingest.max_body_bytes,
        esp: (&config.ingest.esp).into(),
    };
    let mail_ingestor = intake.ingestor.clone();
    // The api's live issue feed; each subscriber may fall this many events behind.
    let issue_feed = LiveFeed::new(1024);
    let listener = TcpListener::bind(config.http.listen)
        .with_context(|| format!("listening on {}", config.http.listen))?;
    let addr = listener.local_addr()?;
    let server = postern_api::serve(
        listener,
        ApiServices {
            store: store.clone(),
            schema,
            auth,
            intake,
            issue_feed: issue_feed.clone(),
        },
        HttpSettings {
            graphql: services.api,
            intake: services.ingest,
            graphiql: config.http.graphiql,
            max_graphql_bytes: usize::try_from(config.http.max_body_bytes).unwrap_or(usize::MAX),
            ..HttpSettings::default()
        },
    )?;
    let handle = server.handle();
    let server_task = tokio::spawn(server);

    let (trigger, shutdown) = tokio::sync::watch::channel(false);
    // Every service writes events (api: domains and issue work; ingest: reports; analysis:
    // `issue.changed`), so every process relays the outbox.
    let mut tasks = vec![postern_bus::spawn_relay(
        Arc::new(StoreOutbox(store.clone())),
        bus.clone(),
        wake,
        Duration::from_secs(1),
        shutdown.clone(),
    )];
    if services.ingest && !config.ingest.imap.mailboxes.is_empty() {
        // One pull task per `[[ingest.imap.mailboxes]]`, each retrying on its own.
        tasks.push(
            postern_ingest::spawn_imap(
                &config.ingest.imap,
                mail_ingestor.clone(),
                shutdown.clone(),
            )
            .context("starting the imap pull")?,
        );
    }
    if services.ingest
        && let Some(addr) = config.ingest.smtp.listen
    {
        tasks.push(start_smtp(config, addr, mail_ingestor, shutdown.clone()).await?);
    }
    if services.api {
        // Each api process tails `issue.changed` itself, so every process sees every event.
        tasks.push(
            issue_feed
                .follow(
                    bus.clone(),
                    postern_bus::topics::ISSUE_CHANGED,
                    shutdown.clone(),
                )
                .await
                .context("following issue.changed for the live feed")?,
        );
    }
    let consumer = format!("{}-{}", hostname(), std::process::id());
    if services.analysis {
        // Reports of a domain arriving together are evaluated once.
        let (evaluator, debouncer) =
            evaluator.with_debounce(config.analysis.evaluation_debounce(), shutdown.clone());
        tasks.push(debouncer);
        if let Some(every) = config.analysis.reevaluate_every() {
            tasks.push(tokio::spawn(postern_analysis::run_schedule(
                evaluator.clone(),
                every,
                shutdown.clone(),
            )));
        }
        // Bounces and deliveries stored for a domain: its bounce triage is evaluated again.
        {
            let (store, bus, shutdown) = (store.clone(), bus.clone(), shutdown.clone());
            let (evaluator, consumer) = (evaluator.clone(), consumer.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(error) =
                    postern_analysis::run_bounce_consumer(store, bus, evaluator, consumer, shutdown)
                        .await
                {
                    tracing::error!(%error, "bounce consumer stopped");
                }
            }));
        }
        let (store, bus, shutdown) = (store.clone(), bus.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(error) =
                postern_analysis::run_consumer(store, bus, evaluator, consumer, shutdown).await
            {
                tracing::error!(%error, "analysis consumer stopped");
            }
        }));
    }
    if services.analysis
        && let Some(checker) = blocklists
        && let Some(every) = config.analysis.blocklist_every()
    {
        tasks.push(tokio::spawn(postern_analysis::run_blocklist_schedule(
            checker,
            every,
            shutdown.clone(),
        )));
    }
    if services.analysis
        && let Some(checker) = posture
    {
        if let Some(every) = config.analysis.posture_every() {
            tasks.push(tokio::spawn(postern_analysis::run_posture_schedule(
                checker.clone(),
                every,
                config.analysis.posture_tick(),
                shutdown.clone(),
            )));
        }
        let (bus, shutdown, consumer) = (
            bus.clone(),
            shutdown.clone(),
            format!("{}-{}", hostname(), std::process::id()),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(error) =
                postern_analysis::run_domain_added_consumer(checker, bus, consumer, shutdown).await
            {
                tracing::error!(%error, "posture consumer stopped");
            }
        }));
    }
    if services.notify {
        tasks.extend(postern_notify::spawn(
            store.clone(),
            bus.clone(),
            postern_notify::NotifySettings::from(&config.notify),
            format!("{}-{}", hostname(), std::process::id()),
            shutdown.clone(),
        )?);
    }
    if services.analysis && config.analysis.reverse_dns {
        let resolver: Arc<dyn ReverseResolver> = Arc::new(HickoryReverse::new(
            &config.analysis.nameservers,
            Duration::from_millis(config.analysis.dns_timeout_ms),
        )?);
        tasks.push(tokio::spawn(postern_analysis::run_reverse_dns(
            store.clone(),
            resolver,
            config.analysis.rdns_concurrency,
            Duration::from_secs(30),
            shutdown,
        )));
    }
    Ok(Running {
        addr,
        store,
        bus,
        server: handle,
        server_task,
        shutdown: trigger,
        tasks,
    })
}

/// Binds the SMTP intake listener (`[ingest.smtp]`) and serves it until shutdown.
async fn start_smtp(
    config: &Config,
    addr: std::net::SocketAddr,
    ingestor: Ingestor,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let smtp = &config.ingest.smtp;
    let tls = match (&smtp.tls_cert, &smtp.tls_key) {
        (Some(cert), Some(key)) => Some(postern_ingest::load_tls(cert, key)?),
        _ => None,
    };
    let listener = postern_ingest::SmtpListener::bind(
        addr,
        postern_ingest::SmtpSettings::from(smtp),
        tls,
        Arc::new(postern_ingest::IngestRouter::new(ingestor)),
    )
    .await?;
    Ok(tokio::spawn(listener.run(shutdown)))
}

/// The DNS posture checker: hickory through `analysis.nameservers` (the system's resolvers
/// when empty) and an HTTPS fetcher for MTA-STS policies.
fn posture_checker(
    config: &Config,
    store: &Store,
    evaluator: &Evaluator,
) -> anyhow::Result<postern_analysis::PostureChecker> {
    let resolver = dns_resolver(config).context("DNS resolver for posture checks")?;
    let fetcher = postern_mailauth::posture::mtasts::HttpsPolicyFetcher::new(
        &postern_mailauth::posture::mtasts::HttpsFetcherSettings::default(),
    )
    .map_err(|e| anyhow::anyhow!("MTA-STS policy fetcher: {e}"))?;
    Ok(postern_analysis::PostureChecker::new(
        store.clone(),
        Arc::new(resolver),
        Arc::new(fetcher),
        Some(evaluator.clone()),
    ))
}

/// A resolver through `analysis.nameservers` (the system's when empty).
fn dns_resolver(config: &Config) -> Result<postern_dns::HickoryResolver, postern_dns::DnsError> {
    postern_dns::HickoryResolver::new(&postern_dns::ResolverSettings {
        nameservers: config.analysis.nameservers.clone(),
        timeout: Duration::from_millis(config.analysis.dns_timeout_ms),
        ..postern_dns::ResolverSettings::default()
    })
}

/// The blocklist checker: one monitor asking hickory through `analysis.nameservers` (the
/// system's resolvers when empty; public lists refuse big open resolvers, so production
/// points this at a resolver of its own).
fn blocklist_checker(
    config: &Config,
    store: &Store,
    evaluator: &Evaluator,
) -> anyhow::Result<postern_analysis::BlocklistChecker> {
    let resolver = postern_dns::HickoryResolver::new(&postern_dns::ResolverSettings {
        nameservers: config.analysis.nameservers.clone(),
        timeout: Duration::from_millis(config.analysis.dns_timeout_ms),
        ..postern_dns::ResolverSettings::default()
    })
    .context("DNS resolver for blocklist checks")?;
    let monitor = postern_blocklist::BlocklistMonitor::new(
        Arc::new(resolver),
        postern_blocklist::MonitorSettings::default(),
    );
    postern_analysis::BlocklistChecker::new(
        store.clone(),
        Arc::new(monitor),
        Some(evaluator.clone()),
        config.analysis.blocklist_source_min_messages,
    )
    .map_err(|e| anyhow::anyhow!("blocklist checker: {e}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "postern".to_owned())
}

/// The `main` of a service binary that runs one service alone against PostgreSQL and Redis.
pub async fn service_main(name: &str, services: Services) -> anyhow::Result<()> {
    install_crypto_provider();
    let config = postern_config::load(
        std::env::var_os("POSTERN_CONFIG")
            .map(std::path::PathBuf::from)
            .as_deref(),
        std::env::vars(),
    )?;
    let _telemetry = postern_telemetry::init(name, &config.telemetry)?;
    if config.database.url.is_none() || config.bus.redis_url.is_none() {
        anyhow::bail!(
            "{name} runs alone against PostgreSQL and Redis: set POSTERN__DATABASE__URL and POSTERN__BUS__REDIS_URL (or use `postern up` for one process)"
        );
    }
    let store = open_store(&config).await?;
    let bus = open_bus(&config).await?;
    let running = start_services(&config, store, bus, services).await?;
    info!(service = name, addr = %running.addr, "started");
    running.run_until_signal().await
}

/// The plugin call limits of `[rules]`.
fn rule_limits(config: &postern_config::RulesConfig) -> RuleLimits {
    RuleLimits {
        fuel: config.fuel,
        timeout: std::time::Duration::from_millis(config.timeout_ms),
        memory_bytes: usize::try_from(config.memory_mib << 20).unwrap_or(usize::MAX),
        max_findings: config.max_findings,
        max_output_bytes: usize::try_from(config.max_output_kib << 10).unwrap_or(usize::MAX),
    }
}
