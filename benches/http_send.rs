//! Sends over HTTP as the app's back end makes them: `sendSms`, one message per request, 16 clients,
//! end to end until every message is `SENT` (no rate limit, a provider that answers at once), with
//! group commit off (each send its own transaction, as before) and on, in the same run. Also the
//! latency of one send on an idle service, what one delivered message costs the database (statements
//! by kind; rows written on PostgreSQL), and the idle memory of `sms-notify serve`.
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

/// `n` sends from `CLIENTS` clients at once, each taking the next number until all are sent.
async fn from_clients(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, token, next) =
                (http.clone(), url.to_owned(), token.to_owned(), next.clone());
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
    Ok(())
}

/// `me` over HTTP from `CLIENTS` clients, each a user of its own: the floor of the same stack (the
/// router, the token, one read of the recipient), requests per second.
async fn me_rate(engine: &str, admin: Option<&str>, n: usize) -> anyhow::Result<f64> {
    let (url, _dir) = support::fresh_database(engine, admin, "me").await?;
    let mut config = support::throughput_config(&url);
    config.reminders.enabled = false;
    let db = sms_notify::connect(&config.database_url).await?;
    sms_notify::migrate(&db).await?;
    let provider = Arc::new(support::NoopProvider::default());
    let app = App::with_database(config, Arc::new(SystemClock), db, provider);
    support::seed_recipients(&app.handles.db, CLIENTS).await?;
    let now = chrono::Utc::now();
    let tokens: Vec<String> = (0..CLIENTS)
        .map(|i| {
            app.jwt.issue(
                &format!("user{i}"),
                Role::User,
                now,
                now + chrono::Duration::hours(1),
            )
        })
        .collect::<Result<_, _>>()?;
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let url = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (http, url, next) = (http.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let body: serde_json::Value = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "query": "{ me { userId phoneNumber phoneVerified } }" }))
                        .send()
                        .await?
                        .json()
                        .await?;
                    anyhow::ensure!(body["data"]["me"]["phoneVerified"] == true, "{body}");
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for client in clients {
        client.await??;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    server.stop().await?;
    Ok(rate)
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
    let started = Instant::now();
    from_clients(&http, &url, &token, n).await?;
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

/// What one delivered message costs the database.
struct Cost {
    messages: usize,
    /// Statements the service sent, by kind (select, insert, update, delete, other), per message.
    statements: [f64; 5],
    /// Rows inserted, updated or deleted per message, triggers' writes included (PostgreSQL's
    /// `pg_stat_user_tables`; SQLite keeps no such count).
    rows: Option<f64>,
    /// Statements PostgreSQL executed per message, as `pg_stat_statements` counts them (`BEGIN`,
    /// `COMMIT` and statements inside triggers included, with `track = all`), when it is loaded.
    pg_statements: Option<f64>,
    /// Messages per second from the first request until the last text was `DELIVERED`.
    delivered_rate: f64,
    /// CPU time of this process (the service and the benchmark's clients) per message, microseconds.
    cpu_us: f64,
    /// CPU time per message by stage (`sms_notify::stages`), microseconds.
    stages: Vec<(sms_notify::stages::Stage, f64)>,
}

/// Every statement PostgreSQL has counted so far in the current database, when `pg_stat_statements`
/// is loaded (`shared_preload_libraries`) and can be created.
async fn pg_statement_calls(probe: &sea_orm::DatabaseConnection) -> Option<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    probe
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .ok()?;
    let row = probe
        .query_one_raw(Statement::from_string(
            probe.get_database_backend(),
            "SELECT COALESCE(SUM(calls), 0)::bigint AS n FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND userid = (SELECT oid FROM pg_roles WHERE rolname = current_user) \
             AND query NOT LIKE '%pg_stat%' AND query NOT LIKE '%COUNT(*) AS n FROM sms_log%'",
        ))
        .await
        .ok()??;
    row.try_get::<i64>("", "n").ok()
}

/// Rows written so far in every table of the database `probe` is connected to (PostgreSQL).
async fn rows_written(probe: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    probe
        .execute_unprepared("SELECT pg_stat_clear_snapshot()")
        .await?;
    let row = probe
        .query_one_raw(Statement::from_string(
            probe.get_database_backend(),
            "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no stats"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// `n` sends from 16 clients until every text is `DELIVERED` (the provider reports each delivered, as
/// the console provider does), counting what the database was asked to do meanwhile: the accept, the
/// claim, the outcome, the receipt, the change feed and its readers.
async fn cost(engine: &str, admin: Option<&str>, n: usize) -> anyhow::Result<Cost> {
    use sea_orm::{ConnectionTrait, Statement};
    let (url, _dir) = support::fresh_database(engine, admin, "cost").await?;
    let mut config = support::throughput_config(&url);
    config.sms.rate_limit_mps = 0.0;
    config.reminders.enabled = false;
    let mut db = sms_notify::connect(&config.database_url).await?;
    sms_notify::migrate(&db).await?;
    // The benchmark's own reads go through a connection of their own, not counted.
    let probe = sms_notify::connect(&config.database_url).await?;
    let count = support::StatementCount::attach(&mut db);
    let provider = Arc::new(support::NoopProvider {
        receipts: true,
        ..Default::default()
    });
    let app = App::with_database(config, Arc::new(SystemClock), db, provider.clone());
    count.writes(&app.handles.outbox.db());
    support::seed_recipients(&app.handles.db, USERS).await?;
    let now = chrono::Utc::now();
    let token = app
        .jwt
        .issue("app", Role::Service, now, now + chrono::Duration::hours(1))?;
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let url = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();
    let postgres = engine == "postgres";
    if postgres {
        // Let the seeding's counters reach the statistics first.
        tokio::time::sleep(Duration::from_secs(11)).await;
    }
    let rows_before = if postgres {
        rows_written(&probe).await?
    } else {
        0
    };
    let pg_before = if postgres {
        pg_statement_calls(&probe).await
    } else {
        None
    };
    let before = count.snapshot();
    sms_notify::stages::enable();
    sms_notify::stages::take();
    let cpu_before = support::cpu_seconds();
    let started = Instant::now();
    from_clients(&http, &url, &token, n).await?;
    let delivered = Statement::from_string(
        probe.get_database_backend(),
        "SELECT COUNT(*) AS n FROM sms_log WHERE status = 'delivered'",
    );
    loop {
        let row = probe.query_one_raw(delivered.clone()).await?;
        let done = row
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        if done as usize >= n {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "receipts stopped moving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered_rate = n as f64 / started.elapsed().as_secs_f64();
    let cpu_us = (support::cpu_seconds() - cpu_before) * 1e6 / n as f64;
    let stages = sms_notify::stages::take()
        .into_iter()
        .map(|(stage, spent)| (stage, spent.as_secs_f64() * 1e6 / n as f64))
        .collect();
    // The feed's readers (subscriptions, webhooks) catch up within their poll.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = count.snapshot();
    server.stop().await?;
    let rows = if postgres {
        // Backends hand their counters to the statistics within about ten seconds of going idle.
        tokio::time::sleep(Duration::from_secs(11)).await;
        Some((rows_written(&probe).await? - rows_before) as f64 / n as f64)
    } else {
        None
    };
    let pg_statements = match (pg_before, pg_statement_calls(&probe).await) {
        (Some(before), Some(after)) => Some((after - before) as f64 / n as f64),
        _ => None,
    };
    let mut statements = [0.0; 5];
    for (i, s) in statements.iter_mut().enumerate() {
        *s = (after[i] - before[i]) as f64 / n as f64;
    }
    Ok(Cost {
        messages: n,
        statements,
        rows,
        pg_statements,
        delivered_rate,
        cpu_us,
        stages,
    })
}

/// The same runs' CPU per message by stage; the rest is the process's other work (HTTP and GraphQL,
/// the benchmark's own clients, sqlx's SQLite thread, the runtime).
fn print_stages(runs: &[(impl std::fmt::Display, Cost)]) {
    use sms_notify::stages::Stage;
    println!("CPU per delivered message by stage, the same runs:");
    println!();
    let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
    println!(
        "| engine | {} | rest of the process | all |",
        names.join(" | ")
    );
    println!("| --- |{} ---: | ---: |", " ---: |".repeat(names.len()));
    for (engine, c) in runs {
        let staged: f64 = c.stages.iter().map(|(_, us)| us).sum();
        let cells: Vec<String> = c
            .stages
            .iter()
            .map(|(_, us)| format!("{us:.0} us"))
            .collect();
        println!(
            "| {engine} | {} | {:.0} us | {:.0} us |",
            cells.join(" | "),
            c.cpu_us - staged,
            c.cpu_us
        );
    }
    println!();
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
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (engines, admin) = support::engines();
    println!(
        "sms-notify HTTP send benchmark: {n} sendSms requests, {CLIENTS} clients, 2 cores, provider answers at once"
    );
    support::print_durability(&engines, admin.as_deref()).await?;
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
    println!(
        "What one delivered message costs the database ({CLIENTS} clients, every text to DELIVERED by its receipt):"
    );
    println!();
    println!(
        "| engine | messages | statements sent by the service | select | insert | update | delete | other | statements PostgreSQL ran (pg_stat_statements) | rows written (triggers included) | CPU per message | messages/s to DELIVERED | `me` requests/s | ratio |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let na = |v: Option<f64>| v.map_or("n/a".to_owned(), |r| format!("{r:.2}"));
    let mut by_stage = Vec::new();
    for engine in support::engines().0 {
        let c = cost(engine, admin.as_deref(), n.min(5_000)).await?;
        let me = me_rate(engine, admin.as_deref(), 20_000).await?;
        let total: f64 = c.statements.iter().sum();
        let [select, insert, update, delete, other] = c.statements;
        println!(
            "| {engine} | {} | {total:.2} | {select:.2} | {insert:.2} | {update:.2} | {delete:.2} | {other:.2} | {} | {} | {:.0} us | {:.0} | {me:.0} | {:.1}% |",
            c.messages,
            na(c.pg_statements),
            na(c.rows),
            c.cpu_us,
            c.delivered_rate,
            100.0 * c.delivered_rate / me
        );
        by_stage.push((engine, c));
    }
    println!();
    print_stages(&by_stage);
    let rss = idle_rss()?;
    println!(
        "idle `sms-notify serve` (SQLite, console provider): {rss:.1} MiB resident ({:.1} MB)",
        rss * 1.048_576
    );
    Ok(())
}
