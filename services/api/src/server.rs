//! The actix-web server that mounts GraphQL and the intake routes.

use crate::graphql::{graphiql, graphql};
use crate::subscription::{WsLimits, graphql_ws, is_websocket_upgrade};
use actix_web::{App, HttpResponse, HttpServer, guard, web};
use postern_auth::Authenticator;
use postern_bus::LiveFeed;
use postern_graphql::PosternSchema;
use postern_ingest::IntakeState;
use postern_ingest::StoreTokens;
use postern_store::Store;
use std::net::TcpListener;
use std::sync::Arc;

/// Everything the handlers use.
#[derive(Clone)]
pub struct ApiServices {
    pub store: Store,
    pub schema: PosternSchema,
    pub auth: Arc<Authenticator<StoreTokens>>,
    pub intake: IntakeState,
    /// This process's live feed of `issue.changed`, streamed by the `issueEvents`
    /// subscription (see `postern_bus::LiveFeed::start`).
    pub issue_feed: LiveFeed,
}

/// HTTP switches.
#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// Serve `/graphql`, its WebSocket subscriptions and `/graphql/ws` (the api service).
    pub graphql: bool,
    /// Serve `/v1/reports` and `/v1/tlsrpt` (the ingest service).
    pub intake: bool,
    pub graphiql: bool,
    /// Largest GraphQL request body; a larger one is refused with 413 unread.
    pub max_graphql_bytes: usize,
    pub workers: usize,
    /// Limits of each GraphQL WebSocket connection.
    pub ws: WsLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            graphql: true,
            intake: true,
            graphiql: true,
            max_graphql_bytes: 1 << 20,
            workers: 2,
            ws: WsLimits::default(),
        }
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(services: web::Data<ApiServices>) -> HttpResponse {
    match services.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(%error, "database not reachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "database unavailable" }))
        }
    }
}

/// Serves on `listener` until the returned server is stopped (its handle stops it
/// gracefully). The caller awaits the server.
pub fn serve(
    listener: TcpListener,
    services: ApiServices,
    settings: HttpSettings,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(services.clone());
    let intake = web::Data::new(services.intake.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(intake.clone())
            .app_data(web::PayloadConfig::new(settings.max_graphql_bytes))
            .app_data(web::Data::new(settings.ws))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .configure(|cfg| {
                if settings.graphql {
                    cfg.route("/graphql", web::post().to(graphql));
                    cfg.route(
                        "/graphql",
                        web::get()
                            .guard(guard::fn_guard(is_websocket_upgrade))
                            .to(graphql_ws),
                    );
                    cfg.route("/graphql/ws", web::get().to(graphql_ws));
                    cfg.route(
                        "/v1/suppressions.csv",
                        web::get().to(crate::suppressions::suppressions_csv),
                    );
                    if settings.graphiql {
                        cfg.route("/graphiql", web::get().to(graphiql));
                    }
                }
                if settings.intake {
                    postern_ingest::configure(cfg);
                }
            })
    })
    .workers(settings.workers.max(1))
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
