//! Where modules cross, under concurrency and faults: a STOP racing promotions, a number typed by
//! someone who does not own it, a database error while recording what the provider accepted.

use std::{sync::Arc, time::Duration};

use entity::sms_log::{self, SmsStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sms_notify::{
    Clock,
    outbox::{SendRequest, Target, catalogue::Template},
};
use tokio_util::sync::CancellationToken;

use crate::{
    helpers::{Engine, TestApp, data, opted_in_user},
    pipeline::setup,
    recipients::verify_phone,
    sns::{INBOUND, Signer, post, reply},
    storage_tests,
};

storage_tests!(
    no_promotion_reaches_the_provider_after_stop_is_answered,
    an_unverified_claim_neither_blocks_nor_files_texts_to_the_number,
    sent_texts_survive_a_database_error_while_they_are_recorded,
);

const NUMBER: &str = "+12125550142";

fn promotion(n: usize) -> SendRequest {
    SendRequest::new(
        sms_notify::outbox::Origin::Service,
        Target::User("u1".into()),
        Template::Text {
            message_type: sms_log::MessageType::Other,
            body: format!("Rematch {n}?"),
        },
        true,
    )
}

async fn no_promotion_reaches_the_provider_after_stop_is_answered(engine: Engine) {
    let signer = Signer::start().await;
    let trust = signer.clone();
    let (app, stub) = setup(engine, move |c| {
        trust.trust(c);
        // Workers in the background, as in production; limits out of the way.
        c.sms.workers = 2;
        c.costs.monthly_limit = 1_000_000_000;
        c.costs.user_daily_limit = 100_000;
    })
    .await;
    opted_in_user(&app, "u1", NUMBER).await;
    let app = Arc::new(app);
    // Twelve senders keep promotions coming while the person texts STOP.
    let senders: Vec<_> = (0..12)
        .map(|s| {
            let outbox = app.handles.outbox.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    outbox
                        .enqueue(promotion(s * 100 + i))
                        .await
                        .expect("decided");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    stub.wait_for_requests(10).await;
    let stop = signer.notification(INBOUND, &reply(NUMBER, "STOP"), app.clock.now());
    let (status, _) = post(&app, stop.to_string()).await;
    let answered = std::time::Instant::now();
    assert_eq!(status, 200);
    for sender in senders {
        sender.await.expect("sender");
    }
    // Let the workers finish whatever is left.
    for _ in 0..200 {
        let open = sms_log::Entity::find()
            .filter(sms_log::Column::Status.is_in([SmsStatus::Pending, SmsStatus::Sending]))
            .all(&app.db)
            .await
            .expect("q");
        if open.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = stub.seen();
    let late = seen.iter().filter(|s| s.at > answered).count();
    assert!(seen.len() >= 10, "promotions went out before the STOP");
    assert_eq!(
        late, 0,
        "texts handed to the provider after STOP was answered"
    );
    let rows = sms_log::Entity::find().all(&app.db).await.expect("q");
    let sent = rows.iter().filter(|r| r.status == SmsStatus::Sent).count();
    assert_eq!(sent, seen.len(), "every text handed over is recorded sent");
    assert!(
        rows.iter()
            .filter(|r| r.status != SmsStatus::Sent)
            .all(|r| r.blocked_reason.map(|b| b.as_str()) == Some("opted_out")),
        "everything else is blocked as opted out"
    );
}

/// `sendSms` as the back end calls it, answering the log row.
async fn send(app: &TestApp, input: Value) -> Value {
    let query =
        "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason userId } }";
    data(&app.as_service(query, json!({ "i": input })).await)["sendSms"].clone()
}

async fn logs_of(app: &TestApp, user: &str) -> Vec<Value> {
    let query = "{ smsLogs(first: 50) { edges { node { id toPhone } } } }";
    let answer = data(&app.as_user(user, query, json!({})).await)["smsLogs"]["edges"].clone();
    answer.as_array().cloned().unwrap_or_default()
}

async fn an_unverified_claim_neither_blocks_nor_files_texts_to_the_number(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "inviter", "+12125550100").await;
    // Mallory types the number of someone else and never proves it.
    let set = "mutation($p: String!) { setPhoneNumber(phoneNumber: $p) { phoneVerified } }";
    data(&app.as_user("mallory", set, json!({ "p": NUMBER })).await);

    let text = send(
        &app,
        json!({ "to": NUMBER, "body": "Your account changed", "promotional": false }),
    )
    .await;
    assert_eq!(
        (text["status"].as_str(), &text["userId"]),
        (Some("PENDING"), &Value::Null)
    );
    let invite = "mutation($i: BattleInvitationInput!) { sendBattleInvitation(input: $i) { id status userId } }";
    let invitation = data(
        &app.as_service(
            invite,
            json!({ "i": { "inviterUserId": "inviter", "inviterName": "Ann", "toPhone": NUMBER,
                           "battleTopic": "Haiku", "invitationLink": "/b/1" } }),
        )
        .await,
    )["sendBattleInvitation"]
        .clone();
    assert_eq!(
        (invitation["status"].as_str(), &invitation["userId"]),
        (Some("PENDING"), &Value::Null),
        "decided as for a stranger's number, not blocked as Mallory's"
    );
    // Mallory reads none of them, by list or by id.
    assert!(logs_of(&app, "mallory").await.is_empty());
    let by_id = "query($id: ID!) { smsLog(id: $id) { id body } }";
    for id in [&text["id"], &invitation["id"]] {
        let answer = app.as_user("mallory", by_id, json!({ "id": id })).await;
        assert_eq!(data(&answer)["smsLog"], Value::Null);
    }

    // The owner proves the number: texts to it are now theirs, and they read them.
    data(&app.as_user("owner", set, json!({ "p": NUMBER })).await);
    verify_phone(&app, "owner").await;
    let text = send(
        &app,
        json!({ "to": NUMBER, "body": "Your account changed", "promotional": false }),
    )
    .await;
    assert_eq!(text["userId"], "owner");
    let theirs = logs_of(&app, "owner").await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["node"]["id"], text["id"]);
    assert!(logs_of(&app, "mallory").await.is_empty());
}

/// Makes every update that marks a message sent fail, as a database that breaks mid-write would.
async fn refuse_sent_updates(app: &TestApp) {
    let statements: &[&str] = match app.db.get_database_backend() {
        DbBackend::Postgres => &[
            "CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
            "CREATE TRIGGER refuse_sent BEFORE UPDATE ON sms_log FOR EACH ROW \
             WHEN (NEW.status = 'sent') EXECUTE FUNCTION refuse_sent()",
        ],
        _ => &[
            "CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON sms_log \
                WHEN NEW.status = 'sent' BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        ],
    };
    for sql in statements {
        app.db.execute_unprepared(sql).await.expect("trigger");
    }
}

async fn sent_texts_survive_a_database_error_while_they_are_recorded(engine: Engine) {
    let (app, stub) = setup(engine, |c| c.costs.user_daily_limit = 100).await;
    opted_in_user(&app, "u1", NUMBER).await;
    for i in 0..3 {
        app.handles
            .outbox
            .enqueue(promotion(i))
            .await
            .expect("queued");
    }
    refuse_sent_updates(&app).await;
    let workers = app.workers.clone();
    let pass = tokio::spawn(async move { workers.run_once(&CancellationToken::new()).await });
    // The provider accepts all three; recording them fails for a while.
    stub.wait_for_requests(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pass.is_finished(),
        "the worker keeps trying to record what was sent"
    );
    let drop = match app.db.get_database_backend() {
        DbBackend::Postgres => "DROP TRIGGER refuse_sent ON sms_log",
        _ => "DROP TRIGGER refuse_sent",
    };
    app.db
        .execute_unprepared(drop)
        .await
        .expect("drop the fault");
    let report = pass.await.expect("task").expect("the pass ends well");
    assert_eq!(report.sent, 3);
    // Nothing is sent twice, even after every lease has expired.
    app.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(app.run_outbox().await.claimed, 0);
    assert_eq!(stub.seen().len(), 3);
    let rows = sms_log::Entity::find().all(&app.db).await.expect("q");
    assert!(
        rows.iter()
            .all(|r| r.status == SmsStatus::Sent && r.provider_message_id.is_some()),
        "{rows:?}"
    );
}
