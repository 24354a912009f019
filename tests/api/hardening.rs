//! What an attacker, a newcomer and a reviewer tried (issue 18), each answered at its depth.

use chrono::Duration;
use entity::{opt_outs, sms_log};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sms_notify::{Clock, auth::Role};

use crate::{
    helpers::{Engine, TestApp, data, error_code, error_message, opted_in_user},
    pipeline::setup,
    sns::{EVENTS, INBOUND, delivery, post, reply, sent_promo, setup_signed},
    storage_tests,
};

storage_tests!(
    free_text_cannot_pass_for_a_security_alert,
    a_receipt_with_a_price_no_text_can_cost_changes_nothing,
    idempotency_keys_belong_to_a_caller_and_a_mutation,
    a_stop_from_a_national_number_opts_the_number_out,
    the_carriers_acceptance_is_not_a_delivery,
);

const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason } }";

async fn messages(app: &TestApp) -> u64 {
    sms_log::Entity::find().count(&app.db).await.expect("count")
}

async fn free_text_cannot_pass_for_a_security_alert(engine: Engine) {
    // Two texts of budget, one of them kept for codes and security alerts.
    let (app, _stub) = setup(engine, |c| {
        c.costs.monthly_limit = 15_000;
        c.costs.transactional_reserve = 7_500;
    })
    .await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    for to in [json!({ "to": "212 555 0099" }), json!({ "userId": "u1" })] {
        let mut input = json!({ "body": "Cheap loans! http://evil.example", "messageType": "SECURITY_ALERT",
                                "promotional": false });
        input
            .as_object_mut()
            .expect("object")
            .extend(to.as_object().expect("object").clone());
        let answer = app.as_service(SEND, json!({ "i": input })).await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT");
        assert!(
            error_message(&answer).contains("sendSecurityAlert"),
            "{answer}"
        );
    }
    assert_eq!(messages(&app).await, 0, "nothing written, nothing reserved");
    // The reserve is still there for a real alert.
    let alert = "mutation($i: SecurityAlertInput!) { sendSecurityAlert(input: $i) { status blockedReason } }";
    let answer = app
        .as_service(
            alert,
            json!({ "i": { "userId": "u1", "what": "A new sign-in", "link": "/security" } }),
        )
        .await;
    assert_eq!(
        data(&answer)["sendSecurityAlert"]["status"],
        "PENDING",
        "{answer}"
    );
}

async fn a_receipt_with_a_price_no_text_can_cost_changes_nothing(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let (id, provider_id) = sent_promo(&app, "u1").await;
    let now = app.clock.now();
    let month = || async {
        let query = "query($f: DateTime!, $t: DateTime!) { smsCosts(from: $f, to: $t) { monthToDate totalCost } }";
        let range = json!({ "f": "2026-03-01T00:00:00Z", "t": "2026-04-01T00:00:00Z" });
        data(&app.graphql_as("ops", Role::Admin, query, range).await)["smsCosts"].clone()
    };
    let before = month().await;
    for price in [-5.0, 1000.0] {
        let event = delivery(&provider_id, "TEXT_DELIVERED", true, Some(price), now);
        let (status, answer) =
            post(&app, signer.notification(EVENTS, &event, now).to_string()).await;
        assert_eq!(status, 400, "{price}: {answer}");
    }
    assert_eq!(
        month().await,
        before,
        "the budget and the report are untouched"
    );
    // Within what any text costs, but more than this one-segment text can: kept, not charged.
    let event = delivery(&provider_id, "TEXT_DELIVERED", true, Some(2.5), now);
    let (status, _) = post(&app, signer.notification(EVENTS, &event, now).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(month().await, before);
    let row = sms_log::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(
        (row.status, row.cost_micros, row.priced_at),
        (sms_log::SmsStatus::Delivered, Some(7_500), None)
    );
}

async fn send_keyed(app: &TestApp, role: Role, key: &str, body: &str) -> Value {
    let input = json!({ "i": { "userId": "u1", "body": body, "idempotencyKey": key } });
    app.graphql_as("app", role, SEND, input).await
}

async fn idempotency_keys_belong_to_a_caller_and_a_mutation(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let first = send_keyed(&app, Role::Service, "k1", "Rematch?").await;
    let id = data(&first)["sendSms"]["id"].clone();
    // The same request again: the same message, nothing new.
    let again = send_keyed(&app, Role::Service, "k1", "Rematch?").await;
    assert_eq!(data(&again)["sendSms"]["id"], id);
    // The same key for another message: refused, nothing written.
    let other = send_keyed(&app, Role::Service, "k1", "Rematch tomorrow?").await;
    assert_eq!(error_code(&other), "CONFLICT", "{other}");
    assert!(error_message(&other).contains("idempotencyKey"));
    assert_eq!(messages(&app).await, 1);
    // Another caller's key is its own, and so is the same key on another mutation.
    let admin = send_keyed(&app, Role::Admin, "k1", "Rematch tomorrow?").await;
    assert_ne!(data(&admin)["sendSms"]["id"], id);
    let streak = "mutation($i: StreakAlertInput!) { sendStreakAlert(input: $i) { id } }";
    let input = json!({ "i": { "userId": "u1", "streakCount": 3, "actionLink": "/s", "idempotencyKey": "k1" } });
    let alert = app.as_service(streak, input).await;
    assert_ne!(data(&alert)["sendStreakAlert"]["id"], id);
    assert_eq!(messages(&app).await, 3);
}

async fn a_stop_from_a_national_number_opts_the_number_out(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let now = app.clock.now() + Duration::seconds(1);
    let stop = signer.notification(INBOUND, &reply("(212) 555-0001", "STOP"), now);
    let (status, _) = post(&app, stop.to_string()).await;
    assert_eq!(status, 200);
    let listed = opt_outs::Entity::find_by_id("+12125550001".to_owned())
        .one(&app.db)
        .await
        .expect("q");
    assert!(listed.is_some(), "stored in E.164, where sends look for it");
    let me = data(
        &app.as_user("u1", "{ me { preferences { hasConsent } } }", json!({}))
            .await,
    )
    .clone();
    assert_eq!(me["me"]["preferences"]["hasConsent"], false);
}

/// The verifier touches no table, so one engine is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deliveries_cost_a_few_certificate_fetches() {
    let (app, _stub, signer) = setup_signed(Engine::Sqlite, |_| {}).await;
    let now = app.clock.now();
    let forged = |url: String| {
        let mut envelope =
            signer.notification(EVENTS, &json!({ "eventType": "TEXT_DELIVERED" }), now);
        envelope["SigningCertURL"] = url.into();
        envelope["Signature"] = "Zm9yZ2Vk".into();
        envelope.to_string()
    };
    // 100 forgeries at once naming the real certificate: it is fetched once.
    let same = (0..100).map(|_| post(&app, forged(signer.cert_url())));
    for (status, _) in futures::future::join_all(same).await {
        assert_eq!(status, 403);
    }
    assert_eq!(
        signer
            .certificate_fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // 50 forgeries naming 50 other certificates: a few fetches a minute, not 50.
    let urls = (0..50).map(|n| format!("{}/SimpleNotificationService-{n}.pem", signer.base));
    for url in urls {
        assert_eq!(post(&app, forged(url)).await.0, 403);
    }
    let fetched = signer
        .certificate_fetches
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(fetched <= 6, "{fetched} certificate fetches");
}

async fn the_carriers_acceptance_is_not_a_delivery(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let (id, provider_id) = sent_promo(&app, "u1").await;
    let now = app.clock.now();
    let status = || async {
        let row = sms_log::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .expect("q")
            .expect("row");
        (row.status, row.cost_micros, row.delivered_at.is_some())
    };
    // The carrier took it (and AWS priced it): still SENT, now at AWS's price with the carrier fee.
    let accepted = delivery(&provider_id, "TEXT_SUCCESSFUL", true, Some(0.00581), now);
    let (code, _) = post(
        &app,
        signer.notification(EVENTS, &accepted, now).to_string(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        status().await,
        (sms_log::SmsStatus::Sent, Some(8_310), false)
    );
    // The handset's receipt settles it.
    let delivered = delivery(&provider_id, "TEXT_DELIVERED", true, None, now);
    let (code, _) = post(
        &app,
        signer.notification(EVENTS, &delivered, now).to_string(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        status().await,
        (sms_log::SmsStatus::Delivered, Some(8_310), true)
    );
}
