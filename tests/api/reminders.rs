//! The reminder engine on an injected clock, with the real pipeline and the AWS stub behind it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::sms_log::{self, MessageType, SmsStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sms_notify::{auth::Role, reminders::ReminderKind};

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    battle_reminders_at_the_lead_time_once_and_only_for_who_has_not_submitted,
    bad_facts_are_refused,
    streak_alerts_follow_each_users_own_evening,
    streak_alerts_respect_dst_and_the_local_day_boundary,
    quiet_hours_pull_a_reminder_forward_or_block_it,
    racing_scanners_send_each_reminder_once,
);

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid time")
}

const UPSERT_BATTLE: &str = "mutation($i: BattleInput!) { upsertBattle(input: $i) { battleId status deadlineAt participants { userId submittedAt } } }";
const UPSERT_STREAK: &str = "mutation($i: StreakInput!) { upsertStreak(input: $i) { userId currentDays lastActivityDate nextAlertAt } }";
const SCAN: &str = "mutation($k: ReminderKind!) { runReminderScan(kind: $k) { kind found enqueued skipped startedAt finishedAt } }";

async fn scan(app: &TestApp, kind: &str) -> (i64, i64, i64) {
    let response = app
        .graphql_as("ops", Role::Admin, SCAN, json!({ "k": kind }))
        .await;
    let r = &data(&response)["runReminderScan"];
    (
        r["found"].as_i64().expect("found"),
        r["enqueued"].as_i64().expect("enqueued"),
        r["skipped"].as_i64().expect("skipped"),
    )
}

async fn battle(
    app: &TestApp,
    id: &str,
    status: &str,
    deadline: DateTime<Utc>,
    participants: Value,
) -> Value {
    let response = app
        .as_service(
            UPSERT_BATTLE,
            json!({ "i": { "battleId": id, "topic": "Best haiku", "link": format!("/battles/{id}"),
                           "status": status, "deadlineAt": deadline, "participants": participants } }),
        )
        .await;
    data(&response)["upsertBattle"].clone()
}

async fn timezone(app: &TestApp, user: &str, tz: &str) {
    data(
        &app.as_service(
            "mutation($i: RecipientInput!) { upsertRecipient(input: $i) { timezone } }",
            json!({ "i": { "userId": user, "timezone": tz } }),
        )
        .await,
    );
}

async fn reminders_of(app: &TestApp, kind: MessageType) -> Vec<sms_log::Model> {
    sms_log::Entity::find()
        .filter(sms_log::Column::MessageType.eq(kind))
        .all(&app.db)
        .await
        .expect("query")
}

async fn battle_reminders_at_the_lead_time_once_and_only_for_who_has_not_submitted(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let now = crate::helpers::start_time(); // 10:00 in New York: far from quiet hours
    opted_in_user(&app, "ann", "212 555 0001").await;
    opted_in_user(&app, "ben", "212 555 0002").await;
    data(
        &app.as_user(
            "cat",
            "mutation { setPhoneNumber(phoneNumber: \"212 555 0003\") { userId } }",
            json!({}),
        )
        .await,
    );
    let pushed = battle(
        &app,
        "b1",
        "ACTIVE",
        now + Duration::minutes(90),
        json!([
            { "userId": "ann" }, { "userId": "ben", "submittedAt": now }, { "userId": "cat" }
        ]),
    )
    .await;
    assert_eq!(pushed["participants"].as_array().expect("list").len(), 3);
    // The same fact twice changes nothing.
    assert_eq!(
        battle(
            &app,
            "b1",
            "ACTIVE",
            now + Duration::minutes(90),
            json!([
                { "userId": "ann" }, { "userId": "ben", "submittedAt": now }, { "userId": "cat" }
            ])
        )
        .await,
        pushed
    );

    assert_eq!(
        scan(&app, "BATTLES").await,
        (0, 0, 0),
        "90 minutes out: not yet"
    );
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        scan(&app, "BATTLES").await,
        (0, 0, 0),
        "61 minutes out: not yet"
    );
    app.clock.advance(Duration::minutes(1));
    // Ann gets one; Cat's is refused by policy (unverified, no consent) and logged; Ben submitted.
    assert_eq!(scan(&app, "BATTLES").await, (2, 1, 1));
    let sent = reminders_of(&app, MessageType::BattleReminder).await;
    let ann = sent
        .iter()
        .find(|r| r.user_id.as_deref() == Some("ann"))
        .expect("ann's reminder");
    assert_eq!(ann.status, SmsStatus::Pending);
    assert!(
        ann.body
            .contains("1 hour left to submit your entry in \"Best haiku\""),
        "{}",
        ann.body
    );
    // The link is a short link (`SMS_LINK_SHORTENING`) standing for the battle's page.
    let links = sms_notify::store::links::of_messages(&app.db, vec![ann.id])
        .await
        .expect("links");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].url, "http://localhost:3000/battles/b1");
    assert!(
        ann.body.contains(&format!("/l/{}", links[0].code)),
        "{}",
        ann.body
    );
    let cat = sent
        .iter()
        .find(|r| r.user_id.as_deref() == Some("cat"))
        .expect("cat's decision");
    assert_eq!(
        cat.blocked_reason.map(|r| r.as_str()),
        Some("phone_not_verified")
    );
    // Every later scan of the same turn sends nothing new.
    for _ in 0..3 {
        app.clock.advance(Duration::minutes(10));
        assert_eq!(scan(&app, "BATTLES").await, (2, 0, 2));
    }
    assert_eq!(
        reminders_of(&app, MessageType::BattleReminder).await.len(),
        2
    );

    // Ann submits: no reminder for her next turn; a closed battle reminds nobody.
    data(
        &app.as_service(
            "mutation { recordBattleSubmission(battleId: \"b1\", userId: \"ann\") { battleId } }",
            json!({}),
        )
        .await,
    );
    let later = sms_notify::Clock::now(app.clock.as_ref());
    battle(
        &app,
        "b2",
        "COMPLETED",
        later + Duration::minutes(30),
        json!([{ "userId": "ann" }]),
    )
    .await;
    assert_eq!(
        scan(&app, "BATTLES").await,
        (1, 0, 1),
        "only Cat is left in b1"
    );
    // A new turn (new deadline) is a new reminder.
    battle(
        &app,
        "b1",
        "ACTIVE",
        later + Duration::minutes(50),
        json!([{ "userId": "ann" }, { "userId": "ben" }]),
    )
    .await;
    assert_eq!(scan(&app, "BATTLES").await, (2, 2, 0));
    let newest = reminders_of(&app, MessageType::BattleReminder).await;
    assert!(newest.iter().any(|r| r.body.contains("50 minutes left")));
}

async fn bad_facts_are_refused(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let deadline = crate::helpers::start_time() + Duration::hours(2);
    for (input, code) in [
        (
            json!({ "battleId": "", "topic": "t", "link": "/b", "status": "ACTIVE", "deadlineAt": deadline, "participants": [] }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "battleId": "b", "topic": " ", "link": "/b", "status": "ACTIVE", "deadlineAt": deadline, "participants": [] }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "battleId": "b", "topic": "t", "link": "/b", "status": "ACTIVE", "deadlineAt": deadline, "participants": [{ "userId": "a" }, { "userId": "a" }] }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "battleId": "b", "topic": "t", "link": "/b", "status": "PAUSED", "deadlineAt": deadline, "participants": [] }),
            "BAD_USER_INPUT",
        ),
    ] {
        let response = app.as_service(UPSERT_BATTLE, json!({ "i": input })).await;
        assert_eq!(error_code(&response), code, "{input}");
    }
    let response = app
        .as_service(
            "mutation { recordBattleSubmission(battleId: \"nope\", userId: \"a\") { battleId } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    let response = app
        .as_service(
            UPSERT_STREAK,
            json!({ "i": { "userId": "u", "currentDays": -1, "lastActivityDate": "2026-03-01" } }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app
        .as_service(
            UPSERT_STREAK,
            json!({ "i": { "userId": "u", "currentDays": 3, "lastActivityDate": "yesterday" } }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    // Scans are for operators, facts for the back end.
    assert_eq!(
        error_code(&app.as_service(SCAN, json!({ "k": "BATTLES" })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.as_user("u", SCAN, json!({ "k": "STREAKS" })).await),
        "FORBIDDEN"
    );
    assert_eq!(error_code(&app.as_user("u", UPSERT_STREAK, json!({ "i": { "userId": "u", "currentDays": 3, "lastActivityDate": "2026-03-01" } })).await), "FORBIDDEN");
}

async fn streak_alerts_follow_each_users_own_evening(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    // Last activity on 1 March, local calendar; the alert is at 18:00 local on 2 March.
    let zones = [
        (
            "honolulu",
            "Pacific/Honolulu",
            "212 555 0010",
            utc(2026, 3, 3, 4, 0),
        ), // UTC-10
        (
            "kathmandu",
            "Asia/Kathmandu",
            "212 555 0011",
            utc(2026, 3, 2, 12, 15),
        ), // UTC+5:45
        (
            "kiritimati",
            "Pacific/Kiritimati",
            "212 555 0012",
            utc(2026, 3, 2, 4, 0),
        ), // UTC+14
    ];
    app.clock.set(utc(2026, 3, 2, 0, 0));
    for (user, tz, phone, alert) in zones {
        opted_in_user(&app, user, phone).await;
        timezone(&app, user, tz).await;
        let streak = app
            .as_service(UPSERT_STREAK, json!({ "i": { "userId": user, "currentDays": 12, "lastActivityDate": "2026-03-01" } }))
            .await;
        assert_eq!(
            data(&streak)["upsertStreak"]["nextAlertAt"],
            alert.to_rfc3339(),
            "{tz}"
        );
    }
    let mut sent = Vec::new();
    for (at, expect) in [
        (utc(2026, 3, 2, 3, 59), vec![]),
        (utc(2026, 3, 2, 4, 0), vec!["kiritimati"]),
        (utc(2026, 3, 2, 12, 14), vec![]),
        (utc(2026, 3, 2, 12, 15), vec!["kathmandu"]),
        (utc(2026, 3, 3, 3, 59), vec![]),
        (utc(2026, 3, 3, 4, 0), vec!["honolulu"]),
    ] {
        app.clock.set(at);
        let (found, enqueued, _) = scan(&app, "STREAKS").await;
        assert_eq!(
            (found, enqueued),
            (expect.len() as i64, expect.len() as i64),
            "at {at}"
        );
        assert_eq!(
            scan(&app, "STREAKS").await,
            (0, 0, 0),
            "handled: nothing on the next scan"
        );
        sent.extend(expect);
    }
    let alerts = reminders_of(&app, MessageType::StreakAlert).await;
    assert_eq!(alerts.len(), 3);
    assert!(
        alerts
            .iter()
            .all(|a| a.body.contains("Your 12-day streak ends at midnight"))
    );
    // The app pushing the same fact again does not re-arm the alert.
    data(&app.as_service(UPSERT_STREAK, json!({ "i": { "userId": "kiritimati", "currentDays": 12, "lastActivityDate": "2026-03-01" } })).await);
    assert_eq!(scan(&app, "STREAKS").await, (0, 0, 0));
}

async fn streak_alerts_respect_dst_and_the_local_day_boundary(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ny", "212 555 0020").await;
    timezone(&app, "ny", "America/New_York").await;
    app.clock.set(utc(2026, 3, 7, 12, 0));
    // Clocks spring forward on 8 March: 18:00 that day is EDT (UTC-4), not EST.
    let streak = app
        .as_service(
            UPSERT_STREAK,
            json!({ "i": { "userId": "ny", "currentDays": 3, "lastActivityDate": "2026-03-07" } }),
        )
        .await;
    assert_eq!(
        data(&streak)["upsertStreak"]["nextAlertAt"],
        utc(2026, 3, 8, 22, 0).to_rfc3339()
    );
    // A user whose alert was missed until after their local midnight gets nothing: the streak is lost.
    opted_in_user(&app, "late", "212 555 0021").await;
    timezone(&app, "late", "Pacific/Kiritimati").await;
    app.clock.set(utc(2026, 3, 1, 12, 0));
    data(&app.as_service(UPSERT_STREAK, json!({ "i": { "userId": "late", "currentDays": 9, "lastActivityDate": "2026-03-01" } })).await);
    app.clock.set(utc(2026, 3, 2, 10, 0)); // 00:00 on 3 March in Kiritimati
    let (found, enqueued, skipped) = scan(&app, "STREAKS").await;
    assert_eq!((found, enqueued, skipped), (1, 0, 1));
    // A time zone change moves a pending alert to the new local evening.
    app.clock.set(utc(2026, 3, 8, 12, 0));
    timezone(&app, "ny", "America/Los_Angeles").await;
    let row = entity::streaks::Entity::find_by_id("ny")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.next_alert_at, Some(utc(2026, 3, 9, 1, 0)), "18:00 PDT");
    app.clock.set(utc(2026, 3, 9, 1, 0));
    assert_eq!(scan(&app, "STREAKS").await.1, 1);
}

async fn quiet_hours_pull_a_reminder_forward_or_block_it(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "212 555 0001").await; // New York, quiet 21:00-08:00
    // Deadline 22:30 EST = 03:30 UTC on 3 March; its reminder moment, 21:30, is quiet: it goes at
    // 20:59 instead, the last minute before quiet hours.
    app.clock.set(utc(2026, 3, 2, 20, 0));
    battle(
        &app,
        "late-night",
        "ACTIVE",
        utc(2026, 3, 3, 3, 30),
        json!([{ "userId": "ann" }]),
    )
    .await;
    app.clock.set(utc(2026, 3, 3, 1, 58));
    assert_eq!(scan(&app, "BATTLES").await, (0, 0, 0));
    app.clock.set(utc(2026, 3, 3, 1, 59));
    assert_eq!(scan(&app, "BATTLES").await, (1, 1, 0));
    let early = reminders_of(&app, MessageType::BattleReminder).await;
    assert!(
        early[0].body.contains("1 hour 31 minutes left"),
        "{}",
        early[0].body
    );
    app.clock.set(utc(2026, 3, 3, 2, 30));
    assert_eq!(scan(&app, "BATTLES").await, (1, 0, 1), "already sent early");

    // A battle pushed after that minute passed: its reminder is logged as blocked, not sent at night.
    opted_in_user(&app, "ben", "212 555 0002").await;
    app.clock.set(utc(2026, 3, 3, 2, 45));
    battle(
        &app,
        "later",
        "ACTIVE",
        utc(2026, 3, 3, 4, 30),
        json!([{ "userId": "ben" }]),
    )
    .await;
    app.clock.set(utc(2026, 3, 3, 3, 30));
    assert_eq!(
        scan(&app, "BATTLES").await,
        (1, 0, 1),
        "the first battle is over; Ben is due"
    );
    let ben = reminders_of(&app, MessageType::BattleReminder)
        .await
        .into_iter()
        .find(|r| r.user_id.as_deref() == Some("ben"))
        .expect("ben's decision");
    assert_eq!(
        (ben.status, ben.blocked_reason.map(|r| r.as_str())),
        (SmsStatus::Blocked, Some("quiet_hours"))
    );

    // A promotion the app sends at night waits for the morning instead.
    let response = app
        .as_service("mutation { sendBattleResult(input: { userId: \"ben\", battleTopic: \"t\", resultSummary: \"You won!\", resultLink: \"/r\" }) { status nextAttemptAt } }", json!({}))
        .await;
    assert_eq!(data(&response)["sendBattleResult"]["status"], "PENDING");
    assert_eq!(
        data(&response)["sendBattleResult"]["nextAttemptAt"],
        utc(2026, 3, 3, 13, 0).to_rfc3339(),
        "08:00 EST"
    );
}

async fn racing_scanners_send_each_reminder_once(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let now = crate::helpers::start_time();
    let mut people = Vec::new();
    for i in 0..12 {
        let user = format!("p{i}");
        opted_in_user(&app, &user, &format!("212 555 01{i:02}")).await;
        people.push(json!({ "userId": user }));
    }
    battle(
        &app,
        "crowded",
        "ACTIVE",
        now + Duration::minutes(40),
        json!(people),
    )
    .await;
    for i in 0..12 {
        let user = format!("p{i}");
        data(&app.as_service(UPSERT_STREAK, json!({ "i": { "userId": user, "currentDays": 2, "lastActivityDate": "2026-03-01" } })).await);
    }
    // Two battle scanners at the same moment, as two instances would run them.
    let runs = futures::future::join_all([
        app.handles.scans.run(ReminderKind::Battles),
        app.handles.scans.run(ReminderKind::Battles),
    ])
    .await;
    let enqueued: u64 = runs
        .iter()
        .map(|r| r.as_ref().expect("scan").report.enqueued)
        .sum();
    assert_eq!(enqueued, 12, "each participant once, whoever won the race");
    // Then two streak scanners at 18:30 in New York.
    app.clock.set(utc(2026, 3, 2, 23, 30));
    let runs = futures::future::join_all([
        app.handles.scans.run(ReminderKind::Streaks),
        app.handles.scans.run(ReminderKind::Streaks),
    ])
    .await;
    let enqueued: u64 = runs
        .iter()
        .map(|r| r.as_ref().expect("scan").report.enqueued)
        .sum();
    assert_eq!(enqueued, 12);
    assert_eq!(
        reminders_of(&app, MessageType::BattleReminder).await.len(),
        12
    );
    assert_eq!(reminders_of(&app, MessageType::StreakAlert).await.len(), 12);
    // A scan that died half way is simply run again: nothing is sent twice.
    entity::streaks::Entity::update_many()
        .col_expr(
            entity::streaks::Column::NextAlertAt,
            sea_orm::sea_query::Expr::value(Some(utc(2026, 3, 2, 23, 0))),
        )
        .exec(&app.db)
        .await
        .expect("re-arm as if the first scan crashed before marking");
    assert_eq!(scan(&app, "STREAKS").await, (12, 0, 12));
    assert_eq!(reminders_of(&app, MessageType::StreakAlert).await.len(), 12);
}
