//! SMS pumping against the verification fraud guard, beside the same attack with the guard off (same
//! run, same database engine, same clock).
//!
//!   cargo bench --bench fraud            # SQLite, and PostgreSQL when BENCH_POSTGRES_URL is set
//!
//! The scenario of the integration test `fraud::an_attack_and_a_normal_day_at_once`, through the
//! verification handle itself (no HTTP): 300 code requests from 100 accounts and 100 client addresses
//! to numbers of one UK mobile range ($0.04 a text), none entered, while 30 real users with New York
//! numbers request codes and enter them. Three rounds a minute apart (each account's cooldown). Printed:
//! texts queued to the attacked range, the money they reserve, real users refused, how many codes were
//! hashed, and the mean time of an attack request.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{sync::Arc, time::Instant};

use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sms_notify::{App, ManualClock, verification::VerificationError};

struct Outcome {
    attacked_texts: usize,
    attacked_micros: i64,
    real_refused: usize,
    guard_refusals: usize,
    hashed: u64,
    attack_ms: f64,
}

/// The code of `user`'s newest text, read from the log while it waits to be sent.
async fn code_of(app: &App, user: &str) -> anyhow::Result<String> {
    use entity::sms_log::{Column, Entity};
    let row = Entity::find()
        .filter(Column::UserId.eq(user))
        .order_by_desc(Column::Id)
        .one(&app.handles.db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no text for {user}"))?;
    let body = row.sensitive_body.unwrap_or_default();
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no code in the text of {user}"))
}

async fn run(url: &str, guard: bool) -> anyhow::Result<Outcome> {
    let mut config = sms_notify::Config::for_database(url);
    config.sms.workers = 0;
    config
        .sms
        .allowed_countries
        .push(phonenumber::country::Id::GB);
    config
        .costs
        .prices
        .push((phonenumber::country::Id::GB, 40_000));
    config.costs.monthly_limit = 100_000_000;
    config.verification.guard_enabled = guard;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
            .single()
            .expect("time"),
    ));
    let app = App::build(config, clock.clone()).await?;
    let (recipients, verifier) = (&app.handles.recipients, &app.handles.verifier);
    let mut outcome = Outcome {
        attacked_texts: 0,
        attacked_micros: 0,
        real_refused: 0,
        guard_refusals: 0,
        hashed: 0,
        attack_ms: 0.0,
    };
    let mut attack_time = std::time::Duration::ZERO;
    for round in 0..3 {
        for bot in 0..100 {
            let user = format!("bot{bot}");
            recipients
                .set_phone(&user, &format!("+44 7400 {round}{bot:05}"))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let started = Instant::now();
            let answer = verifier
                .start(&user, Some(format!("203.0.113.{bot}")))
                .await;
            attack_time += started.elapsed();
            match answer {
                Ok(_) => outcome.attacked_texts += 1,
                Err(VerificationError::Blocked(_)) => outcome.guard_refusals += 1,
                Err(e) => anyhow::bail!("an attack request failed otherwise: {e}"),
            }
            if bot % 10 == 0 {
                let user = format!("real{round}{bot}");
                recipients
                    .set_phone(
                        &user,
                        &format!("+1212555{:04}", 100 + round * 10 + bot / 10),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let ip = format!("198.51.100.{}", round * 10 + bot / 10);
                if verifier.start(&user, Some(ip)).await.is_err() {
                    outcome.real_refused += 1;
                    continue;
                }
                let code = code_of(&app, &user).await?;
                verifier
                    .confirm(&user, &code, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        clock.advance(Duration::seconds(61));
    }
    outcome.attacked_micros = outcome.attacked_texts as i64 * 40_000;
    outcome.hashed = verifier.codes_hashed();
    outcome.attack_ms = support::ms(attack_time) / 300.0;
    Ok(outcome)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (engines, admin) = support::engines();
    println!("sms-notify fraud guard benchmark: 300 pumping requests to one range, 30 real users");
    println!(
        "| engine | guard | texts to the attacked range | money they cost | refused by the guard | real users refused | codes hashed | mean ms per attack request |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for engine in engines {
        let mut base = None;
        for guard in [false, true] {
            let tag = if guard { "on" } else { "off" };
            let (url, _dir) =
                support::fresh_database(engine, admin.as_deref(), &format!("fraud_{tag}")).await?;
            let o = run(&url, guard).await?;
            let ratio = match base {
                Some(off) if o.attacked_texts > 0 => {
                    format!(" ({:.2} of off)", o.attacked_texts as f64 / off as f64)
                }
                _ => String::new(),
            };
            if !guard {
                base = Some(o.attacked_texts.max(1));
            }
            println!(
                "| {engine} | {tag} | {}{ratio} | ${:.2} | {} | {} | {} | {:.2} |",
                o.attacked_texts,
                o.attacked_micros as f64 / 1e6,
                o.guard_refusals,
                o.real_refused,
                o.hashed,
                o.attack_ms
            );
        }
    }
    Ok(())
}
