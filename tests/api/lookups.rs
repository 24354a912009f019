//! Reading and locking many people at once (a batch's recipients and preferences): the right rows on
//! both engines, and on PostgreSQL read one key at a time through the primary keys whatever the
//! tables' size. Given `user_id IN (...)`, its planner read both tables whole for a batch of 100
//! among a few thousand people (a cheaper plan on paper, four times slower in the pipeline).

use std::collections::{BTreeSet, HashMap};

use chrono::Duration;
use entity::{recipients, sms_preferences};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, Statement, TransactionTrait};
use sms_notify::store::recipients as rows;

use crate::{
    helpers::{Engine, TestApp, start_time},
    storage_tests,
};

storage_tests!(a_batch_of_people_is_read_and_locked_by_key);

/// People in the tables: enough that reading a table whole looks cheaper to a planner than 100
/// lookups by key.
const PEOPLE: usize = 3_000;

/// `PEOPLE` recipients, each with a number; every tenth has no preferences row.
async fn seed(db: &impl ConnectionTrait) {
    let now = start_time();
    let people: Vec<recipients::ActiveModel> = (0..PEOPLE)
        .map(|i| recipients::ActiveModel {
            user_id: Set(format!("person{i}")),
            phone_e164: Set(Some(format!("+1415555{i:04}"))),
            phone_verified_at: Set(Some(now)),
            allow_sms: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in people.chunks(500) {
        recipients::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .expect("people");
    }
    let preferences: Vec<sms_preferences::ActiveModel> = (0..PEOPLE)
        .filter(|i| i % 10 != 3)
        .map(|i| sms_preferences::ActiveModel {
            user_id: Set(format!("person{i}")),
            streak_alerts: Set(i.is_multiple_of(2)),
            updated_at: Set(now + Duration::seconds(i as i64)),
            ..Default::default()
        })
        .collect();
    for chunk in preferences.chunks(500) {
        sms_preferences::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .expect("preferences");
    }
}

/// How many times this transaction has read `table` whole so far (PostgreSQL's counters of the
/// current transaction).
async fn whole_reads(txn: &impl ConnectionTrait, table: &str) -> i64 {
    txn.query_one_raw(Statement::from_string(
        sea_orm::DbBackend::Postgres,
        format!("SELECT COALESCE(seq_scan, 0) AS n FROM pg_stat_xact_user_tables WHERE relname = '{table}'"),
    ))
    .await
    .expect("the counters")
    .map(|row| row.try_get::<i64>("", "n").expect("n"))
    .unwrap_or(0)
}

/// On PostgreSQL, how many times this connection read each table whole: its counters of what it has
/// not reported yet (the current transaction's, and possibly earlier ones').
async fn counted(engine: Engine, txn: &impl ConnectionTrait) -> [i64; 2] {
    if engine != Engine::Postgres {
        return [0, 0];
    }
    [
        whole_reads(txn, "recipients").await,
        whole_reads(txn, "sms_preferences").await,
    ]
}

/// That `step` read neither table whole (the counters have not moved since `before`).
async fn by_key(engine: Engine, txn: &impl ConnectionTrait, before: [i64; 2], step: &str) {
    assert_eq!(
        counted(engine, txn).await,
        before,
        "{step} read recipients or sms_preferences whole for a batch of about 100 people among {PEOPLE}"
    );
}

/// Each known person of `batch` once with their own rows, nobody else.
fn check(profiles: &HashMap<String, rows::Profile>, batch: &[String]) {
    let known: BTreeSet<&str> = batch
        .iter()
        .map(String::as_str)
        .filter(|u| u.starts_with("person"))
        .collect();
    assert_eq!(
        profiles.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        known
    );
    for (user, profile) in profiles {
        let i: usize = user["person".len()..].parse().expect("a number");
        assert_eq!(&profile.recipient.user_id, user);
        assert_eq!(profile.preferences.user_id, *user);
        assert_eq!(
            profile.recipient.phone_e164.as_deref(),
            Some(format!("+1415555{i:04}").as_str())
        );
        if i % 10 == 3 {
            // No preferences row: the defaults were written and read back.
            assert!(profile.preferences.streak_alerts, "{user}: the default");
        } else {
            assert_eq!(
                profile.preferences.streak_alerts,
                i.is_multiple_of(2),
                "{user}"
            );
            assert_eq!(
                profile.preferences.updated_at,
                start_time() + Duration::seconds(i as i64)
            );
        }
    }
}

async fn a_batch_of_people_is_read_and_locked_by_key(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    seed(&app.db).await;
    if engine == Engine::Postgres {
        app.db
            .execute_unprepared("ANALYZE recipients; ANALYZE sms_preferences")
            .await
            .expect("statistics");
    }
    // 100 people spread over the table, one of them twice, and 5 nobody has seen.
    let mut batch: Vec<String> = (0..100).map(|i| format!("person{}", i * 29 + 1)).collect();
    batch.push("person30".into());
    batch.extend((0..5).map(|i| format!("stranger{i}")));
    let txn = app.db.begin().await.expect("a transaction");
    let before = counted(engine, &txn).await;
    let profiles = rows::load_many(&txn, batch.iter().map(String::as_str))
        .await
        .expect("the profiles");
    by_key(engine, &txn, before, "load_many").await;
    check(&profiles, &batch);
    let present = rows::lock_present(&txn, batch.iter().map(String::as_str))
        .await
        .expect("locked");
    by_key(engine, &txn, before, "lock_present").await;
    assert_eq!(
        present.iter().collect::<BTreeSet<_>>(),
        profiles.keys().collect::<BTreeSet<_>>()
    );
    rows::lock_rows(&txn, batch.iter().map(String::as_str))
        .await
        .expect("locked again");
    by_key(engine, &txn, before, "lock_rows").await;
    txn.commit().await.expect("committed");
    // People without preferences get the defaults, written and read back with the rest.
    let batch: Vec<String> = (0..30).map(|i| format!("person{}", i * 5 + 3)).collect();
    let profiles = rows::load_many(&app.db, batch.iter().map(String::as_str))
        .await
        .expect("the profiles");
    check(&profiles, &batch);
}
