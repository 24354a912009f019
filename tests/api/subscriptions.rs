//! Live updates over WebSocket, driven by a real client speaking `graphql-transport-ws`: a send, then its
//! updates arrive; another user's never do; an update made on one instance reaches a subscriber of
//! another.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sms_notify::auth::Role;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

use crate::{
    helpers::{Engine, TestApp, data, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    a_user_follows_their_own_messages_and_no_one_elses,
    the_back_end_follows_every_message_through_a_filter,
    an_update_on_one_instance_reaches_a_subscriber_of_another,
);

const UPDATES: &str = "subscription($f: SmsMessageUpdatesFilter) { smsMessageUpdates(filter: $f) { status sequence message { id userId messageType } } }";
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

/// Opens `app`'s `/graphql/ws` speaking `graphql-transport-ws` (the server agrees to it).
pub(crate) async fn open(app: &TestApp) -> WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the WebSocket opens");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Client {
    /// Connects to `app`'s `/graphql/ws` and completes the handshake with `token` in the init payload.
    async fn connect(app: &TestApp, token: Option<String>) -> Self {
        let ws = open(app).await;
        let mut client = Self { ws };
        let payload = token.map_or(
            json!({}),
            |t| json!({ "Authorization": format!("Bearer {t}") }),
        );
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        assert_eq!(client.next().await["type"], "connection_ack");
        client
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("sent");
    }

    /// The next protocol message, within 10 seconds.
    async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a message within 10 s")
    }

    async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match message.expect("a frame") {
                Message::Text(text) => return Some(serde_json::from_str(&text).expect("JSON")),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    async fn subscribe(&mut self, id: &str, filter: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": UPDATES, "variables": { "f": filter } } }))
            .await;
        // The subscription is registered once the server has read it; give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// The updates up to the first one with `status` (10 s at most).
    async fn until(&mut self, status: &str) -> Vec<(String, Value, String)> {
        let mut seen = Vec::new();
        loop {
            let Some(message) = self.next_within(Duration::from_secs(10)).await else {
                panic!("no {status} update within 10 s; saw {seen:?}");
            };
            let update = &message["payload"]["data"]["smsMessageUpdates"];
            seen.push((
                update["status"].as_str().expect("status").to_owned(),
                update["message"]["userId"].clone(),
                update["message"]["id"].as_str().expect("id").to_owned(),
            ));
            if seen.last().is_some_and(|(s, _, _)| s == status) {
                return seen;
            }
        }
    }

    /// The updates that arrive until `quiet` passes without one: (status, user id, message id).
    async fn updates(&mut self, quiet: Duration) -> Vec<(String, Value, String)> {
        let mut seen = Vec::new();
        while let Some(message) = self.next_within(quiet).await {
            assert_eq!(message["type"], "next", "{message}");
            let update = &message["payload"]["data"]["smsMessageUpdates"];
            seen.push((
                update["status"].as_str().expect("status").to_owned(),
                update["message"]["userId"].clone(),
                update["message"]["id"].as_str().expect("id").to_owned(),
            ));
        }
        seen
    }
}

async fn send(app: &TestApp, user: &str, body: &str) -> String {
    let sent = app
        .as_service(SEND, json!({ "i": { "userId": user, "body": body } }))
        .await;
    data(&sent)["sendSms"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Each status a message holds for longer than the feed's poll is told, in order: the test holds the
/// provider's answer so that `SENDING` lasts until the subscriber has seen it.
async fn watch_a_send(
    (app, stub): (&TestApp, &crate::aws_stub::AwsStub),
    client: &mut Client,
) -> Vec<(String, Value, String)> {
    let mut updates = client.until("PENDING").await;
    let held = stub.hold_sends().await;
    let pass = app.run_outbox_in_background();
    updates.extend(client.until("SENDING").await);
    drop(held);
    pass.await.expect("the worker pass");
    updates.extend(client.updates(Duration::from_secs(2)).await);
    updates
}

async fn a_user_follows_their_own_messages_and_no_one_elses(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    opted_in_user(&app, "bob", "+1 212 555 0102").await;
    let mut ann = Client::connect(&app, Some(app.token("ann", Role::User))).await;
    ann.subscribe("1", Value::Null).await;
    let bobs = send(&app, "bob", "For Bob").await;
    let anns = send(&app, "ann", "For Ann").await;
    let updates = watch_a_send((&app, &stub), &mut ann).await;
    assert_eq!(
        updates,
        [
            ("PENDING".to_owned(), json!("ann"), anns.clone()),
            ("SENDING".to_owned(), json!("ann"), anns.clone()),
            ("SENT".to_owned(), json!("ann"), anns.clone()),
        ],
        "Ann's message, each status once, in order; never Bob's ({bobs})"
    );
    // Another user's messages cannot be asked for.
    ann.send(json!({ "id": "2", "type": "subscribe", "payload": { "query": UPDATES, "variables": { "f": { "userId": "bob" } } } }))
        .await;
    let refused = ann.next().await;
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("next"), &json!("2")),
        "{refused}"
    );
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    assert_eq!(ann.next().await, json!({ "id": "2", "type": "complete" }));
    // Without a token, nothing to follow.
    let mut stranger = Client::connect(&app, None).await;
    stranger
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": UPDATES } }))
        .await;
    let refused = stranger.next().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(
        stranger.next().await,
        json!({ "id": "1", "type": "complete" })
    );
    // A document that does not validate is the protocol's own error.
    stranger
        .send(json!({ "id": "2", "type": "subscribe", "payload": { "query": "subscription { nothing }" } }))
        .await;
    let invalid = stranger.next().await;
    assert_eq!(
        invalid["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{invalid}"
    );
    // Completing a subscription ends it.
    ann.send(json!({ "id": "1", "type": "complete" })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&app, "ann", "After").await;
    let mut after = Vec::new();
    while let Some(message) = ann.next_within(Duration::from_secs(1)).await {
        after.push(message);
    }
    assert!(
        after
            .iter()
            .all(|m| m == &json!({ "id": "1", "type": "complete" })),
        "no update after complete: {after:?}"
    );
}

async fn the_back_end_follows_every_message_through_a_filter(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    opted_in_user(&app, "bob", "+1 212 555 0102").await;
    let mut backend = Client::connect(&app, Some(app.token("app", Role::Service))).await;
    backend
        .subscribe("all", json!({ "statuses": ["SENT"] }))
        .await;
    let mut ops = Client::connect(&app, Some(app.token("ops", Role::Admin))).await;
    ops.subscribe("bob", json!({ "userId": "bob" })).await;
    let anns = send(&app, "ann", "For Ann").await;
    let bobs = send(&app, "bob", "For Bob").await;
    let bob = watch_a_send((&app, &stub), &mut ops).await;
    let mut sent = backend.updates(Duration::from_secs(2)).await;
    sent.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        sent,
        [
            ("SENT".to_owned(), json!("ann"), anns),
            ("SENT".to_owned(), json!("bob"), bobs.clone()),
        ]
    );
    assert_eq!(
        bob.iter()
            .map(|(s, _, id)| (s.as_str(), id.as_str()))
            .collect::<Vec<_>>(),
        [
            ("PENDING", bobs.as_str()),
            ("SENDING", &bobs),
            ("SENT", &bobs)
        ]
    );
}

async fn an_update_on_one_instance_reaches_a_subscriber_of_another(engine: Engine) {
    let (first, stub) = setup(engine, |_| {}).await;
    let second = first.another_instance().await;
    opted_in_user(&first, "ann", "+1 212 555 0101").await;
    let mut ann = Client::connect(&second, Some(second.token("ann", Role::User))).await;
    ann.subscribe("1", Value::Null).await;
    let id = send(&first, "ann", "Sent by the first instance").await;
    let updates = watch_a_send((&first, &stub), &mut ann).await;
    assert_eq!(
        updates
            .iter()
            .map(|(s, _, m)| (s.as_str(), m.as_str()))
            .collect::<Vec<_>>(),
        [("PENDING", id.as_str()), ("SENDING", &id), ("SENT", &id)]
    );
}
