//! GraphQL over WebSocket (`graphql-transport-ws`) at `/graphql/ws`, with the limits a long-lived
//! connection needs: `connection_init` within 10 seconds (else closed 4408), the socket closed 4403
//! when its token expires (past the leeway every token gets), and a cap on connections open at once,
//! per token subject (closed 4429) and in all (closed 1013, try again later).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_graphql::http::{WebSocket as Protocol, WebSocketProtocols as Protocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt, future};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{JwtKeys, LEEWAY_SECONDS, Viewer},
    config::WsLimits,
    graphql::{AppSchema, RequestContext},
};

/// Each connection's read and write buffers.
pub const BUFFER_BYTES: usize = 8 * 1024;

/// Connections open now, in all and per token subject.
#[derive(Debug)]
pub struct Connections {
    limits: WsLimits,
    open: Mutex<(usize, HashMap<String, usize>)>,
    /// Cancelled when the service stops: every connection is closed with 1001 (going away).
    stopping: CancellationToken,
}

impl Connections {
    pub fn new(limits: WsLimits, stopping: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::default(),
            stopping,
        })
    }

    /// Takes a place for a new connection, or `None` when the service holds its most.
    fn open(self: &Arc<Self>) -> Option<Place> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.limits.max_connections {
            return None;
        }
        open.0 += 1;
        Some(Place {
            connections: self.clone(),
            subject: None,
        })
    }

    /// Connections open now (in all).
    pub fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

/// One connection's place, given back when it drops.
struct Place {
    connections: Arc<Connections>,
    subject: Option<String>,
}

impl Place {
    /// Counts the connection for `subject`; false when the subject has its most open already.
    fn claim(&mut self, subject: &str) -> bool {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mine = open.1.entry(subject.to_owned()).or_default();
        if *mine >= self.connections.limits.max_per_user {
            return false;
        }
        *mine += 1;
        self.subject = Some(subject.to_owned());
        true
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(subject) = self.subject.take()
            && let Some(n) = open.1.get_mut(&subject)
        {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&subject);
            }
        }
    }
}

/// What `connection_init` established.
#[derive(Debug, Clone, Default)]
enum Session {
    #[default]
    Waiting,
    /// Initialised; `Some` with the viewer when a valid token came.
    Ready(Option<Viewer>),
}

/// The subprotocol a client asks for (`Sec-WebSocket-Protocol`, the first the service speaks).
pub fn protocol(headers: &axum::http::HeaderMap) -> Option<Protocols> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().parse().ok())
}

/// The request facts of the connection, known at the upgrade.
pub struct Peer {
    pub client_ip: std::net::IpAddr,
    pub user_agent: Option<String>,
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_owned().into(),
    }))
}

/// The token in a `connection_init` payload: `{"Authorization": "Bearer ..."}` or `{"token": "..."}`.
fn bearer(payload: &serde_json::Value) -> Option<String> {
    ["Authorization", "authorization", "token"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .map(|t| {
            if t.len() > 7 && t[..7].eq_ignore_ascii_case("bearer ") {
                t.to_owned()
            } else {
                format!("Bearer {t}")
            }
        })
}

/// Serves one upgraded socket until either side closes it, or a limit does.
pub async fn serve(
    socket: WebSocket,
    (schema, protocol): (AppSchema, Protocols),
    (jwt, connections): (Arc<JwtKeys>, Arc<Connections>),
    peer: Peer,
) {
    let (mut sink, stream) = socket.split();
    let Some(mut place) = connections.open() else {
        let _ = sink
            .send(close(1013, "Too many open connections; try again later."))
            .await;
        return;
    };
    let (session, mut watch) = watch::channel(Session::Waiting);
    let input = stream
        .take_while(|m| future::ready(m.is_ok()))
        .filter_map(|m| {
            future::ready(match m {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
                _ => None,
            })
        });
    let messages = Protocol::new(schema, input, protocol)
        .on_connection_init(on_init(jwt, session, peer))
        .map(|m| match m {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => close(code, &reason),
        });
    futures_util::pin_mut!(messages);
    let init_deadline = tokio::time::Instant::now() + connections.limits.init_timeout;
    // Until the session changes: the init deadline while waiting, the token's expiry once ready.
    let mut deadline = Some(init_deadline);
    let mut watching = true;
    loop {
        let wait = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => future::pending().await,
            }
        };
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            changed = watch.changed(), if watching => {
                if changed.is_err() {
                    // `connection_init` came and went: the deadline it set stands.
                    watching = false;
                    continue;
                }
                let Session::Ready(viewer) = watch.borrow_and_update().clone() else { continue };
                match admit(&mut place, viewer) {
                    Ok(until) => deadline = until,
                    Err(refusal) => {
                        let _ = sink.send(refusal).await;
                        break;
                    }
                }
            }
            () = connections.stopping.cancelled() => {
                let _ = sink.send(close(1001, "The service is restarting; connect again.")).await;
                break;
            }
            () = wait => {
                let frame = deadline_passed(&watch.borrow());
                let _ = sink.send(frame).await;
                break;
            }
        }
    }
    drop(place);
}

/// The close frame when the connection's deadline passes: no `connection_init` in time, or the
/// token expired.
fn deadline_passed(session: &Session) -> Message {
    if matches!(session, Session::Waiting) {
        close(4408, "Connection initialisation timeout")
    } else {
        close(
            4403,
            "Forbidden: the token expired; connect again with a new one.",
        )
    }
}

/// What `connection_init` with `viewer` (none without a valid token) leaves the connection: until when
/// it may stay open (`None`: no token, each operation is refused and nothing expires), or the close
/// frame when the token's subject has its most connections open.
fn admit(
    place: &mut Place,
    viewer: Option<Viewer>,
) -> Result<Option<tokio::time::Instant>, Message> {
    let Some(viewer) = viewer else {
        return Ok(None);
    };
    if !place.claim(&viewer.user_id) {
        return Err(close(
            4429,
            "Too many open connections for this token; close one first.",
        ));
    }
    Ok(Some(expiry(&viewer)))
}

/// The `connection_init` handler: the token checked, the session told, the request facts handed on.
fn on_init(
    jwt: Arc<JwtKeys>,
    session: watch::Sender<Session>,
    peer: Peer,
) -> impl FnOnce(serde_json::Value) -> future::Ready<async_graphql::Result<async_graphql::Data>>
+ Send
+ 'static {
    move |payload: serde_json::Value| {
        let auth = jwt.authenticate(bearer(&payload).as_deref().map(str::as_bytes));
        session.send_replace(Session::Ready(auth.clone().ok()));
        let mut data = async_graphql::Data::default();
        data.insert(RequestContext {
            auth,
            client_ip: Some(peer.client_ip),
            user_agent: peer.user_agent,
        });
        future::ready(Ok(data))
    }
}

/// When a connection authenticated as `viewer` must close: its token's expiry plus the leeway, on the
/// runtime's clock.
fn expiry(viewer: &Viewer) -> tokio::time::Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let left = (viewer.expires_at + LEEWAY_SECONDS as i64 - now).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_secs(left)
}
