//! Moving in: `sms-notify import` of people with preferences and consent, beside a plain multi-row
//! INSERT of the same rows measured in the same run.
//!
//!   cargo bench --bench import                         # SQLite, and PostgreSQL when BENCH_POSTGRES_URL is set
//!   BENCH_IMPORT_PEOPLE=1000000 cargo bench --bench import
//!
//! 1. Files: BENCH_IMPORT_PEOPLE (100,000) people and as many preferences rows with consent, CSV.
//! 2. Baseline: the same rows (a recipient, their preferences, one consent event each) written by
//!    plain multi-row INSERTs of 500 rows, a transaction per batch, into a fresh database.
//! 3. Import: the release executable, `sms-notify import <folder>`, into another fresh database; its
//!    peak resident memory (VmHWM) is read while it runs. Then the same import again (everything
//!    unchanged), as a re-run after a crash would find it.
//! 4. The back end's bulk call: 1,000 users (number, proof, zone) by 1,000 `upsertRecipient` calls one
//!    after another, against one `upsertRecipients` call of the same 1,000 (other users), over HTTP
//!    to the service on a fresh database. Each side is the median of 3 rounds.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use sms_notify::store::value_groups;

fn people(dir: &Path, n: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut p = std::io::BufWriter::new(std::fs::File::create(dir.join("people.csv"))?);
    let mut q = std::io::BufWriter::new(std::fs::File::create(dir.join("preferences.csv"))?);
    writeln!(
        p,
        "user_id,phone_number,phone_verified,allow_sms_invitations,timezone,signed_up_at"
    )?;
    writeln!(
        q,
        "user_id,sms_battle_invitations,sms_battle_results,sms_battle_reminders,sms_streak_alerts,consent_given_at,consent_method,consent_ip,consent_revoked_at"
    )?;
    for i in 0..n {
        writeln!(
            p,
            "user{i},{},t,t,America/Chicago,2026-01-01 00:00:00+00",
            phone(i)
        )?;
        writeln!(
            q,
            "user{i},t,t,t,{},2026-01-02 00:00:00+00,opt_in_modal,198.51.100.{},",
            if i % 3 == 0 { "f" } else { "t" },
            i % 250
        )?;
    }
    p.flush()?;
    q.flush()?;
    Ok(())
}

/// A distinct valid US number per person (area codes 201 to 299, all of their lines).
fn phone(i: usize) -> String {
    format!("+1{}{:07}", 201 + i / 8_000_000, 2_000_000 + i % 8_000_000)
}

/// The same rows by plain multi-row INSERTs, 500 a statement, a transaction per batch.
async fn baseline(url: &str, n: usize) -> anyhow::Result<Duration> {
    let db = sms_notify::connect(&secrecy::SecretString::from(url.to_owned())).await?;
    sms_notify::store::migrate(&db).await?;
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    let started = Instant::now();
    for start in (0..n).step_by(500) {
        let end = (start + 500).min(n);
        let txn = db.begin().await?;
        let rows = |cols: usize,
                    values: &mut Vec<sea_orm::Value>,
                    row: &mut dyn FnMut(usize, &mut Vec<sea_orm::Value>)| {
            let first = values.len() + 1;
            for i in start..end {
                row(i, values);
            }
            // SQLite's plain `?`, as sea-query writes them (numbered ones bind slower).
            value_groups(backend, first, cols, end - start)
        };
        let mut v = Vec::new();
        let sql = format!(
            "INSERT INTO recipients (user_id, phone_e164, phone_verified_at, allow_sms, timezone, signed_up_at, created_at, updated_at, imported_at) VALUES {}",
            rows(9, &mut v, &mut |i, v| v.extend([
                format!("user{i}").into(),
                phone(i).into(),
                now.into(),
                true.into(),
                "America/Chicago".into(),
                now.into(),
                now.into(),
                now.into(),
                now.into()
            ]))
        );
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, v))
            .await?;
        let mut v = Vec::new();
        let sql = format!(
            "INSERT INTO sms_preferences (user_id, battle_invitations, battle_results, battle_reminders, streak_alerts, direct_messages, achievements, consent_given_at, consent_method, consent_ip, updated_at, imported_at) VALUES {}",
            rows(12, &mut v, &mut |i, v| v.extend([
                format!("user{i}").into(),
                true.into(),
                true.into(),
                true.into(),
                (i % 3 != 0).into(),
                true.into(),
                true.into(),
                now.into(),
                "opt_in_modal".into(),
                format!("198.51.100.{}", i % 250).into(),
                now.into(),
                now.into()
            ]))
        );
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, v))
            .await?;
        let mut v = Vec::new();
        let sql = format!(
            "INSERT INTO consent_events (user_id, action, method, phone_e164, ip, occurred_at, imported_at) VALUES {}",
            rows(7, &mut v, &mut |i, v| v.extend([
                format!("user{i}").into(),
                "given".into(),
                "opt_in_modal".into(),
                phone(i).into(),
                format!("198.51.100.{}", i % 250).into(),
                now.into(),
                now.into()
            ]))
        );
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, v))
            .await?;
        txn.commit().await?;
    }
    let took = started.elapsed();
    db.close().await?;
    Ok(took)
}

/// Runs the executable's import; its time and peak resident memory in MiB.
fn import(url: &str, dir: &Path) -> anyhow::Result<(Duration, f64, String)> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sms-notify"))
        .arg("import")
        .arg(dir)
        .arg("--refused")
        .arg(dir.join("refused.csv"))
        .env("DATABASE_URL", url)
        .env_remove("APP_ENV")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while child.try_wait()?.is_none() {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "the import failed: {:?}", out.status);
    Ok((
        took,
        peak_kib as f64 / 1024.0,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn facts(round: usize, i: usize, tag: &str) -> serde_json::Value {
    serde_json::json!({
        "userId": format!("{tag}{round}-{i}"), "phoneNumber": phone(round * 1_000 + i),
        "phoneVerified": true, "timezone": "America/Chicago",
    })
}

/// 1,000 users by one call each, then 1,000 others by one bulk call: the two times.
async fn bulk(engine: &str, admin: Option<&str>) -> anyhow::Result<(Duration, Duration)> {
    use std::sync::Arc;
    let (url, _dir) = support::fresh_database(engine, admin, "bulk").await?;
    let mut config = support::throughput_config(&url);
    config.reminders.enabled = false;
    let db = sms_notify::connect(&config.database_url).await?;
    sms_notify::migrate(&db).await?;
    let provider = Arc::new(support::NoopProvider::default());
    let app =
        sms_notify::App::with_database(config, Arc::new(sms_notify::SystemClock), db, provider);
    let now = chrono::Utc::now();
    let token = app.jwt.issue(
        "backend",
        sms_notify::auth::Role::Service,
        now,
        now + chrono::Duration::hours(1),
    )?;
    let server = app
        .start(
            "127.0.0.1:0".parse()?,
            tokio_util::sync::CancellationToken::new(),
        )
        .await?;
    let url = format!("http://{}/graphql", server.addr);
    let http = reqwest::Client::new();
    let post = |query: &'static str, variables: serde_json::Value| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let body: serde_json::Value = http
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({ "query": query, "variables": variables }))
                .send()
                .await?
                .json()
                .await?;
            anyhow::ensure!(body.get("errors").is_none(), "{body}");
            anyhow::Ok(body)
        }
    };
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let started = Instant::now();
        for i in 0..1_000 {
            post(
                "mutation($i: RecipientInput!) { upsertRecipient(input: $i) { userId } }",
                serde_json::json!({ "i": facts(round, i, "one") }),
            )
            .await?;
        }
        one.push(started.elapsed());
        let inputs: Vec<_> = (0..1_000).map(|i| facts(round, i, "bulk")).collect();
        let started = Instant::now();
        let body = post("mutation($i: [RecipientInput!]!) { upsertRecipients(inputs: $i) { index error { code } } }", serde_json::json!({ "i": inputs })).await?;
        many.push(started.elapsed());
        let answers = body["data"]["upsertRecipients"]
            .as_array()
            .map_or(0, Vec::len);
        anyhow::ensure!(answers == 1_000, "{answers} answers");
    }
    server.stop().await?;
    one.sort();
    many.sort();
    Ok((one[1], many[1]))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_IMPORT_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let files = tempfile::tempdir()?;
    people(files.path(), n)?;
    let size = std::fs::metadata(files.path().join("people.csv"))?.len()
        + std::fs::metadata(files.path().join("preferences.csv"))?.len();
    println!(
        "{n} people with preferences and consent ({:.1} MiB of CSV); rows/s count people",
        size as f64 / 1048576.0
    );
    println!();
    println!("| engine | run | seconds | people/s | vs plain INSERT | peak RSS |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    let (engines, admin) = support::engines();
    for engine in engines {
        let (url, _a) = support::fresh_database(engine, admin.as_deref(), "import_base").await?;
        let base = baseline(&url, n).await?;
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "| {engine} | plain multi-row INSERT (3 tables, 500 a statement) | {:.1} | {:.0} | 1.00 | |",
            base.as_secs_f64(),
            rate(base)
        );
        let (url, _b) = support::fresh_database(engine, admin.as_deref(), "import_run").await?;
        let (took, rss, _) = import(&url, files.path())?;
        println!(
            "| {engine} | `sms-notify import` | {:.1} | {:.0} | {:.2} | {rss:.1} MiB |",
            took.as_secs_f64(),
            rate(took),
            rate(took) / rate(base)
        );
        let (again, rss2, summary) = import(&url, files.path())?;
        anyhow::ensure!(
            summary.contains(&format!("{n:>9}         0         0 {n:>9}")),
            "the second run changed something:\n{summary}"
        );
        println!(
            "| {engine} | the same again (all unchanged) | {:.1} | {:.0} | {:.2} | {rss2:.1} MiB |",
            again.as_secs_f64(),
            rate(again),
            rate(again) / rate(base)
        );
    }
    println!();
    println!(
        "| engine | 1,000 `upsertRecipient` calls | one `upsertRecipients` of 1,000 | bulk faster by |"
    );
    println!("| --- | ---: | ---: | ---: |");
    let (engines, admin) = support::engines();
    for engine in engines {
        let (one, many) = bulk(engine, admin.as_deref()).await?;
        println!(
            "| {engine} | {:.0} ms | {:.0} ms | {:.1}x |",
            one.as_secs_f64() * 1e3,
            many.as_secs_f64() * 1e3,
            one.as_secs_f64() / many.as_secs_f64()
        );
    }
    Ok(())
}
