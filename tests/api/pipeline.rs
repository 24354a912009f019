//! The outbox driven one worker pass at a time, with the real AWS provider against the loopback stub.

use std::sync::Arc;

use chrono::Duration;
use entity::{
    opt_outs,
    sms_log::{self, SmsStatus},
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sms_notify::outbox::{gate, worker::BatchReport};
use tokio_util::sync::CancellationToken;

use crate::{
    aws_stub::{Answer, AwsStub},
    helpers::{Engine, TestApp, data, opted_in_user, start_time},
    storage_tests,
};

storage_tests!(
    a_queued_message_is_sent_once,
    transient_errors_retry_with_growing_backoff,
    attempts_run_out,
    permanent_errors_fail_at_once,
    a_carrier_opt_out_joins_the_opt_out_list,
    throttling_pauses_the_deployment_without_spending_attempts,
    a_worker_killed_mid_send_leaves_a_lease_that_expires,
    transactional_messages_jump_the_queue,
    a_shutdown_hands_the_batch_back,
    idempotency_keys_send_once,
    an_idle_pipeline_wakes_on_insert,
    send_slots_are_shared_and_spaced,
    concurrent_producers_and_workers_never_deadlock,
    a_text_takes_one_slot_per_part,
    each_sender_has_its_own_rate_limit,
);

/// The service with no background workers (the test runs them), no rate limit, the AWS provider.
pub async fn setup(
    engine: Engine,
    configure: impl FnOnce(&mut sms_notify::Config),
) -> (TestApp, AwsStub) {
    setup_on(AwsStub::start().await, engine, configure).await
}

/// `setup` with a stub prepared beforehand (what AWS answers at the service's start).
pub async fn setup_on(
    stub: AwsStub,
    engine: Engine,
    configure: impl FnOnce(&mut sms_notify::Config),
) -> (TestApp, AwsStub) {
    let for_provider = stub.clone();
    let app = TestApp::spawn_custom(
        engine,
        |c| {
            c.sms.workers = 0;
            c.sms.rate_limit_mps = 0.0;
            configure(c);
        },
        move |c| {
            Some(Arc::new(for_provider.provider(&c.sms))
                as Arc<dyn sms_notify::outbox::provider::SmsProvider>)
        },
    )
    .await;
    (app, stub)
}

pub const STREAK: &str = "mutation($i: StreakAlertInput!) { sendStreakAlert(input: $i) { id status blockedReason attempts } }";

pub async fn streak_alert(app: &TestApp, user: &str) -> i64 {
    let response = app
        .as_service(
            STREAK,
            json!({ "i": { "userId": user, "streakCount": 5, "actionLink": "/streak" } }),
        )
        .await;
    let log = &data(&response)["sendStreakAlert"];
    assert_eq!(log["status"], "PENDING", "{log}");
    log["id"].as_str().expect("id").parse().expect("numeric id")
}

pub async fn row(app: &TestApp, id: i64) -> sms_log::Model {
    sms_log::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row")
}

fn report(claimed: usize, sent: usize, retrying: usize, failed: usize) -> BatchReport {
    BatchReport {
        claimed,
        sent,
        retrying,
        failed,
        ..BatchReport::default()
    }
}

async fn a_queued_message_is_sent_once(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    let id = streak_alert(&app, "u1").await;
    assert_eq!(app.run_outbox().await, report(1, 1, 0, 0));
    let r = row(&app, id).await;
    assert_eq!(r.status, SmsStatus::Sent);
    assert_eq!(r.attempts, 1);
    assert_eq!(
        r.provider_message_id.as_deref(),
        Some(format!("msg-{id}").as_str())
    );
    assert_eq!(r.sent_at, Some(start_time()));
    assert_eq!(app.run_outbox().await, report(0, 0, 0, 0), "nothing left");
    assert_eq!(stub.seen().len(), 1);
    assert_eq!(stub.seen()[0].body["MessageBody"], r.body);
}

async fn transient_errors_retry_with_growing_backoff(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    stub.script([Answer::internal(), Answer::internal()]);
    let id = streak_alert(&app, "u1").await;

    assert_eq!(app.run_outbox().await, report(1, 0, 1, 0));
    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Pending, 1));
    assert_eq!(r.error_code.as_deref(), Some("InternalServerException"));
    let wait = r.next_attempt_at.expect("due again") - start_time();
    assert!(
        wait >= Duration::seconds(1) && wait <= Duration::seconds(2),
        "{wait}"
    );
    assert_eq!(app.run_outbox().await, report(0, 0, 0, 0), "not due yet");

    app.clock.advance(Duration::seconds(2));
    assert_eq!(app.run_outbox().await, report(1, 0, 1, 0));
    let r = row(&app, id).await;
    let wait = r.next_attempt_at.expect("due again") - (start_time() + Duration::seconds(2));
    assert!(
        wait >= Duration::seconds(2) && wait <= Duration::seconds(4),
        "{wait}"
    );

    app.clock.advance(Duration::seconds(4));
    assert_eq!(app.run_outbox().await, report(1, 1, 0, 0));
    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Sent, 3));
    assert_eq!(r.error_code, None, "a success clears the last error");
    assert_eq!(stub.seen().len(), 3);
}

async fn attempts_run_out(engine: Engine) {
    let (app, stub) = setup(engine, |c| c.sms.max_attempts = 3).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    stub.script([Answer::internal(), Answer::internal(), Answer::internal()]);
    let id = streak_alert(&app, "u1").await;
    for _ in 0..2 {
        assert_eq!(app.run_outbox().await, report(1, 0, 1, 0));
        app.clock.advance(Duration::minutes(10));
    }
    assert_eq!(app.run_outbox().await, report(1, 0, 0, 1));
    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Failed, 3));
    assert_eq!(r.next_attempt_at, None);
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.run_outbox().await, report(0, 0, 0, 0));
}

async fn permanent_errors_fail_at_once(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    stub.script([Answer::validation()]);
    let id = streak_alert(&app, "u1").await;
    assert_eq!(app.run_outbox().await, report(1, 0, 0, 1));
    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Failed, 1));
    assert_eq!(r.error_code.as_deref(), Some("ValidationException"));
    assert!(
        r.error_message
            .as_deref()
            .is_some_and(|m| m.contains("ValidationException"))
    );
}

async fn a_carrier_opt_out_joins_the_opt_out_list(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    stub.script([Answer::opted_out()]);
    let id = streak_alert(&app, "u1").await;
    assert_eq!(app.run_outbox().await, report(1, 0, 0, 1));
    let r = row(&app, id).await;
    assert_eq!(
        r.error_code.as_deref(),
        Some("ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT")
    );
    let opt_out = opt_outs::Entity::find_by_id("+12125551234")
        .one(&app.db)
        .await
        .expect("q")
        .expect("listed");
    assert_eq!(
        opt_out.source,
        sms_notify::store::opt_outs::OptOutSource::Provider
    );
    // The next message to that number is refused before it costs anything.
    let response = app
        .as_service(
            STREAK,
            json!({ "i": { "userId": "u1", "streakCount": 5, "actionLink": "/s" } }),
        )
        .await;
    assert_eq!(data(&response)["sendStreakAlert"]["status"], "BLOCKED");
    assert_eq!(
        data(&response)["sendStreakAlert"]["blockedReason"],
        "OPTED_OUT"
    );
    assert_eq!(stub.seen().len(), 1);
}

async fn throttling_pauses_the_deployment_without_spending_attempts(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    stub.script([Answer::throttling(Some(3))]);
    let ids = [
        streak_alert(&app, "u1").await,
        streak_alert(&app, "u1").await,
        streak_alert(&app, "u1").await,
    ];

    let first = app.run_outbox().await;
    assert_eq!(
        (first.claimed, first.released, first.sent),
        (3, 3, 0),
        "{first:?}"
    );
    assert_eq!(stub.seen().len(), 1, "the rest of the batch was not tried");
    for id in ids {
        let r = row(&app, id).await;
        assert_eq!(
            (r.status, r.attempts),
            (SmsStatus::Pending, 0),
            "no attempt spent"
        );
        assert_eq!(r.next_attempt_at, Some(start_time() + Duration::seconds(3)));
    }
    assert_eq!(
        gate::paused_until(&app.db).await.expect("gate"),
        (start_time() + Duration::seconds(3)).timestamp_micros()
    );
    app.clock.advance(Duration::seconds(2));
    assert_eq!(app.run_outbox().await, report(0, 0, 0, 0), "paused");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(app.run_outbox().await, report(3, 3, 0, 0));
    for id in ids {
        assert_eq!(row(&app, id).await.attempts, 1);
    }
}

async fn a_worker_killed_mid_send_leaves_a_lease_that_expires(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    stub.script([Answer::Hang]);
    let id = streak_alert(&app, "u1").await;

    let workers = app.workers.clone();
    let doomed = tokio::spawn(async move { workers.run_once(&CancellationToken::new()).await });
    stub.wait_for_requests(1).await;
    doomed.abort();
    assert!(doomed.await.expect_err("killed").is_cancelled());

    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Sending, 1));
    assert_eq!(
        app.run_outbox().await,
        report(0, 0, 0, 0),
        "the lease still holds"
    );
    app.clock.advance(Duration::seconds(61));
    assert_eq!(app.run_outbox().await, report(1, 1, 0, 0));
    let r = row(&app, id).await;
    assert_eq!((r.status, r.attempts), (SmsStatus::Sent, 2));
}

async fn transactional_messages_jump_the_queue(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    for _ in 0..5 {
        streak_alert(&app, "u1").await;
    }
    let response = app
        .as_service(
            "mutation { sendSecurityAlert(input: { userId: \"u1\", what: \"A new sign-in\", link: \"/security\" }) { id status } }",
            json!({}),
        )
        .await;
    let alert: i64 = data(&response)["sendSecurityAlert"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("int");
    let claimed = sms_notify::store::lease::claim_due(
        &app.handles.outbox.db(),
        start_time(),
        Duration::seconds(60),
        1,
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].id, alert,
        "the security alert first, though queued last"
    );
}

async fn a_shutdown_hands_the_batch_back(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    let ids = [
        streak_alert(&app, "u1").await,
        streak_alert(&app, "u1").await,
    ];
    let stop = CancellationToken::new();
    stop.cancel();
    let r = app.workers.run_once(&stop).await.expect("pass");
    assert_eq!((r.claimed, r.released), (2, 2));
    for id in ids {
        let r = row(&app, id).await;
        assert_eq!((r.status, r.attempts), (SmsStatus::Pending, 0));
    }
    assert!(stub.seen().is_empty());
    assert_eq!(app.run_outbox().await, report(2, 2, 0, 0));
}

async fn idempotency_keys_send_once(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    let send = |key: &'static str| {
        app.as_service(STREAK, json!({ "i": { "userId": "u1", "streakCount": 5, "actionLink": "/s", "idempotencyKey": key } }))
    };
    let first = send("streak-u1-2026-03-02").await;
    let again = send("streak-u1-2026-03-02").await;
    let first_id = data(&first)["sendStreakAlert"]["id"].clone();
    assert_eq!(data(&again)["sendStreakAlert"]["id"], first_id);
    let other = send("streak-u1-2026-03-03").await;
    assert_ne!(data(&other)["sendStreakAlert"]["id"], first_id);
    // Concurrent repeats of a new key: one row.
    let racing = futures::future::join_all((0..6).map(|_| send("race"))).await;
    let ids: std::collections::HashSet<Value> = racing
        .iter()
        .map(|r| data(r)["sendStreakAlert"]["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count"),
        3
    );
    app.run_outbox().await;
    assert_eq!(stub.seen().len(), 3);
}

async fn an_idle_pipeline_wakes_on_insert(engine: Engine) {
    // One background worker whose poll is an hour away: only the insert can wake it.
    let (app, stub) = setup(engine, |c| {
        c.sms.workers = 1;
        c.sms.poll_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let response = app
        .as_service(
            "mutation { sendStreakAlert(input: { userId: \"u1\", streakCount: 3, actionLink: \"/s\", sendAsync: false }) { status attempts providerMessageId } }",
            json!({}),
        )
        .await;
    let log = &data(&response)["sendStreakAlert"];
    assert_eq!(log["status"], "SENT", "{log}");
    assert_eq!(log["attempts"], 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "woken, not polled"
    );
    assert_eq!(stub.seen().len(), 1);
    app.stop().await;
}

async fn send_slots_are_shared_and_spaced(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let interval = gate::interval_us(50.0);
    let now = start_time().timestamp_micros();
    // 40 reservations at once from 8 tasks, as several instances would make them.
    let slots: Vec<i64> = futures::future::join_all((0..8).map(|_| {
        let db = app.db.clone();
        async move {
            let mut mine = Vec::new();
            for _ in 0..5 {
                mine.push(
                    gate::reserve_slot(&db, gate::GATE, now, interval)
                        .await
                        .expect("slot"),
                );
            }
            mine
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    let mut sorted = slots.clone();
    sorted.sort_unstable();
    assert_eq!(sorted[0], now);
    for pair in sorted.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            interval,
            "every slot its own, evenly spaced"
        );
    }
    // In any one second, at most 50.
    let per_second = sorted.iter().filter(|s| **s < now + 1_000_000).count();
    assert!(per_second <= 50, "{per_second}");
    // A pause is never shortened by a shorter one.
    gate::pause_until(&app.db, now + 5_000_000)
        .await
        .expect("pause");
    gate::pause_until(&app.db, now + 1_000_000)
        .await
        .expect("pause");
    assert_eq!(
        gate::paused_until(&app.db).await.expect("read"),
        now + 5_000_000
    );
}

async fn concurrent_producers_and_workers_never_deadlock(engine: Engine) {
    // Inserting and recording outcomes both touch the budget and the rollup; under concurrency on
    // PostgreSQL a random lock order deadlocked. Every pass here must succeed.
    let (app, stub) = setup(engine, |c| {
        c.costs.monthly_limit = 1_000_000_000;
        c.costs.user_daily_limit = 1_000;
    })
    .await;
    for i in 0..8 {
        opted_in_user(&app, &format!("u{i}"), &format!("212 555 02{i:02}")).await;
    }
    let producers = (0..4).map(|p| {
        let outbox = app.handles.outbox.clone();
        tokio::spawn(async move {
            for batch in 0..10 {
                let requests = (0..20)
                    .map(|i| {
                        sms_notify::outbox::accept::SendRequest::new(
                            sms_notify::outbox::Origin::Service,
                            sms_notify::outbox::accept::Target::User(format!(
                                "u{}",
                                (p + batch + i) % 8
                            )),
                            sms_notify::outbox::catalogue::Template::StreakAlert {
                                days: 3,
                                link: "/s".into(),
                            },
                            true,
                        )
                    })
                    .collect();
                outbox
                    .enqueue_many(requests)
                    .await
                    .expect("no database error while enqueuing");
            }
        })
    });
    let workers = (0..3).map(|_| {
        let workers = app.workers.clone();
        tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let report = workers
                    .run_once(&CancellationToken::new())
                    .await
                    .expect("no database error while recording outcomes");
                if report.claimed == 0 {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                } else {
                    idle = 0;
                }
            }
        })
    });
    let producers: Vec<_> = producers.collect();
    let workers: Vec<_> = workers.collect();
    for task in producers.into_iter().chain(workers) {
        task.await.expect("task");
    }
    assert_eq!(stub.seen().len(), 800);
    let sent = sms_log::Entity::find().count(&app.db).await.expect("count");
    assert_eq!(sent, 800);
}

/// AWS counts message parts: a three-part text at 3 parts per second has the gate for a whole second.
async fn a_text_takes_one_slot_per_part(engine: Engine) {
    let (app, stub) = setup(engine, |c| c.sms.rate_limit_mps = 3.0).await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    // 400 plain characters: three GSM-7 segments.
    let body = "Round two of Best haiku starts now. ".repeat(11);
    let sent = app
        .as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id segments } }",
            json!({ "i": { "userId": "u1", "body": body } }),
        )
        .await;
    assert_eq!(data(&sent)["sendSms"]["segments"], 3);
    let sender = "+18663448034";
    let before = gate::reserve_slot(&app.db, sender, 0, 0)
        .await
        .expect("the gate");
    assert_eq!(app.run_outbox().await.sent, 1);
    assert_eq!(stub.seen().len(), 1);
    let after = gate::reserve_slot(&app.db, sender, 0, 0)
        .await
        .expect("the gate");
    let start = before.max(start_time().timestamp_micros());
    assert_eq!(
        after - start,
        3 * gate::interval_us(3.0),
        "three slots, a whole second"
    );
}

async fn each_sender_has_its_own_rate_limit(engine: Engine) {
    let codes_from = "+18005550199";
    let (app, stub) = setup(engine, |c| {
        c.sms.rate_limit_mps = 3.0;
        c.sms.verification_identity = Some(codes_from.into());
    })
    .await;
    opted_in_user(&app, "u1", "+1 212 555 1234").await;
    let body = "Round two of Best haiku starts now. ".repeat(11);
    data(
        &app.as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
            json!({ "i": { "userId": "u1", "body": body } }),
        )
        .await,
    );
    crate::helpers::set_phone(&app, "u2", "+1 212 555 0102").await;
    data(
        &app.as_user(
            "u2",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(app.run_outbox().await.sent, 2);
    let identities: Vec<_> = stub
        .seen()
        .iter()
        .map(|s| s.body["OriginationIdentity"].clone())
        .collect();
    assert_eq!(identities, [json!(codes_from), json!("+18663448034")]);
    // The code's one part and the promotion's three went through two gates: neither waited for the
    // other's slots.
    let start = start_time().timestamp_micros();
    let next = |sender: &'static str| {
        let db = app.db.clone();
        async move {
            gate::reserve_slot(&db, sender, 0, 0)
                .await
                .expect("the gate")
        }
    };
    let slot = gate::interval_us(3.0);
    assert!(next(codes_from).await - start <= slot, "one slot");
    assert!(
        next("+18663448034").await - start <= 3 * slot,
        "three slots, none taken by the code"
    );
}
