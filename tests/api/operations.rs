//! What operators read: the outbox now, and the reminder scans' runs.

use serde_json::json;
use sms_notify::auth::Role;

use crate::{
    aws_stub::Answer,
    helpers::{Engine, data, error_code, opted_in_user},
    pipeline::{setup, streak_alert},
    storage_tests,
};

storage_tests!(
    the_queue_counts_what_waits_retries_and_failed,
    reminder_runs_are_kept,
);

const QUEUE: &str = "{ smsQueue { pending sending retrying due failedToday oldestDueWaitSeconds rateLimitPerSecond } }";

async fn the_queue_counts_what_waits_retries_and_failed(engine: Engine) {
    let (app, stub) = setup(engine, |c| c.sms.max_attempts = 2).await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    app.run_outbox().await; // the verification code
    for _ in 0..3 {
        streak_alert(&app, "u1").await;
    }
    let admin = |q: &'static str| app.graphql_as("ops", Role::Admin, q, json!({}));
    let queue = data(&admin(QUEUE).await)["smsQueue"].clone();
    assert_eq!(
        queue,
        json!({ "pending": 3, "sending": 0, "retrying": 0, "due": 3, "failedToday": 0, "oldestDueWaitSeconds": 0.0, "rateLimitPerSecond": 0.0 })
    );
    app.clock.advance(chrono::Duration::seconds(90));
    assert_eq!(
        data(&admin(QUEUE).await)["smsQueue"]["oldestDueWaitSeconds"],
        90.0
    );
    // One fails for good at once, one fails once and waits for its retry, one is sent.
    stub.script([Answer::validation(), Answer::internal()]);
    app.run_outbox().await;
    let after = data(&admin(QUEUE).await)["smsQueue"].clone();
    assert_eq!(
        (
            after["pending"].as_i64(),
            after["retrying"].as_i64(),
            after["due"].as_i64(),
            after["failedToday"].as_i64()
        ),
        (Some(1), Some(1), Some(0), Some(1)),
        "{after}"
    );
    assert_eq!(
        error_code(&app.as_service(QUEUE, json!({})).await),
        "FORBIDDEN"
    );
}

async fn reminder_runs_are_kept(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    for kind in ["BATTLES", "STREAKS", "BATTLES"] {
        data(
            &app.graphql_as(
                "ops",
                Role::Admin,
                &format!("mutation {{ runReminderScan(kind: {kind}) {{ found }} }}"),
                json!({}),
            )
            .await,
        );
    }
    let runs = data(&app.graphql_as("ops", Role::Admin, "{ reminderRuns(first: 10) { edges { node { kind found enqueued skipped durationMs } } } }", json!({})).await)["reminderRuns"].clone();
    let kinds: Vec<&str> = runs["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["BATTLES", "STREAKS", "BATTLES"]);
    let battles = data(
        &app.graphql_as(
            "ops",
            Role::Admin,
            "{ reminderRuns(kind: BATTLES) { edges { node { kind } } } }",
            json!({}),
        )
        .await,
    )["reminderRuns"]
        .clone();
    assert_eq!(battles["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        error_code(
            &app.as_user(
                "u1",
                "{ reminderRuns { edges { node { kind } } } }",
                json!({})
            )
            .await
        ),
        "FORBIDDEN"
    );
}
