use chrono::Duration;
use serde_json::json;

use crate::{
    helpers::{Engine, TestApp, data, start_time},
    recipients::verify_phone,
    storage_tests,
};

storage_tests!(
    the_prompt_waits_three_minutes_after_signup_then_once_a_day,
    without_a_known_signup_the_first_request_counts,
    two_tabs_at_once_show_the_prompt_once,
    a_dismissal_is_forever_and_remind_later_waits_a_day,
    opting_in_records_consent_and_ends_the_prompt,
    forwarded_for_is_believed_only_from_trusted_proxies,
);

const PROMPT: &str = "{ me { optInStatus { showPrompt alreadyOptedIn } } }";
const ANSWER: &str = "mutation($a: SmsOptInAction!) { smsOptIn(action: $a) { allowSmsInvitations
    preferences { hasConsent consentMethod consentGivenAt } } }";

async fn show_prompt(app: &TestApp, user: &str) -> bool {
    let response = app.as_user(user, PROMPT, json!({})).await;
    data(&response)["me"]["optInStatus"]["showPrompt"]
        .as_bool()
        .expect("a boolean")
}

async fn signed_up_now(app: &TestApp, user: &str) {
    let signed_up = sms_notify::Clock::now(app.clock.as_ref());
    data(
        &app.as_service(
            "mutation($i: RecipientInput!) { upsertRecipient(input: $i) { userId } }",
            json!({ "i": { "userId": user, "signedUpAt": signed_up } }),
        )
        .await,
    );
}

async fn the_prompt_waits_three_minutes_after_signup_then_once_a_day(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    signed_up_now(&app, "u1").await;
    assert!(!show_prompt(&app, "u1").await, "not right after sign-up");
    app.clock
        .advance(Duration::minutes(2) + Duration::seconds(59));
    assert!(!show_prompt(&app, "u1").await, "not at 2:59");
    app.clock.advance(Duration::seconds(1));
    assert!(show_prompt(&app, "u1").await, "at 3:00");
    // Shown: not again for 24 hours.
    assert!(!show_prompt(&app, "u1").await, "not twice in a row");
    app.clock
        .advance(Duration::hours(23) + Duration::minutes(59));
    assert!(!show_prompt(&app, "u1").await, "not within 24 hours");
    app.clock.advance(Duration::minutes(1));
    assert!(show_prompt(&app, "u1").await, "again after 24 hours");
}

async fn without_a_known_signup_the_first_request_counts(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    assert!(!show_prompt(&app, "u2").await);
    app.clock.advance(Duration::minutes(3));
    assert!(show_prompt(&app, "u2").await);
}

async fn two_tabs_at_once_show_the_prompt_once(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    signed_up_now(&app, "u3").await;
    app.clock.advance(Duration::minutes(10));
    let answers = futures::future::join_all((0..6).map(|_| show_prompt(&app, "u3"))).await;
    assert_eq!(
        answers.iter().filter(|shown| **shown).count(),
        1,
        "{answers:?}"
    );
}

async fn a_dismissal_is_forever_and_remind_later_waits_a_day(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    signed_up_now(&app, "dismisser").await;
    signed_up_now(&app, "later").await;
    app.clock.advance(Duration::minutes(5));
    data(
        &app.as_user("dismisser", ANSWER, json!({ "a": "DISMISS" }))
            .await,
    );
    data(
        &app.as_user("later", ANSWER, json!({ "a": "REMIND_LATER" }))
            .await,
    );
    assert!(!show_prompt(&app, "dismisser").await);
    assert!(!show_prompt(&app, "later").await);
    app.clock.advance(Duration::hours(24));
    assert!(
        !show_prompt(&app, "dismisser").await,
        "dismissed means never"
    );
    assert!(show_prompt(&app, "later").await, "asked again a day later");
    app.clock.advance(Duration::days(365));
    assert!(!show_prompt(&app, "dismisser").await, "still never");
}

async fn opting_in_records_consent_and_ends_the_prompt(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    signed_up_now(&app, "u4").await;
    data(
        &app.as_user(
            "u4",
            "mutation { setPhoneNumber(phoneNumber: \"212 555 1234\") { userId } }",
            json!({}),
        )
        .await,
    );
    app.clock.advance(Duration::minutes(5));
    let response = app.as_user("u4", ANSWER, json!({ "a": "OPT_IN" })).await;
    let consent_time = start_time() + Duration::minutes(5);
    assert_eq!(
        data(&response)["smsOptIn"],
        json!({ "allowSmsInvitations": true, "preferences": {
            "hasConsent": true, "consentMethod": "OPT_IN_MODAL", "consentGivenAt": consent_time.to_rfc3339() } })
    );
    let prefs = entity::sms_preferences::Entity::find_by_id("u4")
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        prefs.consent_ip.as_deref(),
        Some("127.0.0.1"),
        "the socket address"
    );
    let events = entity::consent_events::Entity::find()
        .all(&app.db)
        .await
        .expect("query");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].action,
        entity::consent_events::ConsentAction::Given
    );
    assert_eq!(events[0].phone_e164.as_deref(), Some("+12125551234"));
    // Opting in again does not forge a second consent.
    app.clock.advance(Duration::minutes(1));
    data(&app.as_user("u4", ANSWER, json!({ "a": "OPT_IN" })).await);
    assert_eq!(
        entity::consent_events::Entity::find()
            .all(&app.db)
            .await
            .expect("query")
            .len(),
        1
    );

    // With the switch on but the phone not verified the user is not yet opted in...
    let status = app.as_user("u4", PROMPT, json!({})).await;
    assert_eq!(data(&status)["me"]["optInStatus"]["alreadyOptedIn"], false);
    // ...and once verified, the prompt never shows.
    verify_phone(&app, "u4").await;
    app.clock.advance(Duration::days(2));
    let status = app.as_user("u4", PROMPT, json!({})).await;
    assert_eq!(
        data(&status)["me"]["optInStatus"],
        json!({ "showPrompt": false, "alreadyOptedIn": true })
    );
}

use sea_orm::EntityTrait;

async fn forwarded_for_is_believed_only_from_trusted_proxies(engine: Engine) {
    // Untrusted: the header is ignored.
    let app = TestApp::spawn(engine).await;
    let header = format!("Bearer {}", app.token("u5", sms_notify::auth::Role::User));
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("authorization", &header)
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({ "query": "mutation { smsOptIn(action: OPT_IN) { userId } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let prefs = entity::sms_preferences::Entity::find_by_id("u5")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(prefs.consent_ip.as_deref(), Some("127.0.0.1"));

    // Behind a trusted proxy on loopback: the forwarded client address is recorded.
    let app = TestApp::spawn_with(engine, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")]
    })
    .await;
    let header = format!("Bearer {}", app.token("u6", sms_notify::auth::Role::User));
    app.http
        .post(app.url("/graphql"))
        .header("authorization", &header)
        .header("x-forwarded-for", "203.0.113.50, 198.51.100.23")
        .json(&json!({ "query": "mutation { smsOptIn(action: OPT_IN) { userId } }" }))
        .send()
        .await
        .expect("sent");
    let prefs = entity::sms_preferences::Entity::find_by_id("u6")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(prefs.consent_ip.as_deref(), Some("198.51.100.23"));
}
