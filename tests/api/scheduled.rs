//! Scheduled sends: `sendAt` holds a message until then, decides quiet hours and its validity for that
//! moment, and can be cancelled meanwhile.

use chrono::Duration;
use entity::sms_log::SmsStatus;
use serde_json::{Value, json};

use crate::{
    helpers::{Engine, data, error_code, error_message, opted_in_user, start_time},
    pipeline::{row, setup},
    storage_tests,
};

storage_tests!(
    a_scheduled_text_waits_until_its_time,
    quiet_hours_are_decided_for_the_scheduled_moment,
    bad_schedules_are_refused,
);

const SEND: &str =
    "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status nextAttemptAt expiresAt } }";
const STREAK: &str = "mutation($i: StreakAlertInput!) { sendStreakAlert(input: $i) { id status nextAttemptAt expiresAt } }";
const PROMO: &str =
    "mutation($i: SendSmsInput!) { sendSms(input: $i) { status nextAttemptAt quietHoursZone } }";

fn at(hours: i64) -> String {
    (start_time() + Duration::hours(hours)).to_rfc3339()
}

fn id(log: &Value) -> i64 {
    log["id"].as_str().expect("id").parse().expect("numeric")
}

async fn a_scheduled_text_waits_until_its_time(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let log = data(
        &app.as_service(
            SEND,
            json!({ "i": { "userId": "u1", "body": "Round two starts", "sendAt": at(2), "validForSeconds": 600 } }),
        )
        .await,
    )["sendSms"]
        .clone();
    assert_eq!(log["status"], "PENDING");
    assert_eq!(log["nextAttemptAt"], at(2));
    assert_eq!(
        log["expiresAt"],
        (start_time() + Duration::hours(2) + Duration::seconds(600)).to_rfc3339(),
        "its validity counts from when it goes"
    );
    assert_eq!(app.run_outbox().await.claimed, 0, "not yet");
    app.clock.advance(Duration::hours(2));
    assert_eq!(app.run_outbox().await.sent, 1);
    assert_eq!(stub.seen().len(), 1);

    // Another, cancelled before its time: never sent.
    let later = data(
        &app.as_service(
            SEND,
            json!({ "i": { "userId": "u1", "body": "Later", "sendAt": at(30) } }),
        )
        .await,
    )["sendSms"]
        .clone();
    data(
        &app.as_graphql_admin(
            "mutation($id: ID!) { cancelSms(id: $id) { status } }",
            json!({ "id": later["id"] }),
        )
        .await,
    );
    app.clock.advance(Duration::hours(30));
    assert_eq!(app.run_outbox().await.claimed, 0);
    assert_eq!(row(&app, id(&later)).await.status, SmsStatus::Cancelled);
}

async fn quiet_hours_are_decided_for_the_scheduled_moment(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    // Asked at 10:00 in New York for 23:00 there: held until 08:00 the next morning.
    let held = data(
        &app.as_service(
            PROMO,
            json!({ "i": { "userId": "u1", "body": "Round two", "sendAt": at(13) } }),
        )
        .await,
    )["sendSms"]
        .clone();
    assert_eq!(held["status"], "PENDING");
    assert_eq!(held["nextAttemptAt"], at(22), "08:00 in New York");
    assert_eq!(held["quietHoursZone"], "America/New_York");
    // A streak alert for 23:00 is worth sending only until midnight there: it comes due then, and
    // expires rather than go in the morning when the streak is already lost.
    let streak = data(
        &app.as_service(
            STREAK,
            json!({ "i": { "userId": "u1", "streakCount": 5, "actionLink": "/s", "sendAt": at(13) } }),
        )
        .await,
    )["sendStreakAlert"]
        .clone();
    assert_eq!(
        (&streak["nextAttemptAt"], &streak["expiresAt"]),
        (&json!(at(14)), &json!(at(14)))
    );
    // Asked for 11:00 there: goes then.
    let daytime = data(
        &app.as_service(
            SEND,
            json!({ "i": { "userId": "u1", "body": "Hi", "sendAt": at(1) } }),
        )
        .await,
    )["sendSms"]
        .clone();
    assert_eq!(daytime["nextAttemptAt"], at(1));
}

async fn bad_schedules_are_refused(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    for (send_at, words) in [
        (at(-1), "not in the future"),
        (at(0), "not in the future"),
        (at(36 * 24), "more than 35 days"),
    ] {
        let response = app
            .as_service(
                SEND,
                json!({ "i": { "userId": "u1", "body": "Hi", "sendAt": send_at } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        assert!(error_message(&response).contains(words), "{response}");
    }
    assert_eq!(app.db_count("sms_log").await, 0, "nothing written");
}
