//! GraphQL subscriptions over WebSocket (`graphql-transport-ws` and the older `graphql-ws`
//! protocol) at `/graphql` (a GET upgrade) and `/graphql/ws`.
//!
//! The credential is checked twice over: an `Authorization` header on the upgrade request is
//! verified before upgrading (a bad one is refused with 401 and nothing is upgraded), and the
//! `connection_init` message must carry `{"token": "<JWT or pst_ API token>"}` unless that
//! header did. A connection without a valid credential is closed at `connection_init` with the
//! reason (`unauthenticated: …`); no operation runs before it is acknowledged.
//!
//! Bounded per connection ([`WsLimits`]): one WebSocket frame and one message (its
//! continuation frames joined) at most `max_message_bytes` (a larger one closes the
//! connection with 1009 "message too big" before it is buffered), at most
//! `max_subscriptions` operations running at once (another `subscribe` is answered with an
//! error for its id), and a peer that stops answering pings is dropped.
//!
//! The protocol itself is async-graphql's ([`async_graphql::http::WebSocket`]); the socket
//! is actix-ws, whose frame and continuation limits are what the actor-based
//! async-graphql-actix-web integration lacked.

use crate::graphql::refusal;
use crate::server::ApiServices;
use actix_web::http::header::{AUTHORIZATION, HeaderValue, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::Data;
use async_graphql::http::{ClientMessage, WebSocket, WebSocketProtocols, WsMessage};
use chrono::Utc;
use futures::StreamExt;
use postern_auth::{AuthError, Authenticator};
use postern_domain::{ErrorCode, Principal};
use postern_ingest::StoreTokens;
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Limits of one subscription connection.
#[derive(Clone, Copy, Debug)]
pub struct WsLimits {
    /// Largest frame and largest message (continuations joined), in bytes.
    pub max_message_bytes: usize,
    /// Operations running at once on one connection.
    pub max_subscriptions: usize,
    /// How often the server pings.
    pub ping_every: Duration,
    /// A peer silent (no frame, no pong) this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 256 * 1024,
            max_subscriptions: 64,
            ping_every: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Upgrades to a GraphQL WebSocket connection. The connection's data are the live issue feed
/// and, once `connection_init` is verified, the principal.
pub(crate) async fn graphql_ws(
    services: web::Data<ApiServices>,
    limits: Option<web::Data<WsLimits>>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let limits = limits.map(|l| **l).unwrap_or_default();
    let from_header = match req.headers().get(AUTHORIZATION) {
        Some(value) => {
            let header = value.to_str().unwrap_or_default();
            match services.auth.authenticate(header, Utc::now()).await {
                Ok(principal) => Some(principal),
                Err(error) => {
                    return Ok(refusal(ErrorCode::Unauthenticated, &refusal_text(&error)));
                }
            }
        }
        None => None,
    };
    let Some(protocol) = offered_protocol(&req) else {
        return Ok(refusal(
            ErrorCode::BadRequest,
            "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
        ));
    };
    let (mut response, session, stream) = actix_ws::handle(&req, payload)?;
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let stream = stream
        .max_frame_size(limits.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(limits.max_message_bytes);

    let auth = Arc::clone(&services.auth);
    let mut data = Data::default();
    data.insert(services.issue_feed.clone());
    let (to_protocol, from_socket) = mpsc::channel::<ClientMessage>(16);
    let messages = tokio_stream_of(from_socket).map(Ok);
    let graphql = WebSocket::from_message_stream(services.schema.clone(), messages, protocol)
        .connection_data(data)
        .on_connection_init(move |init| async move {
            let principal = connection_principal(&auth, &init, from_header).await?;
            let mut data = Data::default();
            data.insert(principal);
            Ok(data)
        });
    actix_web::rt::spawn(run_connection(
        session,
        stream,
        graphql,
        to_protocol,
        protocol,
        limits,
    ));
    Ok(response)
}

/// The first protocol the client offers that we speak.
fn offered_protocol(req: &HttpRequest) -> Option<WebSocketProtocols> {
    req.headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| {
            offered
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
}

/// A receiver as a stream.
fn tokio_stream_of<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Why a connection ends.
enum End {
    Peer,
    Close(CloseReason),
}

/// Pumps one connection: frames in (bounded, parsed, subscriptions counted) to the protocol,
/// protocol messages out to the socket, pings, until either side ends.
async fn run_connection<G>(
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    graphql: G,
    to_protocol: mpsc::Sender<ClientMessage>,
    protocol: WebSocketProtocols,
    limits: WsLimits,
) where
    G: futures::Stream<Item = WsMessage> + Unpin,
{
    let mut graphql = graphql;
    let mut active: HashSet<String> = HashSet::new();
    let mut last_seen = Instant::now();
    let mut ping = tokio::time::interval(limits.ping_every);
    ping.tick().await;
    let end = loop {
        tokio::select! {
            incoming = stream.next() => {
                last_seen = Instant::now();
                let bytes = match incoming {
                    None => break End::Peer,
                    Some(Err(error)) => break End::Close(protocol_error(&error, limits)),
                    Some(Ok(AggregatedMessage::Text(text))) => text.into_bytes(),
                    Some(Ok(AggregatedMessage::Binary(bytes))) => bytes,
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() { break End::Peer; }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Close(_))) => break End::Peer,
                };
                let message = match ClientMessage::from_bytes(&bytes) {
                    Ok(message) => message,
                    Err(_) => break End::Close(CloseReason {
                        code: CloseCode::Other(4400),
                        description: Some("invalid message".to_owned()),
                    }),
                };
                match &message {
                    ClientMessage::Start { id, .. } => {
                        if !active.contains(id) && active.len() >= limits.max_subscriptions {
                            let refused = too_many(id, protocol, limits.max_subscriptions);
                            if session.text(refused).await.is_err() { break End::Peer; }
                            continue;
                        }
                        active.insert(id.clone());
                    }
                    ClientMessage::Stop { id } => { active.remove(id); }
                    _ => {}
                }
                if to_protocol.send(message).await.is_err() { break End::Peer; }
            }
            outgoing = graphql.next() => match outgoing {
                None => break End::Peer,
                Some(WsMessage::Text(text)) => {
                    if let Some(id) = completed_id(&text) { active.remove(&id); }
                    if session.text(text).await.is_err() { break End::Peer; }
                }
                Some(WsMessage::Close(code, reason)) => break End::Close(CloseReason {
                    code: CloseCode::Other(code),
                    description: Some(reason),
                }),
            },
            _ = ping.tick() => {
                if last_seen.elapsed() > limits.idle_timeout {
                    break End::Close(CloseReason {
                        code: CloseCode::Away,
                        description: Some("no answer to pings".to_owned()),
                    });
                }
                if session.ping(b"").await.is_err() { break End::Peer; }
            }
        }
    };
    let reason = match end {
        End::Peer => None,
        End::Close(reason) => Some(reason),
    };
    let _ = session.close(reason).await;
}

/// The close reason for a frame the socket refused.
fn protocol_error(error: &actix_ws::ProtocolError, limits: WsLimits) -> CloseReason {
    let text = error.to_string();
    if matches!(error, actix_ws::ProtocolError::Overflow) || text.contains("too large") {
        CloseReason {
            code: CloseCode::Size,
            description: Some(format!(
                "message too big: at most {} bytes",
                limits.max_message_bytes
            )),
        }
    } else {
        CloseReason {
            code: CloseCode::Protocol,
            description: Some("protocol error".to_owned()),
        }
    }
}

/// The error answered to a `subscribe` over the cap.
fn too_many(id: &str, protocol: WebSocketProtocols, cap: usize) -> String {
    let message = format!("too many subscriptions on this connection (at most {cap})");
    let payload = match protocol {
        WebSocketProtocols::GraphQLWS => serde_json::json!([{ "message": message }]),
        WebSocketProtocols::SubscriptionsTransportWS => serde_json::json!({ "message": message }),
    };
    serde_json::json!({ "type": "error", "id": id, "payload": payload }).to_string()
}

/// The id of a server `complete` message (the operation ended on the server's side).
fn completed_id(text: &str) -> Option<String> {
    if !text.contains("\"complete\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    (value.get("type")?.as_str()? == "complete")
        .then(|| value.get("id")?.as_str().map(str::to_owned))
        .flatten()
}

/// Matches a WebSocket upgrade request (`Upgrade: websocket`, any case).
pub(crate) fn is_websocket_upgrade(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// The principal of a connection: the token of the `connection_init` payload if it has one,
/// else the one the upgrade request's `Authorization` header proved.
async fn connection_principal(
    auth: &Authenticator<StoreTokens>,
    init: &serde_json::Value,
    from_header: Option<Principal>,
) -> async_graphql::Result<Principal> {
    match init_credential(init)? {
        Some(header) => auth
            .authenticate(&header, Utc::now())
            .await
            .map_err(|error| async_graphql::Error::new(refusal_text(&error))),
        None => from_header.ok_or_else(|| {
            async_graphql::Error::new(
                "unauthenticated: connection_init needs a payload {\"token\": \"<JWT or pst_ API token>\"}",
            )
        }),
    }
}

/// The credential of a `connection_init` payload as an `Authorization` header value:
/// `{"token": T}` (also `{"Authorization": "Bearer T"}`, as some clients send headers);
/// `None` when the payload names none; an error when it is not an object of strings.
fn init_credential(init: &serde_json::Value) -> async_graphql::Result<Option<String>> {
    let malformed = || {
        async_graphql::Error::new(
            "unauthenticated: the connection_init payload must be {\"token\": \"<JWT or pst_ API token>\"}",
        )
    };
    let fields = match init {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(fields) => fields,
        _ => return Err(malformed()),
    };
    if let Some(token) = fields.get("token") {
        let token = token.as_str().ok_or_else(malformed)?;
        return Ok(Some(format!("Bearer {token}")));
    }
    match fields
        .get("Authorization")
        .or_else(|| fields.get("authorization"))
    {
        Some(header) => Ok(Some(header.as_str().ok_or_else(malformed)?.to_owned())),
        None => Ok(None),
    }
}

/// What a refused credential is told: which check failed, but never an internal cause.
fn refusal_text(error: &AuthError) -> String {
    if error.is_internal() {
        tracing::error!(%error, "credential check failed");
        "unauthenticated: the credential could not be checked".to_owned()
    } else {
        format!("unauthenticated: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_init_payload_names_its_token_or_authorization_header() {
        assert_eq!(
            init_credential(&json!({ "token": "pst_abc" })).unwrap(),
            Some("Bearer pst_abc".to_owned())
        );
        assert_eq!(
            init_credential(&json!({ "Authorization": "Bearer eyJ.x.y" })).unwrap(),
            Some("Bearer eyJ.x.y".to_owned())
        );
        assert_eq!(init_credential(&json!({})).unwrap(), None);
        assert_eq!(init_credential(&serde_json::Value::Null).unwrap(), None);
        for bad in [json!("pst_abc"), json!({ "token": 42 }), json!([1])] {
            let error = init_credential(&bad).unwrap_err();
            assert!(error.message.starts_with("unauthenticated: "), "{bad}");
        }
    }

    #[test]
    fn server_completions_are_recognised_by_id() {
        assert_eq!(
            completed_id(r#"{"type":"complete","id":"7"}"#),
            Some("7".to_owned())
        );
        assert_eq!(
            completed_id(r#"{"type":"next","id":"7","payload":{"data":{"x":"complete"}}}"#),
            None
        );
        assert_eq!(completed_id("not json \"complete\""), None);
    }

    #[test]
    fn the_subscription_cap_answers_an_error_for_the_id_in_either_protocol() {
        let v: serde_json::Value =
            serde_json::from_str(&too_many("9", WebSocketProtocols::GraphQLWS, 2)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["id"], "9");
        assert!(
            v["payload"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most 2")
        );
        let v: serde_json::Value = serde_json::from_str(&too_many(
            "9",
            WebSocketProtocols::SubscriptionsTransportWS,
            2,
        ))
        .unwrap();
        assert!(
            v["payload"]["message"]
                .as_str()
                .unwrap()
                .contains("at most 2")
        );
    }

    #[test]
    fn refusals_say_which_check_failed_but_not_internal_causes() {
        assert_eq!(
            refusal_text(&AuthError::Expired),
            "unauthenticated: credential expired"
        );
        let internal = AuthError::Io(std::io::Error::other("disk gone"));
        assert!(internal.is_internal());
        assert_eq!(
            refusal_text(&internal),
            "unauthenticated: the credential could not be checked"
        );
    }
}
