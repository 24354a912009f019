//! Signed webhooks to a receiver on loopback: how many `message.updated` events a service delivers per
//! second (beside a plain client posting the same bodies to the same receiver, in the same run), and
//! what an endpoint adds to the send path (one `sendSms` on an idle service, without and with an
//! endpoint: nothing, since deliveries are made and posted off the request).
//!
//!   cargo bench --bench signed_webhooks          (BENCH_POSTGRES_URL adds PostgreSQL)

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::ConnectionTrait;
use serde_json::json;
use sms_notify::{App, SystemClock, auth::Role};
use support::{ms, percentile};
use tokio_util::sync::CancellationToken;

const USERS: usize = 500;
const CLIENTS: usize = 8;
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

/// A receiver that takes everything: how many it got.
async fn receiver() -> anyhow::Result<(Arc<AtomicU64>, String)> {
    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |_body: String| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((got, url))
}

async fn send(http: &reqwest::Client, url: &str, token: &str, i: usize) -> anyhow::Result<()> {
    let body: serde_json::Value = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": SEND, "variables": { "i": { "userId": format!("user{}", i % USERS), "body": format!("Round {i} starts now") } } }))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(body["data"]["sendSms"]["status"] == "PENDING", "{body}");
    Ok(())
}

/// `count` sequential sends on an idle service, each until SENT; their latencies, sorted.
async fn single_sends(
    (http, url, token): (&reqwest::Client, &str, &str),
    provider: &support::NoopProvider,
    from: usize,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::new();
    for i in from..from + count {
        let started = Instant::now();
        send(http, url, token, i).await?;
        took.push(started.elapsed());
        while provider.sent.load(Ordering::Relaxed) < (i + 1) as u64 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    took.sort();
    Ok(took)
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

struct Figures {
    without: Duration,
    with: Duration,
    events: i64,
    events_per_second: f64,
    plain_per_second: f64,
}

async fn run(engine: &str, admin: Option<&str>, n: usize) -> anyhow::Result<Figures> {
    let (url, _dir) = support::fresh_database(engine, admin, "hooks").await?;
    let mut config = support::throughput_config(&url);
    config.sms.rate_limit_mps = 0.0;
    config.reminders.enabled = false;
    config.webhook_allow_private_urls = true;
    let db = sms_notify::connect(&config.database_url).await?;
    sms_notify::migrate(&db).await?;
    let provider = Arc::new(support::NoopProvider::default());
    let app = App::with_database(config, Arc::new(SystemClock), db.clone(), provider.clone());
    support::seed_recipients(&app.handles.db, USERS).await?;
    let now = chrono::Utc::now();
    let hour = now + chrono::Duration::hours(1);
    let service = app.jwt.issue("app", Role::Service, now, hour)?;
    let admin_token = app.jwt.issue("ops", Role::Admin, now, hour)?;
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let graphql = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();
    let client = (&http, graphql.as_str(), service.as_str());

    // One send at a time, no endpoint; then the same with one.
    let without = single_sends(client, &provider, 0, 200).await?;
    let (got, hook_url) = receiver().await?;
    let create = "mutation($u: String!) { createWebhookEndpoint(url: $u, eventTypes: [MESSAGE_UPDATED]) { secret } }";
    let created: serde_json::Value = http
        .post(&graphql)
        .bearer_auth(&admin_token)
        .json(&json!({ "query": create, "variables": { "u": hook_url } }))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        created["data"]["createWebhookEndpoint"]["secret"].is_string(),
        "{created}"
    );
    let with = single_sends(client, &provider, 200, 200).await?;

    // Throughput: n sends from 8 clients; every change becomes an event to post.
    let next = Arc::new(AtomicUsize::new(400));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, token, next) =
                (http.clone(), graphql.clone(), service.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= 400 + n {
                        return anyhow::Ok(());
                    }
                    send(&http, &url, &token, i).await?;
                }
            })
        })
        .collect();
    for c in clients {
        c.await??;
    }
    loop {
        // Every change is made into webhooks once the dispatcher's place is the newest stamp.
        let waiting = count(&db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sms_log, feed_cursors \
                                  WHERE feed_cursors.name = 'webhooks' AND (sms_log.change_seq > feed_cursors.seq \
                                  OR (sms_log.change_seq = feed_cursors.seq AND sms_log.id > feed_cursors.last_id))").await?
            + count(&db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM webhook_deliveries WHERE status = 'pending'").await?;
        if waiting == 0 && provider.sent.load(Ordering::Relaxed) >= (400 + n) as u64 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "deliveries stopped moving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let events = count(
        &db,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM webhook_deliveries WHERE status = 'delivered'",
    )
    .await?;
    anyhow::ensure!(
        got.load(Ordering::Relaxed) as i64 >= events,
        "the receiver got fewer"
    );
    // The baseline: one task posting bodies of the same size to the same receiver, one at a time.
    let body = json!({ "type": "message.updated", "timestamp": "2026-11-30T00:00:00.000Z", "data": { "id": "1", "status": "SENT", "messageType": "OTHER", "userId": "user1", "cost": "0.0075", "errorCode": null, "errorMessage": null, "relatedObjectType": null, "relatedObjectId": null, "createdAt": "2026-11-30T00:00:00Z" } }).to_string();
    let plain_started = Instant::now();
    let plain = 2_000;
    for _ in 0..plain {
        http.post(&hook_url).body(body.clone()).send().await?;
    }
    let plain_per_second = plain as f64 / plain_started.elapsed().as_secs_f64();
    server.stop().await?;
    Ok(Figures {
        without: percentile(&without, 0.5),
        with: percentile(&with, 0.5),
        events,
        events_per_second: events as f64 / elapsed.as_secs_f64(),
        plain_per_second,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let (engines, admin) = support::engines();
    println!(
        "sms-notify signed webhooks benchmark: {n} sends from {CLIENTS} clients, a receiver on loopback, 2 cores"
    );
    println!();
    println!(
        "| engine | events delivered | events/s (sends to delivered) | plain POSTs/s, same receiver | vs plain | one send, p50, no endpoint | with an endpoint | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for engine in engines {
        let f = run(engine, admin.as_deref(), n).await?;
        println!(
            "| {engine} | {} | {:.0} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.2} |",
            f.events,
            f.events_per_second,
            f.plain_per_second,
            f.events_per_second / f.plain_per_second,
            ms(f.without),
            ms(f.with),
            ms(f.with) / ms(f.without)
        );
    }
    Ok(())
}
