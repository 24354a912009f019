//! Throughput of the sending pipeline, beside a plain-SQL baseline measured in the same run.
//!
//!   cargo bench --bench pipeline                       # SQLite, and PostgreSQL when BENCH_POSTGRES_URL is set
//!   BENCH_MESSAGES=20000 BENCH_RATE_SECONDS=5 cargo bench --bench pipeline
//!
//! On PostgreSQL it prints the server's `fsync` and `synchronous_commit` first: the baseline waits for
//! two commits per message, the batched path for a few per hundred, so a server that does not wait for
//! the disk (`fsync=off`, as the test suite's throwaway one) measures CPU alone and gives the baseline
//! more than production would. Each run's CPU per message is printed beside it: this process's, and
//! PostgreSQL's (every `postgres` process on this machine, read from /proc) when it runs here.
//!
//! 1. Pipeline: producers call `outbox::enqueue` (render, policy, insert) while outbox workers claim
//!    batches, call a no-op provider one message at a time and record each outcome. Messages per second
//!    = messages / wall time from the first enqueue to the last recorded outcome.
//! 2. Baseline: the same number of rows inserted and then updated to `sent` by plain SQL, one statement
//!    each, by as many tasks, with no pipeline.
//! 3. People's own rules: the pipeline with every person's rules applying to every text (a frequency
//!    cap of their own and the operator's counted in the write, their own quiet hours, half of them
//!    in Spanish) against the same without, alternating for BENCH_RULES_ROUNDS (5), which goes first
//!    swapping each round: ratio of medians; the one-per-call path sends BENCH_RULES_PER_CALL
//!    messages (a tenth of BENCH_MESSAGES) (`BENCH_RULES_ONLY=1` runs this part alone;
//!    `BENCH_RULES=caps,quiet,spanish` names the parts of the rules set, all by default).
//! 4. Rate limit: SMS_RATE_LIMIT_MPS=50 for BENCH_RATE_SECONDS (20) with a full queue of one-part texts
//!    and two worker sets (two instances on one database), then SMS_RATE_LIMIT_MPS=3 with three-part
//!    texts (AWS's toll-free rate): achieved rate and the busiest one-second window in texts and parts.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sms_notify::{
    App, SystemClock,
    outbox::{SendRequest, Target, catalogue::Template, worker},
};
use tokio_util::sync::CancellationToken;

/// Each user gets `BENCH_MESSAGES / USERS` promotions (10 at the default 100,000): every one is
/// counted against the default daily limit of 10 and none is refused by it.
const USERS: usize = 10_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn app_on(url: &str, mps: f64, group_commit: bool, rules: bool) -> anyhow::Result<App> {
    let mut config = support::throughput_config(url);
    if rules && rule_parts().contains("caps") {
        // Counted in every write, never reached: ten a day, as the daily limit.
        config.costs.frequency_caps =
            sms_notify::recipients::caps::parse_list("streak_alert=10/24h,battle_invitation=5/24h")
                .map_err(anyhow::Error::msg)?;
        config.costs.inviter_cap = Some(sms_notify::recipients::caps::Cap {
            count: 2,
            hours: 24,
        });
    }
    // The daily limit stays at its default: every promotion is counted against it.
    config.costs.user_daily_limit = sms_notify::Config::for_database(url).costs.user_daily_limit;
    config.sms.workers = 0;
    config.sms.rate_limit_mps = mps;
    config.sms.group_commit = group_commit;
    App::build(config, Arc::new(SystemClock)).await
}

fn request(i: usize) -> SendRequest {
    SendRequest {
        template: Template::StreakAlert {
            days: 7,
            link: "/streak".into(),
        },
        promotional: true,
        target: Target::User(format!("user{}", i % USERS)),
        inviter_user_id: None,
        related: None,
        dedupe_key: None,
        quiet: Default::default(),
        origin: sms_notify::outbox::Origin::Service,
        // Not the alert's own local midnight: a run near it would expire texts and measure that.
        validity: sms_notify::outbox::Validity::Until(
            chrono::Utc::now() + chrono::Duration::hours(24),
        ),
        refused: None,
        send_at: None,
        trace_parent: None,
        shorten_links: true,
        hold_for_digest: true,
        language: None,
    }
}

struct Run {
    messages: u64,
    seconds: f64,
    /// This process's CPU time over the run (the service's work, and SQLite's own).
    cpu: f64,
    /// The local PostgreSQL's CPU time over the run (0 on SQLite).
    server_cpu: f64,
    /// Shared writes made and the batches they wrote (`outbox::writes`).
    shared: (u64, u64),
}

impl Run {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }

    /// CPU per message, microseconds.
    fn cpu_us(&self) -> f64 {
        self.cpu * 1e6 / self.messages as f64
    }

    /// CPU per message, microseconds: this process's and PostgreSQL's (when on this machine).
    fn costs(&self) -> String {
        let server = self.server_cpu * 1e6 / self.messages as f64;
        if server > 0.0 {
            format!("{:.0} + {server:.0}", self.cpu_us())
        } else {
            format!("{:.0}", self.cpu_us())
        }
    }
}

async fn pipeline(
    engine: &str,
    admin: Option<&str>,
    n: usize,
    producers: usize,
    workers: usize,
    batch: usize,
    (group_commit, rules): (bool, bool),
) -> anyhow::Result<Run> {
    let (url, _dir) = support::fresh_database(engine, admin, "pipeline").await?;
    let app = app_on(&url, 0.0, group_commit, rules).await?;
    let outbox = app.handles.outbox.clone();
    support::seed_recipients(&app.handles.db, USERS).await?;
    if rules {
        people_with_rules(&app.handles.db).await?;
    }
    let provider = Arc::new(support::NoopProvider::default());
    let stop = CancellationToken::new();
    let started = Instant::now();
    let cpu_before = support::cpu_seconds();
    let server_before = support::postgres_cpu_seconds();
    let worker_tasks: Vec<_> = (0..workers)
        .map(|w| {
            let workers = worker::Workers::new(
                outbox.clone(),
                std::sync::Arc::new(app.handles.inbound.clone()),
                provider.clone(),
            );
            tokio::spawn(workers.run(w, stop.clone()))
        })
        .collect();
    let producer_tasks: Vec<_> = (0..producers)
        .map(|p| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                // Producer p enqueues messages p, p + producers, ... in batches of `batch`.
                let mine: Vec<usize> = (p..n).step_by(producers).collect();
                for chunk in mine.chunks(batch) {
                    let answers = if batch == 1 {
                        vec![outbox.enqueue(request(chunk[0])).await]
                    } else {
                        outbox
                            .enqueue_many(chunk.iter().map(|i| request(*i)).collect())
                            .await?
                            .into_iter()
                            .map(|a| a.map(|e| e.row))
                            .collect()
                    };
                    for answer in answers {
                        let row = answer?;
                        anyhow::ensure!(
                            row.blocked_reason.is_none(),
                            "blocked: {:?}",
                            row.blocked_reason
                        );
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in producer_tasks {
        task.await??;
    }
    // Fails loudly rather than waiting forever if messages stop moving (a limit or quiet hours).
    let mut last = (0, Instant::now());
    while provider.sent.load(Ordering::Relaxed) < n as u64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let sent = provider.sent.load(Ordering::Relaxed);
        if sent != last.0 {
            last = (sent, Instant::now());
        }
        anyhow::ensure!(
            last.1.elapsed() < Duration::from_secs(30),
            "no message sent for 30 s ({sent} of {n}): something holds them"
        );
    }
    // The last outcome is recorded right after the provider answers: wait for the rows themselves.
    loop {
        let row = app
            .handles
            .db
            .query_one_raw(Statement::from_string(
                app.handles.db.get_database_backend(),
                "SELECT COUNT(*) AS c FROM sms_log WHERE status = 'sent'",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no count"))?;
        if row.try_get::<i64>("", "c")? >= n as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = support::cpu_seconds() - cpu_before;
    let server_cpu = support::postgres_cpu_seconds() - server_before;
    stop.cancel();
    for task in worker_tasks {
        task.await?;
    }
    Ok(Run {
        messages: n as u64,
        seconds,
        cpu,
        server_cpu,
        shared: outbox.shared_write_totals(),
    })
}

/// The parts of people's rules the rules runs set (`BENCH_RULES`, all by default).
fn rule_parts() -> String {
    std::env::var("BENCH_RULES").unwrap_or_else(|_| "caps,quiet,spanish".into())
}

/// Every person with rules of their own that apply to each text and hold none back: a cap of their own
/// (ten a day), quiet hours twelve hours from now in their zone (Los Angeles, by the area code), and
/// every other one reading Spanish. `BENCH_RULES` names the parts to set (`caps,quiet,spanish`, all
/// by default), to tell what each costs.
async fn people_with_rules(db: &DatabaseConnection) -> anyhow::Result<()> {
    use chrono::Timelike;
    let parts = rule_parts();
    let here =
        Utc::now().with_timezone(&chrono_tz::America::Los_Angeles) + chrono::Duration::hours(12);
    let (start, end) = (here.hour(), (here.hour() + 1) % 24);
    if parts.contains("caps") {
        db.execute_unprepared("UPDATE sms_preferences SET frequency_caps = 'streak_alert=10/24'")
            .await?;
    }
    if parts.contains("quiet") {
        db.execute_unprepared(&format!(
            "UPDATE sms_preferences SET quiet_start = '{start:02}:00', quiet_end = '{end:02}:00'"
        ))
        .await?;
    }
    if parts.contains("spanish") {
        db.execute_unprepared(
            "UPDATE recipients SET locale = 'es-US' WHERE user_id LIKE '%0' OR user_id LIKE '%2' \
             OR user_id LIKE '%4' OR user_id LIKE '%6' OR user_id LIKE '%8'",
        )
        .await?;
    }
    Ok(())
}

/// People's own rules against the same pipeline without them, in alternating rounds on fresh
/// databases (`BENCH_RULES_ROUNDS`, 5): the medians of each, and their ratio.
async fn own_rules(engines: &[&str], admin: Option<&str>, n: usize) -> anyhow::Result<()> {
    let rounds: usize = env_or("BENCH_RULES_ROUNDS", 5);
    let per_call: usize = env_or("BENCH_RULES_PER_CALL", n / 10);
    println!();
    println!(
        "People's own rules (caps counted in the write, own quiet hours, half in Spanish) against none, {rounds} alternating rounds:"
    );
    println!();
    println!(
        "| engine | path | messages | without: median messages/s | with: median | ratio of medians | ratios by round | CPU per message without / with (medians) |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |");
    for engine in engines {
        let (producers, workers) = if *engine == "sqlite" { (4, 2) } else { (8, 4) };
        let paths = [
            ("enqueue_many, batches of 100", n, producers, 100),
            (
                "one `enqueue` per message from 16 tasks, group commit",
                per_call,
                16,
                1,
            ),
        ];
        for (path, messages, tasks, batch) in paths {
            let (mut off, mut on, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let (mut cpu_off, mut cpu_on) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                // Which goes first swaps every round: a run right after another (the page cache,
                // the files just deleted) is not always the same side's.
                let mut pair = Vec::with_capacity(2);
                for rules in [round % 2 == 1, round % 2 == 0] {
                    let run = pipeline(
                        engine,
                        admin,
                        messages,
                        tasks,
                        workers,
                        batch,
                        (true, rules),
                    )
                    .await?;
                    pair.push((rules, run));
                }
                pair.sort_by_key(|(rules, _)| *rules);
                let [(_, without), (_, with)] =
                    <[_; 2]>::try_from(pair).map_err(|_| anyhow::anyhow!("two runs per round"))?;
                off.push(without.rate());
                on.push(with.rate());
                cpu_off.push(without.cpu_us());
                cpu_on.push(with.cpu_us());
                ratios.push(format!("{:.2}", with.rate() / without.rate()));
            }
            let (off, on) = (median(&mut off), median(&mut on));
            let (cpu_off, cpu_on) = (median(&mut cpu_off), median(&mut cpu_on));
            println!(
                "| {engine} | {path} | {messages} | {off:.0} | {on:.0} | {:.3} | {} | {cpu_off:.0} / {cpu_on:.0} us ({:.3}) |",
                on / off,
                ratios.join(", "),
                cpu_on / cpu_off
            );
        }
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn baseline(
    engine: &str,
    admin: Option<&str>,
    n: usize,
    tasks: usize,
) -> anyhow::Result<Run> {
    let (url, _dir) = support::fresh_database(engine, admin, "baseline").await?;
    let app = app_on(&url, 0.0, true, false).await?;
    let db: DatabaseConnection = app.handles.db.clone();
    let backend = db.get_database_backend();
    let body = "AllThrive: Your 7-day streak ends at midnight. Keep it alive: http://localhost:3000/streak\nReply STOP to unsubscribe.";
    let started = Instant::now();
    let cpu_before = support::cpu_seconds();
    let server_before = support::postgres_cpu_seconds();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                let (insert, update) = match backend {
                    DbBackend::Postgres => (
                        "INSERT INTO sms_log (user_id, to_phone, country, message_type, promotional, priority, body, status, attempts, next_attempt_at, segments, encoding, created_at) \
                         VALUES ($1, $2, 'US', 'streak_alert', true, 1, $3, 'pending', 0, $4, 1, 'GSM-7', $4) RETURNING id",
                        "UPDATE sms_log SET status = 'sent', attempts = 1, provider_message_id = $1, sent_at = $2, next_attempt_at = NULL WHERE id = $3",
                    ),
                    _ => (
                        "INSERT INTO sms_log (user_id, to_phone, country, message_type, promotional, priority, body, status, attempts, next_attempt_at, segments, encoding, created_at) \
                         VALUES (?1, ?2, 'US', 'streak_alert', 1, 1, ?3, 'pending', 0, ?4, 1, 'GSM-7', ?4) RETURNING id",
                        "UPDATE sms_log SET status = 'sent', attempts = 1, provider_message_id = ?1, sent_at = ?2, next_attempt_at = NULL WHERE id = ?3",
                    ),
                };
                let mut ids = Vec::new();
                let mut i = t;
                while i < n {
                    let row = db
                        .query_one_raw(Statement::from_sql_and_values(
                            backend,
                            insert,
                            [
                                format!("user{}", i % USERS).into(),
                                format!("+1415555{:04}", i % USERS).into(),
                                body.into(),
                                Utc::now().into(),
                            ],
                        ))
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no id"))?;
                    ids.push(row.try_get::<i64>("", "id")?);
                    i += tasks;
                }
                for id in ids {
                    db.execute_raw(Statement::from_sql_and_values(
                        backend,
                        update,
                        [format!("noop-{id}").into(), Utc::now().into(), id.into()],
                    ))
                    .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle.await??;
    }
    Ok(Run {
        messages: n as u64,
        seconds: started.elapsed().as_secs_f64(),
        cpu: support::cpu_seconds() - cpu_before,
        server_cpu: support::postgres_cpu_seconds() - server_before,
        shared: (0, 0),
    })
}

/// What a rate-limited run achieved: sends per second, the busiest sliding one-second window in sends
/// and in message parts, and the number sent.
struct Limited {
    rate: f64,
    busiest: usize,
    busiest_parts: u32,
    sent: u64,
}

/// Two instances (two pools, two worker sets) under one limit of `mps` message parts per second for
/// `seconds`, sending the streak alert (one part) or `body`.
async fn rate_limited(
    engine: &str,
    admin: Option<&str>,
    mps: f64,
    seconds: u64,
    body: Option<&str>,
) -> anyhow::Result<Limited> {
    let (url, _dir) = support::fresh_database(engine, admin, "rate").await?;
    let first = app_on(&url, mps, true, false).await?;
    let second = app_on(&url, mps, true, false).await?;
    support::seed_recipients(&first.handles.db, USERS).await?;
    let queued = (mps as usize) * (seconds as usize + 5);
    for i in 0..queued {
        let mut request = request(i);
        if let Some(body) = body {
            request.template = Template::Text {
                message_type: entity::sms_log::MessageType::DirectMessage,
                body: body.to_owned(),
            };
        }
        first.handles.outbox.enqueue(request).await?;
    }
    let provider = Arc::new(support::NoopProvider::default());
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for (instance, app) in [&first, &second].into_iter().enumerate() {
        for w in 0..2 {
            let workers = worker::Workers::new(
                app.handles.outbox.clone(),
                Arc::new(app.handles.inbound.clone()),
                provider.clone(),
            );
            tasks.push(tokio::spawn(workers.run(instance * 10 + w, stop.clone())));
        }
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.cancel();
    for task in tasks {
        task.await?;
    }
    let at = provider.at.lock().map(|v| v.clone()).unwrap_or_default();
    let mut times: Vec<(f64, u32)> = at
        .iter()
        .filter(|(t, _)| *t >= started)
        .map(|(t, parts)| (t.duration_since(started).as_secs_f64(), *parts))
        .filter(|(t, _)| *t < seconds as f64)
        .collect();
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The busiest sliding one-second windows, in sends and in parts.
    let (mut busiest, mut busiest_parts, mut parts) = (0, 0, 0);
    let mut lo = 0;
    for hi in 0..times.len() {
        parts += times[hi].1;
        while times[hi].0 - times[lo].0 >= 1.0 {
            parts -= times[lo].1;
            lo += 1;
        }
        busiest = busiest.max(hi - lo + 1);
        busiest_parts = busiest_parts.max(parts);
    }
    Ok(Limited {
        rate: times.len() as f64 / seconds as f64,
        busiest,
        busiest_parts,
        sent: times.len() as u64,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = env_or("BENCH_MESSAGES", 100_000);
    let rate_seconds: u64 = env_or("BENCH_RATE_SECONDS", 20);
    let (engines, admin) = support::engines();
    if admin.is_none() {
        println!("(BENCH_POSTGRES_URL is not set: PostgreSQL skipped)");
    }
    println!(
        "sms-notify pipeline benchmark: {n} messages, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    // The baseline commits twice per message and the batched path a few times per hundred, so how
    // long a commit waits for the disk moves the ratio: the server's settings are printed with it.
    support::print_durability(&engines, admin.as_deref()).await?;
    println!();
    if std::env::var("BENCH_RULES_ONLY").is_ok_and(|v| v == "1") {
        return own_rules(&engines, admin.as_deref(), n).await;
    }
    println!(
        "| engine | run | messages | seconds | messages/s | vs baseline | CPU per message, us: this process + PostgreSQL |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for engine in &engines {
        let (producers, workers) = if *engine == "sqlite" { (4, 2) } else { (8, 4) };
        let base = baseline(engine, admin.as_deref(), n, producers).await?;
        println!(
            "| {engine} | baseline: plain INSERT + UPDATE, {producers} tasks | {} | {:.2} | {:.0} | 1.00 | {} |",
            base.messages,
            base.seconds,
            base.rate(),
            base.costs()
        );
        let pipe = pipeline(
            engine,
            admin.as_deref(),
            n,
            producers,
            workers,
            100,
            (true, false),
        )
        .await?;
        println!(
            "| {engine} | pipeline: enqueue_many (batches of 100, as scans do) + claim + provider + update, {producers} producers, {workers} workers | {} | {:.2} | {:.0} | {:.2} | {} |",
            pipe.messages,
            pipe.seconds,
            pipe.rate(),
            pipe.rate() / base.rate(),
            pipe.costs()
        );
        eprintln!(
            "({engine}: {} writes for {} batches of 100)",
            pipe.shared.0, pipe.shared.1
        );
        let single_n = n / 10;
        for group_commit in [false, true] {
            let single = pipeline(
                engine,
                admin.as_deref(),
                single_n,
                16,
                workers,
                1,
                (group_commit, false),
            )
            .await?;
            println!(
                "| {engine} | pipeline: one message per `enqueue` call from 16 tasks (the API path), group commit {} + claim + provider + update | {} | {:.2} | {:.0} | {:.2} | {} |",
                if group_commit { "on" } else { "off" },
                single.messages,
                single.seconds,
                single.rate(),
                single.rate() / base.rate(),
                single.costs()
            );
        }
    }
    own_rules(&engines, admin.as_deref(), n).await?;
    println!();
    println!(
        "| engine | text | SMS_RATE_LIMIT_MPS | seconds | sent | achieved texts/s | busiest 1-second window: texts | parts |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    // A text of three parts (GSM-7, 161 to 459 characters) at AWS's toll-free 3 parts per second.
    let three_parts = format!(
        "AllThrive: {}",
        "Round two of the battle starts soon. ".repeat(9)
    );
    let runs: [(f64, Option<&str>, &str); 2] = [
        (50.0, None, "1 part"),
        (3.0, Some(three_parts.as_str()), "3 parts"),
    ];
    for engine in &engines {
        for (mps, body, label) in runs {
            let run = rate_limited(engine, admin.as_deref(), mps, rate_seconds, body).await?;
            println!(
                "| {engine} (2 instances x 2 workers) | {label} | {mps} | {rate_seconds} | {} | {:.2} | {} | {} |",
                run.sent, run.rate, run.busiest, run.busiest_parts
            );
            anyhow::ensure!(
                f64::from(run.busiest_parts) <= mps,
                "the rate limit was exceeded: {} parts in one second",
                run.busiest_parts
            );
        }
    }
    Ok(())
}
