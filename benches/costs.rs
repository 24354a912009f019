//! smsCosts over a large log: the rollup against the same sums from the raw log, in one run.
//!
//!   cargo bench --bench costs                          # SQLite, and PostgreSQL when BENCH_POSTGRES_URL is set
//!   BENCH_LOG_ROWS=1000000 cargo bench --bench costs
//!
//! Fills BENCH_LOG_ROWS (10,000,000) `sms_log` rows over 90 days with set-based SQL, builds the rollup
//! from them once (in service the rollup is kept in step row by row; the tests check that it matches the
//! log), then times a monthly report by day and by message type, median of 21 runs, beside the same
//! sums grouped straight from the log.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{sync::Arc, time::Instant};

use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sms_notify::{App, Config, ManualClock, billing as cost};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rows: u64 = std::env::var("BENCH_LOG_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let (engines, admin) = support::engines();
    // The log ends now; the report is for March, the last full month.
    let end = Utc
        .with_ymd_and_hms(2026, 4, 2, 0, 0, 0)
        .single()
        .ok_or_else(|| anyhow::anyhow!("time"))?;
    let (from, to) = (
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("time"))?,
        Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("time"))?,
    );
    println!("sms-notify cost report: {rows} log rows over 90 days; a March report (31 days)");
    println!();
    println!(
        "| engine | fill s | rollup rows | report | rollup (smsCosts) ms | raw log ms | raw / rollup |"
    );
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: |");
    for engine in &engines {
        let (url, _dir) = support::fresh_database(engine, admin.as_deref(), "costs").await?;
        let mut config = Config::for_database(url);
        config.sms.workers = 0;
        config.reminders.enabled = false;
        let app = App::build(config, Arc::new(ManualClock::new(end))).await?;
        let db = &app.handles.db;
        let backend = db.get_database_backend();
        let start = end.timestamp() - 90 * 86_400;
        let step = (90 * 86_400) as f64 / rows as f64;
        let (series, created, day) = match backend {
            DbBackend::Postgres => (
                format!("SELECT g AS i FROM generate_series(0, {}) AS g", rows - 1),
                format!("to_timestamp({start} + floor(i * {step}))"),
                "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')".to_owned(),
            ),
            _ => (
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s",
                    rows - 1
                ),
                format!(
                    "strftime('%Y-%m-%dT%H:%M:%S+00:00', {start} + CAST(i * {step} AS INTEGER), 'unixepoch')"
                ),
                "substr(created_at, 1, 10)".to_owned(),
            ),
        };
        let yes = if backend == DbBackend::Postgres {
            "true"
        } else {
            "1"
        };
        let types = "CASE i % 9 WHEN 0 THEN 'battle_invitation' WHEN 1 THEN 'battle_result' WHEN 2 THEN 'battle_reminder' \
                     WHEN 3 THEN 'streak_alert' WHEN 4 THEN 'phone_verification' WHEN 5 THEN 'direct_message' \
                     WHEN 6 THEN 'achievement_unlocked' WHEN 7 THEN 'security_alert' ELSE 'other' END";
        let status =
            "CASE WHEN i % 50 = 0 THEN 'blocked' WHEN i % 97 = 0 THEN 'failed' ELSE 'sent' END";
        let t = Instant::now();
        db.execute_unprepared(&format!(
            "INSERT INTO sms_log (user_id, to_phone, country, message_type, promotional, priority, body, status, \
             attempts, segments, encoding, cost_micros, created_at) \
             SELECT 'u' || (i % 100000), '+1415' || (2000000 + i % 100000), CASE WHEN i % 10 = 0 THEN 'CA' ELSE 'US' END, \
             {types}, {yes}, 1, 'x', {status}, 1, 1 + i % 2, 'GSM-7', \
             CASE WHEN i % 50 = 0 OR i % 97 = 0 THEN NULL ELSE 7500 * (1 + i % 2) END, {created} FROM ({series}) q"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO cost_rollup (day, message_type, status, country, messages, segments, cost_micros) \
             SELECT {day}, message_type, status, COALESCE(country, ''), COUNT(*), SUM(segments), SUM(COALESCE(cost_micros, 0)) \
             FROM sms_log GROUP BY {day}, message_type, status, COALESCE(country, '')"
        ))
        .await?;
        db.execute_unprepared("ANALYZE").await?;
        let fill = t.elapsed().as_secs_f64();
        let rollup_rows: i64 = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cost_rollup",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("count"))?
            .try_get("", "n")?;
        for (label, grouping, raw_key) in [
            ("by day", cost::Grouping::Day, day.clone()),
            (
                "by type",
                cost::Grouping::MessageType,
                "message_type".to_owned(),
            ),
        ] {
            let mut fast = Vec::new();
            let mut report = None;
            for _ in 0..21 {
                let t = Instant::now();
                report = Some(
                    cost::report(
                        db,
                        from,
                        to,
                        (Some(grouping), None),
                        &app.config.costs,
                        app.handles.billing.cap(),
                        end,
                    )
                    .await?,
                );
                fast.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let p = |n: usize| match backend {
                DbBackend::Postgres => format!("${n}"),
                _ => format!("?{n}"),
            };
            let raw_sql = format!(
                "SELECT {raw_key} AS k, CAST(COUNT(*) AS BIGINT) AS m, CAST(SUM(segments) AS BIGINT) AS s, \
                 CAST(SUM(COALESCE(cost_micros, 0)) AS BIGINT) AS c FROM sms_log \
                 WHERE created_at >= {} AND created_at < {} GROUP BY {raw_key} ORDER BY {raw_key}",
                p(1),
                p(2)
            );
            let mut slow = Vec::new();
            let mut raw = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                raw = db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        raw_sql.clone(),
                        [from.into(), to.into()],
                    ))
                    .await?;
                slow.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            // Both must agree.
            let report = report.ok_or_else(|| anyhow::anyhow!("no report"))?;
            let raw_messages: i64 = raw
                .iter()
                .map(|r| r.try_get::<i64>("", "m").unwrap_or(0))
                .sum();
            let raw_cost: i64 = raw
                .iter()
                .map(|r| r.try_get::<i64>("", "c").unwrap_or(0))
                .sum();
            anyhow::ensure!(
                report.messages == raw_messages && report.cost_micros == raw_cost,
                "rollup and log disagree"
            );
            anyhow::ensure!(report.buckets.len() == raw.len(), "bucket counts differ");
            let (f, s) = (median(fast), median(slow));
            println!(
                "| {engine} | {fill:.0} | {rollup_rows} | March {label} | {f:.2} | {s:.0} | {:.0} |",
                s / f
            );
        }
    }
    Ok(())
}
