//! How often each kind may come: the operator's frequency caps, the person's lower ones, the cap per
//! inviter, exact with thirty concurrent sends, and a cap meeting a digest.

use chrono::Duration;
use serde_json::{Value, json};
use sms_notify::recipients::caps;

use crate::{
    aws_stub::AwsStub,
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::{STREAK, setup},
    storage_tests,
};

storage_tests!(
    an_operator_cap_blocks_the_next_text_of_its_type,
    a_person_lowers_a_cap_and_never_raises_it,
    the_inviter_cap_counts_one_friend_per_person,
    thirty_concurrent_sends_hold_both_caps_exactly,
    over_a_cap_an_invitation_joins_the_waiting_digest,
);

const INVITE: &str = "mutation($i: BattleInvitationInput!) { sendBattleInvitation(input: $i) { id status blockedReason } }";
const PREFS: &str = "mutation($i: SmsPreferencesInput!) { updateSmsPreferences(input: $i) { preferences { frequencyCaps { messageType count periodHours } smsStreakAlerts } } }";
const ME: &str = "{ me { preferences { frequencyCaps { messageType count periodHours } smsStreakAlerts effectiveRules { kind source description limit periodHours messageTypes } } } }";

async fn capped(engine: Engine, operator: &str, inviter: Option<&str>) -> (TestApp, AwsStub) {
    let operator = caps::parse_list(operator).expect("caps");
    let inviter = inviter.map(|c| caps::Cap::parse(c).expect("cap"));
    let (app, stub) = setup(engine, move |c| {
        c.costs.frequency_caps = operator;
        c.costs.inviter_cap = inviter;
        c.costs.user_daily_limit = 1_000;
    })
    .await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    (app, stub)
}

async fn streak(app: &TestApp) -> Value {
    let input = json!({ "i": { "userId": "ann", "streakCount": 5, "actionLink": "/streak" } });
    data(&app.as_service(STREAK, input).await)["sendStreakAlert"].clone()
}

async fn invite(app: &TestApp, inviter: &str) -> Value {
    let input = json!({
        "inviterUserId": inviter, "inviterName": inviter, "toUserId": "ann",
        "battleTopic": "haiku", "invitationLink": "/battles/1",
    });
    data(&app.as_service(INVITE, json!({ "i": input })).await)["sendBattleInvitation"].clone()
}

async fn me(app: &TestApp) -> Value {
    data(&app.as_user("ann", ME, json!({})).await)["me"]["preferences"].clone()
}

async fn an_operator_cap_blocks_the_next_text_of_its_type(engine: Engine) {
    let (app, _stub) = capped(engine, "streak_alert=1/24h", None).await;
    assert_eq!(streak(&app).await["status"], "PENDING");
    // The price before sending says so too, writing nothing.
    let preview = data(
        &app.as_service(
            "query { previewTemplate(input: { streakAlert: { userId: \"ann\", streakCount: 5, actionLink: \"/streak\" } }) { verdict blockedReason } }",
            json!({}),
        )
        .await,
    )["previewTemplate"]
        .clone();
    assert_eq!(
        preview,
        json!({ "verdict": "BLOCK", "blockedReason": "FREQUENCY_CAP" })
    );
    let second = streak(&app).await;
    assert_eq!(second["status"], "BLOCKED");
    assert_eq!(second["blockedReason"], "FREQUENCY_CAP");
    // Other types are not counted by it.
    assert_eq!(invite(&app, "Alice").await["status"], "PENDING");
    // A day later the first is out of the period.
    app.clock
        .advance(Duration::hours(24) + Duration::minutes(1));
    assert_eq!(streak(&app).await["status"], "PENDING");
    let rules = me(&app).await["effectiveRules"].clone();
    let cap = rules
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["messageTypes"] == json!(["STREAK_ALERT"]) && r["kind"] == "LIMIT")
        .expect("the operator's cap is shown");
    assert_eq!(cap["source"], "OPERATOR");
    assert_eq!(cap["description"], "Streak alerts: at most 1 a day.");
    assert_eq!(
        (cap["limit"].clone(), cap["periodHours"].clone()),
        (json!(1), json!(24))
    );
}

async fn a_person_lowers_a_cap_and_never_raises_it(engine: Engine) {
    let (app, _stub) = capped(engine, "battle_invitation=3/24h", None).await;
    let set = data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "frequencyCaps": [{ "messageType": "BATTLE_INVITATION", "count": 1 }] } }),
        )
        .await,
    )["updateSmsPreferences"]["preferences"]["frequencyCaps"]
        .clone();
    assert_eq!(
        set,
        json!([{ "messageType": "BATTLE_INVITATION", "count": 1, "periodHours": 24 }])
    );
    let said = me(&app).await["effectiveRules"].clone();
    assert!(
        said.as_array()
            .expect("rules")
            .iter()
            .any(|r| r["source"] == "PERSON"
                && r["description"] == "Your cap: battle invitations at most 1 a day."),
        "{said:#}"
    );
    assert_eq!(invite(&app, "Alice").await["status"], "PENDING");
    let second = invite(&app, "Bob").await;
    assert_eq!(second["blockedReason"], "FREQUENCY_CAP");
    // Raising it is refused, whatever the shape; nothing else in the same change is applied.
    for bad in [
        json!({ "messageType": "BATTLE_INVITATION", "count": 4 }),
        json!({ "messageType": "BATTLE_INVITATION", "count": 3, "periodHours": 12 }),
        json!({ "messageType": "BATTLE_INVITATION", "count": 0 }),
        json!({ "messageType": "STREAK_ALERT", "count": 1, "periodHours": 1000 }),
        json!({ "messageType": "PHONE_VERIFICATION", "count": 1 }),
    ] {
        let response = app
            .as_user(
                "ann",
                PREFS,
                json!({ "i": { "frequencyCaps": [bad], "smsStreakAlerts": false } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}");
        let message = response["errors"][0]["message"].as_str().expect("message");
        assert!(message.starts_with("frequencyCaps: "), "{message}");
    }
    let now = me(&app).await;
    assert_eq!(now["smsStreakAlerts"], true, "nothing changed");
    assert_eq!(now["frequencyCaps"][0]["count"], 1);
    // A cap of a type the operator does not cap is theirs to choose; an empty list clears them.
    data(
        &app.as_user(
            "ann",
            PREFS,
            json!({ "i": { "frequencyCaps": [{ "messageType": "STREAK_ALERT", "count": 2, "periodHours": 168 }] } }),
        )
        .await,
    );
    assert_eq!(now_caps(&app).await.len(), 1);
    data(
        &app.as_user("ann", PREFS, json!({ "i": { "frequencyCaps": [] } }))
            .await,
    );
    assert!(now_caps(&app).await.is_empty());
    // The operator's cap of three holds again: one more, then the cap.
    assert_eq!(invite(&app, "Cleo").await["status"], "PENDING");
    assert_eq!(invite(&app, "Dan").await["status"], "PENDING");
    assert_eq!(invite(&app, "Eve").await["blockedReason"], "FREQUENCY_CAP");
}

async fn now_caps(app: &TestApp) -> Vec<Value> {
    me(app).await["frequencyCaps"]
        .as_array()
        .expect("caps")
        .clone()
}

async fn the_inviter_cap_counts_one_friend_per_person(engine: Engine) {
    let (app, _stub) = capped(engine, "", Some("2/24h")).await;
    opted_in_user(&app, "bea", "+1 212 555 0102").await;
    assert_eq!(invite(&app, "alice").await["status"], "PENDING");
    assert_eq!(invite(&app, "alice").await["status"], "PENDING");
    let third = invite(&app, "alice").await;
    assert_eq!(third["status"], "BLOCKED");
    assert_eq!(third["blockedReason"], "INVITER_CAP");
    // Another friend, and the same friend to another person, still go.
    assert_eq!(invite(&app, "bob").await["status"], "PENDING");
    let input = json!({
        "inviterUserId": "alice", "inviterName": "alice", "toUserId": "bea",
        "battleTopic": "haiku", "invitationLink": "/battles/1",
    });
    let other =
        data(&app.as_service(INVITE, json!({ "i": input })).await)["sendBattleInvitation"].clone();
    assert_eq!(other["status"], "PENDING");
    app.clock
        .advance(Duration::hours(24) + Duration::minutes(1));
    assert_eq!(invite(&app, "alice").await["status"], "PENDING");
}

async fn thirty_concurrent_sends_hold_both_caps_exactly(engine: Engine) {
    let (app, _stub) = capped(engine, "streak_alert=5/24h", Some("3/24h")).await;
    let streaks = (0..30).map(|_| streak(&app));
    let invites = (0..30).map(|_| invite(&app, "alice"));
    let (streaks, invites) = futures_util::future::join(
        futures_util::future::join_all(streaks),
        futures_util::future::join_all(invites),
    )
    .await;
    let count =
        |logs: &[Value], status: &str| logs.iter().filter(|l| l["status"] == status).count();
    assert_eq!(count(&streaks, "PENDING"), 5);
    assert!(
        streaks
            .iter()
            .filter(|l| l["status"] == "BLOCKED")
            .all(|l| l["blockedReason"] == "FREQUENCY_CAP")
    );
    assert_eq!(count(&invites, "PENDING"), 3);
    assert!(
        invites
            .iter()
            .filter(|l| l["status"] == "BLOCKED")
            .all(|l| l["blockedReason"] == "INVITER_CAP")
    );
    assert_eq!(
        app.db_count("sms_log").await,
        60,
        "every decision is written"
    );
}

async fn over_a_cap_an_invitation_joins_the_waiting_digest(engine: Engine) {
    let operator = caps::parse_list("battle_invitation=1/24h").expect("caps");
    let (app, stub) = setup(engine, move |c| {
        c.costs.frequency_caps = operator;
        c.costs.user_daily_limit = 1_000;
        c.sms.savings.digest_window = Some(std::time::Duration::from_secs(120));
    })
    .await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    // Three invitations in the window: one text, so the cap of one is kept without refusing any.
    for friend in ["Alice", "Bob", "Cleo"] {
        assert_eq!(invite(&app, friend).await["status"], "PENDING", "{friend}");
    }
    app.clock.advance(Duration::minutes(3));
    for _ in 0..5 {
        if app.run_outbox().await.claimed == 0 {
            break;
        }
    }
    assert_eq!(stub.seen().len(), 1, "one digest");
    // That digest was the day's one invitation text: the next is over the cap (no window to join).
    let next = invite(&app, "Dan").await;
    assert_eq!(next["blockedReason"], "FREQUENCY_CAP");
}
