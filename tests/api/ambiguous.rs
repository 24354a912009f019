//! Ambiguous outcomes: a send that timed out may have gone out. A promotion is then not tried again
//! (`UNKNOWN` until a receipt settles it); a code is, and a receipt of either copy finds its message by
//! the service's own id in AWS's context, so a second copy's price is counted.

use std::time::Duration as StdDuration;

use chrono::Duration;
use entity::sms_log::SmsStatus;
use serde_json::{Value, json};

use crate::{
    aws_stub::Answer,
    helpers::{Engine, TestApp, data, opted_in_user, start_time},
    pipeline::{row, streak_alert},
    sns::{EVENTS, Signer, delivery, post, setup_signed},
    storage_tests,
};

storage_tests!(
    an_unclear_promotion_is_not_sent_twice,
    an_unclear_code_is_sent_again_and_each_copy_is_paid_for,
);

async fn setup(engine: Engine) -> (TestApp, crate::aws_stub::AwsStub, Signer) {
    setup_signed(engine, |c| {
        c.sms.send_timeout = StdDuration::from_millis(300);
    })
    .await
}

/// A receipt of the text AWS knows as `message_id`, sent by the service as message `log_id`.
fn receipt(message_id: &str, log_id: i64, event_type: &str, price: Option<f64>) -> Value {
    let mut event = delivery(
        message_id,
        event_type,
        event_type != "TEXT_SUCCESSFUL",
        price,
        start_time() + Duration::seconds(5),
    );
    event["context"] = json!({ "sms_log_id": log_id.to_string(), "message_type": "x" });
    event
}

async fn deliver(app: &TestApp, signer: &Signer, event: &Value) {
    let notification = signer.notification(EVENTS, event, start_time());
    let (status, body) = post(app, notification.to_string()).await;
    assert_eq!(status, 200, "{body}");
}

async fn month_spend(app: &TestApp) -> i64 {
    sms_notify::billing::reserved(&app.db, &sms_notify::billing::month_of(start_time()))
        .await
        .expect("spend")
}

async fn an_unclear_promotion_is_not_sent_twice(engine: Engine) {
    let (app, stub, signer) = setup(engine).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let id = streak_alert(&app, "u1").await;
    stub.script([Answer::Hang]);
    let report = app.run_outbox().await;
    assert_eq!((report.claimed, report.unknown, report.retrying), (1, 1, 0));
    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Unknown, 1));
    assert_eq!(r.error_code.as_deref(), Some("Timeout"));
    assert_eq!(r.next_attempt_at, None);
    assert!(
        r.cost_micros.is_some_and(|c| c > 0),
        "AWS may have charged it"
    );
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.run_outbox().await.claimed, 0, "never tried again");
    assert_eq!(stub.seen().len(), 1);

    // It did go out: the receipt finds it by the service's id and settles it with AWS's price.
    deliver(
        &app,
        &signer,
        &receipt("aws-first", id, "TEXT_DELIVERED", Some(0.00581)),
    )
    .await;
    let r = row(&app, id).await;
    assert_eq!(r.status, SmsStatus::Delivered);
    assert_eq!(r.provider_message_id.as_deref(), Some("aws-first"));
    assert_eq!(r.cost_micros, Some(8_310), "price and carrier fee");
    assert_eq!(r.duplicate_cost_micros, None);
    assert_eq!(month_spend(&app).await, 8_310);
}

async fn an_unclear_code_is_sent_again_and_each_copy_is_paid_for(engine: Engine) {
    let (app, stub, signer) = setup(engine).await;
    crate::helpers::set_phone(&app, "u1", "+1 212 555 0101").await;
    data(
        &app.as_user(
            "u1",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
    stub.script([Answer::Hang]);
    let report = app.run_outbox().await;
    assert_eq!(
        (report.unknown, report.retrying),
        (0, 1),
        "a code is retried"
    );
    let id = stub.seen()[0].body["Context"]["sms_log_id"]
        .as_str()
        .expect("context id")
        .parse::<i64>()
        .expect("numeric");
    app.clock.advance(Duration::seconds(3));
    assert_eq!(app.run_outbox().await.sent, 1);
    let seen = stub.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body["MessageBody"], seen[1].body["MessageBody"]);
    let second = row(&app, id).await.provider_message_id.expect("an id");

    // Both copies arrived. The first one's receipts (priced twice by AWS, counted once) land on the
    // message without settling it; the second's settle it; the cost is both.
    for event in [
        receipt("aws-first", id, "TEXT_SUCCESSFUL", Some(0.00581)),
        receipt("aws-first", id, "TEXT_DELIVERED", Some(0.00581)),
    ] {
        deliver(&app, &signer, &event).await;
    }
    let r = row(&app, id).await;
    assert_eq!(r.status, SmsStatus::Sent, "a copy does not settle it");
    assert_eq!(r.duplicate_cost_micros, Some(8_310));
    deliver(
        &app,
        &signer,
        &receipt(&second, id, "TEXT_DELIVERED", Some(0.00581)),
    )
    .await;
    let r = row(&app, id).await;
    assert_eq!(r.status, SmsStatus::Delivered);
    assert_eq!(r.cost_micros, Some(16_620), "two texts went out");
    assert_eq!(month_spend(&app).await, 16_620);
    let events = data(
        &app.as_graphql_admin(
            "query($id: ID!) { smsLog(id: $id) { cost events { eventType } } }",
            json!({ "id": id.to_string() }),
        )
        .await,
    )["smsLog"]
        .clone();
    assert_eq!(events["cost"], "0.01662");
    assert_eq!(events["events"].as_array().map(Vec::len), Some(3));
}
