//! What traces cost the send path: `sendSms` over HTTP from 16 clients until every text is sent (no rate
//! limit, a provider that answers at once), with traces off (no exporter: no context read or kept)
//! and on (every span exported over OTLP/HTTP to a loopback collector that answers 200), alternating
//! off, on, off, on ... in the same run, each on a fresh database. Prints each round and the ratio of the
//! medians.
//!
//!   cargo bench --bench traces      (BENCH_MESSAGES, default 4000; BENCH_ROUNDS, default 3;
//!                                    BENCH_POSTGRES_URL adds PostgreSQL)

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use serde_json::json;
use sms_notify::{
    App, SystemClock,
    auth::Role,
    telemetry::{ParentRoot, SamplerSetting, TelemetryConfig},
};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, Registry, prelude::*, reload};

const USERS: usize = 1_000;
const CLIENTS: usize = 16;
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

type Traces =
    Option<tracing_opentelemetry::OpenTelemetryLayer<Registry, opentelemetry_sdk::trace::Tracer>>;

/// A loopback OTLP/HTTP collector: takes every export, counts requests and bytes, answers 200.
async fn collector() -> anyhow::Result<(String, Arc<(AtomicU64, AtomicU64)>)> {
    let seen = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    async fn take(State(seen): State<Arc<(AtomicU64, AtomicU64)>>, body: Bytes) -> Vec<u8> {
        seen.0.fetch_add(1, Ordering::Relaxed);
        seen.1.fetch_add(body.len() as u64, Ordering::Relaxed);
        Vec::new()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route("/v1/traces", post(take))
        .with_state(seen.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{addr}/v1/traces"), seen))
}

/// `n` sends from `CLIENTS` clients on a fresh database, until every text is sent: messages per second.
async fn rate(engine: &str, admin: Option<&str>, n: usize) -> anyhow::Result<f64> {
    let (url, _dir) = support::fresh_database(engine, admin, "traces").await?;
    let mut config = support::throughput_config(&url);
    config.sms.rate_limit_mps = 0.0;
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
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let url = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, url, token, next) = (http.clone(), url.clone(), token.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(());
                    }
                    // Each client carries the app's trace context, as the app's back end would.
                    let traceparent = format!("00-{:032x}-{:016x}-01", i + 1, c + 1);
                    let input = json!({ "userId": format!("user{}", i % USERS), "body": format!("Round {i} starts now") });
                    let body: serde_json::Value = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("traceparent", traceparent)
                        .json(&json!({ "query": SEND, "variables": { "i": input } }))
                        .send()
                        .await?
                        .json()
                        .await?;
                    anyhow::ensure!(body["data"]["sendSms"]["status"] == "PENDING", "{body}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await??;
    }
    while provider.sent.load(Ordering::Relaxed) < n as u64 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "messages stopped moving"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    server.stop().await?;
    Ok(rate)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // The service's own filter, and a trace layer that is swapped in and out between rounds.
    let (traces, swap) = reload::Layer::<Traces, Registry>::new(None);
    tracing_subscriber::registry()
        .with(traces)
        .with(EnvFilter::new(sms_notify::DEFAULT_LOG_FILTER))
        .init();
    let (endpoint, seen) = collector().await?;
    let settings = TelemetryConfig {
        traces_endpoint: Some(endpoint),
        headers: Vec::new(),
        service_name: "sms-notify-bench".into(),
        sampler: SamplerSetting::ParentBased(ParentRoot::AlwaysOn),
    };
    let (engines, admin) = support::engines();
    println!(
        "sms-notify traces benchmark: {n} sendSms over HTTP per round, {CLIENTS} clients with a traceparent, 2 cores, to SENT"
    );
    println!();
    println!("| engine | traces | messages/s, each round | median | vs off |");
    println!("| --- | --- | --- | ---: | ---: |");
    for engine in engines {
        let (mut off, mut on) = (Vec::new(), Vec::new());
        let (requests, bytes) = (
            seen.0.load(Ordering::Relaxed),
            seen.1.load(Ordering::Relaxed),
        );
        for _ in 0..rounds {
            off.push(rate(engine, admin.as_deref(), n).await?);
            let (layer, exporting) = sms_notify::telemetry::layer::<Registry>(&settings)?
                .ok_or_else(|| anyhow::anyhow!("traces stayed off"))?;
            swap.reload(Some(layer))?;
            on.push(rate(engine, admin.as_deref(), n).await?);
            swap.reload(None)?;
            // Sends what is buffered, and turns traces off again.
            tokio::task::spawn_blocking(move || exporting.shutdown()).await?;
        }
        let (off_median, on_median) = (median(off.clone()), median(on.clone()));
        let each = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| {engine} | off | {} | {off_median:.0} | 1.00 |",
            each(&off)
        );
        println!(
            "| {engine} | on, loopback collector | {} | {on_median:.0} | {:.2} |",
            each(&on),
            on_median / off_median
        );
        let exported = seen.1.load(Ordering::Relaxed) - bytes;
        println!(
            "|  | exported | {} requests, {:.0} bytes per message | | |",
            seen.0.load(Ordering::Relaxed) - requests,
            exported as f64 / (n * rounds) as f64
        );
    }
    Ok(())
}
