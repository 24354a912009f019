//! Batches that meet at the write share one transaction: each caller gets its own rows, the limits
//! count across them, and a batch the database refuses fails alone.

use std::time::Duration;

use entity::sms_log::{MessageType, SmsStatus};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};
use sms_notify::outbox::SendRequest;

use crate::{
    group_commit::text as promotion,
    helpers::{Engine, TestApp, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    batches_waiting_for_the_write_share_it_and_each_gets_its_own_rows,
    a_batch_the_database_refuses_fails_alone,
    each_answer_is_the_row_as_the_database_holds_it,
);

/// Holds the write (SQLite's writer turn; PostgreSQL's inserts into the log) while `batches` are
/// enqueued, each from a task of its own, and lets it go once all but the first wait for the write
/// behind it. Answers each batch's rows' statuses and bodies, in its order.
async fn enqueue_behind_a_held_write(
    app: &TestApp,
    batches: Vec<Vec<SendRequest>>,
) -> Vec<Result<Vec<(SmsStatus, String)>, String>> {
    let outbox = app.handles.outbox.clone();
    let held = outbox.db().write().await.expect("the write");
    if app.db.get_database_backend() == DbBackend::Postgres {
        held.execute_unprepared("LOCK TABLE sms_log IN SHARE ROW EXCLUSIVE MODE")
            .await
            .expect("lock");
    }
    let (writes_before, _) = outbox.shared_write_totals();
    let waited = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, batch) in batches.into_iter().enumerate() {
        let sender = outbox.clone();
        tasks.push(tokio::spawn(
            async move { sender.enqueue_many(batch).await },
        ));
        // The first batch is taken by a write that waits for the held one; each of the others
        // queues behind it, in order, before the next is sent.
        let reached = || {
            let taken = outbox.shared_write_totals().0 - writes_before;
            if i == 0 {
                taken == 1
            } else {
                outbox.shared_writes_waiting() == i
            }
        };
        while !reached() {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "batch {i} never reached the write"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    held.commit().await.expect("let go");
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(match task.await.expect("task") {
            Ok(rows) => Ok(rows
                .into_iter()
                // A request refused before the write (an unknown user) has no row.
                .filter_map(|a| a.ok().map(|e| (e.row.status, e.row.body)))
                .collect()),
            Err(error) => Err(error.to_string()),
        });
    }
    let (writes_after, _) = outbox.shared_write_totals();
    assert_eq!(
        writes_after - writes_before,
        2,
        "the first batch alone, then the others together"
    );
    answers
}

fn body(text: &str) -> String {
    format!("{text}\nReply STOP to unsubscribe.")
}

async fn batches_waiting_for_the_write_share_it_and_each_gets_its_own_rows(engine: Engine) {
    let app = setup(engine, |c| c.costs.user_daily_limit = 3).await.0;
    for (user, phone) in [("ana", "(212) 555-0101"), ("bo", "(212) 555-0102")] {
        opted_in_user(&app, user, phone).await;
    }
    let answers = enqueue_behind_a_held_write(
        &app,
        vec![
            vec![promotion("bo", "first")],
            vec![promotion("ana", "a1"), promotion("bo", "b1")],
            vec![promotion("ana", "a2"), promotion("ana", "a3")],
            vec![promotion("ana", "a4"), promotion("ghost", "nobody")],
        ],
    )
    .await;
    let pending = |t: &str| (SmsStatus::Pending, body(t));
    assert_eq!(answers[0], Ok(vec![pending("first")]));
    assert_eq!(answers[1], Ok(vec![pending("a1"), pending("b1")]));
    assert_eq!(answers[2], Ok(vec![pending("a2"), pending("a3")]));
    // Ana's fourth promotion of the day is over her limit of three, counted across the shared write.
    let fourth = answers[3].as_ref().expect("the last batch");
    assert_eq!(
        fourth.len(),
        1,
        "the unknown user is answered without a row"
    );
    assert_eq!(fourth[0].0, SmsStatus::Blocked);
}

/// Refuses, in the database itself, any text whose body says "poison".
async fn poison(app: &TestApp) {
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => vec![
            "CREATE FUNCTION poisoned() RETURNS trigger AS $$ BEGIN \
             IF NEW.body LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned text'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poisoned BEFORE INSERT ON sms_log FOR EACH ROW EXECUTE FUNCTION poisoned()",
        ],
        _ => vec![
            "CREATE TRIGGER poisoned BEFORE INSERT ON sms_log WHEN NEW.body LIKE '%poison%' \
             BEGIN SELECT RAISE(ABORT, 'poisoned text'); END",
        ],
    };
    for statement in sql {
        app.db.execute_unprepared(statement).await.expect("trigger");
    }
}

async fn a_batch_the_database_refuses_fails_alone(engine: Engine) {
    let app = setup(engine, |_| {}).await.0;
    for (user, phone) in [("ana", "(212) 555-0101"), ("bo", "(212) 555-0102")] {
        opted_in_user(&app, user, phone).await;
    }
    poison(&app).await;
    let answers = enqueue_behind_a_held_write(
        &app,
        vec![
            vec![promotion("bo", "first")],
            vec![promotion("ana", "kept")],
            vec![promotion("bo", "poison"), promotion("bo", "beside it")],
            vec![promotion("ana", "kept too")],
        ],
    )
    .await;
    let pending = |t: &str| (SmsStatus::Pending, body(t));
    assert_eq!(answers[0], Ok(vec![pending("first")]));
    assert_eq!(answers[1], Ok(vec![pending("kept")]));
    assert!(
        answers[2]
            .as_ref()
            .is_err_and(|e| e.contains("poisoned text")),
        "{:?}",
        answers[2]
    );
    assert_eq!(answers[3], Ok(vec![pending("kept too")]));
    // Nothing of the refused batch was written, and the others' rows are there once each.
    let mut bodies: Vec<String> = entity::sms_log::Entity::find()
        .all(&app.db)
        .await
        .expect("rows")
        .into_iter()
        .filter(|r| r.message_type == MessageType::Other)
        .map(|r| r.body)
        .collect();
    bodies.sort();
    assert_eq!(bodies, vec![body("first"), body("kept"), body("kept too")]);
}

/// The rows a batch's write answers (built from what was inserted on SQLite, read back on PostgreSQL)
/// are the rows the database holds, column for column: pending, blocked, a repeated key, a link.
async fn each_answer_is_the_row_as_the_database_holds_it(engine: Engine) {
    let app = setup(engine, |_| {}).await.0;
    opted_in_user(&app, "ana", "(212) 555-0101").await;
    crate::helpers::set_phone(&app, "mute", "(212) 555-0109").await;
    let mut keyed = promotion("ana", "once");
    keyed.dedupe_key = Some("k-once".into());
    let first = app
        .handles
        .outbox
        .enqueue_many(vec![keyed.clone()])
        .await
        .expect("the first write");
    let mut with_link = promotion("ana", "Go: https://example.com/battles/42?ref=sms");
    with_link.shorten_links = true;
    let answers = app
        .handles
        .outbox
        .enqueue_many(vec![
            promotion("ana", "plain"),
            keyed,
            promotion("mute", "never asked"),
            with_link,
        ])
        .await
        .expect("the batch");
    let rows: Vec<_> = first
        .into_iter()
        .chain(answers)
        .map(|a| a.expect("an answer").row)
        .collect();
    assert_eq!(rows[0].id, rows[2].id, "the repeated key answers its row");
    assert_eq!(rows[3].status, SmsStatus::Blocked);
    for row in rows {
        let held = entity::sms_log::Entity::find_by_id(row.id)
            .one(&app.db)
            .await
            .expect("a read")
            .expect("its row");
        assert_eq!(row, held);
    }
}
