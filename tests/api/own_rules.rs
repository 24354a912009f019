//! People's own rules: their quiet hours on top of the law's, and a snooze of promotional texts that
//! ends by itself, with the law's rules (and STOP) always first.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use sms_notify::Clock;

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::{STREAK, setup},
    storage_tests,
};

storage_tests!(
    their_quiet_hours_hold_promotions_until_they_end,
    their_quiet_hours_are_checked_and_a_bad_one_changes_nothing,
    a_snooze_holds_its_types_and_ends_by_itself,
    stop_beats_a_snooze_and_start_keeps_it,
    a_snooze_is_checked,
    a_queued_text_meets_the_rules_as_it_leaves,
    the_settings_page_reads_every_rule_with_its_source,
    the_law_the_state_and_their_own_window_all_hold,
);

const PREFS: &str = "mutation($i: SmsPreferencesInput!) { updateSmsPreferences(input: $i) { preferences { quietHours { start end } snooze { until messageTypes } } } }";
const SNOOZE: &str = "mutation($u: DateTime!, $t: [MessageType!]) { snoozeSms(until: $u, messageTypes: $t) { preferences { snooze { until messageTypes } } } }";
const ME: &str =
    "{ me { preferences { quietHours { start end } snooze { until messageTypes } } } }";

async fn streak(app: &TestApp) -> Value {
    data(
        &app.as_service(
            STREAK,
            json!({ "i": { "userId": "ann", "streakCount": 5, "actionLink": "/streak" } }),
        )
        .await,
    )["sendStreakAlert"]
        .clone()
}

async fn me(app: &TestApp) -> Value {
    data(&app.as_user("ann", ME, json!({})).await)["me"]["preferences"].clone()
}

async fn next_attempt(app: &TestApp, id: &Value) -> Value {
    data(
        &app.as_graphql_admin(
            "query($id: ID!) { smsLog(id: $id) { status blockedReason nextAttemptAt } }",
            json!({ "id": id }),
        )
        .await,
    )["smsLog"]
        .clone()
}

async fn their_quiet_hours_hold_promotions_until_they_end(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    // A New York number; the test starts at 10:00 there.
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let set = data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "quietHours": { "start": "22:00", "end": "12:00" } } }),
        )
        .await,
    )["updateSmsPreferences"]["preferences"]
        .clone();
    assert_eq!(
        set["quietHours"],
        json!({ "start": "22:00", "end": "12:00" })
    );
    assert_eq!(me(&app).await["quietHours"]["end"], "12:00");
    // "Not before noon": the streak alert waits until 12:00 in New York (17:00 UTC).
    let log = streak(&app).await;
    assert_eq!(log["status"], "PENDING");
    let noon = Utc
        .with_ymd_and_hms(2026, 3, 2, 17, 0, 0)
        .single()
        .expect("t");
    let row = next_attempt(&app, &log["id"]).await;
    assert_eq!(row["nextAttemptAt"], noon.to_rfc3339());
    // A security alert never waits.
    let alert = data(
        &app.as_service(
            "mutation { sendSecurityAlert(input: { userId: \"ann\", what: \"A new sign-in\", link: \"/s\" }) { id status } }",
            json!({}),
        )
        .await,
    )["sendSecurityAlert"]
        .clone();
    assert_eq!(
        next_attempt(&app, &alert["id"]).await["nextAttemptAt"],
        app.clock.now().to_rfc3339()
    );
    // Null clears them: the next text goes now.
    data(
        &app.as_user("ann", PREFS, json!({ "i": { "quietHours": null } }))
            .await,
    );
    assert_eq!(me(&app).await["quietHours"], Value::Null);
    let log = streak(&app).await;
    assert_eq!(
        next_attempt(&app, &log["id"]).await["nextAttemptAt"],
        app.clock.now().to_rfc3339()
    );
}

async fn their_quiet_hours_are_checked_and_a_bad_one_changes_nothing(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "quietHours": { "start": "23:00", "end": "07:00" } } }),
        )
        .await,
    );
    for bad in [
        json!({ "start": "22:00", "end": "22:00" }),
        json!({ "start": "25:00", "end": "07:00" }),
        json!({ "start": "7:00", "end": "09:00" }),
    ] {
        let response = app
            .as_user(
                "ann",
                PREFS,
                json!({ "i": { "quietHours": bad, "smsStreakAlerts": false } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}");
    }
    // Nothing changed: neither the window nor the category asked for with it.
    assert_eq!(
        me(&app).await["quietHours"],
        json!({ "start": "23:00", "end": "07:00" })
    );
    assert_eq!(streak(&app).await["status"], "PENDING");
}

async fn a_snooze_holds_its_types_and_ends_by_itself(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let until = app.clock.now() + Duration::days(7);
    let snoozed = data(
        &app.as_user("ann", SNOOZE, json!({ "u": until, "t": ["STREAK_ALERT"] }))
            .await,
    )["snoozeSms"]["preferences"]["snooze"]
        .clone();
    assert_eq!(
        snoozed,
        json!({ "until": until.to_rfc3339(), "messageTypes": ["STREAK_ALERT"] })
    );
    let log = streak(&app).await;
    assert_eq!(log["status"], "BLOCKED");
    assert_eq!(log["blockedReason"], "SNOOZED");
    // Other types still come.
    let result = data(
        &app.as_service(
            "mutation { sendBattleResult(input: { userId: \"ann\", battleTopic: \"t\", resultSummary: \"You won!\", resultLink: \"/r\" }) { status } }",
            json!({}),
        )
        .await,
    )["sendBattleResult"]
        .clone();
    assert_eq!(result["status"], "PENDING");
    // A week later it ended by itself.
    app.clock.advance(Duration::days(7) + Duration::minutes(1));
    assert_eq!(me(&app).await["snooze"], Value::Null);
    assert_eq!(streak(&app).await["status"], "PENDING");
    // All promotional types, then ended by hand.
    data(
        &app.as_user(
            "ann",
            SNOOZE,
            json!({ "u": app.clock.now() + Duration::days(1) }),
        )
        .await,
    );
    assert_eq!(streak(&app).await["blockedReason"], "SNOOZED");
    data(
        &app.as_user("ann", "mutation { unsnoozeSms { userId } }", json!({}))
            .await,
    );
    assert_eq!(streak(&app).await["status"], "PENDING");
}

async fn stop_beats_a_snooze_and_start_keeps_it(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    data(
        &app.as_user(
            "ann",
            SNOOZE,
            json!({ "u": app.clock.now() + Duration::days(3) }),
        )
        .await,
    );
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+12125550101\") { __typename } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        streak(&app).await["blockedReason"],
        "OPTED_OUT",
        "STOP first"
    );
    data(
        &app.as_graphql_admin(
            "mutation { removeOptOut(phone: \"+12125550101\", note: \"texted START\") }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        streak(&app).await["blockedReason"],
        "SNOOZED",
        "the snooze outlives START"
    );
}

async fn a_snooze_is_checked(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let now = app.clock.now();
    for (until, types) in [
        (now - Duration::minutes(1), json!(null)),
        (now + Duration::days(91), json!(null)),
        (now + Duration::days(1), json!(["PHONE_VERIFICATION"])),
        (
            now + Duration::days(1),
            json!(["SECURITY_ALERT", "STREAK_ALERT"]),
        ),
    ] {
        let response = app
            .as_user("ann", SNOOZE, json!({ "u": until, "t": types }))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{until} {types}");
    }
    assert_eq!(me(&app).await["snooze"], Value::Null, "nothing changed");
    let as_service = app
        .as_service(SNOOZE, json!({ "u": now + Duration::days(1) }))
        .await;
    assert_eq!(error_code(&as_service), "FORBIDDEN");
}

async fn a_queued_text_meets_the_rules_as_it_leaves(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    // Queued by day, then a snooze: it is blocked as it leaves, never sent.
    let first = streak(&app).await;
    data(
        &app.as_user(
            "ann",
            SNOOZE,
            json!({ "u": app.clock.now() + Duration::days(1) }),
        )
        .await,
    );
    app.run_outbox().await;
    let row = next_attempt(&app, &first["id"]).await;
    assert_eq!(row["status"], "BLOCKED");
    assert_eq!(row["blockedReason"], "SNOOZED");
    data(
        &app.as_user("ann", "mutation { unsnoozeSms { userId } }", json!({}))
            .await,
    );
    // Queued by day, then their own window covers now: it waits for its end.
    let second = streak(&app).await;
    data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "quietHours": { "start": "09:00", "end": "11:30" } } }),
        )
        .await,
    );
    app.run_outbox().await;
    let row = next_attempt(&app, &second["id"]).await;
    assert_eq!(row["status"], "PENDING");
    let half_past_eleven = Utc
        .with_ymd_and_hms(2026, 3, 2, 16, 30, 0)
        .single()
        .expect("t");
    assert_eq!(row["nextAttemptAt"], half_past_eleven.to_rfc3339());
    assert!(stub.seen().is_empty());
    app.clock.advance(Duration::minutes(91));
    app.run_outbox().await;
    assert_eq!(stub.seen().len(), 1);
}

async fn the_settings_page_reads_every_rule_with_its_source(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.costs.user_daily_limit = 6).await;
    // A Miami number: Florida's narrower window and cap.
    opted_in_user(&app, "ann", "+1 305 555 0101").await;
    data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "quietHours": { "start": "22:00", "end": "10:00" }, "smsStreakAlerts": false } }),
        )
        .await,
    );
    let until = app.clock.now() + Duration::days(5);
    data(
        &app.as_user(
            "ann",
            SNOOZE,
            json!({ "u": until, "t": ["BATTLE_REMINDER"] }),
        )
        .await,
    );
    let rules = data(
        &app.as_user(
            "ann",
            "{ me { preferences { effectiveRules { kind source description quietHours { start end } limit periodHours messageTypes until } } } }",
            json!({}),
        )
        .await,
    )["me"]["preferences"]["effectiveRules"]
        .clone();
    let said: Vec<(String, String)> = rules
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap_or_default().to_owned(),
                r["description"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("LAW", "Texts only from 8am to 9pm (federal law)."),
        ("STATE", "FL law: texts only from 8am to 8pm."),
        ("STATE", "FL law: at most 3 texts a day."),
        ("OPERATOR", "At most 6 texts a day."),
        ("PERSON", "Streak alerts: off."),
        ("PERSON", "Your quiet hours: no texts from 10pm to 10am."),
    ];
    for (i, (source, description)) in expected.iter().enumerate() {
        assert_eq!(
            said[i],
            ((*source).to_owned(), (*description).to_owned()),
            "{rules:#}"
        );
    }
    assert_eq!(
        rules[0]["quietHours"],
        json!({ "start": "21:00", "end": "08:00" })
    );
    assert_eq!(rules[2]["limit"], 3);
    assert_eq!(rules[2]["periodHours"], 24);
    let snooze = &rules[6];
    assert_eq!(snooze["kind"], "SNOOZE");
    assert_eq!(snooze["messageTypes"], json!(["BATTLE_REMINDER"]));
    assert_eq!(snooze["until"], until.to_rfc3339());
    assert_eq!(rules.as_array().map(Vec::len), Some(7));
}

/// A Miami number: the law's 9pm to 8am, Florida's 8pm to 8am, and their own 7pm to 10am. A text goes
/// only when none of the three holds it, and waits for the last of them to end.
async fn the_law_the_state_and_their_own_window_all_hold(engine: Engine) {
    // Florida's window as the law has it; its cap of 3 a day raised so that each step is a new text.
    let (app, _stub) = setup(engine, |c| {
        c.locale_rules.state_rules =
            sms_notify::locale::local_time::parse_state_rules("FL=20:00-08:00/100").expect("rule");
    })
    .await;
    opted_in_user(&app, "ann", "+1 305 555 0101").await;
    data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "quietHours": { "start": "19:00", "end": "10:00" } } }),
        )
        .await,
    );
    let at = |day: u32, hour: u32, minute: u32| {
        // Eastern Standard Time: UTC-5 on 2 and 3 March 2026.
        Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0)
            .single()
            .expect("t")
            + Duration::hours(i64::from(hour) + 5)
            + Duration::minutes(i64::from(minute))
    };
    // A battle result is worth a day: long enough to wait for any of the windows.
    let result = || async {
        data(
            &app.as_service(
                "mutation { sendBattleResult(input: { userId: \"ann\", battleTopic: \"t\", resultSummary: \"You won!\", resultLink: \"/r\" }) { id } }",
                json!({}),
            )
            .await,
        )["sendBattleResult"]
            .clone()
    };
    // 10:00: no window holds it.
    app.clock.set(at(2, 10, 0));
    let log = result().await;
    assert_eq!(
        next_attempt(&app, &log["id"]).await["nextAttemptAt"],
        at(2, 10, 0).to_rfc3339()
    );
    // 19:30: theirs (not yet the state's or the law's): until 10:00 the next day, theirs being last.
    app.clock.set(at(2, 19, 30));
    let log = result().await;
    assert_eq!(
        next_attempt(&app, &log["id"]).await["nextAttemptAt"],
        at(3, 10, 0).to_rfc3339()
    );
    // Without theirs, 20:30 is the state's (the law's starts at 21:00): until 8:00.
    data(
        &app.as_user("ann", PREFS, json!({ "i": { "quietHours": null } }))
            .await,
    );
    app.clock.set(at(2, 20, 30));
    let log = result().await;
    assert_eq!(
        next_attempt(&app, &log["id"]).await["nextAttemptAt"],
        at(3, 8, 0).to_rfc3339()
    );
    // A window of theirs inside the day (12:00 to 13:00) adds to the night's, never replaces it.
    data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "quietHours": { "start": "12:00", "end": "13:00" } } }),
        )
        .await,
    );
    app.clock.set(at(3, 12, 15));
    let log = result().await;
    assert_eq!(
        next_attempt(&app, &log["id"]).await["nextAttemptAt"],
        at(3, 13, 0).to_rfc3339()
    );
    app.clock.set(at(3, 22, 0));
    let log = result().await;
    assert_eq!(
        next_attempt(&app, &log["id"]).await["nextAttemptAt"],
        at(4, 8, 0).to_rfc3339()
    );
}
