//! What the benchmarks share: a fresh database of each engine, and latency arithmetic.

// Each benchmark includes this file and uses part of it.
#![allow(dead_code)]

use sea_orm::{ConnectionTrait, Database};

/// A new empty database: an SQLite file in a temporary folder (kept alive by the returned guard), or a
/// PostgreSQL database created through `admin` (a superuser URL).
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
    let conn = Database::connect(admin).await?;
    let name = format!("smsn_bench_{tag}_{}", std::process::id());
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok((format!("{base}/{name}"), None))
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
    (engines, admin)
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
