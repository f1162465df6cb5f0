//! Harness for end-to-end tests: a fresh PostgreSQL database and Redis namespace per test,
//! the services started with `postern::start` on port 0, and a small GraphQL client.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;

/// Which backends a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backends {
    /// The embedded default: SQLite file + in-process bus.
    Embedded,
    /// Production mode: PostgreSQL + Redis Streams.
    PostgresRedis,
}

fn admin_url() -> String {
    std::env::var("POSTERN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn redis_url() -> String {
    std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Creates an empty PostgreSQL database and returns its URL.
pub fn fresh_postgres_database() -> anyhow::Result<String> {
    let name = format!("postern_e2e_{}", uuid::Uuid::new_v4().simple());
    let admin = admin_url();
    let out = Command::new("psql")
        .args([
            admin.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("create database: {}", String::from_utf8_lossy(&out.stderr));
    }
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// A running installation and a client for it.
pub struct App {
    pub running: postern::Running,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub admin: postern::AdminCredentials,
    /// The data directory (signing secret, credentials, SQLite file).
    pub data: tempfile::TempDir,
}

impl App {
    /// Starts every service as `postern up` does, on the chosen backends, listening on port 0.
    pub async fn start(backends: Backends) -> anyhow::Result<App> {
        Self::start_with(backends, Vec::new()).await
    }

    /// Like [`App::start`], with extra `POSTERN__…` settings.
    pub async fn start_with(
        backends: Backends,
        extra: Vec<(String, String)>,
    ) -> anyhow::Result<App> {
        let data = tempfile::tempdir()?;
        let mut env = vec![
            (
                "POSTERN__DATA_DIR".to_owned(),
                data.path().display().to_string(),
            ),
            ("POSTERN__HTTP__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            // No DNS posture checks of the test domains against the machine's resolvers
            // (a test that wants them points analysis.nameservers at a loopback server).
            (
                "POSTERN__ANALYSIS__DNS_POSTURE".to_owned(),
                "false".to_owned(),
            ),
            // Nor blocklist queries to the real lists.
            (
                "POSTERN__ANALYSIS__BLOCKLISTS".to_owned(),
                "false".to_owned(),
            ),
        ];
        if backends == Backends::PostgresRedis {
            // Migrate as the owner, then run the services as the non-superuser role the
            // migration creates, so row-level security is live as in production.
            let owner_url = fresh_postgres_database()?;
            let owner = postern_store::Store::connect(&owner_url, 1).await?;
            owner.migrate().await?;
            owner.close().await?;
            let app_url = owner_url.replacen("://postgres@", "://postern_app@", 1);
            env.push(("POSTERN__DATABASE__URL".to_owned(), app_url));
            env.push(("POSTERN__BUS__REDIS_URL".to_owned(), redis_url()));
            env.push((
                "POSTERN__BUS__NAMESPACE".to_owned(),
                format!("postern-e2e-{}", uuid::Uuid::new_v4().simple()),
            ));
        }
        env.extend(extra);
        let config = postern_config::load(None, env)?;
        let store = postern::open_store(&config).await?;
        let (admin, _) = postern::bootstrap_first_owner(&store, &config.data_dir)
            .await?
            .context("a fresh installation bootstraps its owner")?;
        let bus = postern::open_bus(&config).await?;
        let running = postern::start(&config, store, bus).await?;
        Ok(App {
            addr: running.addr,
            running,
            http: {
                postern::install_crypto_provider();
                reqwest::Client::new()
            },
            admin,
            data,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts a GraphQL request; returns the whole response body.
    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Ok(request.send().await?.json().await?)
    }

    /// Posts a GraphQL request and fails on any error.
    pub async fn graphql_ok(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let body = self.graphql(token, query, variables).await?;
        if body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("graphql errors: {body}");
        }
        Ok(body["data"].clone())
    }

    /// Repeats `query` (failing on any GraphQL error) until `done` holds for its data, every
    /// 200 ms for at most `within`; the error names the last answer.
    pub async fn graphql_until<F: Fn(&Value) -> bool>(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        within: std::time::Duration,
        done: F,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let data = self.graphql_ok(token, query, variables.clone()).await?;
            if done(&data) {
                return Ok(data);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting; last answer: {data}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Uploads a report body to `POST /v1/reports`; returns the status and the JSON answer.
    pub async fn upload(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.post(self.url("/v1/reports")).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Logs in as the first owner.
    pub async fn login_admin(&self) -> anyhow::Result<String> {
        let data = self
            .graphql_ok(
                None,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({ "e": self.admin.email, "p": self.admin.password }),
            )
            .await?;
        data["login"]["token"]
            .as_str()
            .map(str::to_owned)
            .context("login returns a token")
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// A small RFC 7489 aggregate report for `domain` with one passing and one failing source.
pub fn aggregate_report(domain: &str, report_id: &str, pass: u64, fail: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>e2e.example.net</org_name>
    <email>noreply@e2e.example.net</email>
    <report_id>{report_id}</report_id>
    <date_range><begin>1767225600</begin><end>1767311999</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct>
  </policy_published>
  <record>
    <row><source_ip>192.0.2.10</source_ip><count>{pass}</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results><dkim><domain>{domain}</domain><selector>s1</selector><result>pass</result></dkim><spf><domain>{domain}</domain><result>pass</result></spf></auth_results>
  </record>
  <record>
    <row><source_ip>203.0.113.5</source_ip><count>{fail}</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results><spf><domain>spoof.example</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>"#
    )
}
