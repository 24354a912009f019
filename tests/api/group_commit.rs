//! Group commit: concurrent sends share a transaction, and each caller gets its own answer.

use std::time::Duration;

use entity::sms_log::{self, MessageType, SmsStatus};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use sms_notify::outbox::{SendError, SendRequest, Target, catalogue::Template};

use crate::{
    helpers::{Engine, TestApp, opted_in_user},
    pipeline::{row, setup, streak_alert},
    storage_tests,
};

storage_tests!(
    each_caller_in_a_mixed_batch_gets_its_own_answer,
    a_database_error_fails_its_batch_only,
    without_group_commit_each_send_is_its_own_transaction,
    a_group_of_sent_outcomes_is_written_exactly_and_only_under_its_lease,
);

/// A promotional text of the service's to `user`.
pub fn text(user: &str, body: &str) -> SendRequest {
    SendRequest::new(
        sms_notify::outbox::Origin::Service,
        Target::User(user.into()),
        Template::Text {
            message_type: MessageType::Other,
            body: body.into(),
        },
        true,
    )
}

async fn with_window(engine: crate::helpers::Engine) -> TestApp {
    // A window long enough that concurrent calls surely meet.
    setup(engine, |c| {
        c.sms.group_commit_window = Duration::from_millis(50)
    })
    .await
    .0
}

async fn each_caller_in_a_mixed_batch_gets_its_own_answer(engine: Engine) {
    let app = with_window(engine).await;
    opted_in_user(&app, "yes", "(212) 555-0001").await;
    // A user with a verified number who never opted in.
    opted_in_user(&app, "no", "(212) 555-0002").await;
    data_mutation(&app, "no").await;
    let (batches_before, _) = app.handles.outbox.group_commit_totals();
    let mut repeat_a = text("yes", "Same key");
    repeat_a.dedupe_key = Some("k-1".into());
    let mut repeat_b = text("yes", "Same key, again");
    repeat_b.dedupe_key = Some("k-1".into());
    let requests = vec![
        text("yes", "Hello"),
        text("yes", "   "),
        text("no", "Hi"),
        repeat_a,
        repeat_b,
        text("ghost", "Boo"),
    ];
    let answers =
        futures::future::join_all(requests.into_iter().map(|r| app.handles.outbox.enqueue(r)))
            .await;
    let (batches_after, _) = app.handles.outbox.group_commit_totals();
    assert_eq!(
        batches_after - batches_before,
        1,
        "one transaction for all six"
    );
    let valid = answers[0].as_ref().expect("valid");
    assert_eq!(
        (valid.status, valid.body.as_str()),
        (SmsStatus::Pending, "Hello\nReply STOP to unsubscribe.")
    );
    assert!(
        matches!(answers[1], Err(SendError::EmptyBody)),
        "{:?}",
        answers[1]
    );
    let blocked = answers[2].as_ref().expect("blocked is an answer");
    assert_eq!(
        (blocked.status, blocked.blocked_reason.map(|r| r.as_str())),
        (SmsStatus::Blocked, Some("sms_disabled"))
    );
    let (a, b) = (
        answers[3].as_ref().expect("first"),
        answers[4].as_ref().expect("repeat"),
    );
    assert_eq!(a.id, b.id, "one row for one key");
    assert_eq!(b.body, "Same key\nReply STOP to unsubscribe.");
    assert!(
        matches!(&answers[5], Err(SendError::UnknownUser(u)) if u == "ghost"),
        "{:?}",
        answers[5]
    );
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count") as usize,
        3 + verification_texts(&app).await
    );
}

/// Turns the user's master switch off (they never gave consent).
async fn data_mutation(app: &TestApp, user: &str) {
    crate::helpers::data(
        &app.as_user(
            user,
            "mutation { updateSmsPreferences(input: { allowSmsInvitations: false }) { userId } }",
            serde_json::json!({}),
        )
        .await,
    );
}

async fn verification_texts(app: &TestApp) -> usize {
    sms_log::Entity::find()
        .all(&app.db)
        .await
        .expect("q")
        .iter()
        .filter(|r| r.message_type == MessageType::PhoneVerification)
        .count()
}

async fn a_database_error_fails_its_batch_only(engine: Engine) {
    let app = with_window(engine).await;
    opted_in_user(&app, "yes", "(212) 555-0001").await;
    let before = sms_log::Entity::find().count(&app.db).await.expect("count");
    // The rollup table goes away for a moment: the batch cannot commit.
    app.db
        .execute_unprepared("ALTER TABLE cost_rollup RENAME TO cost_rollup_away")
        .await
        .expect("rename");
    let failed = futures::future::join_all((0..5).map(|i| {
        app.handles
            .outbox
            .enqueue(text("yes", &format!("lost {i}")))
    }))
    .await;
    assert!(
        failed.iter().all(|a| match a {
            // Each request was tried again alone, and failed alone.
            Err(SendError::Db(e)) => e.to_string().contains("cost_rollup"),
            _ => false,
        }),
        "{failed:?}"
    );
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count"),
        before,
        "nothing half written"
    );
    app.db
        .execute_unprepared("ALTER TABLE cost_rollup_away RENAME TO cost_rollup")
        .await
        .expect("rename back");
    let next = futures::future::join_all((0..5).map(|i| {
        app.handles
            .outbox
            .enqueue(text("yes", &format!("kept {i}")))
    }))
    .await;
    assert!(
        next.iter()
            .all(|a| a.as_ref().is_ok_and(|r| r.status == SmsStatus::Pending)),
        "{next:?}"
    );
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count"),
        before + 5
    );
}

async fn without_group_commit_each_send_is_its_own_transaction(engine: Engine) {
    let app = setup(engine, |c| c.sms.group_commit = false).await.0;
    opted_in_user(&app, "yes", "(212) 555-0001").await;
    let answers = futures::future::join_all((0..5).map(|i| {
        app.handles
            .outbox
            .enqueue(text("yes", &format!("solo {i}")))
    }))
    .await;
    assert!(answers.iter().all(|a| a.is_ok()));
    assert_eq!(app.handles.outbox.group_commit_totals(), (0, 0));
}

/// Successes recorded together, in one statement: each row gets its own provider id byte for byte
/// (quotes, backslashes, commas and braces included), and a row whose lease passed to another worker
/// (its attempt moved on) is left as that worker has it.
async fn a_group_of_sent_outcomes_is_written_exactly_and_only_under_its_lease(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    for _ in 0..3 {
        streak_alert(&app, "u1").await;
    }
    let db = app.handles.outbox.db();
    let now = crate::helpers::start_time();
    let claimed = sms_notify::store::lease::claim_due(&db, now, chrono::Duration::seconds(60), 3)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    // The third row's lease expired and another worker claimed it again.
    let taken = claimed[2].id;
    db.execute_unprepared(&format!(
        "UPDATE sms_log SET attempts = attempts + 1 WHERE id = {taken}"
    ))
    .await
    .expect("taken over");
    let odd = r#"id-"q"\b,{x} é\"#;
    let sent = [
        (&claimed[0], odd.to_owned()),
        (&claimed[1], "plain".to_owned()),
        (&claimed[2], "late".to_owned()),
    ];
    let written = sms_notify::store::lease::record_sent_many(&db, &sent, now)
        .await
        .expect("record");
    let expected: std::collections::HashSet<i64> = [claimed[0].id, claimed[1].id].into();
    assert_eq!(written, expected);
    for (r, provider_id) in [(&claimed[0], odd), (&claimed[1], "plain")] {
        let stored = row(&app, r.id).await;
        assert_eq!(stored.status, SmsStatus::Sent);
        assert_eq!(stored.provider_message_id.as_deref(), Some(provider_id));
    }
    let other = row(&app, taken).await;
    assert_eq!((other.status, other.attempts), (SmsStatus::Sending, 2));
    assert_eq!(other.provider_message_id, None);
}
