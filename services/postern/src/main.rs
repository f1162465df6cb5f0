//! `postern`: CLI → config → telemetry → run.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use postern_domain::{ClientId, MspId, Role, TenantScope};
use std::net::SocketAddr;
use std::path::PathBuf;

mod bounces;
mod check;
mod plugins;
mod spf;

/// Postern: email authentication and deliverability operations for MSPs.
#[derive(Parser)]
#[command(name = "postern", version, about)]
struct Cli {
    /// Configuration file (TOML). Environment variables POSTERN__SECTION__KEY override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, generated keys, first credentials).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of the embedded SQLite file.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Use Redis Streams instead of the in-process event bus.
    #[arg(long, global = true)]
    redis_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run ingest, analysis and api in one process.
    Up {
        /// Address of the HTTP server (GraphQL, GraphiQL, intake).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Import reports from files, directories, Maildir folders and mbox files.
    Import {
        #[arg(required_unless_present = "postfix_log")]
        paths: Vec<PathBuf>,
        /// A Postfix log (`-` for stdin): its sent/bounced/deferred lines become send volume
        /// and bounces.
        #[arg(long, value_name = "FILE")]
        postfix_log: Option<PathBuf>,
    },
    /// Bounces: classify bounce messages (files, directories, mbox) offline.
    Bounces {
        #[command(subcommand)]
        command: bounces::BouncesCommand,
    },
    /// Run an OpenSPF-format SPF test suite (YAML); prints `N passed, M failed`.
    SpfSuite {
        /// The suite file, e.g. rfc7208-tests.yml.
        file: PathBuf,
    },
    /// Run every DNS posture check of one domain; prints the result as JSON.
    Check(check::CheckArgs),
    /// Rule plugins: build one from source, run one over a facts snapshot.
    Plugins {
        #[command(subcommand)]
        command: plugins::PluginsCommand,
    },
    /// Bootstrap and access tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the operator MSP and its first owner if the installation has none.
    Bootstrap,
    /// Create a user with a role in an MSP (MSP roles) or a client (client roles).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// msp_owner, msp_admin, msp_operator, msp_viewer, client_admin, client_viewer
        #[arg(long)]
        role: Role,
        #[arg(long)]
        msp: MspId,
        #[arg(long)]
        client: Option<ClientId>,
    },
    /// Create an API token (printed once) for an MSP or one client.
    CreateToken {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        msp: MspId,
        #[arg(long)]
        client: Option<ClientId>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    postern::install_crypto_provider();
    let cli = Cli::parse();
    // Plugin tooling needs no configuration, and its stdout is JSON only.
    if let Command::Plugins { command } = &cli.command {
        return plugins::run(command);
    }
    // The SPF suite runs on in-memory zones: no configuration needed.
    if let Command::SpfSuite { file } = &cli.command {
        return spf::run_suite(file).await;
    }
    // Posture checks need only DNS (and HTTPS for MTA-STS): no configuration needed.
    if let Command::Check(args) = &cli.command {
        return check::run(args).await;
    }
    // Bounce classification is pure: no configuration, stdout is the result lines only.
    if let Command::Bounces { command } = &cli.command {
        return bounces::run(command);
    }
    let mut config = postern_config::load(cli.config.as_deref(), std::env::vars())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = cli.database_url {
        config.database.url = Some(postern_config::Secret::new(url));
    }
    if let Some(url) = cli.redis_url {
        config.bus.redis_url = Some(postern_config::Secret::new(url));
    }
    if let Command::Up {
        listen: Some(listen),
    } = &cli.command
    {
        config.http.listen = *listen;
    }
    let _telemetry = postern_telemetry::init("postern", &config.telemetry)?;

    match cli.command {
        Command::Up { .. } => {
            let store = postern::open_store(&config).await?;
            announce_credentials(&store, &config).await?;
            let bus = postern::open_bus(&config).await?;
            let running = postern::start(&config, store, bus).await?;
            println!("postern is up: GraphQL at http://{}/graphql", running.addr);
            if config.http.graphiql {
                println!("GraphiQL at http://{}/graphiql", running.addr);
            }
            running.run_until_signal().await
        }
        Command::Migrate => {
            postern::open_store(&config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Import { paths, postfix_log } => {
            let store = postern::open_store(&config).await?;
            let ingestor = postern_ingest::Ingestor::new(
                store,
                postern_ingest::IngestSettings {
                    limits: postern::ingest_limits(&config),
                    campaign_headers: config.ingest.campaign_headers.clone(),
                },
                std::sync::Arc::new(tokio::sync::Notify::new()),
            );
            if let Some(log) = postfix_log {
                import_postfix_log(&ingestor, &log).await?;
            }
            if !paths.is_empty() {
                let summary = postern_ingest::import_paths(&ingestor, &paths).await?;
                println!("{}", serde_json::to_string_pretty(&summary)?);
            }
            Ok(())
        }
        Command::Admin { command } => admin(&config, command).await,
        Command::Plugins { command } => plugins::run(&command),
        Command::SpfSuite { file } => spf::run_suite(&file).await,
        Command::Bounces { command } => bounces::run(&command),
        Command::Check(args) => check::run(&args).await,
    }
}

/// `postern import --postfix-log FILE|-`: the log's delivery lines become send volume and
/// bounces; prints a summary.
async fn import_postfix_log(
    ingestor: &postern_ingest::Ingestor,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        tokio::io::stdin().read_to_end(&mut buf).await?;
        buf
    } else {
        tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?
    };
    let now = chrono::Utc::now();
    let log = postern_ingest::parse_postfix_log(&String::from_utf8_lossy(&bytes), now);
    let events = log.events.len();
    let intake = ingestor
        .ingest_delivery_events(
            None,
            postern_ingest::Source::Import(format!("postfix:{}", path.display())),
            bytes,
            log.events,
            now,
        )
        .await?;
    let summary = serde_json::json!({
        "lines": log.lines,
        "ignored": log.ignored,
        "problems": log.problems,
        "events": events,
        "stored": intake.stored,
        "unassigned": intake.unassigned,
        "duplicates": intake.duplicates,
        "delivered": intake.delivered,
        "skipped": intake.skipped,
        "suppressed": intake.suppressed,
        "clients": intake.clients,
        "input": intake.input,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// Prints how to log in: the new owner's credentials on first start, else where they are.
async fn announce_credentials(
    store: &postern_store::Store,
    config: &postern_config::Config,
) -> anyhow::Result<()> {
    match postern::bootstrap_first_owner(store, &config.data_dir).await? {
        Some((credentials, path)) => {
            println!(
                "created the first MSP owner (also written to {}):",
                path.display()
            );
            println!("  email:    {}", credentials.email);
            println!("  password: {}", credentials.password);
            println!(
                "log in: mutation {{ login(email: \"{}\", password: \"…\") {{ token }} }} at /graphiql, then send Authorization: Bearer <token>",
                credentials.email
            );
        }
        None => {
            let path = config.data_dir.join("admin-credentials.json");
            if path.exists() {
                println!("the first owner's credentials are in {}", path.display());
            }
        }
    }
    Ok(())
}

async fn admin(config: &postern_config::Config, command: AdminCommand) -> anyhow::Result<()> {
    let store = postern::open_store(config).await?;
    match command {
        AdminCommand::Bootstrap => {
            announce_credentials(&store, config).await?;
            Ok(())
        }
        AdminCommand::CreateUser {
            email,
            name,
            role,
            msp,
            client,
        } => {
            check_role_reach(role, client)?;
            let password = postern_auth::generate_password();
            let hash = postern_auth::hash_password(&password)?;
            let user = store
                .system()
                .create_user_with_membership(&email, &name, &hash, msp, client, role)
                .await
                .context("creating the user")?;
            println!(
                "{}",
                serde_json::json!({ "id": user.id, "email": user.email, "password": password })
            );
            Ok(())
        }
        AdminCommand::CreateToken {
            name,
            role,
            msp,
            client,
        } => {
            check_role_reach(role, client)?;
            let operator = store.system().msp(msp).await?.operator;
            let scope = match client {
                Some(client) => TenantScope::client(msp, client, Role::ClientAdmin),
                None => TenantScope::msp(msp, Role::MspOwner, operator),
            };
            let token = postern_auth::generate_api_token();
            let stored = store
                .tenant(scope)
                .create_api_token(&name, role, client, &token.prefix, &token.hash, None)
                .await
                .context("creating the token")?;
            println!(
                "{}",
                serde_json::json!({ "id": stored.id, "token": token.plaintext })
            );
            Ok(())
        }
    }
}

fn check_role_reach(role: Role, client: Option<ClientId>) -> anyhow::Result<()> {
    match (role.is_msp_staff(), client) {
        (true, Some(_)) => bail!("{role} is an MSP role: leave out --client"),
        (false, None) => bail!("{role} is a client role: give --client"),
        _ => Ok(()),
    }
}
