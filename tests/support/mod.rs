//! What the tests and the benchmarks share: a fresh database of either engine (the throwaway
//! PostgreSQL included), a provider that accepts everything, seeded recipients and latency arithmetic.
//! `tests/api` and each benchmark include it with `#[path]` and use part of it.
#![allow(dead_code)]

pub mod postgres;

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use sea_orm::ConnectionTrait;
use sms_notify::outbox::provider::{OutgoingSms, ProviderError, SmsProvider};

/// A new empty database: an SQLite file in a temporary folder (kept alive by the returned guard), or a
/// PostgreSQL database created through `admin` (a superuser URL; its options such as `sslmode` kept).
pub async fn fresh_database(
    engine: &str,
    admin: Option<&str>,
    tag: &str,
) -> anyhow::Result<(String, Option<tempfile::TempDir>)> {
    if engine == "sqlite" {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        return Ok((url, Some(dir)));
    }
    let admin = admin.ok_or_else(|| anyhow::anyhow!("no BENCH_POSTGRES_URL"))?;
    let name = format!("smsn_bench_{tag}_{}", std::process::id());
    Ok((postgres::create_database(admin, &name).await?, None))
}

/// Prints the PostgreSQL server's durability settings above a benchmark's table when it measures
/// PostgreSQL: the baseline's commits wait on them, so no figure is read without them.
pub async fn print_durability(engines: &[&str], admin: Option<&str>) -> anyhow::Result<()> {
    if let (Some(admin), true) = (admin, engines.contains(&"postgres")) {
        println!("PostgreSQL: {}", postgres::durability(admin).await?);
    }
    Ok(())
}

/// The engines to measure: SQLite always, PostgreSQL when `BENCH_POSTGRES_URL` gives a superuser URL.
pub fn engines() -> (Vec<&'static str>, Option<String>) {
    let admin = std::env::var("BENCH_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let mut engines = vec!["sqlite"];
    if admin.is_some() {
        engines.push("postgres");
    }
    // `BENCH_ENGINES=postgres` (or `sqlite`) runs one of them only.
    if let Ok(only) = std::env::var("BENCH_ENGINES") {
        engines.retain(|e| only.split(',').any(|o| o.trim() == *e));
    }
    (engines, admin)
}

/// The sum of `count` CPU-time fields of a /proc `stat` line, from utime (the 12th field after the
/// command's closing parenthesis: utime, stime, then the children's cutime and cstime), in clock ticks.
fn stat_ticks(stat: &str, count: usize) -> f64 {
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .skip(11)
        .take(count)
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

/// CPU time this process has used so far (user and system), in seconds (Linux).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat_ticks(&stat, 2) / 100.0
}

/// CPU time (user and system) of every process named `postgres` on this machine so far, in seconds,
/// with what the postmaster has collected from its ended backends (Linux). A benchmark that runs its
/// PostgreSQL on loopback subtracts two readings to tell the server's share of a run from its own.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let ticks: f64 = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .map(|stat| stat_ticks(&stat, 4))
        .sum();
    ticks / 100.0
}

/// The `p` quantile (0 to 1) of sorted durations.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A duration in milliseconds.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Accepts every message at once, noting when.
#[derive(Debug, Default)]
pub struct NoopProvider {
    /// Report each text delivered, as the console provider does (the whole loop, receipts included).
    pub receipts: bool,
    pub sent: AtomicU64,
    /// When each text was sent, and its parts (segments).
    pub at: Mutex<Vec<(Instant, u32)>>,
}

#[async_trait::async_trait]
impl SmsProvider for NoopProvider {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn simulates_receipts(&self) -> bool {
        self.receipts
    }

    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<String, ProviderError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut at) = self.at.lock() {
            at.push((
                Instant::now(),
                sms_notify::outbox::catalogue::segments(sms.body).1,
            ));
        }
        Ok(format!("noop-{}", sms.log_id))
    }
}

/// SQL statements the service ran, by kind, counted through sea-orm's metric callback (what the
/// database runs inside triggers is not seen here: PostgreSQL's own counters tell that).
#[derive(Debug, Default)]
pub struct StatementCount {
    pub select: AtomicU64,
    pub insert: AtomicU64,
    pub update: AtomicU64,
    pub delete: AtomicU64,
    pub other: AtomicU64,
}

impl StatementCount {
    /// Counts every statement `db` runs from now on; `writes` (`StatementCount::writes`) counts those
    /// of SQLite's writer connection into the same count.
    pub fn attach(db: &mut sea_orm::DatabaseConnection) -> std::sync::Arc<Self> {
        let count = std::sync::Arc::new(Self::default());
        let counter = count.clone();
        db.set_metric_callback(move |info| counter.count(info));
        count
    }

    /// Counts the statements of the service's writer connection (`Db::observe_writes`) here too.
    pub fn writes(self: &std::sync::Arc<Self>, db: &sms_notify::store::db::Db) {
        let counter = self.clone();
        db.observe_writes(std::sync::Arc::new(move |info| counter.count(info)));
    }

    fn count(&self, info: &sea_orm::metric::Info<'_>) {
        let sql = info.statement.sql.trim_start();
        let word = sql
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let slot = match word.as_str() {
            "SELECT" => &self.select,
            "INSERT" => &self.insert,
            "UPDATE" => &self.update,
            "DELETE" => &self.delete,
            _ => &self.other,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    /// (select, insert, update, delete, other) so far.
    pub fn snapshot(&self) -> [u64; 5] {
        [
            self.select.load(Ordering::Relaxed),
            self.insert.load(Ordering::Relaxed),
            self.update.load(Ordering::Relaxed),
            self.delete.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        ]
    }
}

/// The settings of a throughput run: budgets and daily limits are tested elsewhere (and still reserve
/// and roll up every message here); it runs on the wall clock, so quiet hours are off, or at night every
/// promotion would wait.
pub fn throughput_config(url: &str) -> sms_notify::Config {
    let mut config = sms_notify::Config::for_database(url);
    config.costs.monthly_limit = 1_000_000_000_000;
    config.costs.user_daily_limit = u32::MAX;
    config.locale_rules.quiet_hours = None;
    config
}

/// Recipients `user0` .. `user{users-1}` who may receive promotions.
pub async fn seed_recipients(db: &sea_orm::DatabaseConnection, users: usize) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    for i in 0..users {
        let user = format!("user{i}");
        sms_notify::recipients::set_phone(
            db,
            &user,
            &format!("+1415555{:04}", i),
            phonenumber::country::Id::US,
            now,
        )
        .await?;
        sms_notify::recipients::answer_opt_in(
            db,
            &user,
            sms_notify::recipients::OptInAction::OptIn,
            (None, Default::default()),
            now,
        )
        .await?;
    }
    // The verification flow proves numbers; here they are taken as proven.
    db.execute_unprepared(
        "UPDATE recipients SET phone_verified_at = created_at WHERE user_id LIKE 'user%'",
    )
    .await?;
    Ok(())
}

/// `n` sequential `me` queries as the user of `token`, each checked; their latencies, sorted.
pub async fn me_latencies(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<Vec<std::time::Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = http
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "query": "{ me { userId phoneNumber allowSmsInvitations } }" }))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "status {}", response.status());
        let answer: serde_json::Value = response.json().await?;
        anyhow::ensure!(answer["data"]["me"]["userId"].is_string(), "{answer}");
        out.push(started.elapsed());
    }
    out.sort();
    Ok(out)
}
