//! `POST /webhooks/sns` with envelopes signed by a test certificate served over loopback: delivery
//! events, replies, and every refusal. The canonical string is written here from AWS's documentation,
//! not taken from the service, so a mistake on either side shows.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, routing::get};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use entity::{opt_outs, sms_events, sms_log, sms_replies};
use rsa::{
    RsaPrivateKey,
    pkcs1v15::SigningKey,
    pkcs8::DecodePrivateKey,
    signature::{SignatureEncoding, Signer as _},
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sms_notify::{Clock as _, inbound::sns::SnsConfig};

use crate::{
    aws_stub::AwsStub,
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::{row, setup},
    storage_tests,
};

storage_tests!(
    a_subscription_is_confirmed_on_an_sns_host_only,
    delivery_events_settle_messages_and_correct_costs,
    a_final_failure_is_undelivered_with_the_carriers_reason,
    stop_in_any_spelling_revokes_consent_and_cancels_promotions,
    start_resubscribes_and_help_is_answered_when_self_managed,
    aws_managed_keywords_are_only_recorded,
    every_refusal_writes_nothing,
    certificates_over_http_are_refused_unless_allowed,
    texts_without_a_final_receipt_become_unknown_after_72_hours,
    the_console_provider_reports_each_text_delivered,
);

pub const EVENTS: &str = "arn:aws:sns:us-east-1:123456789012:sms-events";
pub const INBOUND: &str = "arn:aws:sns:us-east-1:123456789012:sms-inbound";

/// A self-signed RSA certificate served on loopback, as SNS serves its signing certificate, and a
/// subscription confirmation endpoint that counts its calls.
#[derive(Clone)]
pub struct Signer {
    key: Arc<RsaPrivateKey>,
    pub base: String,
    pub confirmations: Arc<AtomicUsize>,
    /// Requests for any certificate (the real one, and any other path, which is not found).
    pub certificate_fetches: Arc<AtomicUsize>,
}

impl Signer {
    pub async fn start() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("an RSA key");
        let cert = rcgen::CertificateParams::new(vec!["sns.test".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("a certificate");
        let pem = cert.pem();
        let confirmations = Arc::new(AtomicUsize::new(0));
        let counter = confirmations.clone();
        let certificate_fetches = Arc::new(AtomicUsize::new(0));
        let (served, missing) = (certificate_fetches.clone(), certificate_fetches.clone());
        let app = Router::new()
            .route(
                "/SimpleNotificationService-test.pem",
                get(move || async move {
                    served.fetch_add(1, Ordering::SeqCst);
                    pem
                }),
            )
            .fallback(move || async move {
                missing.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::NOT_FOUND
            })
            .route(
                "/confirm",
                get(move || async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    "<ConfirmSubscriptionResponse/>"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let key = RsaPrivateKey::from_pkcs8_der(&key.serialize_der()).expect("the key as PKCS #8");
        Self {
            key: Arc::new(key),
            base: format!("http://{addr}"),
            confirmations,
            certificate_fetches,
        }
    }

    pub fn cert_url(&self) -> String {
        format!("{}/SimpleNotificationService-test.pem", self.base)
    }

    /// The settings that trust this signer.
    pub fn trust(&self, config: &mut sms_notify::Config) {
        config.sns = SnsConfig {
            events_topic_arn: Some(EVENTS.into()),
            inbound_topic_arn: Some(INBOUND.into()),
            cert_hosts: vec!["127.0.0.1".into()],
            cert_allow_http: true,
        };
    }

    /// Signs an envelope in place (SignatureVersion 1: SHA1, 2: SHA256).
    pub fn sign(&self, envelope: &mut Value) {
        let field = |name: &str| envelope[name].as_str().map(str::to_owned);
        let names: &[&str] = if envelope["Type"] == "Notification" {
            &[
                "Message",
                "MessageId",
                "Subject",
                "Timestamp",
                "TopicArn",
                "Type",
            ]
        } else {
            &[
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        };
        let canonical: String = names
            .iter()
            .filter_map(|name| field(name).map(|value| format!("{name}\n{value}\n")))
            .collect();
        let key = (*self.key).clone();
        let signature = match envelope["SignatureVersion"].as_str() {
            Some("1") => SigningKey::<sha1::Sha1>::new(key)
                .sign(canonical.as_bytes())
                .to_vec(),
            _ => SigningKey::<rsa::sha2::Sha256>::new(key)
                .sign(canonical.as_bytes())
                .to_vec(),
        };
        envelope["Signature"] = base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into();
    }

    /// A signed notification on `topic` carrying `message`, sent at `at`.
    pub fn notification(&self, topic: &str, message: &Value, at: DateTime<Utc>) -> Value {
        let mut envelope = json!({
            "Type": "Notification",
            "MessageId": uuid::Uuid::new_v4().to_string(),
            "TopicArn": topic,
            "Message": message.to_string(),
            "Timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "SignatureVersion": "2",
            "SigningCertURL": self.cert_url(),
            "UnsubscribeURL": format!("{}/unsubscribe", self.base),
        });
        self.sign(&mut envelope);
        envelope
    }
}

pub async fn post(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/webhooks/sns"))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn delivery(
    message_id: &str,
    event_type: &str,
    is_final: bool,
    price: Option<f64>,
    at: DateTime<Utc>,
) -> Value {
    let mut event = json!({
        "eventType": event_type, "eventVersion": "1.0", "eventTimestamp": at.timestamp_millis(),
        "isFinal": is_final, "originationPhoneNumber": "+18005550100", "destinationPhoneNumber": "+12125550001",
        "isoCountryCode": "US", "messageId": message_id, "messageRequestTimestamp": at.timestamp_millis(),
        "messageEncoding": "GSM", "messageType": "TRANSACTIONAL", "messageStatus": event_type.trim_start_matches("TEXT_"),
        "messageStatusDescription": format!("{event_type} reported by the carrier"),
        "totalMessageParts": 1, "carrierName": "T-Mobile", "context": {}
    });
    if let Some(price) = price {
        event["totalMessagePrice"] = json!(price);
        event["totalCarrierFee"] = json!(0.0025);
    }
    event
}

pub fn reply(from: &str, body: &str) -> Value {
    json!({
        "originationNumber": from, "destinationNumber": "+18005550100", "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body, "inboundMessageId": uuid::Uuid::new_v4().to_string(), "previousPublishedMessageId": null
    })
}

async fn counts(app: &TestApp) -> [u64; 4] {
    [
        sms_events::Entity::find().count(&app.db).await.expect("q"),
        sms_replies::Entity::find().count(&app.db).await.expect("q"),
        opt_outs::Entity::find().count(&app.db).await.expect("q"),
        app.db_count("sns_deliveries").await,
    ]
}

/// A promotion to `user`, sent through the stub; returns its log id and the provider's id.
pub async fn sent_promo(app: &TestApp, user: &str) -> (i64, String) {
    let sent = app
        .as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }",
            json!({ "i": { "userId": user, "body": "Round two starts now" } }),
        )
        .await;
    let id: i64 = data(&sent)["sendSms"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric");
    app.run_outbox().await;
    let row = row(app, id).await;
    assert_eq!(row.status, sms_log::SmsStatus::Sent);
    (id, row.provider_message_id.expect("a provider id"))
}

pub async fn setup_signed(
    engine: crate::helpers::Engine,
    tweak: impl FnOnce(&mut sms_notify::Config),
) -> (TestApp, AwsStub, Signer) {
    let signer = Signer::start().await;
    let trust = signer.clone();
    let (app, stub) = setup(engine, move |c| {
        trust.trust(c);
        tweak(c);
    })
    .await;
    (app, stub, signer)
}

const LOG: &str = "query($id: ID!) { smsLog(id: $id) { status cost carrierFee estimatedCost costIsActual errorCode deliveredAt
    events { eventType isFinal messageStatus description price carrierFee carrierName occurredAt } } }";

async fn log(app: &TestApp, id: i64) -> Value {
    data(&app.as_service(LOG, json!({ "id": id.to_string() })).await)["smsLog"].clone()
}

async fn a_subscription_is_confirmed_on_an_sns_host_only(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    let confirmation = |url: String| {
        let mut e = json!({
            "Type": "SubscriptionConfirmation", "MessageId": uuid::Uuid::new_v4().to_string(), "Token": "2336412f37",
            "TopicArn": EVENTS, "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
            "SubscribeURL": url, "Timestamp": app.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "SignatureVersion": "1", "SigningCertURL": signer.cert_url(),
        });
        signer.sign(&mut e);
        e.to_string()
    };
    let (status, body) = post(&app, confirmation(format!("{}/confirm", signer.base))).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("subscription confirmed")),
        "{body}"
    );
    assert_eq!(signer.confirmations.load(Ordering::SeqCst), 1);
    // A SubscribeURL elsewhere is never fetched, even signed.
    let (status, _) = post(&app, confirmation("http://198.51.100.7/confirm".into())).await;
    assert_eq!(status, 403);
    assert_eq!(signer.confirmations.load(Ordering::SeqCst), 1);
}

async fn delivery_events_settle_messages_and_correct_costs(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let (id, provider_id) = sent_promo(&app, "u1").await;
    let now = app.clock.now();
    let costs = || async {
        data(&app.as_graphql_admin("query($f: DateTime!, $t: DateTime!) { smsCosts(from: $f, to: $t) { totalCost estimatedCost monthToDate } }",
            json!({ "f": "2026-03-01T00:00:00Z", "t": "2026-04-01T00:00:00Z" })).await)["smsCosts"].clone()
    };
    let before = costs().await;
    // Queued, then delivered with AWS's price: the cost becomes what AWS charged.
    let queued = signer.notification(
        EVENTS,
        &delivery(&provider_id, "TEXT_QUEUED", false, None, now),
        now,
    );
    assert_eq!(post(&app, queued.to_string()).await.0, 200);
    let delivered = signer.notification(
        EVENTS,
        &delivery(
            &provider_id,
            "TEXT_DELIVERED",
            true,
            Some(0.00581),
            now + Duration::seconds(3),
        ),
        now,
    );
    let (status, body) = post(&app, delivered.to_string()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("delivery event recorded"))
    );
    let settled = log(&app, id).await;
    assert_eq!(
        (
            settled["status"].as_str(),
            settled["cost"].as_str(),
            settled["carrierFee"].as_str(),
            settled["estimatedCost"].as_str(),
            settled["costIsActual"].as_bool()
        ),
        (
            Some("DELIVERED"),
            Some("0.00831"),
            Some("0.0025"),
            Some("0.0075"),
            Some(true)
        ),
        "the whole price is the message price plus the carrier fee: {settled}"
    );
    assert_eq!(settled["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        (
            &settled["events"][1]["price"],
            &settled["events"][1]["carrierFee"]
        ),
        (&json!("0.00581"), &json!("0.0025"))
    );
    assert_eq!(settled["events"][0]["carrierFee"], Value::Null);
    assert_eq!(
        settled["deliveredAt"],
        (now + Duration::seconds(3)).to_rfc3339()
    );
    // smsCosts: the month and the report moved by the difference, and nothing is an estimate now.
    let after = costs().await;
    assert_eq!(
        (
            before["totalCost"].as_str(),
            before["estimatedCost"].as_str()
        ),
        (Some("0.0075"), Some("0.0075"))
    );
    assert_eq!(
        (
            after["totalCost"].as_str(),
            after["estimatedCost"].as_str(),
            after["monthToDate"].as_str()
        ),
        (Some("0.00831"), Some("0"), Some("0.00831")),
        "{after}"
    );
    // SNS delivers at least once: the same message again changes nothing.
    let (status, body) = post(&app, delivered.to_string()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("already handled"))
    );
    assert_eq!(
        log(&app, id).await["events"].as_array().map(Vec::len),
        Some(2)
    );
    // A late intermediate event is kept in the history but never moves a final state back.
    let late = signer.notification(
        EVENTS,
        &delivery(
            &provider_id,
            "TEXT_PENDING",
            false,
            None,
            now + Duration::seconds(1),
        ),
        now,
    );
    assert_eq!(post(&app, late.to_string()).await.0, 200);
    let after_late = log(&app, id).await;
    assert_eq!(
        (
            after_late["status"].as_str(),
            after_late["events"].as_array().map(Vec::len)
        ),
        (Some("DELIVERED"), Some(3))
    );
    // A second price (another final event) does not change the cost again.
    let again = signer.notification(
        EVENTS,
        &delivery(&provider_id, "TEXT_DELIVERED", true, Some(0.02), now),
        now,
    );
    assert_eq!(post(&app, again.to_string()).await.0, 200);
    assert_eq!(log(&app, id).await["cost"], "0.00831");
    assert_eq!(costs().await["totalCost"], "0.00831");
}

async fn a_final_failure_is_undelivered_with_the_carriers_reason(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let (id, provider_id) = sent_promo(&app, "u1").await;
    let now = app.clock.now();
    let failed = signer.notification(
        EVENTS,
        &delivery(
            &provider_id,
            "TEXT_CARRIER_UNREACHABLE",
            true,
            Some(0.00581),
            now,
        ),
        now,
    );
    assert_eq!(post(&app, failed.to_string()).await.0, 200);
    let settled = log(&app, id).await;
    assert_eq!(
        (settled["status"].as_str(), settled["errorCode"].as_str()),
        (Some("UNDELIVERED"), Some("TEXT_CARRIER_UNREACHABLE")),
        "{settled}"
    );
    // An event for a message the service never sent is kept, unmatched.
    let stranger = signer.notification(
        EVENTS,
        &delivery("not-ours", "TEXT_DELIVERED", true, None, now),
        now,
    );
    assert_eq!(post(&app, stranger.to_string()).await.0, 200);
    assert_eq!(counts(&app).await[0], 2);
}

async fn stop_in_any_spelling_revokes_consent_and_cancels_promotions(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |c| c.costs.user_daily_limit = 100).await;
    let now = app.clock.now();
    for (n, word) in [
        "STOP",
        "stop",
        " Stop! ",
        "UNSUBSCRIBE",
        "cancel",
        "End.",
        "QUIT",
        "revoke",
        "optout",
        "Opt out",
        "STOPALL",
    ]
    .iter()
    .enumerate()
    {
        let user = format!("u{n}");
        let number = format!("+1212555{:04}", 100 + n);
        opted_in_user(&app, &user, &number).await;
        // A promotion waiting for its turn (no worker runs here).
        let pending = app
            .as_service(
                "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }",
                json!({ "i": { "userId": user, "body": "Tonight's battle" } }),
            )
            .await;
        let pending_id: i64 = data(&pending)["sendSms"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("n");
        let (status, _) = post(
            &app,
            signer
                .notification(INBOUND, &reply(&number, word), now)
                .to_string(),
        )
        .await;
        assert_eq!(status, 200, "{word}");
        // The number is on the list, the user's consent is revoked by keyword, the promotion cancelled.
        let me = data(
            &app.as_user(
                &user,
                "{ me { allowSmsInvitations preferences { hasConsent } } }",
                json!({}),
            )
            .await,
        )["me"]
            .clone();
        assert_eq!(me["preferences"]["hasConsent"], false, "{word}: {me}");
        let cancelled = row(&app, pending_id).await;
        assert_eq!(
            (
                cancelled.status,
                cancelled.blocked_reason.map(|r| r.as_str()),
                cancelled.cost_micros
            ),
            (sms_log::SmsStatus::Blocked, Some("opted_out"), None),
            "{word}"
        );
        let event = entity::consent_events::Entity::find()
            .all(&app.db)
            .await
            .expect("q")
            .into_iter()
            .rfind(|e| e.user_id == user)
            .expect("a consent event");
        assert_eq!(
            (event.action, event.method, event.occurred_at),
            (
                entity::consent_events::ConsentAction::Revoked,
                entity::sms_preferences::ConsentMethod::SmsKeyword,
                now
            ),
            "{word}"
        );
        // A new promotion is blocked.
        let next = app
            .as_service(
                "mutation($i: SendSmsInput!) { sendSms(input: $i) { status blockedReason } }",
                json!({ "i": { "userId": user, "body": "Again?" } }),
            )
            .await;
        assert_eq!(
            data(&next)["sendSms"]["blockedReason"],
            "OPTED_OUT",
            "{word}"
        );
    }
    // The budget got the cancelled promotions back.
    let month = entity::spend_months::Entity::find_by_id("2026-03")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(month.reserved_micros, 0);
    // "Stop sending so many" is not a keyword: stored, nothing else.
    opted_in_user(&app, "chatty", "(212) 555-0300").await;
    assert_eq!(
        post(
            &app,
            signer
                .notification(INBOUND, &reply("+12125550300", "Stop sending so many"), now)
                .to_string()
        )
        .await
        .0,
        200
    );
    let me = data(
        &app.as_user("chatty", "{ me { preferences { hasConsent } } }", json!({}))
            .await,
    )["me"]
        .clone();
    assert_eq!(me["preferences"]["hasConsent"], true);
    let replies = data(&app.as_graphql_admin("{ smsReplies(fromPhone: \"(212) 555-0300\") { edges { node { fromPhone body keyword } } } }", json!({})).await)["smsReplies"].clone();
    assert_eq!(
        replies["edges"][0]["node"],
        json!({ "fromPhone": "+12125550300", "body": "Stop sending so many", "keyword": "NONE" })
    );
    assert_eq!(
        error_code(
            &app.as_user(
                "chatty",
                "{ smsReplies { edges { node { body } } } }",
                json!({})
            )
            .await
        ),
        "FORBIDDEN"
    );
}

async fn start_resubscribes_and_help_is_answered_when_self_managed(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |c| c.sms.self_managed_opt_outs = true).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let now = app.clock.now();
    let number = "+12125550001";
    assert_eq!(
        post(
            &app,
            signer
                .notification(INBOUND, &reply(number, "STOP"), now)
                .to_string()
        )
        .await
        .0,
        200
    );
    // One confirmation goes to the number that just opted out, transactional.
    let answers = || async {
        sms_log::Entity::find()
            .all(&app.db)
            .await
            .expect("q")
            .into_iter()
            .filter(|r| r.to_phone == number && !r.promotional)
            .collect::<Vec<_>>()
    };
    let first = answers().await;
    assert_eq!(first.len(), 1);
    assert!(
        first[0].body.contains("unsubscribed") && first[0].status == sms_log::SmsStatus::Pending,
        "{:?}",
        first[0]
    );
    // START: off the list, consent again (the master switch is on), promotions go again.
    assert_eq!(
        post(
            &app,
            signer
                .notification(INBOUND, &reply(number, "Start"), now)
                .to_string()
        )
        .await
        .0,
        200
    );
    assert_eq!(
        opt_outs::Entity::find_by_id(number.to_owned())
            .one(&app.db)
            .await
            .expect("q"),
        None
    );
    let me = data(
        &app.as_user(
            "u1",
            "{ me { preferences { hasConsent consentMethod } } }",
            json!({}),
        )
        .await,
    )["me"]
        .clone();
    assert_eq!(
        me["preferences"],
        json!({ "hasConsent": true, "consentMethod": "SMS_KEYWORD" })
    );
    let promo = app
        .as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { status } }",
            json!({ "i": { "userId": "u1", "body": "Welcome back" } }),
        )
        .await;
    assert_eq!(data(&promo)["sendSms"]["status"], "PENDING");
    // HELP: the help text, with the contact and the required words.
    assert_eq!(
        post(
            &app,
            signer
                .notification(INBOUND, &reply(number, "help"), now)
                .to_string()
        )
        .await
        .0,
        200
    );
    let all = answers().await;
    assert_eq!(all.len(), 3, "{all:?}");
    let help = &all[2].body;
    assert!(
        help.contains("AllThrive")
            && help.contains("Msg & data rates may apply. Reply STOP to cancel.")
            && help.contains("/help"),
        "{help}"
    );
}

async fn aws_managed_keywords_are_only_recorded(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let now = app.clock.now();
    for word in ["STOP", "HELP", "START"] {
        assert_eq!(
            post(
                &app,
                signer
                    .notification(INBOUND, &reply("+12125550001", word), now)
                    .to_string()
            )
            .await
            .0,
            200
        );
    }
    let texts = sms_log::Entity::find().all(&app.db).await.expect("q");
    assert!(
        texts
            .iter()
            .all(|r| r.message_type == sms_log::MessageType::PhoneVerification),
        "no answers: {texts:?}"
    );
    assert_eq!(counts(&app).await[1], 3);
}

async fn every_refusal_writes_nothing(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let now = app.clock.now();
    let stop = || signer.notification(INBOUND, &reply("+12125550001", "STOP"), now);
    let before = counts(&app).await;
    let mut cases: Vec<(&str, String, u16)> = Vec::new();
    let mut wrong = stop();
    wrong["Signature"] = base64::engine::general_purpose::STANDARD
        .encode([7u8; 256])
        .into();
    cases.push(("wrong signature", wrong.to_string(), 403));
    let mut tampered = stop();
    tampered["Message"] = reply("+12125559999", "STOP").to_string().into();
    cases.push(("tampered Message", tampered.to_string(), 403));
    let mut elsewhere = stop();
    elsewhere["SigningCertURL"] =
        "https://sns.us-east-1.amazonaws.com.attacker.example/cert.pem".into();
    cases.push(("certificate on another host", elsewhere.to_string(), 403));
    let mut unknown = signer.notification(
        "arn:aws:sns:us-east-1:123456789012:someone-else",
        &reply("+12125550001", "STOP"),
        now,
    );
    signer.sign(&mut unknown);
    cases.push(("unknown topic", unknown.to_string(), 403));
    let stale = signer.notification(
        INBOUND,
        &reply("+12125550001", "STOP"),
        now - Duration::minutes(61),
    );
    cases.push(("stale timestamp", stale.to_string(), 403));
    cases.push(("not JSON", "Type=Notification&Message=STOP".into(), 400));
    cases.push((
        "JSON, not an envelope",
        json!({ "hello": "world" }).to_string(),
        400,
    ));
    let mut huge = stop();
    huge["Message"] = "x".repeat(sms_notify::http::MAX_BODY_BYTES + 1024).into();
    cases.push(("body over the limit", huge.to_string(), 413));
    for (what, body, expected) in cases {
        assert_eq!(post(&app, body).await.0, expected, "{what}");
    }
    assert_eq!(counts(&app).await, before, "nothing written");
    let me = data(
        &app.as_user("u1", "{ me { preferences { hasConsent } } }", json!({}))
            .await,
    )["me"]
        .clone();
    assert_eq!(me["preferences"]["hasConsent"], true);
}

async fn certificates_over_http_are_refused_unless_allowed(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |c| c.sns.cert_allow_http = false).await;
    let now = app.clock.now();
    let (status, body) = post(
        &app,
        signer
            .notification(INBOUND, &reply("+12125550001", "STOP"), now)
            .to_string(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(counts(&app).await, [0, 0, 0, 0]);
}

async fn texts_without_a_final_receipt_become_unknown_after_72_hours(engine: Engine) {
    let (app, _stub, _signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let (old, _) = sent_promo(&app, "u1").await;
    app.clock.advance(Duration::hours(71));
    let (fresh, _) = sent_promo(&app, "u1").await;
    app.clock.advance(Duration::hours(2));
    assert_eq!(
        app.handles.inbound.reconcile().await.expect("reconciled"),
        1
    );
    assert_eq!(row(&app, old).await.status, sms_log::SmsStatus::Unknown);
    assert_eq!(row(&app, fresh).await.status, sms_log::SmsStatus::Sent);
    let listed = data(
        &app.as_service(
            "{ smsLogs(filter: { status: UNKNOWN }) { edges { node { id } } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]
        .clone();
    assert_eq!(listed["edges"].as_array().map(Vec::len), Some(1));
}

async fn the_console_provider_reports_each_text_delivered(engine: Engine) {
    let app = TestApp::spawn_custom(
        engine,
        |c| c.sms.workers = 0,
        |_| {
            Some(Arc::new(sms_notify::outbox::provider::ConsoleProvider)
                as Arc<dyn sms_notify::outbox::provider::SmsProvider>)
        },
    )
    .await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    let sent = app
        .as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
            json!({ "i": { "userId": "u1", "body": "Hello" } }),
        )
        .await;
    let id: i64 = data(&sent)["sendSms"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("n");
    app.run_outbox().await;
    let settled = log(&app, id).await;
    assert_eq!(
        (
            settled["status"].as_str(),
            settled["events"][0]["eventType"].as_str()
        ),
        (Some("DELIVERED"), Some("TEXT_DELIVERED")),
        "{settled}"
    );
    assert_eq!(
        (settled["cost"].as_str(), settled["costIsActual"].as_bool()),
        (Some("0.0075"), Some(false))
    );
}

#[test]
fn simulate_reply_acts_as_a_text_from_the_number() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sms-notify"))
            .args(args)
            .env("DATABASE_URL", &db)
            .env("SMS_PROVIDER", "console")
            .env_remove("RUST_LOG")
            .output()
            .expect("run sms-notify");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(&["simulate-reply", "--from", "(212) 555-0100", "Stop!"]);
    assert!(ok, "{err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(answer["keyword"], "STOP");
    let (ok, out, err) = run(&["simulate-reply", "--from", "(212) 555-0100", "HELP"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).expect("JSON")["keyword"],
        "HELP"
    );
    // The number is on the opt-out list of that database.
    let listed = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let conn = sea_orm::Database::connect(db.as_str()).await.expect("open");
            opt_outs::Entity::find_by_id("+12125550100".to_owned())
                .one(&conn)
                .await
                .expect("q")
        });
    assert_eq!(
        listed.map(|o| o.source),
        Some(sms_notify::store::opt_outs::OptOutSource::Keyword)
    );
    // Not a number: a sentence, and a failure.
    let (ok, _, err) = run(&["simulate-reply", "--from", "call me", "STOP"]);
    assert!(!ok && err.contains("--from"), "{err}");
}
