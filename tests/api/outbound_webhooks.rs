//! Signed webhooks to a real receiver on loopback, verified with an independent implementation of
//! Standard Webhooks (the `standardwebhooks` crate): the events arrive signed; a receiver that is down
//! gets the delivery later under the same id; a replay is the same event again; admins manage it all.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post};
use chrono::Duration as Span;
use serde_json::{Value, json};
use sms_notify::auth::Role;

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(signed_webhooks_arrive_and_survive_a_receiver_that_is_down,);

/// What the receiver got: each request's headers and body.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    pub(crate) answer: Arc<AtomicU16>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    r.got.lock().expect("lock").push((headers, body));
    axum::http::StatusCode::from_u16(r.answer.load(Ordering::SeqCst)).expect("status")
}

impl Receiver {
    pub(crate) async fn start() -> (Self, String) {
        let receiver = Self::default();
        receiver.answer.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// The requests so far, once `enough` says there are enough (10 s at most).
    pub(crate) async fn wait(
        &self,
        what: &str,
        enough: impl Fn(&[(HeaderMap, String)]) -> bool,
    ) -> Vec<(HeaderMap, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got.lock().expect("lock").clone();
            if enough(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {} requests",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn body(request: &(HeaderMap, String)) -> Value {
    serde_json::from_str(&request.1).expect("a JSON body")
}

fn event_id(request: &(HeaderMap, String)) -> String {
    request.0["webhook-id"].to_str().expect("ascii").to_owned()
}

const CREATE: &str = "mutation($u: String!, $t: [WebhookEventType!]!) { createWebhookEndpoint(url: $u, eventTypes: $t) { secret endpoint { id url eventTypes enabled } } }";
const DELIVERIES: &str = "query($e: ID!) { webhookDeliveries(endpointId: $e, first: 50) { nodes { id eventId eventType status attemptCount attempts { statusCode } } } }";

async fn signed_webhooks_arrive_and_survive_a_receiver_that_is_down(engine: Engine) {
    let (app, stub) = setup(engine, |c| c.webhook_allow_private_urls = true).await;
    let (receiver, url) = Receiver::start().await;
    let types = json!(["MESSAGE_UPDATED", "OPT_OUT_ADDED"]);
    let refused = app
        .as_service(CREATE, json!({ "u": url, "t": types }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let bad = app
        .as_graphql_admin(CREATE, json!({ "u": "ftp://example.com/x", "t": types }))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    let created = data(
        &app.as_graphql_admin(CREATE, json!({ "u": url, "t": types }))
            .await,
    )["createWebhookEndpoint"]
        .clone();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        created["endpoint"]["eventTypes"],
        json!(["MESSAGE_UPDATED", "OPT_OUT_ADDED"])
    );
    let endpoint = created["endpoint"]["id"].as_str().expect("id").to_owned();
    let verifier = standardwebhooks::Webhook::new(&secret).expect("the secret reads");

    // A text: its three statuses arrive, each signed (the provider's answer is held until SENDING has
    // arrived: a status that lasts less than the dispatcher's poll is folded into the next).
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let sent = data(
        &app.as_service(
            "mutation { sendSms(input: { userId: \"ann\", body: \"Hi\" }) { id } }",
            json!({}),
        )
        .await,
    )["sendSms"]["id"]
        .clone();
    let has = |status: &'static str| {
        move |g: &[(HeaderMap, String)]| g.iter().any(|r| body(r)["data"]["status"] == status)
    };
    receiver.wait("PENDING", has("PENDING")).await;
    let held = stub.hold_sends().await;
    let pass = app.run_outbox_in_background();
    receiver.wait("SENDING", has("SENDING")).await;
    drop(held);
    pass.await.expect("the worker pass");
    let got = receiver
        .wait("three message.updated", |g| g.len() >= 3)
        .await;
    for request in &got {
        verifier
            .verify(request.1.as_bytes(), &request.0)
            .unwrap_or_else(|e| panic!("signature: {e:?}"));
    }
    let statuses: Vec<Value> = got
        .iter()
        .map(|r| body(r)["data"]["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("PENDING"), json!("SENDING"), json!("SENT")]
    );
    assert!(
        got.iter()
            .all(|r| body(r)["type"] == "message.updated" && body(r)["data"]["id"] == sent)
    );
    // A tampered body does not verify.
    assert!(
        verifier
            .verify(b"{\"type\":\"forged\"}", &got[0].0)
            .is_err()
    );

    // The receiver is down: the delivery waits and arrives later, under the same id.
    receiver.answer.store(503, Ordering::SeqCst);
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+1 212 555 0199\", note: \"asked\") { phoneNumber } }",
            json!({}),
        )
        .await,
    );
    let got = receiver
        .wait("the first attempt", |g| {
            g.iter().any(|r| body(r)["type"] == "opt_out.added")
        })
        .await;
    let first = got
        .iter()
        .find(|r| body(r)["type"] == "opt_out.added")
        .expect("attempt")
        .clone();
    receiver.answer.store(200, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let count = |g: &[(HeaderMap, String)]| {
        g.iter()
            .filter(|r| body(r)["type"] == "opt_out.added")
            .count()
    };
    assert_eq!(
        count(&receiver.got.lock().expect("lock")),
        1,
        "not before its backoff"
    );
    app.clock.advance(Span::seconds(6));
    let got = receiver.wait("the retry", |g| count(g) == 2).await;
    let attempts: Vec<_> = got
        .iter()
        .filter(|r| body(r)["type"] == "opt_out.added")
        .collect();
    assert_eq!(
        event_id(attempts[0]),
        event_id(attempts[1]),
        "the same event, the same id"
    );
    assert_eq!(event_id(&first), event_id(attempts[1]));
    assert_eq!(body(attempts[1])["data"]["phoneNumber"], "+12125550199");

    // Each attempt is listed; a replay sends the same event again. The receiver has the retry before
    // the dispatcher has written its answer down: the delivery is read until it has.
    let mut opt_out = json!(null);
    for _ in 0..100 {
        let deliveries = data(
            &app.as_graphql_admin(DELIVERIES, json!({ "e": endpoint }))
                .await,
        )["webhookDeliveries"]["nodes"]
            .clone();
        opt_out = deliveries
            .as_array()
            .expect("nodes")
            .iter()
            .find(|d| d["eventType"] == "opt_out.added")
            .expect("the opt-out's delivery")
            .clone();
        if opt_out["status"] != "PENDING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(opt_out["status"], "DELIVERED");
    assert_eq!(
        opt_out["attempts"],
        json!([{ "statusCode": 503 }, { "statusCode": 200 }])
    );
    let replay = "mutation($d: ID!) { replayWebhookDelivery(id: $d) { eventId status } }";
    let replayed = data(
        &app.as_graphql_admin(replay, json!({ "d": opt_out["id"] }))
            .await,
    )["replayWebhookDelivery"]
        .clone();
    assert_eq!(
        replayed,
        json!({ "eventId": opt_out["eventId"], "status": "PENDING" })
    );
    let got = receiver.wait("the replay", |g| count(g) == 3).await;
    // Never one event under two ids: each (message, status) and the opt-out have one id each.
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for request in &got {
        let b = body(request);
        let key = format!("{}:{}:{}", b["type"], b["data"]["id"], b["data"]["status"]);
        ids.entry(key).or_default().insert(event_id(request));
    }
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}");
    assert_eq!(ids.len(), 4, "three statuses and one opt-out");

    // Off, nothing more goes; the audit trail has the admin's writes.
    let off = "mutation($e: ID!) { setWebhookEndpointEnabled(id: $e, enabled: false) { enabled disabledReason } }";
    let off = data(&app.as_graphql_admin(off, json!({ "e": endpoint })).await)["setWebhookEndpointEnabled"].clone();
    assert_eq!(
        off,
        json!({ "enabled": false, "disabledReason": "disabled by ops" })
    );
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+1 212 555 0198\") { phoneNumber } }",
            json!({}),
        )
        .await,
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        count(&receiver.got.lock().expect("lock")),
        3,
        "a disabled endpoint gets nothing"
    );
    let trail = "{ adminActions(first: 20) { nodes { action } } }";
    let actions =
        data(&app.as_graphql_admin(trail, json!({})).await)["adminActions"]["nodes"].clone();
    for action in [
        "create_webhook_endpoint",
        "replay_webhook_delivery",
        "disable_webhook_endpoint",
    ] {
        assert!(
            actions
                .as_array()
                .expect("nodes")
                .iter()
                .any(|a| a["action"] == action),
            "{action}: {actions}"
        );
    }
    // The texts' retention takes the finished deliveries, which carry numbers and texts, with it.
    app.clock.advance(Span::days(31));
    let run = app
        .handles
        .privacy
        .purge(sms_notify::privacy::Trigger::Command)
        .await
        .expect("purge");
    assert_eq!(run.outbound_webhooks, 4, "three statuses and the opt-out");
    assert_eq!(app.db_count("webhook_deliveries").await, 0);
    assert_eq!(app.db_count("webhook_attempts").await, 0);
}

#[tokio::test]
async fn endpoints_must_be_public_https_addresses() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let types = json!(["REPLY_RECEIVED"]);
    for (url, why) in [
        ("http://example.com/hooks", "https://"),
        ("https://127.0.0.1/hooks", "loopback or private"),
        ("https://10.0.0.5/hooks", "loopback or private"),
        ("https://[::1]/hooks", "loopback or private"),
        ("https://user:pw@example.com/hooks", "credentials"),
        ("not a url", "not an address"),
    ] {
        let refused = app
            .graphql_as("ops", Role::Admin, CREATE, json!({ "u": url, "t": types }))
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{url}: {refused}");
        let message = refused["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(why), "{url}: {message}");
    }
    let none = app
        .graphql_as(
            "ops",
            Role::Admin,
            CREATE,
            json!({ "u": "https://example.com/x", "t": [] }),
        )
        .await;
    assert_eq!(error_code(&none), "BAD_USER_INPUT");
    assert_eq!(app.db_count("webhook_endpoints").await, 0);
}

storage_tests!(an_endpoint_that_fails_for_days_is_disabled,);

/// A receiver that redirects is a failure (redirects are not followed); three days of failures
/// disable the endpoint; a rotated secret signs from then on; a deleted endpoint is gone.
async fn an_endpoint_that_fails_for_days_is_disabled(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.webhook_allow_private_urls = true).await;
    let (receiver, url) = Receiver::start().await;
    receiver.answer.store(307, Ordering::SeqCst);
    let created = data(
        &app.as_graphql_admin(CREATE, json!({ "u": url, "t": ["OPT_OUT_ADDED"] }))
            .await,
    )["createWebhookEndpoint"]
        .clone();
    let endpoint = created["endpoint"]["id"].as_str().expect("id").to_owned();
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+1 212 555 0199\") { phoneNumber } }",
            json!({}),
        )
        .await,
    );
    receiver.wait("the first attempt", |g| g.len() == 1).await;
    // Retried with backoff until three days have passed since the first failure.
    for hours in [1, 12, 24, 48, 73] {
        let before = receiver.got.lock().expect("lock").len();
        app.clock
            .set(crate::helpers::start_time() + Span::hours(hours));
        receiver.wait("a retry", |g| g.len() == before + 1).await;
    }
    // The receiver has the last attempt before the dispatcher has written its failure down.
    let list = "{ webhookEndpoints { id enabled disabledReason failingSince } }";
    let mut state = json!(null);
    for _ in 0..100 {
        state = data(&app.as_graphql_admin(list, json!({})).await)["webhookEndpoints"][0].clone();
        if state["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["enabled"], false, "{state}");
    assert!(
        state["disabledReason"]
            .as_str()
            .expect("why")
            .starts_with("every delivery failed since"),
        "{state}"
    );
    let deliveries = data(
        &app.as_graphql_admin(DELIVERIES, json!({ "e": endpoint }))
            .await,
    )["webhookDeliveries"]["nodes"]
        .clone();
    assert_eq!(
        deliveries[0]["status"], "FAILED",
        "given up after three days: {deliveries}"
    );
    assert!(
        deliveries[0]["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .all(|a| a["statusCode"] == 307)
    );

    // Enabled again with a new secret: the next event is signed with it, and only it.
    let on = "mutation($e: ID!) { setWebhookEndpointEnabled(id: $e, enabled: true) { enabled failingSince } }";
    assert_eq!(
        data(&app.as_graphql_admin(on, json!({ "e": endpoint })).await)["setWebhookEndpointEnabled"],
        json!({ "enabled": true, "failingSince": null })
    );
    let rotate = "mutation($e: ID!) { rotateWebhookSecret(id: $e) { secret } }";
    let secret =
        data(&app.as_graphql_admin(rotate, json!({ "e": endpoint })).await)["rotateWebhookSecret"]
            ["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
    assert_ne!(secret, created["secret"].as_str().expect("old"));
    receiver.answer.store(200, Ordering::SeqCst);
    let before = receiver.got.lock().expect("lock").len();
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+1 212 555 0198\") { phoneNumber } }",
            json!({}),
        )
        .await,
    );
    let got = receiver
        .wait("the next event", |g| g.len() == before + 1)
        .await;
    let last = got.last().expect("last");
    standardwebhooks::Webhook::new(&secret)
        .expect("secret")
        .verify(last.1.as_bytes(), &last.0)
        .expect("signed with the new secret");
    let old =
        standardwebhooks::Webhook::new(created["secret"].as_str().expect("old")).expect("secret");
    assert!(
        old.verify(last.1.as_bytes(), &last.0).is_err(),
        "not with the old one"
    );

    // Deleted: gone, with its deliveries; nothing more is posted.
    let delete = "mutation($e: ID!) { deleteWebhookEndpoint(id: $e) }";
    assert_eq!(
        data(&app.as_graphql_admin(delete, json!({ "e": endpoint })).await)["deleteWebhookEndpoint"],
        true
    );
    let again = app.as_graphql_admin(delete, json!({ "e": endpoint })).await;
    assert_eq!(error_code(&again), "NOT_FOUND");
    assert_eq!(app.db_count("webhook_deliveries").await, 0);
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+1 212 555 0197\") { phoneNumber } }",
            json!({}),
        )
        .await,
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.got.lock().expect("lock").len(), before + 1);
}
