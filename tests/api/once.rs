//! Things that must happen once however many ask at the same time: a retry of a message, the row of an
//! idempotency key across instances.

use entity::sms_log::{self, SmsStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    aws_stub::Answer,
    helpers::{Engine, TestApp, error_code, error_message, opted_in_user},
    pipeline::{row, setup, streak_alert},
    storage_tests,
};

storage_tests!(
    a_message_is_sent_again_once_at_a_time,
    every_repeat_of_a_key_gets_its_row_across_instances,
    a_cancel_under_load_is_never_lost,
);

const RETRY: &str = "mutation($id: ID!) { retrySms(id: $id) { id status retryOf } }";

async fn a_message_is_sent_again_once_at_a_time(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let id = streak_alert(&app, "u1").await;
    stub.script([Answer::validation()]);
    app.run_outbox().await;
    assert_eq!(row(&app, id).await.status, SmsStatus::Failed);

    let retries = || async {
        sms_log::Entity::find()
            .filter(sms_log::Column::RetryOf.eq(id))
            .all(&app.db)
            .await
            .expect("retries")
    };
    // Eight admins press "send again" at once: one new message.
    let answers = futures::future::join_all(
        (0..8).map(|_| app.as_graphql_admin(RETRY, json!({ "id": id.to_string() }))),
    )
    .await;
    let made = retries().await;
    assert_eq!(made.len(), 1, "{answers:?}");
    let first = made[0].id.to_string();
    for answer in &answers {
        match answer.get("errors") {
            None => assert_eq!(answer["data"]["retrySms"]["id"], first.as_str(), "{answer}"),
            Some(_) => assert!(
                error_message(answer).contains("already sent again"),
                "{answer}"
            ),
        }
    }
    // While it waits, more retries are refused and say which one waits; the retry itself is PENDING.
    for (target, says) in [
        (
            id.to_string(),
            format!("already sent again as message {first}"),
        ),
        (first.clone(), "is PENDING".to_owned()),
    ] {
        let refused = app.as_graphql_admin(RETRY, json!({ "id": target })).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
        assert!(error_message(&refused).contains(&says), "{refused}");
    }
    // The retry fails too: a retry of the retry refers to the first message.
    stub.script([Answer::validation()]);
    app.run_outbox().await;
    let again = app.as_graphql_admin(RETRY, json!({ "id": first })).await;
    assert_eq!(
        again["data"]["retrySms"]["retryOf"],
        id.to_string(),
        "{again}"
    );
    assert_eq!(retries().await.len(), 2);
    app.run_outbox().await;
    assert_eq!(
        stub.seen().len(),
        3,
        "the first, its retry and the retry's retry, once each"
    );
}

async fn every_repeat_of_a_key_gets_its_row_across_instances(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.sms.group_commit_window = std::time::Duration::from_millis(20)
    })
    .await;
    let other = app.another_instance().await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let send = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }";
    for round in 0..3 {
        let requests = (0..20).flat_map(|k| (0..4).map(move |n| (k, n)));
        let answers = futures::future::join_all(requests.map(|(k, n)| {
            let instance: &TestApp = if n % 2 == 0 { &app } else { &other };
            let i = json!({ "userId": "u1", "body": format!("Round {round} key {k}"), "idempotencyKey": format!("r{round}-k{k}") });
            async move { (k, instance.as_service(send, json!({ "i": i })).await) }
        }))
        .await;
        let mut ids = std::collections::HashMap::new();
        for (k, answer) in answers {
            assert!(
                answer.get("errors").is_none(),
                "round {round}, key {k}: {answer}"
            );
            let id = answer["data"]["sendSms"]["id"].clone();
            assert_eq!(
                ids.entry(k).or_insert_with(|| id.clone()),
                &id,
                "one row per key"
            );
        }
        assert_eq!(ids.len(), 20);
    }
}

async fn a_cancel_under_load_is_never_lost(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let send = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }";
    let mut ids = Vec::new();
    for n in 0..40 {
        let i = json!({ "userId": "u1", "body": format!("Text {n}"), "promotional": false });
        let answer = app.as_service(send, json!({ "i": i })).await;
        ids.push(
            answer["data"]["sendSms"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    // Workers send while admins cancel every text at once.
    let sending = async {
        for _ in 0..20 {
            app.run_outbox().await;
        }
    };
    let cancel = "mutation($id: ID!) { cancelSms(id: $id) { id status } }";
    let cancels = futures::future::join_all(
        ids.iter()
            .map(|id| app.as_graphql_admin(cancel, json!({ "id": id }))),
    );
    let (_, answers) = tokio::join!(sending, cancels);
    let sent: Vec<String> = stub
        .seen()
        .iter()
        .filter_map(|s| s.body["MessageBody"].as_str().map(str::to_owned))
        .collect();
    for (id, answer) in ids.iter().zip(&answers) {
        let number: i64 = id.parse().expect("numeric");
        let row = row(&app, number).await;
        match answer.get("errors") {
            None => {
                assert_eq!(row.status, SmsStatus::Cancelled, "{answer}");
                assert!(!sent.contains(&row.body), "a cancelled text went out: {id}");
            }
            Some(_) => {
                let code = error_code(answer);
                assert!(matches!(code, "BAD_USER_INPUT" | "UNAVAILABLE"), "{answer}");
                if code == "BAD_USER_INPUT" {
                    assert_ne!(row.status, SmsStatus::Pending, "{answer}");
                }
            }
        }
    }
}
