//! What a hostile document costs the service, and what it costs everyone else.
//!
//!   cargo bench --bench query_limits
//!
//! 1. Baseline: async-graphql's own path (parse, validate, complexity) on documents whose fragments
//!    each spread the previous one twice, without the service's measure: time doubles per fragment.
//! 2. The service over HTTP: the 27-fragment document of the report (1.2 KB) refused, median and p99.
//! 3. The latency of an ordinary `me` query: alone, while 8 clients keep sending the 27-fragment
//!    document, and while 8 clients keep sending the largest document that is accepted (1,025 fields).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use sms_notify::{
    App, Config, SystemClock,
    auth::Role,
    graphql::limits::{self, doubling_fragments},
};
use support::{me_latencies, ms, percentile};
use tokio_util::sync::CancellationToken;

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut request = http.post(url).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    anyhow::ensure!(response.status() == 200, "status {}", response.status());
    Ok(response.json().await?)
}

/// `me` latencies while `clients` tasks keep posting `query`; also how many of those were answered.
async fn me_beside(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    clients: usize,
    expect_error: bool,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, token, query) = (
                http.clone(),
                url.to_owned(),
                token.to_owned(),
                query.to_owned(),
            );
            let (stop, answered) = (stop.clone(), answered.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer = post(&http, &url, Some(&token), &query).await?;
                    anyhow::ensure!(
                        answer.get("errors").is_some() == expect_error,
                        "unexpected answer: {answer}"
                    );
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latencies = me_latencies(http, url, token, 300).await?;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok((latencies, answered.load(Ordering::Relaxed)))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("sms-notify query limits benchmark; {cores} cores");
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_database(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    ));
    config.sms.workers = 0;
    config.reminders.enabled = false;
    let app = App::build(config, Arc::new(SystemClock)).await?;
    let schema = app.schema.clone();

    // 1. Baseline: the library's own refusal, without the measure.
    println!();
    println!("| document | fields expanded | async-graphql alone | the service's measure |");
    println!("| --- | ---: | ---: | ---: |");
    let mut last = Duration::ZERO;
    for n in [14, 16, 18, 20] {
        let query = doubling_fragments(n);
        let started = Instant::now();
        let response = schema.execute(async_graphql::Request::new(&query)).await;
        let alone = started.elapsed();
        anyhow::ensure!(!response.errors.is_empty(), "refused by complexity");
        let doc = async_graphql::parser::parse_query(&query)?;
        let started = Instant::now();
        let measured = limits::check(&doc, &limits::DocumentLimits::SERVICE);
        let measure = started.elapsed();
        anyhow::ensure!(measured.is_err());
        println!(
            "| {n} fragments, {} bytes | {} | {:.1} ms | {:.3} ms |",
            query.len(),
            1usize << (n - 1),
            ms(alone),
            ms(measure)
        );
        last = alone;
    }
    println!(
        "(each fragment more doubles the library's time: 27 fragments would take about {:.0} s)",
        last.as_secs_f64() * 128.0
    );

    let now = chrono::Utc::now();
    let token = app.jwt.issue(
        "bench-user",
        Role::User,
        now,
        now + chrono::Duration::hours(1),
    )?;
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let url = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();

    // 2. The report's document over HTTP, without a token.
    let hostile = doubling_fragments(27);
    let mut refusals = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let answer = post(&http, &url, None, &hostile).await?;
        refusals.push(started.elapsed());
        anyhow::ensure!(answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT");
    }
    refusals.sort();
    println!();
    println!("| measure | p50 | p99 |");
    println!("| --- | ---: | ---: |");
    println!(
        "| refusing the 27-fragment document ({} bytes) over HTTP | {:.2} ms | {:.2} ms |",
        hostile.len(),
        ms(percentile(&refusals, 0.5)),
        ms(percentile(&refusals, 0.99))
    );

    // 3. `me` alone and beside 8 clients.
    me_latencies(&http, &url, &token, 50).await?; // warm up
    let alone = me_latencies(&http, &url, &token, 300).await?;
    println!(
        "| `me` alone (baseline) | {:.2} ms | {:.2} ms |",
        ms(percentile(&alone, 0.5)),
        ms(percentile(&alone, 0.99))
    );
    let (busy, answered) = me_beside(&http, &url, &token, &hostile, 8, true).await?;
    println!(
        "| `me` while 8 clients send the 27-fragment document ({answered} refused meanwhile) | {:.2} ms | {:.2} ms |",
        ms(percentile(&busy, 0.5)),
        ms(percentile(&busy, 0.99))
    );
    let largest = doubling_fragments(11);
    let (heavy, answered) = me_beside(&http, &url, &token, &largest, 8, false).await?;
    println!(
        "| `me` while 8 clients send the largest accepted document (1,025 fields; {answered} answered) | {:.2} ms | {:.2} ms |",
        ms(percentile(&heavy, 0.5)),
        ms(percentile(&heavy, 0.99))
    );
    server.stop().await?;
    Ok(())
}
