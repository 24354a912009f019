//! WebSocket churn: `sms-notify serve` (release build, SQLite, console provider) in a process of its
//! own; 500 clients connect to `/graphql/ws`, subscribe to `smsMessageUpdates` and hang up, 20 times
//! over. Prints the server's resident memory and threads idle before the first round and after each
//! round, and the last round against the first: memory must settle, not grow with the churn.
//!
//!   cargo bench --bench ws_churn          (BENCH_WS_CYCLES, BENCH_WS_CLIENTS to change the sizes)

use std::{process::Stdio, time::Duration};

use futures::{SinkExt, StreamExt, stream};
use serde_json::json;
use sms_notify::auth::{JwtKeys, Role};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const SECRET: &str = "bench-secret-bench-secret-bench-secret";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (resident MiB, threads) of process `pid`.
fn usage(pid: u32) -> anyhow::Result<(f64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let rss = field("VmRSS:").ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    let threads = field("Threads:").ok_or_else(|| anyhow::anyhow!("no Threads"))?;
    Ok((rss as f64 / 1024.0, threads))
}

/// One client: connect, init, subscribe, see the subscription start, hang up.
async fn client(addr: &str, token: &str) -> anyhow::Result<()> {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await?;
    let ack = ws.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??;
    anyhow::ensure!(ack.to_text()?.contains("connection_ack"), "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { smsMessageUpdates { status sequence message { id status } } }" } });
    ws.send(Message::Text(subscribe.to_string().into())).await?;
    // The subscription is running once a ping is answered after it.
    ws.send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await?;
    let pong = ws.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??;
    anyhow::ensure!(pong.to_text()?.contains("pong"), "{pong}");
    ws.close(None).await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cycles = env_or("BENCH_WS_CYCLES", 20);
    let clients = env_or("BENCH_WS_CLIENTS", 500);
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_sms-notify"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("ws.db").display()),
        )
        .env("LISTEN_ADDR", &addr)
        .env("JWT_SECRET", SECRET)
        .env("GRAPHQL_WS_MAX_CONNECTIONS", "10000")
        .env("GRAPHQL_WS_MAX_PER_USER", "10000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = server.id();
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the server never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let keys = JwtKeys::new(&secrecy::SecretString::from(SECRET.to_owned()));
    let now = chrono::Utc::now();
    let token = keys.issue(
        "bench",
        Role::Service,
        now,
        now + chrono::Duration::hours(2),
    )?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = usage(pid)?;
    println!(
        "sms-notify WebSocket churn: {clients} clients connect, subscribe and hang up, {cycles} rounds; 2 cores"
    );
    println!();
    println!("| after | resident MiB | threads |");
    println!("| --- | ---: | ---: |");
    println!("| start (idle) | {:.1} | {} |", idle.0, idle.1);
    let mut first = None;
    let mut last = idle;
    for round in 1..=cycles {
        let started = std::time::Instant::now();
        let failures = stream::iter(0..clients)
            .map(|_| client(&addr, &token))
            .buffer_unordered(100)
            .filter(|r| futures::future::ready(r.is_err()))
            .count()
            .await;
        let took = started.elapsed();
        anyhow::ensure!(failures == 0, "{failures} clients failed in round {round}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = usage(pid)?;
        let first = *first.get_or_insert(last);
        if round == 1 || round == 7 || round == cycles || round % 5 == 0 {
            println!(
                "| round {round} ({:.0} connections/s) | {:.1} | {} |",
                clients as f64 / took.as_secs_f64(),
                last.0,
                last.1
            );
        }
        let _ = first;
    }
    let first = first.unwrap_or(idle);
    println!();
    println!(
        "after round {cycles} against after round 1: {:.2}x resident memory ({:+.1} MiB), threads {} -> {}",
        last.0 / first.0,
        last.0 - first.0,
        first.1,
        last.1
    );
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}
