//! The send mutations and the log queries over GraphQL: policy refusals, bad input, who sees what.

use chrono::Duration;
use entity::sms_log;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sms_notify::{Clock, auth::Role};

use crate::{
    helpers::{Engine, TestApp, data, error_code, error_message, opted_in_user},
    pipeline::{STREAK, setup},
    recipients::verify_phone,
    storage_tests,
};

storage_tests!(
    every_refusal_is_logged_with_its_reason,
    security_alerts_skip_preferences_but_not_stop,
    invitations_to_friends_without_an_account,
    bad_input_is_refused_and_writes_nothing,
    the_log_pages_newest_first_and_users_see_only_their_own,
);

const INVITE: &str = "mutation($i: BattleInvitationInput!) { sendBattleInvitation(input: $i) { id status blockedReason userId toPhone body links { url shortUrl clicks } } }";
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason body promotional messageType } }";

async fn blocked_reason(app: &TestApp, query: &str, input: Value) -> Value {
    let response = app.as_service(query, json!({ "i": input })).await;
    let d = data(&response);
    let log = d
        .as_object()
        .and_then(|o| o.values().next())
        .expect("one field");
    log["blockedReason"].clone()
}

fn streak(user: &str) -> Value {
    json!({ "userId": user, "streakCount": 4, "actionLink": "/streak" })
}

async fn every_refusal_is_logged_with_its_reason(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    // No number at all.
    data(&app.as_user("nophone", "{ me { userId } }", json!({})).await);
    assert_eq!(
        blocked_reason(&app, STREAK, streak("nophone")).await,
        "NO_PHONE"
    );
    // A number never verified.
    data(
        &app.as_user(
            "unverified",
            "mutation { setPhoneNumber(phoneNumber: \"212 555 0001\") { userId } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        blocked_reason(&app, STREAK, streak("unverified")).await,
        "PHONE_NOT_VERIFIED"
    );
    // Verified, master switch off.
    data(
        &app.as_user(
            "off",
            "mutation { setPhoneNumber(phoneNumber: \"212 555 0002\") { userId } }",
            json!({}),
        )
        .await,
    );
    verify_phone(&app, "off").await;
    assert_eq!(
        blocked_reason(&app, STREAK, streak("off")).await,
        "SMS_DISABLED"
    );
    // Opted in, category off.
    opted_in_user(&app, "nostreaks", "212 555 0003").await;
    data(
        &app.as_user(
            "nostreaks",
            "mutation { updateSmsPreferences(input: { smsStreakAlerts: false }) { userId } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        blocked_reason(&app, STREAK, streak("nostreaks")).await,
        "CATEGORY_DISABLED"
    );
    // Opted in, but the number replied STOP.
    opted_in_user(&app, "stopped", "212 555 0004").await;
    sms_notify::store::opt_outs::add(
        &app.db,
        "+12125550004",
        sms_notify::store::opt_outs::OptOutSource::Keyword,
        app.clock.now(),
    )
    .await
    .expect("opt out");
    assert_eq!(
        blocked_reason(&app, STREAK, streak("stopped")).await,
        "OPTED_OUT"
    );
    // Opted in, a UK number: outside SMS_ALLOWED_COUNTRIES.
    opted_in_user(&app, "abroad", "+44 7911 123456").await;
    assert_eq!(
        blocked_reason(&app, STREAK, streak("abroad")).await,
        "COUNTRY_NOT_ALLOWED"
    );
    // A promotion to a number with no account behind it has no consent.
    assert_eq!(
        blocked_reason(&app, SEND, json!({ "to": "212 555 0099", "body": "Hi" })).await,
        "NO_CONSENT"
    );

    // Nothing blocked reached the provider, and every decision is in the log.
    app.run_outbox().await;
    assert!(stub.seen().is_empty());
    let blocked = app
        .graphql_as("ops", Role::Admin, "{ smsLogs(filter: { status: BLOCKED }, first: 100) { edges { node { blockedReason } } } }", json!({}))
        .await;
    assert_eq!(
        data(&blocked)["smsLogs"]["edges"]
            .as_array()
            .expect("edges")
            .len(),
        7
    );
}

async fn security_alerts_skip_preferences_but_not_stop(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    data(
        &app.as_user(
            "off",
            "mutation { setPhoneNumber(phoneNumber: \"212 555 0002\") { userId } }",
            json!({}),
        )
        .await,
    );
    verify_phone(&app, "off").await;
    let alert = "mutation($i: SecurityAlertInput!) { sendSecurityAlert(input: $i) { status blockedReason promotional body } }";
    let input = json!({ "i": { "userId": "off", "what": "Your password was changed", "link": "/security" } });
    let response = app.as_service(alert, input.clone()).await;
    let log = &data(&response)["sendSecurityAlert"];
    assert_eq!(
        log["status"], "PENDING",
        "the master switch is off, yet it goes"
    );
    assert_eq!(log["promotional"], false);
    assert!(
        !log["body"].as_str().expect("body").contains("STOP"),
        "no footer on transactional texts"
    );
    sms_notify::store::opt_outs::add(
        &app.db,
        "+12125550002",
        sms_notify::store::opt_outs::OptOutSource::Keyword,
        app.clock.now(),
    )
    .await
    .expect("opt out");
    let response = app.as_service(alert, input).await;
    assert_eq!(
        data(&response)["sendSecurityAlert"]["blockedReason"],
        "OPTED_OUT"
    );
}

async fn invitations_to_friends_without_an_account(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let invite = |inviter: &str, phone: &str| {
        json!({ "inviterUserId": inviter, "inviterName": "Sam", "toPhone": phone,
                "battleTopic": "Best haiku", "invitationLink": "/battles/7/join", "invitationId": "inv-1" })
    };
    // An inviter without a verified phone cannot text strangers.
    data(&app.as_user("newbie", "{ me { userId } }", json!({})).await);
    assert_eq!(
        blocked_reason(&app, INVITE, invite("newbie", "(212) 555-0123")).await,
        "INVITER_NOT_VERIFIED"
    );

    opted_in_user(&app, "sam", "212 555 0100").await;
    let response = app
        .as_service(INVITE, json!({ "i": invite("sam", "(212) 555-0123") }))
        .await;
    let log = &data(&response)["sendBattleInvitation"];
    assert_eq!(log["status"], "PENDING");
    assert_eq!(log["userId"], Value::Null);
    assert_eq!(log["toPhone"], "+12125550123");
    // The invitation's address travels as a short link that stands for it.
    let link = &log["links"][0];
    assert_eq!(link["url"], "http://localhost:3000/battles/7/join");
    assert_eq!(link["clicks"], 0);
    assert_eq!(
        log["body"],
        format!(
            "AllThrive: Sam challenged you to a battle: \"Best haiku\". Accept: {}\nReply STOP to unsubscribe.",
            link["shortUrl"].as_str().expect("short url")
        )
    );
    // The same number again within 24 hours: refused, whoever invites.
    app.clock.advance(Duration::hours(23));
    assert_eq!(
        blocked_reason(&app, INVITE, invite("sam", "+1 212 555 0123")).await,
        "RECENTLY_INVITED"
    );
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(
        blocked_reason(&app, INVITE, invite("sam", "212.555.0123")).await,
        Value::Null
    );
    // An invitation to a number that belongs to a user follows that user's preferences.
    opted_in_user(&app, "friend", "212 555 0200").await;
    data(
        &app.as_user(
            "friend",
            "mutation { updateSmsPreferences(input: { smsBattleInvitations: false }) { userId } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        blocked_reason(&app, INVITE, invite("sam", "212 555 0200")).await,
        "CATEGORY_DISABLED"
    );
}

async fn bad_input_is_refused_and_writes_nothing(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "212 555 1234").await;
    let long_body = "word ".repeat(400);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            STREAK,
            json!({ "userId": "ghost", "streakCount": 3, "actionLink": "/s" }),
            "No user 'ghost'",
        ),
        (
            STREAK,
            json!({ "userId": "u1", "streakCount": 0, "actionLink": "/s" }),
            "streakCount",
        ),
        (
            STREAK,
            json!({ "userId": "u1", "streakCount": 3, "actionLink": " " }),
            "actionLink must not be empty",
        ),
        (
            STREAK,
            json!({ "userId": "u1", "streakCount": 3, "actionLink": "/s", "idempotencyKey": "" }),
            "idempotencyKey",
        ),
        (
            SEND,
            json!({ "to": "555", "body": "Hi" }),
            "not a valid US phone number",
        ),
        (
            SEND,
            json!({ "to": "not a phone", "body": "Hi" }),
            "is not a phone number",
        ),
        (
            SEND,
            json!({ "userId": "u1", "body": "   " }),
            "body is empty",
        ),
        (
            SEND,
            json!({ "userId": "u1", "body": long_body }),
            "segments long; the limit is 10",
        ),
        (
            SEND,
            json!({ "userId": "u1", "to": "212 555 1234", "body": "Hi" }),
            "exactly one of",
        ),
        (SEND, json!({ "body": "Hi" }), "exactly one of"),
        (
            SEND,
            json!({ "userId": "u1", "body": "Your code is 1", "messageType": "PHONE_VERIFICATION" }),
            "startPhoneVerification",
        ),
        (
            SEND,
            json!({ "userId": "u1", "body": "Hi", "relatedObjectType": "battle" }),
            "relatedObjectId",
        ),
        (
            INVITE,
            json!({ "inviterUserId": "u1", "inviterName": "Sam", "battleTopic": "x", "invitationLink": "/b" }),
            "exactly one of",
        ),
        (
            INVITE,
            json!({ "inviterUserId": "u1", "inviterName": "", "toUserId": "u1", "battleTopic": "x", "invitationLink": "/b" }),
            "inviterName",
        ),
    ];
    for (query, input, words) in cases {
        let response = app.as_service(query, json!({ "i": input })).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{input}: {response}"
        );
        assert!(
            error_message(&response).contains(words),
            "{input}: {}",
            error_message(&response)
        );
    }
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count"),
        0,
        "nothing written"
    );
    // Sends are for the back end and admins.
    let response = app
        .as_user("u1", STREAK, json!({ "i": streak("u1") }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app
        .post_graphql(None, STREAK, json!({ "i": streak("u1") }))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count"),
        0
    );
}

const LOGS: &str = "query($f: SmsLogFilter, $first: Int, $after: String) {
    smsLogs(filter: $f, first: $first, after: $after) {
        edges { cursor node { id userId status messageType toPhone } }
        pageInfo { hasNextPage hasPreviousPage endCursor } } }";

fn ids(response: &Value) -> Vec<String> {
    data(response)["smsLogs"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn the_log_pages_newest_first_and_users_see_only_their_own(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "212 555 1111").await;
    opted_in_user(&app, "u2", "212 555 2222").await;
    for _ in 0..5 {
        data(&app.as_service(STREAK, json!({ "i": streak("u1") })).await);
        app.clock.advance(Duration::minutes(1));
    }
    let middle = sms_notify::Clock::now(app.clock.as_ref());
    for _ in 0..3 {
        data(&app.as_service(STREAK, json!({ "i": streak("u2") })).await);
        app.clock.advance(Duration::minutes(1));
    }

    // u1 pages through their five, two at a time.
    let page1 = app.as_user("u1", LOGS, json!({ "first": 2 })).await;
    assert_eq!(ids(&page1), vec!["5", "4"]);
    assert_eq!(data(&page1)["smsLogs"]["pageInfo"]["hasNextPage"], true);
    let cursor = data(&page1)["smsLogs"]["pageInfo"]["endCursor"].clone();
    let page2 = app
        .as_user("u1", LOGS, json!({ "first": 2, "after": cursor }))
        .await;
    assert_eq!(ids(&page2), vec!["3", "2"]);
    let cursor = data(&page2)["smsLogs"]["pageInfo"]["endCursor"].clone();
    let page3 = app
        .as_user("u1", LOGS, json!({ "first": 2, "after": cursor }))
        .await;
    assert_eq!(ids(&page3), vec!["1"]);
    assert_eq!(data(&page3)["smsLogs"]["pageInfo"]["hasNextPage"], false);

    // A user cannot look at another's messages.
    let response = app
        .as_user("u1", LOGS, json!({ "f": { "userId": "u2" } }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let other = app
        .as_user("u1", "{ smsLog(id: \"8\") { id } }", json!({}))
        .await;
    assert_eq!(data(&other)["smsLog"], Value::Null);
    let own = app
        .as_user("u2", "{ smsLog(id: \"8\") { id toPhone } }", json!({}))
        .await;
    assert_eq!(data(&own)["smsLog"]["toPhone"], "+12125552222");

    // Admins see everything and filter it.
    let admin =
        |f: Value| app.graphql_as("ops", Role::Admin, LOGS, json!({ "f": f, "first": 100 }));
    assert_eq!(ids(&admin(json!({})).await).len(), 8);
    assert_eq!(
        ids(&admin(json!({ "userId": "u2" })).await),
        vec!["8", "7", "6"]
    );
    assert_eq!(
        ids(&admin(json!({ "phone": "(212) 555-2222" })).await).len(),
        3
    );
    assert_eq!(
        ids(&admin(json!({ "createdBefore": middle })).await).len(),
        5
    );
    assert_eq!(
        ids(&admin(json!({ "createdAfter": middle })).await).len(),
        3
    );
    assert_eq!(ids(&admin(json!({ "status": "SENT" })).await).len(), 0);
    assert_eq!(
        ids(&admin(json!({ "messageType": "STREAK_ALERT", "status": "PENDING" })).await).len(),
        8
    );
    app.run_outbox().await;
    assert_eq!(ids(&admin(json!({ "status": "SENT" })).await).len(), 8);

    // Bad paging input.
    for (vars, words) in [
        (json!({ "first": 0 }), "first must be between 1 and 100"),
        (json!({ "first": 101 }), "first must be between 1 and 100"),
        (json!({ "after": "not-a-cursor" }), "is not a cursor"),
        (json!({ "f": { "phone": "12" } }), "too short"),
    ] {
        let response = app.graphql_as("ops", Role::Admin, LOGS, vars.clone()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{vars}");
        assert!(
            error_message(&response).contains(words),
            "{vars}: {}",
            error_message(&response)
        );
    }
    let response = app
        .graphql_as(
            "ops",
            Role::Admin,
            "{ smsLog(id: \"x1\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
}
