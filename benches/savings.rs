//! What the savings features save, over a corpus of 240 texts as the app sends them (every template,
//! real-length links with ids, typographic punctuation as phones type it, some emoji, people who get
//! several invitations or results within two minutes): total segments without any feature, with each
//! alone, and with all of them, rendered by the service's own code (`shaping`, `digest::compose`).
//! Then the short link's redirect, its click recorded, against `GET /healthz` in the same run on
//! SQLite: requests per second from 16 clients, alternating, and every click counted exactly once.
//!
//!   cargo bench --bench savings      (BENCH_SECONDS per round, default 3; BENCH_ROUNDS, default 3)

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sms_notify::{
    App, SystemClock,
    config::SavingsConfig,
    outbox::{
        Origin, SendRequest, Target,
        catalogue::{self, Brand, Template, is_transactional},
        digest, shaping,
    },
    store::MessageType,
};
use tokio_util::sync::CancellationToken;

const CLIENTS: usize = 16;

/// One text of the corpus: to whom (digests group by person and type), what.
struct Text {
    person: usize,
    template: Template,
}

/// A deterministic id shaped like a UUID.
fn uuid(i: usize) -> String {
    let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hex = format!("{h:016x}{:016x}", h.rotate_left(29) ^ 0xA5A5_5A5A_F00D_BEEF);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

const NAMES: [&str; 12] = [
    "Alice", "Bob", "Chloé", "Dmitri", "Emma", "Farah", "Gus", "Hana", "Iker", "Jo", "Kemal",
    "Lena",
];
/// Topics as people type them on phones: curly quotes and apostrophes, dashes, ellipses, an emoji now
/// and then.
const TOPICS: [&str; 12] = [
    "Who\u{2019}s the best haiku writer?",
    "\u{201C}Best pun\u{201D} of the week",
    "Rock\u{2013}paper\u{2013}scissors marathon",
    "Don\u{2019}t blink\u{2026}",
    "Limericks about Mondays",
    "Sci\u{2011}fi flash fiction \u{2014} 100 words",
    "Cat photo caption duel",
    "The \u{2018}worst\u{2019} first line",
    "Speed sketch: dragons",
    "Sonnet for a sandwich",
    "Hot takes \u{1F525} only",
    "Six\u{2011}word memoirs",
];

fn corpus() -> Vec<Text> {
    let mut texts = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    // 80 invitations to 40 people: one, two or three each, within a window.
    for person in 0..40 {
        for k in 0..(1 + person % 3) {
            if texts.len() >= 80 {
                break;
            }
            let i = next();
            texts.push(Text {
                person,
                template: Template::BattleInvitation {
                    inviter: NAMES[(person + k) % NAMES.len()].into(),
                    topic: TOPICS[i % TOPICS.len()].into(),
                    link: format!("/battles/{}?invite={}", 4_000 + i, uuid(i)),
                },
            });
        }
    }
    // 40 results to 30 people: ten of them get two.
    for person in 100..130 {
        for k in 0..(1 + usize::from(person < 110)) {
            let i = next();
            let summary = if k == 0 {
                "You won 3\u{2013}2! Your entry\u{2019}s on the front page.".to_owned()
            } else {
                format!(
                    "{}\u{2019}s entry took it by {} votes.",
                    NAMES[i % NAMES.len()],
                    i % 20 + 1
                )
            };
            texts.push(Text {
                person,
                template: Template::BattleResult {
                    topic: TOPICS[i % TOPICS.len()].into(),
                    summary,
                    link: format!("/battles/{}/results?ref=sms&u={}", 4_000 + i, uuid(i)),
                },
            });
        }
    }
    for j in 0..30 {
        let i = next();
        texts.push(Text {
            person: 200 + j,
            template: Template::BattleReminder {
                topic: TOPICS[i % TOPICS.len()].into(),
                time_remaining: ["45 minutes", "2 hours", "1 hour"][j % 3].into(),
                link: format!("/battles/{}/submit?token={}", 4_000 + i, uuid(i)),
            },
        });
    }
    for j in 0..30 {
        let i = next();
        texts.push(Text {
            person: 300 + j,
            template: Template::StreakAlert {
                days: 3 + (j as u32 * 7) % 90,
                link: format!(
                    "/streak?utm_source=sms&utm_campaign=streak_rescue&u={}",
                    uuid(i)
                ),
            },
        });
    }
    for j in 0..20 {
        let i = next();
        texts.push(Text {
            person: 400 + j,
            template: Template::DirectMessage {
                sender: NAMES[j % NAMES.len()].into(),
                link: format!("/messages/{}?thread={}", 90_000 + i, uuid(i)),
            },
        });
    }
    for j in 0..15 {
        let i = next();
        texts.push(Text {
            person: 500 + j,
            template: Template::AchievementUnlocked {
                name: [
                    "\u{201C}Night Owl\u{201D}",
                    "Streak Master \u{2014} 30 days",
                    "First win",
                ][j % 3]
                    .into(),
                link: format!("/achievements/night-owl-{}?share={}", i, uuid(i)),
            },
        });
    }
    for j in 0..10 {
        let i = next();
        texts.push(Text {
            person: 600 + j,
            template: Template::SecurityAlert {
                what: "A new sign\u{2011}in from Chrome on macOS \u{2014} Lisbon, Portugal".into(),
                link: format!("/settings/security?event={}", uuid(i)),
            },
        });
    }
    let free = [
        "Maintenance tonight 2\u{2013}3am ET\u{2026} we\u{2019}ll be quick! \u{1F527}",
        "Weekend tournament starts Saturday \u{2014} sign up: https://allthrive.ai/tournaments/2026-spring?ref=sms&cohort=",
        "New: \u{201C}Duos\u{201D} battles are here. Try one: https://allthrive.ai/duos?utm_source=sms&utm_medium=text&u=",
    ];
    for j in 0..15 {
        let i = next();
        let body = if j % 3 == 0 {
            free[0].to_owned()
        } else {
            format!("{}{}", free[j % 3], uuid(i))
        };
        texts.push(Text {
            person: 700 + j,
            template: Template::Text {
                message_type: MessageType::Other,
                body,
            },
        });
    }
    texts
}

fn settings(smart: bool, links: bool) -> SavingsConfig {
    SavingsConfig {
        smart_encoding: smart,
        link_shortening: links,
        link_base_url: "https://go.allthrive.ai/l".into(),
        ..SavingsConfig::default()
    }
}

/// Total segments of the corpus with these settings, with or without digests.
fn total(texts: &[Text], brand: &Brand, settings: &SavingsConfig, digests: bool) -> (u32, usize) {
    let mut groups: BTreeMap<(usize, String), (MessageType, Vec<&Template>)> = BTreeMap::new();
    let mut segments = 0;
    let mut sent = 0;
    for text in texts {
        let kind = text.template.message_type();
        if digests && digest::digestible(kind) {
            groups
                .entry((text.person, sea_orm::ActiveEnum::to_value(&kind)))
                .or_insert_with(|| (kind, Vec::new()))
                .1
                .push(&text.template);
            continue;
        }
        let promotional = !is_transactional(kind);
        segments += shaping::render(
            &text.template,
            promotional,
            (brand, settings, Default::default()),
            true,
        )
        .rendered
        .segments;
        sent += 1;
    }
    for (kind, templates) in groups.into_values() {
        sent += 1;
        segments += if let [one] = templates.as_slice() {
            shaping::render(one, true, (brand, settings, Default::default()), true)
                .rendered
                .segments
        } else {
            let parts: Vec<_> = templates
                .iter()
                .filter_map(|t| digest::part_of(t))
                .collect();
            shaping::shape(
                digest::compose(kind, &parts, brand, Default::default()),
                settings,
                true,
            )
            .rendered
            .segments
        };
    }
    (segments, sent)
}

fn segments_report() {
    let texts = corpus();
    let brand = Brand {
        app_name: "AllThrive".into(),
        frontend_url: "https://allthrive.ai".into(),
    };
    let typed = texts
        .iter()
        .filter(|t| {
            let r = catalogue::render(&t.template, true, &brand);
            r.encoding == catalogue::Encoding::Ucs2
        })
        .count();
    println!(
        "Corpus: {} texts (every template; {typed} UCS-2 as typed; links with ids; 40 people with 2 or 3 invitations or results in a window).",
        texts.len()
    );
    println!();
    println!("| features | segments | texts sent | saved vs none |");
    println!("| --- | ---: | ---: | ---: |");
    let (none, none_texts) = total(&texts, &brand, &settings(false, false), false);
    let row = |name: &str, (segments, sent): (u32, usize)| {
        let saved = 1.0 - f64::from(segments) / f64::from(none);
        println!("| {name} | {segments} | {sent} | {:.1}% |", saved * 100.0);
    };
    row("none", (none, none_texts));
    row(
        "smart encoding",
        total(&texts, &brand, &settings(true, false), false),
    );
    row(
        "short links",
        total(&texts, &brand, &settings(false, true), false),
    );
    row(
        "digests",
        total(&texts, &brand, &settings(false, false), true),
    );
    row(
        "all three",
        total(&texts, &brand, &settings(true, true), true),
    );
    println!();
}

/// Requests per second from `CLIENTS` clients for `seconds`: every answer must have `status`.
async fn hammer(
    http: &reqwest::Client,
    urls: Arc<Vec<String>>,
    status: u16,
    seconds: u64,
) -> anyhow::Result<(f64, u64)> {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, urls, done, count) =
                (http.clone(), urls.clone(), done.clone(), count.clone());
            tokio::spawn(async move {
                let mut i = c;
                while !done.load(Ordering::Relaxed) {
                    let response = http.get(&urls[i % urls.len()]).send().await?;
                    anyhow::ensure!(
                        response.status().as_u16() == status,
                        "{}",
                        response.status()
                    );
                    count.fetch_add(1, Ordering::Relaxed);
                    i += CLIENTS;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await??;
    }
    let n = count.load(Ordering::Relaxed);
    Ok((n as f64 / started.elapsed().as_secs_f64(), n))
}

async fn redirect_report(seconds: u64, rounds: usize) -> anyhow::Result<()> {
    let (url, _dir) = support::fresh_database("sqlite", None, "savings").await?;
    let mut config = support::throughput_config(&url);
    config.sms.workers = 0;
    config.reminders.enabled = false;
    let db = sms_notify::connect(&config.database_url).await?;
    sms_notify::migrate(&db).await?;
    let app = App::with_database(
        config,
        Arc::new(SystemClock),
        db,
        Arc::new(support::NoopProvider::default()),
    );
    support::seed_recipients(&app.handles.db, 100).await?;
    let mut ids = Vec::new();
    for i in 0..200 {
        let body = format!(
            "Your battle is on: https://allthrive.ai/battles/{i}?invite={}",
            uuid(i)
        );
        let request = SendRequest::new(
            Origin::Service,
            Target::User(format!("user{}", i % 100)),
            Template::Text {
                message_type: MessageType::Other,
                body,
            },
            true,
        );
        ids.push(app.handles.outbox.enqueue(request).await?.id);
    }
    let links = sms_notify::store::links::of_messages(&app.handles.db, ids).await?;
    anyhow::ensure!(links.len() == 200, "{} links", links.len());
    let db = app.handles.db.clone();
    let server = app
        .start("127.0.0.1:0".parse()?, CancellationToken::new())
        .await?;
    let base = format!("http://{}", server.addr);
    let health = Arc::new(vec![format!("{base}/healthz")]);
    let short = Arc::new(
        links
            .iter()
            .map(|l| format!("{base}/l/{}", l.code))
            .collect::<Vec<_>>(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (mut healthz, mut redirects, mut followed) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        healthz.push(hammer(&http, health.clone(), 200, seconds).await?.0);
        let (rate, n) = hammer(&http, short.clone(), 302, seconds).await?;
        redirects.push(rate);
        followed += n;
    }
    let ids: Vec<i64> = links.iter().map(|l| l.message_id).collect();
    let counted: i64 = sms_notify::store::links::of_messages(&db, ids)
        .await?
        .iter()
        .map(|l| i64::from(l.clicks))
        .sum();
    server.stop().await?;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, r) = (median(healthz.clone()), median(redirects.clone()));
    let each = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("Short links on SQLite, {CLIENTS} clients, {seconds} s rounds alternating, 2 cores:");
    println!();
    println!("| request | requests/s, each round | median | vs /healthz |");
    println!("| --- | --- | ---: | ---: |");
    println!("| GET /healthz | {} | {h:.0} | 1.00 |", each(&healthz));
    println!(
        "| GET /l/{{code}} (302, click recorded) | {} | {r:.0} | {:.2} |",
        each(&redirects),
        r / h
    );
    println!();
    println!(
        "Clicks followed {followed}, clicks recorded {counted}: {}.",
        if counted == followed as i64 {
            "each exactly once"
        } else {
            "MISMATCH"
        }
    );
    anyhow::ensure!(
        counted == followed as i64,
        "clicks recorded differ from requests"
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!("sms-notify savings benchmark");
    println!();
    segments_report();
    redirect_report(seconds, rounds).await
}
