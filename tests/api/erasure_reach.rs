//! Erasure reaches every copy: webhook bodies (queued and delivered), replies from every number the
//! person ever proved, audit targets and consent events' user id; an erased delivery is never sent
//! again; a replay never rewrites history.

use entity::{admin_actions, consent_events, sms_replies, webhook_deliveries};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    helpers::{Engine, TestApp, data, error_code, error_message, opted_in_user, set_phone},
    outbound_webhooks::Receiver,
    pipeline::setup,
    privacy::reply,
    storage_tests,
};

storage_tests!(
    erasure_reaches_webhooks_replies_audit_and_consent,
    a_replay_never_rewrites_history,
);

const CREATE: &str = "mutation($u: String!) { createWebhookEndpoint(url: $u, eventTypes: [MESSAGE_UPDATED, REPLY_RECEIVED, OPT_OUT_ADDED, OPT_OUT_REMOVED, VERIFICATION_SUCCEEDED]) { endpoint { id } } }";
const ERASE: &str = "mutation($u: ID!) { deleteRecipient(userId: $u) { repliesScrubbed webhookDeliveriesScrubbed adminActionsMasked } }";
const REPLAY: &str = "mutation($id: ID!) { replayWebhookDelivery(id: $id) { status } }";
const OLD: &str = "+12125550101";

async fn deliveries(app: &TestApp) -> Vec<webhook_deliveries::Model> {
    webhook_deliveries::Entity::find()
        .all(&app.db)
        .await
        .expect("deliveries")
}

/// Dispatches the feed and posts what is due until nothing is left.
async fn deliver_all(app: &TestApp) {
    for _ in 0..5 {
        app.handles.webhooks.dispatch().await.expect("dispatch");
        app.handles.webhooks.deliver_due().await.expect("deliver");
    }
}

async fn erasure_reaches_webhooks_replies_audit_and_consent(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.webhook_allow_private_urls = true).await;
    let (receiver, url) = Receiver::start().await;
    data(&app.as_graphql_admin(CREATE, json!({ "u": url })).await);
    // Bob proves a number, replies from it, an admin lists it after a call, and he moves to a number
    // he never proves.
    opted_in_user(&app, "bob", "+1 212 555 0101").await;
    reply(&app, OLD, "my secret reply", "in-1").await;
    data(
        &app.as_graphql_admin(
            "mutation($p: String!) { addOptOut(phone: $p, note: \"asked on the phone\") { phoneNumber } }",
            json!({ "p": OLD }),
        )
        .await,
    );
    set_phone(&app, "bob", "+1 212 555 0177").await;
    deliver_all(&app).await;
    receiver
        .wait("the reply and the opt-out", |got| got.len() >= 2)
        .await;
    // A delivery still queued: the endpoint is down for the next one.
    receiver
        .answer
        .store(503, std::sync::atomic::Ordering::SeqCst);
    reply(&app, OLD, "another secret", "in-2").await;
    assert!(
        deliveries(&app)
            .await
            .iter()
            .any(|d| d.status == "pending" && d.payload.contains("another secret"))
    );

    let erased =
        data(&app.as_service(ERASE, json!({ "u": "bob" })).await)["deleteRecipient"].clone();
    assert_eq!(
        erased["repliesScrubbed"], 2,
        "replies from the number he gave up: {erased}"
    );
    assert_eq!(erased["adminActionsMasked"], 1, "{erased}");
    assert!(
        erased["webhookDeliveriesScrubbed"].as_i64().unwrap_or(0) >= 3,
        "{erased}"
    );

    // No copy names him: not the bodies, queued or delivered.
    let copies = deliveries(&app).await;
    assert!(copies.len() >= 3);
    for d in &copies {
        for secret in [OLD, "bob", "my secret reply", "another secret"] {
            assert!(!d.payload.contains(secret), "{secret} in {}", d.payload);
        }
        assert!(d.erased_at.is_some(), "{d:?}");
        assert_eq!(
            (d.subject_user_id.clone(), d.subject_phone.clone()),
            (None, None)
        );
    }
    // An erased delivery is never sent again.
    let delivered = copies
        .iter()
        .find(|d| d.status == "delivered")
        .expect("one delivered");
    let refused = app
        .as_graphql_admin(REPLAY, json!({ "id": delivered.id.to_string() }))
        .await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    assert!(error_message(&refused).contains("erased"), "{refused}");
    // Replies: no text, no number.
    for r in sms_replies::Entity::find()
        .all(&app.db)
        .await
        .expect("replies")
    {
        assert_eq!((r.body.as_str(), r.from_phone.as_str()), ("", ""), "{r:?}");
    }
    // The audit trail names the number's keyed hash, never the number.
    let actions = admin_actions::Entity::find()
        .all(&app.db)
        .await
        .expect("actions");
    assert!(!actions.iter().any(|a| a.target == OLD), "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|a| a.action == "add_opt_out" && a.target.starts_with("erased:"))
    );
    // Consent events keep their proof, filed under a keyed hash of the id.
    let events = consent_events::Entity::find()
        .all(&app.db)
        .await
        .expect("events");
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e.user_id.starts_with("erased:") && e.phone_e164.is_none())
    );
    let by_bob = consent_events::Entity::find()
        .filter(consent_events::Column::UserId.eq("bob"))
        .all(&app.db)
        .await
        .expect("events");
    assert!(by_bob.is_empty());
    assert_eq!(app.db_count("proven_numbers").await, 0);
}

async fn a_replay_never_rewrites_history(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.webhook_allow_private_urls = true).await;
    let (receiver, url) = Receiver::start().await;
    let endpoint = data(&app.as_graphql_admin(CREATE, json!({ "u": url })).await)
        ["createWebhookEndpoint"]["endpoint"]["id"]
        .clone();
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    reply(&app, OLD, "hello", "in-1").await;
    deliver_all(&app).await;
    receiver.wait("the reply", |got| !got.is_empty()).await;
    let delivered = deliveries(&app)
        .await
        .into_iter()
        .find(|d| d.status == "delivered")
        .expect("delivered");
    data(
        &app.as_graphql_admin(
            "mutation($id: ID!) { setWebhookEndpointEnabled(id: $id, enabled: false) { enabled } }",
            json!({ "id": endpoint }),
        )
        .await,
    );
    let refused = app
        .as_graphql_admin(REPLAY, json!({ "id": delivered.id.to_string() }))
        .await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    assert!(error_message(&refused).contains("disabled"), "{refused}");
    deliver_all(&app).await;
    let after = webhook_deliveries::Entity::find_by_id(delivered.id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        (after.status.as_str(), after.delivered_at),
        ("delivered", delivered.delivered_at)
    );
    // An unknown delivery is named as a delivery.
    let missing = app.as_graphql_admin(REPLAY, json!({ "id": "99999" })).await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    assert_eq!(
        error_message(&missing),
        "No webhook delivery has the id 99999."
    );
}
