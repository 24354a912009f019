//! Reminder scans on a large and a small table, with the same number of reminders due in both: the
//! time must follow what is due, not the table size.
//!
//!   cargo bench --bench reminders                   # SQLite, and PostgreSQL when BENCH_POSTGRES_URL is set
//!   BENCH_USERS=100000 cargo bench --bench reminders
//!
//! Sizes: BENCH_USERS (1,000,000) recipients with streaks and BENCH_USERS/10 active battles of two
//! participants each, then a tenth of both. Due at scan time, at both sizes: 1,000 streak alerts and 250
//! battles (500 reminders). Printed: the first scan (finding and enqueuing what is due) and an immediate
//! second scan (the same range read again; nothing new to send).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{sync::Arc, time::Instant};

use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use sms_notify::{App, Config, ManualClock, reminders};

const DUE_STREAKS: u64 = 1_000;
const DUE_BATTLES: u64 = 250;

/// Fills the tables with set-based SQL: `users` opted-in recipients with streaks, `users / 10` battles.
async fn seed(db: &impl ConnectionTrait, users: u64, now_epoch: i64) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    // ts(x): a timestamp literal from epoch seconds, in the format each engine stores.
    type Sql = (fn(u64) -> String, fn(&str) -> String);
    let (series, ts): Sql = match backend {
        DbBackend::Postgres => (
            |n: u64| format!("SELECT g AS i FROM generate_series(0, {}) AS g", n - 1),
            |x: &str| format!("to_timestamp({x})"),
        ),
        _ => (
            |n: u64| {
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s",
                    n - 1
                )
            },
            |x: &str| format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {x}, 'unixepoch')"),
        ),
    };
    let yes = if backend == DbBackend::Postgres {
        "true"
    } else {
        "1"
    };
    let past = ts(&format!("{}", now_epoch - 86_400));
    db.execute_unprepared(&format!(
        "INSERT INTO recipients (user_id, phone_e164, phone_verified_at, allow_sms, timezone, signed_up_at, \
         sms_prompt_shown_at, sms_prompt_dismissed_at, created_at, updated_at) \
         SELECT 'u' || i, '+1212' || (2000000 + i), {past}, {yes}, NULL, NULL, NULL, NULL, {past}, {past} FROM ({}) q",
        series(users)
    ))
    .await?;
    db.execute_unprepared(&format!(
        "INSERT INTO sms_preferences (user_id, battle_invitations, battle_results, battle_reminders, streak_alerts, \
         direct_messages, achievements, consent_given_at, consent_method, consent_ip, consent_revoked_at, updated_at) \
         SELECT 'u' || i, {yes}, {yes}, {yes}, {yes}, {yes}, {yes}, {past}, 'opt_in_modal', NULL, NULL, {past} FROM ({}) q",
        series(users)
    ))
    .await?;
    // The first DUE_STREAKS alerts are due a minute ago; the rest over the next 24 hours.
    let alert = ts(&format!(
        "CASE WHEN i < {DUE_STREAKS} THEN {} ELSE {} + 3600 + (i % 82800) END",
        now_epoch - 60,
        now_epoch
    ));
    let expires = ts(&format!("{}", now_epoch + 8 * 3600));
    let day = match backend {
        DbBackend::Postgres => "DATE '2026-03-01'".to_owned(),
        _ => "'2026-03-01'".to_owned(),
    };
    db.execute_unprepared(&format!(
        "INSERT INTO streaks (user_id, current_days, last_activity_date, next_alert_at, alert_expires_at, updated_at) \
         SELECT 'u' || i, 1 + (i % 100), {day}, {alert}, {expires}, {past} FROM ({}) q",
        series(users)
    ))
    .await?;
    // DUE_BATTLES battles end in 30 minutes; the rest between 2 hours and 7 days from now.
    let battles = users / 10;
    let deadline = ts(&format!(
        "CASE WHEN i < {DUE_BATTLES} THEN {} ELSE {} + 7200 + (i * 6) % 597600 END",
        now_epoch + 1800,
        now_epoch
    ));
    db.execute_unprepared(&format!(
        "INSERT INTO battles (battle_id, topic, link, status, deadline_at, updated_at) \
         SELECT 'b' || i, 'Battle ' || i, '/battles/' || i, 'active', {deadline}, {past} FROM ({}) q",
        series(battles)
    ))
    .await?;
    for side in [0, 1] {
        db.execute_unprepared(&format!(
            "INSERT INTO battle_participants (battle_id, user_id, submitted_at) \
             SELECT 'b' || i, 'u' || (2 * i + {side}), NULL FROM ({}) q",
            series(battles)
        ))
        .await?;
    }
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let large: u64 = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (engines, admin) = support::engines();
    // 15:00 UTC on a Monday: 10:00 in New York (the recipients' numbers are Manhattan's), outside quiet hours.
    let now = Utc
        .with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .ok_or_else(|| anyhow::anyhow!("time"))?;
    println!(
        "sms-notify reminder scans: due at scan time, at every size, {DUE_STREAKS} streak alerts and {} battle reminders",
        DUE_BATTLES * 2
    );
    println!();
    println!(
        "| engine | recipients / streaks | active battles | seed s | scan | found | enqueued | first scan ms | second scan ms |"
    );
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    for engine in &engines {
        for users in [large, large / 10] {
            let (url, _dir) =
                support::fresh_database(engine, admin.as_deref(), &format!("reminders{users}"))
                    .await?;
            let mut config = Config::for_database(url);
            config.sms.workers = 0;
            config.reminders.enabled = false;
            config.costs.monthly_limit = 1_000_000_000_000;
            let clock = Arc::new(ManualClock::new(now));
            let app = App::build(config, clock.clone()).await?;
            let started = Instant::now();
            seed(&app.handles.db, users, now.timestamp()).await?;
            let seeded = started.elapsed().as_secs_f64();
            for kind in [
                reminders::ReminderKind::Streaks,
                reminders::ReminderKind::Battles,
            ] {
                let t = Instant::now();
                let first = app.handles.scans.run(kind).await?;
                let first_ms = t.elapsed().as_secs_f64() * 1000.0;
                let t = Instant::now();
                app.handles.scans.run(kind).await?;
                let second_ms = t.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "| {engine} | {users} | {} | {seeded:.1} | {} | {} | {} | {first_ms:.0} | {second_ms:.0} |",
                    users / 10,
                    kind.as_str(),
                    first.report.found,
                    first.report.enqueued,
                );
            }
            // The battle scan's worst minute: one before quiet hours begin somewhere (14:59 UTC is 20:59
            // in Dhaka), when it also reads the quiet-hours look-ahead to pull reminders forward.
            clock.set(now - chrono::Duration::minutes(1));
            let t = Instant::now();
            let first = app
                .handles
                .scans
                .run(reminders::ReminderKind::Battles)
                .await?;
            let first_ms = t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            app.handles
                .scans
                .run(reminders::ReminderKind::Battles)
                .await?;
            let second_ms = t.elapsed().as_secs_f64() * 1000.0;
            println!(
                "| {engine} | {users} | {} | {seeded:.1} | battles at 14:59 (look-ahead) | {} | {} | {first_ms:.0} | {second_ms:.0} |",
                users / 10,
                first.report.found,
                first.report.enqueued,
            );
            clock.set(now);
        }
    }
    Ok(())
}
