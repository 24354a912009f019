//! Quiet hours where the person is: zones from the number, split area codes, the stricter states.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::{America, Europe, Pacific, Tz};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use sms_notify::Clock as _;

use crate::{
    helpers::{Engine, TestApp, data, opted_in_user},
    pipeline::{row, setup},
    storage_tests,
};

storage_tests!(
    a_honolulu_number_waits_for_eight_in_honolulu,
    florida_ends_the_day_at_eight_and_caps_promotions_at_three,
    with_state_rules_off_florida_is_federal,
    a_split_area_code_waits_for_its_later_zone,
    a_uk_number_keeps_london_hours,
    a_user_without_a_number_or_zone_uses_the_default,
    streak_alerts_follow_the_numbers_evening,
    twenty_concurrent_promotions_to_a_florida_number_send_three,
);

const SEND: &str =
    "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason quietHoursZone } }";
const ALERT: &str = "mutation($i: SecurityAlertInput!) { sendSecurityAlert(input: $i) { id status quietHoursZone } }";

fn local(tz: Tz, h: u32, m: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(2026, 3, 2, h, m, 0)
        .single()
        .expect("a time")
        .with_timezone(&Utc)
}

async fn promo(app: &TestApp, user: &str) -> Value {
    data(
        &app.as_service(
            SEND,
            json!({ "i": { "userId": user, "body": "Your friends are waiting" } }),
        )
        .await,
    )["sendSms"]
        .clone()
}

async fn due_at(app: &TestApp, log: &Value) -> Option<DateTime<Utc>> {
    row(
        app,
        log["id"].as_str().expect("id").parse().expect("numeric"),
    )
    .await
    .next_attempt_at
}

async fn a_honolulu_number_waits_for_eight_in_honolulu(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "kai", "(808) 555-0100").await;
    // 07:00 in Honolulu is noon in New York, the service's default zone.
    app.clock.set(local(Pacific::Honolulu, 7, 0));
    let held = promo(&app, "kai").await;
    assert_eq!(
        (held["status"].as_str(), held["quietHoursZone"].as_str()),
        (Some("PENDING"), Some("Pacific/Honolulu"))
    );
    assert_eq!(
        due_at(&app, &held).await,
        Some(local(Pacific::Honolulu, 8, 0))
    );
    let me = data(
        &app.as_user(
            "kai",
            "{ me { timezone timezones timezoneSource } }",
            json!({}),
        )
        .await,
    )["me"]
        .clone();
    assert_eq!(
        me,
        json!({ "timezone": "Pacific/Honolulu", "timezones": ["Pacific/Honolulu"], "timezoneSource": "AREA_CODE" })
    );
    // The same number, whose user the app says is in New York, is texted now.
    data(&app.as_service("mutation { upsertRecipient(input: { userId: \"kai\", timezone: \"America/New_York\" }) { timezoneSource } }", json!({})).await);
    let sent = promo(&app, "kai").await;
    assert_eq!(due_at(&app, &sent).await, Some(app.clock.now()));
    assert_eq!(sent["quietHoursZone"], "America/New_York");
    let recipient = data(
        &app.as_service(
            "{ recipient(userId: \"kai\") { timezone timezoneSource } }",
            json!({}),
        )
        .await,
    )["recipient"]
        .clone();
    assert_eq!(
        recipient,
        json!({ "timezone": "America/New_York", "timezoneSource": "APP" })
    );
}

async fn florida_ends_the_day_at_eight_and_caps_promotions_at_three(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.costs.user_daily_limit = 100).await;
    opted_in_user(&app, "flo", "(305) 555-0100").await;
    opted_in_user(&app, "ned", "(212) 555-0100").await;
    // 20:30 in Miami: federal daytime, Florida night.
    app.clock.set(local(America::New_York, 20, 30));
    let held = promo(&app, "flo").await;
    assert_eq!(held["status"], "PENDING");
    let tomorrow_eight = America::New_York
        .with_ymd_and_hms(2026, 3, 3, 8, 0, 0)
        .single()
        .expect("t")
        .with_timezone(&Utc);
    assert_eq!(due_at(&app, &held).await, Some(tomorrow_eight));
    // New York is still federal daytime.
    assert_eq!(
        due_at(&app, &promo(&app, "ned").await).await,
        Some(app.clock.now())
    );
    // Three promotions to a Florida number in 24 hours; the fourth is refused.
    assert_eq!(promo(&app, "flo").await["status"], "PENDING");
    assert_eq!(promo(&app, "flo").await["status"], "PENDING");
    let fourth = promo(&app, "flo").await;
    assert_eq!(
        (fourth["status"].as_str(), fourth["blockedReason"].as_str()),
        (Some("BLOCKED"), Some("STATE_DAILY_LIMIT"))
    );
    // New York has no such cap.
    for _ in 0..4 {
        assert_eq!(promo(&app, "ned").await["status"], "PENDING");
    }
    // A security alert is never held nor counted.
    let alert = data(
        &app.as_service(
            ALERT,
            json!({ "i": { "userId": "flo", "what": "A new sign-in", "link": "/security" } }),
        )
        .await,
    )["sendSecurityAlert"]
        .clone();
    assert_eq!(
        (alert["status"].as_str(), alert["quietHoursZone"].clone()),
        (Some("PENDING"), Value::Null)
    );
    assert_eq!(due_at(&app, &alert).await, Some(app.clock.now()));
}

async fn with_state_rules_off_florida_is_federal(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.locale_rules.state_rules.clear()).await;
    opted_in_user(&app, "flo", "(305) 555-0100").await;
    app.clock.set(local(America::New_York, 20, 30));
    assert_eq!(
        due_at(&app, &promo(&app, "flo").await).await,
        Some(app.clock.now())
    );
    for _ in 0..4 {
        assert_eq!(promo(&app, "flo").await["status"], "PENDING");
    }
}

async fn a_split_area_code_waits_for_its_later_zone(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    // 850: the Florida panhandle, Central and Eastern time.
    opted_in_user(&app, "pan", "(850) 555-0100").await;
    let me = data(
        &app.as_user("pan", "{ me { timezones timezoneSource } }", json!({}))
            .await,
    )["me"]
        .clone();
    assert_eq!(
        me,
        json!({ "timezones": ["America/Chicago", "America/New_York"], "timezoneSource": "AREA_CODE" })
    );
    // 08:30 in Tallahassee is 07:30 in Pensacola.
    app.clock.set(local(America::New_York, 8, 30));
    let held = promo(&app, "pan").await;
    assert_eq!(held["quietHoursZone"], "America/Chicago");
    assert_eq!(
        due_at(&app, &held).await,
        Some(local(America::Chicago, 8, 0))
    );
    // Midday, both zones are awake.
    app.clock.set(local(America::New_York, 12, 0));
    assert_eq!(
        due_at(&app, &promo(&app, "pan").await).await,
        Some(app.clock.now())
    );
}

async fn a_uk_number_keeps_london_hours(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.sms.allowed_countries.push(phonenumber::country::Id::GB);
        c.costs.default_price = Some(40_000);
    })
    .await;
    opted_in_user(&app, "liz", "+44 7400 123456").await;
    let me = data(
        &app.as_user("liz", "{ me { timezone timezoneSource } }", json!({}))
            .await,
    )["me"]
        .clone();
    assert_eq!(
        me,
        json!({ "timezone": "Europe/London", "timezoneSource": "COUNTRY" })
    );
    // 15:00 UTC is 15:00 in London: sent. 07:00 in London: held until 08:00 there.
    let sent = promo(&app, "liz").await;
    assert_eq!(sent["status"], "PENDING", "{sent}");
    assert_eq!(
        (sent["quietHoursZone"].as_str(), due_at(&app, &sent).await),
        (Some("Europe/London"), Some(app.clock.now()))
    );
    app.clock.set(local(Europe::London, 7, 0));
    let held = promo(&app, "liz").await;
    assert_eq!(due_at(&app, &held).await, Some(local(Europe::London, 8, 0)));
}

async fn a_user_without_a_number_or_zone_uses_the_default(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let me = data(
        &app.as_user("nobody", "{ me { timezone timezoneSource } }", json!({}))
            .await,
    )["me"]
        .clone();
    assert_eq!(
        me,
        json!({ "timezone": "America/New_York", "timezoneSource": "DEFAULT" })
    );
}

async fn streak_alerts_follow_the_numbers_evening(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "kai", "(808) 555-0100").await;
    let streak = app.as_service(
        "mutation { upsertStreak(input: { userId: \"kai\", currentDays: 4, lastActivityDate: \"2026-03-01\" }) { nextAlertAt } }",
        json!({}),
    ).await;
    // 18:00 on 2 March in Honolulu, not in New York.
    assert_eq!(
        data(&streak)["upsertStreak"]["nextAlertAt"],
        local(Pacific::Honolulu, 18, 0).to_rfc3339()
    );
    // A new number moves the pending alert to its evening.
    data(
        &app.as_user(
            "kai",
            "mutation { setPhoneNumber(phoneNumber: \"(212) 555-0100\") { timezone } }",
            json!({}),
        )
        .await,
    );
    let row = entity::streaks::Entity::find_by_id("kai".to_owned())
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.next_alert_at, Some(local(America::New_York, 18, 0)));
}

async fn twenty_concurrent_promotions_to_a_florida_number_send_three(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.costs.user_daily_limit = 100).await;
    opted_in_user(&app, "flo", "(305) 555-0100").await;
    let answers = futures::future::join_all((0..20).map(|_| promo(&app, "flo"))).await;
    let pending = answers.iter().filter(|a| a["status"] == "PENDING").count();
    let capped = answers
        .iter()
        .filter(|a| a["blockedReason"] == "STATE_DAILY_LIMIT")
        .count();
    assert_eq!((pending, capped), (3, 17), "{answers:?}");
}
