//! Texts that expire: every message knows until when it is worth sending; it is sent with what is
//! left as AWS's `TimeToLive`, and one still queued past its time is never sent (`EXPIRED`, nothing
//! charged, its reserved budget released).

use chrono::{Duration, TimeZone, Utc};
use entity::sms_log::SmsStatus;
use serde_json::{Value, json};
use sms_notify::billing;

use crate::{
    aws_stub::Answer,
    helpers::{Engine, TestApp, data, error_code, error_message, opted_in_user, start_time},
    metrics::{scrape, value},
    pipeline::{row, setup},
    storage_tests,
};

storage_tests!(
    a_text_past_its_time_expires_unsent,
    a_text_is_sent_with_the_time_it_has_left,
    each_kind_of_text_has_its_validity,
    a_retry_never_waits_past_the_texts_time,
    bad_validity_is_refused,
);

const SEND: &str =
    "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status expiresAt cost } }";

async fn send(app: &TestApp, input: Value) -> Value {
    let response = app.as_service(SEND, json!({ "i": input })).await;
    data(&response)["sendSms"].clone()
}

fn id(log: &Value) -> i64 {
    log["id"].as_str().expect("id").parse().expect("numeric")
}

async fn reserved(app: &TestApp) -> i64 {
    billing::reserved(&app.db, &billing::month_of(start_time()))
        .await
        .expect("spend")
}

async fn a_text_past_its_time_expires_unsent(engine: Engine) {
    let (app, stub) = setup(engine, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"))
    })
    .await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let log = send(
        &app,
        json!({ "userId": "u1", "body": "Game night at 8", "validForSeconds": 120 }),
    )
    .await;
    assert_eq!(log["status"], "PENDING");
    assert_eq!(log["expiresAt"], "2026-03-02T15:02:00+00:00");
    assert!(reserved(&app).await > 0, "its cost is reserved");

    // Nobody sent it in time (the workers were down, say).
    app.clock.advance(Duration::minutes(3));
    let report = app.run_outbox().await;
    assert_eq!((report.claimed, report.expired, report.sent), (1, 1, 0));
    assert!(stub.seen().is_empty(), "never sent");
    let r = row(&app, id(&log)).await;
    assert_eq!(r.status, SmsStatus::Expired);
    assert_eq!((r.cost_micros, r.next_attempt_at), (None, None));
    assert_eq!(reserved(&app).await, 0, "the reserved budget is released");
    let read = data(
        &app.as_graphql_admin(
            "query($f: SmsLogFilter) { smsLogs(filter: $f, first: 5) { nodes { status cost } } }",
            json!({ "f": { "status": "EXPIRED" } }),
        )
        .await,
    )["smsLogs"]["nodes"]
        .clone();
    assert_eq!(read, json!([{ "status": "EXPIRED", "cost": null }]));
    let metrics = scrape(&app).await;
    assert_eq!(
        value(
            &metrics,
            "sms_messages_total{status=\"expired\",type=\"other\"}"
        ),
        1.0
    );
    assert_eq!(app.run_outbox().await.claimed, 0, "settled for good");
}

async fn a_text_is_sent_with_the_time_it_has_left(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    send(
        &app,
        json!({ "userId": "u1", "body": "Soon", "validForSeconds": 600 }),
    )
    .await;
    app.clock.advance(Duration::seconds(100));
    assert_eq!(app.run_outbox().await.sent, 1);
    assert_eq!(stub.seen()[0].body["TimeToLive"], 500);

    // Within AWS's shortest time to live (5 seconds) it is too late to send.
    send(
        &app,
        json!({ "userId": "u1", "body": "Late", "validForSeconds": 60 }),
    )
    .await;
    app.clock.advance(Duration::seconds(56));
    assert_eq!(app.run_outbox().await.expired, 1);
    assert_eq!(stub.seen().len(), 1);
}

async fn each_kind_of_text_has_its_validity(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.sms.default_validity = std::time::Duration::from_secs(6 * 3600)
    })
    .await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let t = start_time();
    let expires = |query: &str, input: Value, field: &str| {
        let app = &app;
        let query = query.to_owned();
        let field = field.to_owned();
        async move {
            let response = app.as_service(&query, json!({ "i": input })).await;
            data(&response)[field.as_str()]["expiresAt"].clone()
        }
    };
    let at = |d: chrono::DateTime<Utc>| json!(d.to_rfc3339());
    assert_eq!(
        expires(SEND, json!({ "userId": "u1", "body": "Hi" }), "sendSms").await,
        at(t + Duration::hours(6)),
        "SMS_DEFAULT_VALIDITY"
    );
    assert_eq!(
        expires(
            "mutation($i: SecurityAlertInput!) { sendSecurityAlert(input: $i) { expiresAt } }",
            json!({ "userId": "u1", "what": "A new sign-in", "link": "/security" }),
            "sendSecurityAlert"
        )
        .await,
        at(t + Duration::hours(1))
    );
    // 10:00 in New York: the streak is lost at local midnight, 05:00 UTC.
    assert_eq!(
        expires(
            "mutation($i: StreakAlertInput!) { sendStreakAlert(input: $i) { expiresAt } }",
            json!({ "userId": "u1", "streakCount": 5, "actionLink": "/streak" }),
            "sendStreakAlert"
        )
        .await,
        at(Utc.with_ymd_and_hms(2026, 3, 3, 5, 0, 0).unwrap())
    );
    let deadline = t + Duration::minutes(45);
    assert_eq!(
        expires(
            "mutation($i: BattleReminderInput!) { sendBattleReminder(input: $i) { expiresAt } }",
            json!({ "userId": "u1", "battleTopic": "Chess", "timeRemaining": "45 minutes",
                    "battleLink": "/b/1", "deadlineAt": deadline.to_rfc3339() }),
            "sendBattleReminder"
        )
        .await,
        at(deadline)
    );
    // A code: until it expires, ten minutes.
    crate::helpers::set_phone(&app, "u2", "+1 212 555 0102").await;
    data(
        &app.as_user(
            "u2",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
    let code = data(
        &app.as_graphql_admin(
            "{ smsLogs(filter: { messageType: PHONE_VERIFICATION }, first: 1) { nodes { expiresAt } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]["nodes"][0]["expiresAt"]
        .clone();
    assert_eq!(code, at(t + Duration::minutes(10)));
}

async fn a_retry_never_waits_past_the_texts_time(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let log = send(
        &app,
        json!({ "userId": "u1", "body": "Hi", "validForSeconds": 60 }),
    )
    .await;
    // Four failures: the next backoff (16 s and more) would pass its time.
    stub.script((0..4).map(|_| Answer::internal()));
    for _ in 0..4 {
        assert_eq!(app.run_outbox().await.retrying, 1);
        let r = row(&app, id(&log)).await;
        let due = r.next_attempt_at.expect("due again");
        assert!(due <= r.expires_at.expect("expires"), "{due}");
        app.clock.set(due);
    }
    app.clock.set(start_time() + Duration::seconds(60));
    assert_eq!(app.run_outbox().await.expired, 1);
    assert_eq!(row(&app, id(&log)).await.status, SmsStatus::Expired);
}

async fn bad_validity_is_refused(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    for seconds in [59, 259_201, 0, -5] {
        let response = app
            .as_service(
                SEND,
                json!({ "i": { "userId": "u1", "body": "Hi", "validForSeconds": seconds } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{seconds}");
        assert!(error_message(&response).contains("from 60"), "{response}");
    }
    let past = (start_time() - Duration::minutes(1)).to_rfc3339();
    let response = app
        .as_service(
            "mutation($i: BattleReminderInput!) { sendBattleReminder(input: $i) { id } }",
            json!({ "i": { "userId": "u1", "battleTopic": "Chess", "timeRemaining": "1 minute",
                           "battleLink": "/b/1", "deadlineAt": past } }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert!(error_message(&response).contains("deadlineAt has passed"));
    assert_eq!(app.db_count("sms_log").await, 0, "nothing written");
}
