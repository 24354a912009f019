//! The cost of checking a verification code, and proof that checks do not block the executor.
//!
//!   cargo bench --bench verification
//!
//! 1. One check (argon2id, 19 MiB, t=2) at a time: median and p99.
//! 2. Checks per second with every core busy (the service runs at most one per core).
//! 3. The latency of an unrelated `me` query over HTTP against the real server: alone (baseline), then
//!    while 50 checks run in the same process.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{sync::Arc, time::Instant};

use sms_notify::{App, Config, SystemClock, auth::Role, verification};
use support::{me_latencies, ms, percentile};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("sms-notify verification benchmark: argon2id m=19456 KiB, t=2, p=1; {cores} cores");
    let hash = verification::hash_code("123456".into()).await?;

    // 1. One check at a time.
    let mut single = Vec::new();
    for i in 0..100 {
        let started = Instant::now();
        let ok = verification::check_code(
            if i % 2 == 0 { "123456" } else { "654321" }.into(),
            hash.clone(),
        )
        .await?;
        single.push(started.elapsed());
        anyhow::ensure!(ok == (i % 2 == 0));
    }
    single.sort();
    println!();
    println!("| measure | value |");
    println!("| --- | ---: |");
    println!(
        "| one check, median | {:.1} ms |",
        ms(percentile(&single, 0.5))
    );
    println!(
        "| one check, p99 | {:.1} ms |",
        ms(percentile(&single, 0.99))
    );

    // 2. Throughput with every core busy.
    let n = 200;
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let hash = hash.clone();
            tokio::spawn(async move { verification::check_code("111111".into(), hash).await })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let per_second = n as f64 / started.elapsed().as_secs_f64();
    println!("| checks per second, {n} at once on {cores} cores | {per_second:.1} |");

    // 3. `me` latency against the real server, alone and beside 50 checks.
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_database(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    ));
    config.sms.workers = 0;
    let app = App::build(config, Arc::new(SystemClock)).await?;
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
    me_latencies(&http, &url, &token, 50).await?; // warm up
    let alone = me_latencies(&http, &url, &token, 300).await?;
    let started = Instant::now();
    let checks: Vec<_> = (0..50)
        .map(|_| {
            let hash = hash.clone();
            tokio::spawn(async move { verification::check_code("222222".into(), hash).await })
        })
        .collect();
    let mut busy = Vec::new();
    while checks.iter().any(|c| !c.is_finished()) {
        busy.extend(me_latencies(&http, &url, &token, 5).await?);
    }
    let checks_took = started.elapsed();
    for c in checks {
        c.await??;
    }
    busy.sort();
    println!(
        "| `me` p50 / p99 alone ({} queries) | {:.2} ms / {:.2} ms |",
        alone.len(),
        ms(percentile(&alone, 0.5)),
        ms(percentile(&alone, 0.99))
    );
    println!(
        "| `me` p50 / p99 while 50 checks run ({} queries over {:.2} s) | {:.2} ms / {:.2} ms |",
        busy.len(),
        checks_took.as_secs_f64(),
        ms(percentile(&busy, 0.5)),
        ms(percentile(&busy, 0.99))
    );
    println!(
        "| p99 ratio, busy / alone | {:.2} |",
        percentile(&busy, 0.99).as_secs_f64() / percentile(&alone, 0.99).as_secs_f64()
    );
    server.stop().await?;
    Ok(())
}
