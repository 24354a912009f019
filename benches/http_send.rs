//! Sends over HTTP as the app's back end makes them: `sendSms`, one message per request, 16 clients,
//! end to end until every message is `SENT` (no rate limit, a provider that answers at once), with
//! group commit off (each send its own transaction, as before) and on, in the same run. Also the
//! latency of one send on an idle service, and the idle memory of `sms-notify serve`.
//!
//!   cargo bench --bench http_send          (BENCH_POSTGRES_URL adds PostgreSQL)

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use sms_notify::{App, SystemClock, auth::Role};
use support::{ms, percentile};
use tokio_util::sync::CancellationToken;

const USERS: usize = 1_000;
const CLIENTS: usize = 16;
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

async fn send(http: &reqwest::Client, url: &str, token: &str, i: usize) -> anyhow::Result<()> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": SEND, "variables": { "i": { "userId": format!("user{}", i % USERS), "body": format!("Round {i} starts now") } } }))
        .send()
        .await?;
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(body["data"]["sendSms"]["status"] == "PENDING", "{body}");
    Ok(())
}

struct Figures {
    rate: f64,
    single_p50: Duration,
    mean_batch: f64,
}

async fn run(
    engine: &str,
    admin: Option<&str>,
    n: usize,
    group_commit: bool,
) -> anyhow::Result<Figures> {
    let (url, _dir) = support::fresh_database(engine, admin, "http").await?;
    let mut config = support::throughput_config(&url);
    config.sms.rate_limit_mps = 0.0;
    config.sms.group_commit = group_commit;
    config.reminders.enabled = false;
    let db = sms_notify::connect(&config.database_url).await?;
    sms_notify::migrate(&db).await?;
    let provider = Arc::new(support::NoopProvider::default());
    let app = App::with_database(config, Arc::new(SystemClock), db, provider.clone());
    support::seed_recipients(&app.handles.db, USERS).await?;
    let now = chrono::Utc::now();
    let token = app
        .jwt
        .issue("app", Role::Service, now, now + chrono::Duration::hours(1))?;
    let outbox = app.handles.outbox.clone();
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let url = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();
    // One send at a time on the idle service.
    let mut single = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        send(&http, &url, &token, i).await?;
        single.push(started.elapsed());
        while provider.sent.load(Ordering::Relaxed) < (i + 1) as u64 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    single.sort();
    let (batches_before, messages_before) = outbox.group_commit_totals();
    // 16 clients, until every message is sent.
    let done_before = provider.sent.load(Ordering::Relaxed);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, token, next) = (http.clone(), url.clone(), token.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(());
                    }
                    send(&http, &url, &token, i).await?;
                }
            })
        })
        .collect();
    for client in clients {
        client.await??;
    }
    while provider.sent.load(Ordering::Relaxed) < done_before + n as u64 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "messages stopped moving"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let (batches, messages) = outbox.group_commit_totals();
    server.stop().await?;
    Ok(Figures {
        rate,
        single_p50: percentile(&single, 0.5),
        mean_batch: if batches > batches_before {
            (messages - messages_before) as f64 / (batches - batches_before) as f64
        } else {
            1.0
        },
    })
}

/// Resident memory of `sms-notify serve`, idle, after it started, in MiB.
fn idle_rss() -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sms-notify"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("idle.db").display()),
        )
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(3));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let _ = child.kill();
    let _ = child.wait();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (engines, admin) = support::engines();
    println!(
        "sms-notify HTTP send benchmark: {n} sendSms requests, {CLIENTS} clients, 2 cores, provider answers at once"
    );
    println!();
    println!(
        "| engine | group commit | messages/s to SENT | vs group commit off | mean batch | one send on an idle service, p50 |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for engine in engines {
        let off = run(engine, admin.as_deref(), n, false).await?;
        let on = run(engine, admin.as_deref(), n, true).await?;
        for (name, f) in [("off", &off), ("on", &on)] {
            println!(
                "| {engine} | {name} | {:.0} | {:.2} | {:.1} | {:.2} ms |",
                f.rate,
                f.rate / off.rate,
                f.mean_batch,
                ms(f.single_p50)
            );
        }
    }
    println!();
    let rss = idle_rss()?;
    println!(
        "idle `sms-notify serve` (SQLite, console provider): {rss:.1} MiB resident ({:.1} MB)",
        rss * 1.048_576
    );
    Ok(())
}
