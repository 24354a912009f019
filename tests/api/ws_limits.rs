//! A WebSocket connection's limits: `connection_init` in time, a token that expires closes it, and a
//! cap on open connections per token and in all, each with its close code.

use std::time::Duration;

use chrono::Utc;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use sms_notify::auth::Role;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    helpers::{Engine, TestApp},
    subscriptions::open,
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn init(ws: &mut Socket, token: &str) {
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into()))
        .await
        .expect("sent");
}

/// The close code the server ends the connection with, within `wait` (text frames are skipped).
async fn closed_with(ws: &mut Socket, wait: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(None) => return Some(1006),
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) => return Some(1006),
        }
    }
}

async fn app_with(configure: impl FnOnce(&mut sms_notify::Config)) -> TestApp {
    TestApp::spawn_with(Engine::Sqlite, configure).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_says_connection_init_is_closed() {
    let app = app_with(|c| c.ws_limits.init_timeout = Duration::from_millis(500)).await;
    let mut silent = open(&app).await;
    assert_eq!(
        closed_with(&mut silent, Duration::from_secs(5)).await,
        Some(4408)
    );
    // One that does say it in time stays open.
    let mut talking = open(&app).await;
    init(&mut talking, &app.token("u1", Role::User)).await;
    let ack = talking.next().await.expect("a frame").expect("ok");
    assert!(ack.to_text().expect("text").contains("connection_ack"));
    assert_eq!(
        closed_with(&mut talking, Duration::from_secs(1)).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_token_expires() {
    let app = app_with(|_| {}).await;
    // Expired 28 s ago: still within the 30 s leeway every token gets, for 2 s more.
    let now = Utc::now();
    let token = app
        .jwt
        .issue(
            "svc",
            Role::Service,
            now - chrono::Duration::minutes(5),
            now - chrono::Duration::seconds(28),
        )
        .expect("sign");
    let mut ws = open(&app).await;
    init(&mut ws, &token).await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { smsMessageUpdates { status } }" } });
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .expect("sent");
    let started = std::time::Instant::now();
    assert_eq!(
        closed_with(&mut ws, Duration::from_secs(10)).await,
        Some(4403)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped_per_token_and_in_all() {
    let app = app_with(|c| {
        c.ws_limits.max_per_user = 2;
        c.ws_limits.max_connections = 3;
    })
    .await;
    let token = app.token("u1", Role::User);
    let mut mine = Vec::new();
    for _ in 0..2 {
        let mut ws = open(&app).await;
        init(&mut ws, &token).await;
        assert!(
            ws.next().await.expect("frame").expect("ok").is_text(),
            "acked"
        );
        mine.push(ws);
    }
    let mut third = open(&app).await;
    init(&mut third, &token).await;
    assert_eq!(
        closed_with(&mut third, Duration::from_secs(5)).await,
        Some(4429)
    );
    // Another person's connection fits; then the service is full for everyone.
    let mut other = open(&app).await;
    init(&mut other, &app.token("u2", Role::User)).await;
    assert!(other.next().await.expect("frame").expect("ok").is_text());
    let mut full = open(&app).await;
    assert_eq!(
        closed_with(&mut full, Duration::from_secs(5)).await,
        Some(1013)
    );
    // A closed connection gives its place back.
    let mut first = mine.remove(0);
    first.close(None).await.expect("closed");
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = open(&app).await;
        init(&mut again, &token).await;
        match tokio::time::timeout(Duration::from_secs(2), again.next()).await {
            Ok(Some(Ok(m))) if m.is_text() => break,
            _ => assert!(
                tokio::time::Instant::now() < deadline,
                "the place never came back"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
