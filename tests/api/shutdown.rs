//! Stopping as ECS stops a task: SIGTERM to the real binary while AWS answers slowly. The calls in
//! flight finish and are recorded, the rest of each claimed batch goes back to the queue at once, the
//! process exits within `SHUTDOWN_GRACE`, and a second instance sends what is left: every text reaches
//! AWS exactly once. A call still unanswered when the grace runs out is recorded `UNKNOWN` (it may be
//! out) and never sent again.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use sms_notify::{App, Config, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::{aws_stub::AwsStub, binary::Binary, helpers::Engine, storage_tests, support::postgres};

storage_tests!(
    sigterm_with_slow_calls_in_flight_loses_nothing_and_sends_nothing_twice,
    a_call_unanswered_when_the_grace_ends_is_unknown_and_never_sent_again,
);

const SECRET: &str = "shutdown-test-secret-that-is-long-enough";
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

/// A database for both instances: a file (SQLite) or a fresh PostgreSQL database.
async fn database(engine: Engine) -> (String, Option<tempfile::TempDir>) {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("stop.db").display());
            (url, Some(dir))
        }
        Engine::Postgres => (postgres::fresh_database().await, None),
    }
}

/// The settings both instances run with: AWS (the stub), no rate limit, a budget large enough for
/// every text.
fn settings(database_url: &str, stub: &AwsStub, grace: &str) -> Vec<(&'static str, String)> {
    [
        ("DATABASE_URL", database_url),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("JWT_SECRET", SECRET),
        ("SMS_PROVIDER", "aws"),
        ("SMS_AWS_ENDPOINT_URL", &stub.url()),
        ("SMS_ORIGINATION_IDENTITY", "+18663448034"),
        ("AWS_REGION", "us-east-1"),
        ("SMS_RATE_LIMIT_MPS", "0"),
        ("SMS_MONTHLY_SPEND_LIMIT_USD", "1000"),
        ("REMINDERS_ENABLED", "false"),
        ("SHUTDOWN_GRACE", grace),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// The binary with `settings` and AWS's test credentials.
async fn start_binary(database_url: &str, stub: &AwsStub, grace: &str) -> Binary {
    let mut env = settings(database_url, stub, grace);
    env.extend(AWS_CREDENTIALS.map(|(k, v)| (k, v.to_owned())));
    Binary::start(&env).await
}

/// What the binary's AWS SDK signs with (the default chain reads them from the environment).
pub const AWS_CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIDTESTKEY"),
    ("AWS_SECRET_ACCESS_KEY", "test-secret"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Queues `n` transactional texts, each to its own number with its own body, from 16 clients at once.
async fn queue(url: &str, n: usize) {
    let token = crate::binary::service_token(SECRET);
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (http, url, token, next) =
                (http.clone(), url.to_owned(), token.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let input = json!({ "to": format!("+1415555{i:04}"), "body": format!("Text {i}"),
                                        "promotional": false });
                    let body: Value = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "query": SEND, "variables": { "i": input } }))
                        .send()
                        .await
                        .expect("sent")
                        .json()
                        .await
                        .expect("JSON");
                    assert_eq!(body["data"]["sendSms"]["status"], "PENDING", "{body}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
}

/// Messages by status.
async fn statuses(db: &DatabaseConnection) -> HashMap<String, i64> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM sms_log GROUP BY status",
        ))
        .await
        .expect("count");
    rows.iter()
        .map(|row| {
            (
                row.try_get::<String>("", "status").expect("status"),
                row.try_get::<i64>("", "n").expect("n"),
            )
        })
        .collect()
}

/// How many `SendTextMessage` requests the stub took for each of the service's message ids.
fn sends_per_message(stub: &AwsStub) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for seen in stub.seen() {
        let id = seen.body["Context"]["sms_log_id"]
            .as_str()
            .expect("the message id in AWS's context")
            .to_owned();
        *per.entry(id).or_insert(0) += 1;
    }
    per
}

/// A second instance on the same database (in this process), sending through the stub until no
/// text is waiting; then stopped.
async fn second_instance_finishes(database_url: &str, stub: &AwsStub) {
    let settings: HashMap<_, _> = settings(database_url, stub, "10s").into_iter().collect();
    let config = Config::from_lookup(|name| settings.get(name).cloned()).expect("settings");
    let provider = Arc::new(stub.provider(&config.sms));
    let app = App::build_with(config, Arc::new(SystemClock), Some(provider))
        .await
        .expect("the second instance builds");
    let db = app.handles.db.clone();
    let server = app
        .start(
            "127.0.0.1:0".parse().expect("addr"),
            CancellationToken::new(),
        )
        .await
        .expect("the second instance starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = statuses(&db).await;
        let waiting: i64 = ["pending", "sending"]
            .iter()
            .filter_map(|s| now.get(*s))
            .sum();
        if waiting == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still waiting: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await.expect("the second instance stops");
}

async fn sigterm_with_slow_calls_in_flight_loses_nothing_and_sends_nothing_twice(engine: Engine) {
    const TEXTS: usize = 2_000;
    let (url, _dir) = database(engine).await;
    let stub = AwsStub::start().await;
    stub.answer_after(Duration::from_secs(2));
    let first = start_binary(&url, &stub, "10s").await;
    queue(&first.url, TEXTS).await;
    // Calls are in flight: each worker waits on AWS's slow answer.
    stub.wait_for_requests(2).await;
    let in_flight = stub.seen().len();
    let (status, took) = first.terminate().await;
    eprintln!("SIGTERM to exit: {took:?} ({in_flight} calls were in flight)");
    assert!(status.success(), "a clean exit: {status}");
    assert!(
        took < Duration::from_secs(10),
        "exited within SHUTDOWN_GRACE: {took:?}"
    );
    // Nothing is left leased: the calls in flight were recorded, the rest handed back at once.
    let db = Database::connect(url.as_str()).await.expect("connect");
    let after_stop = statuses(&db).await;
    assert_eq!(after_stop.get("sending"), None, "{after_stop:?}");
    assert_eq!(
        after_stop.get("sent").copied().unwrap_or_default() as usize,
        stub.seen().len(),
        "every call AWS took was recorded as sent: {after_stop:?}"
    );
    assert!(stub.seen().len() >= in_flight);

    stub.answer_after(Duration::ZERO);
    second_instance_finishes(&url, &stub).await;
    let end = statuses(&db).await;
    assert_eq!(end.get("sent").copied(), Some(TEXTS as i64), "{end:?}");
    let per = sends_per_message(&stub);
    assert_eq!(per.len(), TEXTS, "every text reached AWS");
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
}

async fn a_call_unanswered_when_the_grace_ends_is_unknown_and_never_sent_again(engine: Engine) {
    const TEXTS: usize = 200;
    let (url, _dir) = database(engine).await;
    let stub = AwsStub::start().await;
    // AWS hangs longer than the whole grace.
    stub.answer_after(Duration::from_secs(30));
    let first = start_binary(&url, &stub, "3s").await;
    queue(&first.url, TEXTS).await;
    stub.wait_for_requests(2).await;
    let (status, took) = first.terminate().await;
    assert!(status.success(), "a clean exit: {status}");
    assert!(took < Duration::from_secs(4), "exited in time: {took:?}");
    let db = Database::connect(url.as_str()).await.expect("connect");
    let after_stop = statuses(&db).await;
    let given_up = stub.seen().len();
    assert_eq!(after_stop.get("sending"), None, "{after_stop:?}");
    // Transactional texts, which a timeout would retry: given up at a stop, they wait for a receipt.
    assert_eq!(
        after_stop.get("unknown").copied().unwrap_or_default() as usize,
        given_up,
        "{after_stop:?}"
    );
    let codes = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT error_code FROM sms_log WHERE status = 'unknown'",
        ))
        .await
        .expect("read");
    for row in codes {
        assert_eq!(
            row.try_get::<String>("", "error_code").expect("code"),
            "Shutdown"
        );
    }

    stub.answer_after(Duration::ZERO);
    second_instance_finishes(&url, &stub).await;
    let end = statuses(&db).await;
    assert_eq!(
        end.get("sent").copied().unwrap_or_default() as usize,
        TEXTS - given_up,
        "{end:?}"
    );
    let per = sends_per_message(&stub);
    assert_eq!(per.len(), TEXTS);
    assert!(per.values().all(|n| *n == 1), "{per:?}");
}
