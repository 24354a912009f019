//! Phone verification end to end: the code travels through the pipeline to the AWS stub, is read back
//! from the request the stub received, and confirmed over GraphQL.

use chrono::Duration;
use entity::{phone_verifications, sms_log};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};
use sms_notify::Clock;

use crate::{
    aws_stub::AwsStub,
    helpers::{Engine, TestApp, data, error_code, error_message, start_time},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    a_code_travels_and_verifies_the_number,
    five_wrong_codes_kill_the_code,
    codes_expire_and_are_replaced,
    the_resend_cooldown_and_the_per_number_limit,
    the_per_user_and_per_network_limits,
    twenty_concurrent_guesses_take_at_most_five_tries,
    a_refused_text_is_an_error_the_user_can_act_on,
);

const START: &str =
    "mutation { startPhoneVerification { expiresAt resendAvailableAt phoneNumberMasked } }";
const CONFIRM: &str = "mutation($c: String!) { confirmPhoneVerification(code: $c) { phoneVerified allowSmsInvitations preferences { hasConsent consentMethod } } }";

async fn set_phone(app: &TestApp, user: &str, phone: &str) {
    crate::helpers::set_phone(app, user, phone).await;
}

/// Sends what is queued and reads the newest code the stub received.
async fn delivered_code(app: &TestApp, stub: &AwsStub) -> String {
    app.run_outbox().await;
    let seen = stub.seen();
    let body = seen.last().expect("a text was sent").body["MessageBody"]
        .as_str()
        .expect("body")
        .to_owned();
    body.split_whitespace()
        .find(|w| w.len() == 7 && w.ends_with('.') && w[..6].bytes().all(|b| b.is_ascii_digit()))
        .map(|w| w[..6].to_owned())
        .unwrap_or_else(|| panic!("no code in {body}"))
}

fn wrong(code: &str) -> String {
    let last = (code.as_bytes()[5] - b'0' + 1) % 10;
    format!("{}{}", &code[..5], last)
}

async fn confirm(app: &TestApp, user: &str, code: &str) -> Value {
    app.as_user(user, CONFIRM, json!({ "c": code })).await
}

async fn a_code_travels_and_verifies_the_number(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    set_phone(&app, "u1", "(212) 555-1234").await;
    data(
        &app.as_user(
            "u1",
            "mutation { smsOptIn(action: OPT_IN) { userId } }",
            json!({}),
        )
        .await,
    );
    let started = app.as_user("u1", START, json!({})).await;
    assert_eq!(
        data(&started)["startPhoneVerification"],
        json!({
            "expiresAt": (start_time() + Duration::minutes(10)).to_rfc3339(),
            "resendAvailableAt": (start_time() + Duration::seconds(60)).to_rfc3339(),
            "phoneNumberMasked": "+1******1234"
        })
    );
    // The log never shows the code; the stored hash is argon2id.
    let row = sms_log::Entity::find()
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.message_type, sms_log::MessageType::PhoneVerification);
    assert!(row.body.contains("code is ******."), "{}", row.body);
    assert!(!row.body.contains("STOP"), "transactional: no footer");
    assert_eq!(row.priority, 0, "claimed before promotions");
    let record = phone_verifications::Entity::find()
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert!(
        record
            .code_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        record.code_hash
    );

    let code = delivered_code(&app, &stub).await;
    assert!(!record.code_hash.contains(&code));
    let sent = sms_log::Entity::find_by_id(row.id)
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(
        sent.sensitive_body, None,
        "the clear text is gone once sent"
    );
    assert!(sent.body.contains("******"));

    let confirmed = confirm(&app, "u1", &code).await;
    assert_eq!(
        data(&confirmed)["confirmPhoneVerification"],
        json!({ "phoneVerified": true, "allowSmsInvitations": true, "preferences": { "hasConsent": true, "consentMethod": "PHONE_VERIFICATION" } })
    );
    // Used up: the same code again finds nothing pending; the number cannot be verified twice.
    assert_eq!(
        error_code(&confirm(&app, "u1", &code).await),
        "BAD_USER_INPUT"
    );
    let again = app.as_user("u1", START, json!({})).await;
    assert!(
        error_message(&again).contains("already verified"),
        "{again}"
    );
}

async fn five_wrong_codes_kill_the_code(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    set_phone(&app, "u1", "212 555 1234").await;
    data(&app.as_user("u1", START, json!({})).await);
    let code = delivered_code(&app, &stub).await;
    for remaining in ["4 tries", "3 tries", "2 tries", "1 try"] {
        let response = confirm(&app, "u1", &wrong(&code)).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT");
        assert_eq!(
            error_message(&response),
            format!("That code is not right; {remaining} left.")
        );
    }
    let last = confirm(&app, "u1", &wrong(&code)).await;
    assert!(error_message(&last).contains("last try"), "{last}");
    let dead = confirm(&app, "u1", &code).await;
    assert_eq!(
        error_message(&dead),
        "This code was tried too many times; ask for a new one."
    );
    // Not 6 digits: refused without costing a try (checked on a fresh code).
    app.clock.advance(Duration::seconds(61));
    data(&app.as_user("u1", START, json!({})).await);
    let code = delivered_code(&app, &stub).await;
    for malformed in ["12345", "1234567", "12a456", "", "１２３４５６"] {
        let response = confirm(&app, "u1", malformed).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{malformed}");
        assert!(error_message(&response).contains("6 digits"), "{malformed}");
    }
    let record = phone_verifications::Entity::find()
        .order_by_desc(phone_verifications::Column::Id)
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(record.attempts, 0);
    assert_eq!(
        data(&confirm(&app, "u1", &code).await)["confirmPhoneVerification"]["phoneVerified"],
        true
    );
}

async fn codes_expire_and_are_replaced(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    set_phone(&app, "u1", "212 555 1234").await;
    data(&app.as_user("u1", START, json!({})).await);
    let first = delivered_code(&app, &stub).await;
    app.clock.advance(Duration::minutes(10));
    assert_eq!(
        error_message(&confirm(&app, "u1", &first).await),
        "This code has expired; ask for a new one."
    );

    // A newer code replaces the older one.
    data(&app.as_user("u1", START, json!({})).await);
    let second = delivered_code(&app, &stub).await;
    app.clock.advance(Duration::seconds(61));
    data(&app.as_user("u1", START, json!({})).await);
    let third = delivered_code(&app, &stub).await;
    if second != third {
        assert_eq!(
            error_code(&confirm(&app, "u1", &second).await),
            "BAD_USER_INPUT",
            "the older code is dead"
        );
    }
    // Changing the number kills the pending code.
    set_phone(&app, "u1", "212 555 9999").await;
    let response = confirm(&app, "u1", &third).await;
    assert!(
        error_message(&response).contains("No code is waiting"),
        "{response}"
    );
    // Another user cannot use someone else's code.
    set_phone(&app, "u1", "212 555 1234").await;
    app.clock.advance(Duration::seconds(61));
    data(&app.as_user("u1", START, json!({})).await);
    let fourth = delivered_code(&app, &stub).await;
    set_phone(&app, "mallory", "212 555 6666").await;
    assert!(error_message(&confirm(&app, "mallory", &fourth).await).contains("No code is waiting"));
    assert_eq!(
        data(&confirm(&app, "u1", &fourth).await)["confirmPhoneVerification"]["phoneVerified"],
        true
    );
}

fn retry_after(response: &Value) -> i64 {
    assert_eq!(error_code(response), "RATE_LIMITED", "{response}");
    response["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_i64()
        .expect("retryAfterSeconds")
}

async fn the_resend_cooldown_and_the_per_number_limit(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    set_phone(&app, "u1", "212 555 1234").await;
    data(&app.as_user("u1", START, json!({})).await);
    assert_eq!(retry_after(&app.as_user("u1", START, json!({})).await), 60);
    app.clock.advance(Duration::seconds(45));
    assert_eq!(retry_after(&app.as_user("u1", START, json!({})).await), 15);
    // Five codes in the hour to one number, then the number rests until the first one is an hour old.
    for _ in 0..4 {
        app.clock.advance(Duration::seconds(60));
        data(&app.as_user("u1", START, json!({})).await);
    }
    app.clock.advance(Duration::seconds(60));
    let limited = app.as_user("u1", START, json!({})).await;
    let elapsed = (app.clock.now() - start_time()).num_seconds();
    assert_eq!(retry_after(&limited), 3600 - elapsed);
    assert!(error_message(&limited).contains("+1******1234"));
    // Another user with the same number is held by the same limit.
    set_phone(&app, "u2", "212 555 1234").await;
    assert_eq!(
        error_code(&app.as_user("u2", START, json!({})).await),
        "RATE_LIMITED"
    );
    app.clock.advance(Duration::seconds(3600 - elapsed));
    data(&app.as_user("u1", START, json!({})).await);
}

async fn the_per_user_and_per_network_limits(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.verification.max_per_user_per_day = 3;
        c.verification.max_per_ip_per_hour = 4;
    })
    .await;
    for phone in ["212 555 0001", "212 555 0002", "212 555 0003"] {
        set_phone(&app, "u1", phone).await;
        data(&app.as_user("u1", START, json!({})).await);
        app.clock.advance(Duration::minutes(2));
    }
    set_phone(&app, "u1", "212 555 0004").await;
    let limited = app.as_user("u1", START, json!({})).await;
    assert_eq!(retry_after(&limited), 86_400 - 6 * 60);
    assert!(error_message(&limited).contains("today"));
    // One network (127.0.0.1) has now asked 3 times; one more user fills its hour.
    set_phone(&app, "u2", "212 555 0005").await;
    data(&app.as_user("u2", START, json!({})).await);
    set_phone(&app, "u3", "212 555 0006").await;
    let limited = app.as_user("u3", START, json!({})).await;
    assert_eq!(retry_after(&limited), 3600 - 6 * 60);
    assert!(error_message(&limited).contains("network"));
}

async fn twenty_concurrent_guesses_take_at_most_five_tries(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    set_phone(&app, "u1", "212 555 1234").await;
    data(&app.as_user("u1", START, json!({})).await);
    let code = delivered_code(&app, &stub).await;
    let guess = wrong(&code);
    let answers = futures::future::join_all((0..20).map(|_| confirm(&app, "u1", &guess))).await;
    let wrong_answers = answers
        .iter()
        .filter(|a| error_message(a).contains("not right"))
        .count();
    let refused = answers
        .iter()
        .filter(|a| error_message(a).contains("too many times"))
        .count();
    assert_eq!((wrong_answers, refused), (5, 15), "{answers:?}");
    // Each wrong guess is told the count its own try left, so the five answers count down once.
    let mut told: Vec<&str> = answers
        .iter()
        .map(error_message)
        .filter(|m| m.contains("not right"))
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            "That code is not right, and it was the last try; ask for a new one.",
            "That code is not right; 1 try left.",
            "That code is not right; 2 tries left.",
            "That code is not right; 3 tries left.",
            "That code is not right; 4 tries left.",
        ]
    );
    let record = phone_verifications::Entity::find()
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(record.attempts, 5, "no lost update, no extra try");
    assert_eq!(
        error_message(&confirm(&app, "u1", &code).await),
        "This code was tried too many times; ask for a new one."
    );
}

async fn a_refused_text_is_an_error_the_user_can_act_on(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    // No number, or a number that opted out, or one abroad.
    assert!(
        error_message(&app.as_user("u0", START, json!({})).await)
            .contains("Set a phone number first")
    );
    set_phone(&app, "u1", "212 555 1234").await;
    sms_notify::store::opt_outs::add(
        &app.db,
        "+12125551234",
        sms_notify::store::opt_outs::OptOutSource::Keyword,
        app.clock.now(),
    )
    .await
    .expect("opt out");
    let refused = app.as_user("u1", START, json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert!(error_message(&refused).contains("opted out"), "{refused}");
    set_phone(&app, "u2", "+44 7911 123456").await;
    let abroad = app.as_user("u2", START, json!({})).await;
    assert!(error_message(&abroad).contains("country"), "{abroad}");
    // Nothing was sent, and no code from those attempts can be confirmed.
    app.run_outbox().await;
    assert!(stub.seen().is_empty());
    assert!(error_message(&confirm(&app, "u1", "123456").await).contains("No code is waiting"));
    // Codes are for users only.
    assert_eq!(
        error_code(&app.as_service(START, json!({})).await),
        "FORBIDDEN"
    );
}
