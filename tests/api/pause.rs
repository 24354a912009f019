//! Paused, not failed: an error about the account (not the message) pauses the whole deployment with
//! every message kept and no attempt spent, until a `DryRun` probe passes or an admin resumes.

use chrono::Duration;
use entity::sms_log::SmsStatus;
use serde_json::{Value, json};
use sms_notify::outbox::worker::BatchReport;

use crate::{
    aws_stub::{Answer, AwsStub},
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    metrics::{scrape, value},
    pipeline::{row, setup, streak_alert},
    storage_tests,
};

storage_tests!(
    an_account_error_pauses_every_message,
    each_account_error_pauses,
    a_probe_resumes_when_the_account_is_back,
    an_admin_resumes_sending,
    the_pause_is_in_the_metrics,
);

const QUEUE: &str = "{ smsQueue { pending retrying paused { code reason since nextProbeAt } } }";

async fn paused(app: &TestApp) -> Value {
    data(&app.as_graphql_admin(QUEUE, json!({})).await)["smsQueue"]["paused"].clone()
}

/// Three users with a streak alert each, queued.
async fn three_queued(app: &TestApp) -> Vec<i64> {
    let mut ids = Vec::new();
    for (user, phone) in [
        ("u1", "+1 212 555 0101"),
        ("u2", "+1 212 555 0102"),
        ("u3", "+1 212 555 0103"),
    ] {
        opted_in_user(app, user, phone).await;
        ids.push(streak_alert(app, user).await);
    }
    ids
}

/// Every message pending, with no attempt spent.
async fn all_waiting(app: &TestApp, ids: &[i64]) {
    for id in ids {
        let r = row(app, *id).await;
        assert_eq!((r.status, r.attempts), (SmsStatus::Pending, 0), "{id}");
    }
}

async fn an_account_error_pauses_every_message(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    let ids = three_queued(&app).await;
    stub.script([Answer::access_denied()]);
    let report = app.run_outbox().await;
    assert_eq!(
        report,
        BatchReport {
            claimed: 3,
            released: 3,
            ..BatchReport::default()
        },
        "the refused one and the rest of the batch go back"
    );
    assert_eq!(stub.seen().len(), 1, "one try, not one per message");
    all_waiting(&app, &ids).await;
    let pause = paused(&app).await;
    assert_eq!(pause["code"], "AccessDeniedException", "{pause}");
    assert!(
        pause["reason"]
            .as_str()
            .is_some_and(|r| r.contains("from the test stub")),
        "{pause}"
    );
    assert_eq!(pause["since"], "2026-03-02T15:00:00+00:00");
    assert_eq!(pause["nextProbeAt"], "2026-03-02T15:05:00+00:00");

    // Later passes send nothing, and nothing is lost.
    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.run_outbox().await, BatchReport::default());
    assert_eq!(stub.seen().len(), 1);
    assert!(stub.dry_runs().is_empty(), "no probe before its time");
    all_waiting(&app, &ids).await;
    let response = app.as_graphql_admin(QUEUE, json!({})).await;
    let queue = &data(&response)["smsQueue"];
    assert_eq!(
        (queue["pending"].as_i64(), queue["retrying"].as_i64()),
        (Some(3), Some(0))
    );
}

async fn each_account_error_pauses(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    let cases = [
        (Answer::not_found(), "ResourceNotFoundException"),
        (
            Answer::not_active(),
            "ConflictException:RESOURCE_NOT_ACTIVE",
        ),
        (
            Answer::spend_limit(),
            "ServiceQuotaExceededException:MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT",
        ),
    ];
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let id = streak_alert(&app, "u1").await;
    for (answer, code) in cases {
        stub.script([answer]);
        let report = app.run_outbox().await;
        assert_eq!((report.claimed, report.released), (1, 1), "{code}");
        assert_eq!(paused(&app).await["code"], code);
        let r = row(&app, id).await;
        assert_eq!((r.status, r.attempts), (SmsStatus::Pending, 0), "{code}");
        resume(&app).await;
    }
    // A message's own error still fails that message alone.
    stub.script([Answer::validation()]);
    assert_eq!(app.run_outbox().await.failed, 1);
    assert_eq!(paused(&app).await, Value::Null);
    assert_eq!(row(&app, id).await.status, SmsStatus::Failed);
}

async fn resume(app: &TestApp) -> Value {
    let response = app
        .as_graphql_admin(
            "mutation { resumeSending { pending paused { code } } }",
            json!({}),
        )
        .await;
    data(&response)["resumeSending"].clone()
}

async fn a_probe_resumes_when_the_account_is_back(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    let ids = three_queued(&app).await;
    stub.script([Answer::not_active()]);
    app.run_outbox().await;

    // The first probe meets the same refusal: still paused, the next probe later.
    app.clock.advance(Duration::minutes(5));
    stub.script([Answer::access_denied()]);
    assert_eq!(app.run_outbox().await, BatchReport::default());
    let probes = stub.dry_runs();
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].body["DryRun"], true);
    assert_eq!(
        probes[0].body["Context"]["sms_log_id"],
        ids[0].to_string(),
        "the refused message is the one tried"
    );
    assert_eq!(stub.seen().len(), 1, "a probe is not a send");
    let pause = paused(&app).await;
    assert_eq!(pause["code"], "AccessDeniedException", "the latest error");
    assert_eq!(pause["since"], "2026-03-02T15:00:00+00:00");
    assert_eq!(pause["nextProbeAt"], "2026-03-02T15:10:00+00:00");
    assert_eq!(app.run_outbox().await, BatchReport::default());
    assert_eq!(stub.dry_runs().len(), 1, "one probe per interval");

    // The next one passes: sending resumes and every message goes, each on its first attempt.
    app.clock.advance(Duration::minutes(5));
    app.run_outbox().await;
    assert_eq!(stub.dry_runs().len(), 2);
    assert_eq!(paused(&app).await, Value::Null);
    assert_eq!(app.run_outbox().await.sent, 3);
    for id in ids {
        let r = row(&app, id).await;
        assert_eq!((r.status, r.attempts), (SmsStatus::Sent, 1), "{id}");
    }
}

async fn an_admin_resumes_sending(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    let ids = three_queued(&app).await;
    stub.script([Answer::spend_limit()]);
    app.run_outbox().await;
    assert!(paused(&app).await.is_object());

    let mutation = "mutation { resumeSending { paused { code } } }";
    for response in [
        app.as_user("u1", mutation, json!({})).await,
        app.as_service(mutation, json!({})).await,
    ] {
        assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    }
    assert!(
        paused(&app).await.is_object(),
        "refused callers change nothing"
    );

    let resumed = resume(&app).await;
    assert_eq!(resumed["paused"], Value::Null);
    assert_eq!(resumed["pending"], 3);
    assert_eq!(app.run_outbox().await.sent, 3);
    assert!(stub.dry_runs().is_empty(), "resumed without a probe");
    all_sent(&app, &ids).await;
    // Resuming when nothing is paused is harmless, and recorded as such: the admin asked.
    assert_eq!(resume(&app).await["paused"], Value::Null);
    let trail = data(
        &app.as_graphql_admin(
            "{ adminActions(first: 10) { nodes { actor action target detail } } }",
            json!({}),
        )
        .await,
    )["adminActions"]["nodes"]
        .clone();
    assert_eq!(
        trail,
        json!([
            { "actor": "ops", "action": "resume_sending", "target": "sending", "detail": "nothing was paused" },
            { "actor": "ops", "action": "resume_sending", "target": "sending", "detail": null },
        ])
    );
}

async fn all_sent(app: &TestApp, ids: &[i64]) {
    for id in ids {
        assert_eq!(row(app, *id).await.status, SmsStatus::Sent, "{id}");
    }
}

async fn the_pause_is_in_the_metrics(engine: Engine) {
    let stub = AwsStub::start().await;
    let (app, stub) = crate::pipeline::setup_on(stub, engine, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"))
    })
    .await;
    assert_eq!(value(&scrape(&app).await, "sms_sending_paused"), 0.0);
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    streak_alert(&app, "u1").await;
    stub.script([Answer::access_denied()]);
    app.run_outbox().await;
    assert_eq!(value(&scrape(&app).await, "sms_sending_paused"), 1.0);
    resume(&app).await;
    assert_eq!(value(&scrape(&app).await, "sms_sending_paused"), 0.0);
}
