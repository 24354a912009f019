//! Upgrading a database that ran the third round: the change feed moves into the log (migration 27)
//! without losing a change, the triggers and their table go, and the webhook dispatcher starts exactly
//! at the changes it had not made into webhooks yet.

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Statement};
use sms_notify::store::{feed, rollup};

use crate::{helpers::Engine, storage_tests};

storage_tests!(
    changes_not_yet_made_into_webhooks_survive_the_upgrade,
    the_rollup_keeps_its_totals_through_its_stripes_and_back,
);

async fn number(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("a read")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

/// A new database of `engine` (and the folder of a SQLite one), connected.
async fn empty(engine: Engine) -> (sea_orm::DatabaseConnection, Option<tempfile::TempDir>) {
    let (url, dir) = match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
            (url, Some(dir))
        }
        Engine::Postgres => (crate::support::postgres::fresh_database().await, None),
    };
    let db = sms_notify::connect(&sms_notify::Config::for_database(url).database_url)
        .await
        .expect("connects");
    (db, dir)
}

async fn changes_not_yet_made_into_webhooks_survive_the_upgrade(engine: Engine) {
    let (db, _dir) = empty(engine).await;
    // The schema as the third round left it: every migration before the feed's.
    migration::Migrator::up(&db, Some(26))
        .await
        .expect("the old schema");
    for (body, status) in [("made into webhooks", "sent"), ("not yet", "pending")] {
        db.execute_unprepared(&format!(
            "INSERT INTO sms_log (to_phone, message_type, promotional, priority, body, status, attempts, \
             segments, encoding, created_at) VALUES ('+12125550101', 'direct_message', false, 1, '{body}', \
             '{status}', 0, 1, 'GSM-7', CURRENT_TIMESTAMP)"
        ))
        .await
        .expect("a message of the old service");
    }
    // The old triggers wrote a change for each; the dispatcher had made the first into webhooks.
    assert_eq!(
        number(
            &db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM message_changes"
        )
        .await,
        2
    );
    db.execute_unprepared(
        "UPDATE message_changes SET webhooked = true WHERE sms_log_id = (SELECT MIN(id) FROM sms_log)",
    )
    .await
    .expect("the first made into webhooks");
    sms_notify::migrate(&db).await.expect("the upgrade");
    let triggers = match engine {
        Engine::Sqlite => {
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sqlite_master WHERE type = 'trigger'"
        }
        Engine::Postgres => {
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_trigger WHERE tgname LIKE 'trg_sms_log%'"
        }
    };
    assert_eq!(
        number(&db, triggers).await,
        0,
        "no trigger writes a second row"
    );
    let table = match engine {
        Engine::Sqlite => {
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sqlite_master WHERE name = 'message_changes'"
        }
        Engine::Postgres => {
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_tables WHERE tablename = 'message_changes'"
        }
    };
    assert_eq!(number(&db, table).await, 0, "the old feed's table is gone");
    // The dispatcher's place is before exactly the change it had not made into webhooks.
    let store = sms_notify::store::db::Db::new(db.clone());
    let txn = store.write().await.expect("a write");
    let place = feed::cursor(&txn, "webhooks").await.expect("the place");
    let unread = feed::after(&txn, place, 10).await.expect("the feed");
    txn.commit().await.expect("commit");
    let bodies: Vec<&str> = unread.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["not yet"]);
    // A change made after the upgrade is stamped after it.
    db.execute_unprepared(
        "UPDATE sms_log SET status = 'cancelled', change_seq = 0 WHERE body = 'not yet'",
    )
    .await
    .expect("an old-style write");
    let write = store.write().await.expect("a write");
    write
        .execute_unprepared(&format!(
            "UPDATE sms_log SET status = 'pending', change_seq = {} WHERE body = 'not yet'",
            feed::stamp_sql(engine_backend(engine))
        ))
        .await
        .expect("a stamped write");
    write.commit().await.expect("commit");
    // On PostgreSQL the feed shows a change once every transaction older than it has ended, in every
    // database of the cluster (other tests run beside this one), so it is read until it shows.
    let mut unread = Vec::new();
    for _ in 0..200 {
        unread = feed::after(&store, place, 10).await.expect("the feed");
        if !unread.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(unread.len(), 1, "{unread:?}");
    assert!(unread[0].change_seq > place.seq, "{unread:?}");
}

/// The day's totals by status as a cost report reads them (every stripe added up).
async fn rollup_totals(db: &impl ConnectionTrait) -> Vec<(String, i64, i64)> {
    let day = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .expect("a day")
        .to_utc();
    let grouping = (Some(rollup::Grouping::Status), None);
    rollup::totals(db, day, day + chrono::Duration::days(1), grouping)
        .await
        .expect("the rollup")
        .into_iter()
        .map(|b| (b.key, b.messages, b.cost_micros))
        .collect()
}

/// Migrations 33 (the rollup in stripes) and 34 (the log's partial indexes), up from the schema before
/// them and back down again: the rollup's totals stay what they were, the dedupe key stays unique.
async fn the_rollup_keeps_its_totals_through_its_stripes_and_back(engine: Engine) {
    let (db, _dir) = empty(engine).await;
    migration::Migrator::up(&db, Some(32))
        .await
        .expect("the schema before");
    db.execute_unprepared(
        "INSERT INTO cost_rollup (day, message_type, status, country, messages, segments, cost_micros, \
         priced_micros) VALUES ('2026-12-01', 'streak_alert', 'sent', 'US', 7, 7, 70, 0), \
         ('2026-12-01', 'streak_alert', 'pending', 'US', 2, 2, 20, 0)",
    )
    .await
    .expect("the old rollup");
    sms_notify::migrate(&db).await.expect("the upgrade");
    let before = vec![("pending".to_owned(), 2, 20), ("sent".to_owned(), 7, 70)];
    assert_eq!(rollup_totals(&db).await, before);
    // Two connections' stripes of one key, as the service writes them on PostgreSQL.
    db.execute_unprepared(
        "INSERT INTO cost_rollup (day, message_type, status, country, stripe, messages, segments, \
         cost_micros, priced_micros) VALUES ('2026-12-01', 'streak_alert', 'sent', 'US', 5, 1, 1, 10, 0), \
         ('2026-12-01', 'streak_alert', 'pending', 'US', 5, -1, -1, -10, 0)",
    )
    .await
    .expect("a second stripe");
    let moved = vec![("pending".to_owned(), 1, 10), ("sent".to_owned(), 8, 80)];
    assert_eq!(rollup_totals(&db).await, moved);
    let text = |key: &str| {
        format!(
            "INSERT INTO sms_log (to_phone, message_type, promotional, priority, body, status, attempts, \
             segments, encoding, created_at, dedupe_key) VALUES ('+12125550101', 'direct_message', false, \
             1, 'hi', 'pending', 0, 1, 'GSM-7', CURRENT_TIMESTAMP, {key})"
        )
    };
    for key in ["'once'", "NULL", "NULL"] {
        db.execute_unprepared(&text(key)).await.expect("a text");
    }
    assert!(
        db.execute_unprepared(&text("'once'")).await.is_err(),
        "a dedupe key is still unique"
    );
    // Down past both and up again: the stripes are added together, and the key can be made again.
    migration::Migrator::down(&db, Some(2))
        .await
        .expect("the downgrade");
    assert_eq!(rollup_totals(&db).await, moved);
    sms_notify::migrate(&db).await.expect("the upgrade again");
    assert_eq!(rollup_totals(&db).await, moved);
}

fn engine_backend(engine: Engine) -> sea_orm::DbBackend {
    match engine {
        Engine::Sqlite => sea_orm::DbBackend::Sqlite,
        Engine::Postgres => sea_orm::DbBackend::Postgres,
    }
}
