//! The database handle (`store::db::Db`): write transactions that read before they write never fail
//! on SQLite's one writer (each waits its turn and holds the lock from its start), a write sent to the
//! handle itself takes the same turn, and a savepoint
//! inside one rolls back alone, on both engines.

use sea_orm::{ConnectionTrait, Statement, TransactionSession, TransactionTrait};

use crate::{
    helpers::{Engine, TestApp},
    storage_tests,
};

storage_tests!(a_savepoint_rolls_back_alone);

async fn count(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(MAX(n), 0) AS BIGINT) AS n FROM db_handle_counter",
        ))
        .await
        .expect("a read")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

async fn with_counter(engine: Engine) -> (TestApp, sms_notify::store::db::Db) {
    let app = TestApp::spawn(engine).await;
    let db = app.handles.outbox.db();
    db.execute_unprepared("CREATE TABLE db_handle_counter (n BIGINT NOT NULL)")
        .await
        .expect("a scratch table");
    db.execute_unprepared("INSERT INTO db_handle_counter (n) VALUES (0)")
        .await
        .expect("its row");
    (app, db)
}

/// Forty writers at once, each reading the counter, pausing, then writing it plus one: on SQLite a
/// deferred transaction that read first fails at its write once another committed in between
/// (`SQLITE_BUSY_SNAPSHOT`); through `Db::write` every one succeeds and none is lost.
#[tokio::test]
async fn sqlite_writers_that_read_first_all_succeed() {
    let (_app, db) = with_counter(Engine::Sqlite).await;
    let writers: Vec<_> = (0..40)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let txn = db.write().await?;
                let n = count(&txn).await;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                txn.execute_unprepared(&format!("UPDATE db_handle_counter SET n = {}", n + 1))
                    .await?;
                txn.commit().await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("joined").expect("every writer commits");
    }
    assert_eq!(count(&db).await, 40, "no update lost");
}

/// A statement that writes, sent to the handle itself rather than inside `write`, runs on SQLite's
/// writer connection once it has the writer's turn (it waits for a write transaction that holds it);
/// a read sent the same way runs on the pool.
#[tokio::test]
async fn sqlite_writes_sent_to_the_handle_take_the_writers_turn() {
    use std::sync::{Arc, Mutex};
    let (_app, db) = with_counter(Engine::Sqlite).await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    db.observe_writes(Arc::new(move |info| {
        if let Ok(mut log) = log.lock() {
            log.push(info.statement.sql.clone());
        }
    }));
    let update = "UPDATE db_handle_counter SET n = 5";
    db.execute_raw(Statement::from_string(db.get_database_backend(), update))
        .await
        .expect("a write");
    assert_eq!(count(&db).await, 5);
    let on_writer = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        on_writer,
        vec![update.to_owned()],
        "the write on the writer's connection, the read not"
    );
    let txn = db.write().await.expect("the turn");
    let waiting = {
        let db = db.clone();
        tokio::spawn(async move {
            db.execute_unprepared("UPDATE db_handle_counter SET n = n * 10")
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the write waits for the turn");
    txn.execute_unprepared("UPDATE db_handle_counter SET n = n + 1")
        .await
        .expect("inside the transaction");
    txn.commit().await.expect("commit");
    waiting.await.expect("joined").expect("then it runs");
    assert_eq!(count(&db).await, 60, "after the transaction, in turn");
}

async fn a_savepoint_rolls_back_alone(engine: Engine) {
    let (_app, db) = with_counter(engine).await;
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared("UPDATE db_handle_counter SET n = 1")
        .await
        .expect("outer write");
    let inner = txn.begin().await.expect("a savepoint");
    inner
        .execute_unprepared("UPDATE db_handle_counter SET n = 2")
        .await
        .expect("inner write");
    inner.rollback().await.expect("rolled back");
    assert_eq!(count(&txn).await, 1, "the outer write stays");
    txn.commit().await.expect("commit");
    assert_eq!(count(&db).await, 1);
}
