use entity::recipients;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::{
    helpers::{Engine, TestApp, data, error_code, error_message, start_time},
    storage_tests,
};

storage_tests!(
    the_first_request_creates_the_recipient,
    concurrent_first_requests_create_one_recipient,
    numbers_are_normalised_to_e164,
    invalid_numbers_are_refused_with_the_reason,
    a_changed_number_loses_its_verification,
    the_back_end_pushes_timezone_and_signup,
);

const ME: &str = "{ me { userId phoneNumber phoneVerified allowSmsInvitations timezone
    preferences { smsBattleInvitations smsBattleResults smsBattleReminders smsStreakAlerts
                  smsDirectMessages smsAchievements hasConsent consentGivenAt consentMethod }
    optInStatus { alreadyOptedIn phoneNumber phoneVerified } } }";

const SET_PHONE: &str =
    "mutation($p: String!) { setPhoneNumber(phoneNumber: $p) { phoneNumber phoneVerified } }";

async fn the_first_request_creates_the_recipient(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    assert!(
        recipients::Entity::find_by_id("new-user")
            .one(&app.db)
            .await
            .expect("query")
            .is_none()
    );
    let response = app.as_user("new-user", ME, json!({})).await;
    let me = &data(&response)["me"];
    assert_eq!(
        me,
        &json!({
            "userId": "new-user", "phoneNumber": null, "phoneVerified": false,
            "allowSmsInvitations": false, "timezone": "America/New_York",
            "preferences": {
                "smsBattleInvitations": true, "smsBattleResults": true, "smsBattleReminders": true,
                "smsStreakAlerts": true, "smsDirectMessages": true, "smsAchievements": true,
                "hasConsent": false, "consentGivenAt": null, "consentMethod": null
            },
            "optInStatus": { "alreadyOptedIn": false, "phoneNumber": null, "phoneVerified": false }
        })
    );
    let row = recipients::Entity::find_by_id("new-user")
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.created_at, start_time());
    // A second request finds the same row.
    data(&app.as_user("new-user", ME, json!({})).await);
    assert_eq!(
        recipients::Entity::find()
            .all(&app.db)
            .await
            .expect("query")
            .len(),
        1
    );
}

async fn concurrent_first_requests_create_one_recipient(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let requests = (0..8).map(|_| app.as_user("racer", "{ me { userId } }", json!({})));
    for response in futures::future::join_all(requests).await {
        assert_eq!(data(&response)["me"]["userId"], "racer");
    }
    assert_eq!(
        recipients::Entity::find()
            .all(&app.db)
            .await
            .expect("query")
            .len(),
        1
    );
}

async fn numbers_are_normalised_to_e164(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    for (input, want) in [
        ("(212) 555-1234", "+12125551234"),
        ("212.555.1234", "+12125551234"),
        ("+1 212 555 1234", "+12125551234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+61 2 9374 4000", "+61293744000"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("(604) 555-0199", "+16045550199"),
    ] {
        let response = app.as_user("u1", SET_PHONE, json!({ "p": input })).await;
        assert_eq!(
            data(&response)["setPhoneNumber"]["phoneNumber"],
            want,
            "{input}"
        );
    }
}

async fn invalid_numbers_are_refused_with_the_reason(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    data(
        &app.as_user("u1", SET_PHONE, json!({ "p": "212 555 1234" }))
            .await,
    );
    for (input, words) in [
        ("not a number", "is not a phone number"),
        ("(123) 456-7890", "valid US phone number"),
        ("+44 20 1234", "valid GB phone number"),
        ("+49 123", "valid DE phone number"),
        ("12", "too short"),
        ("+999 555 1234", "country code that does not exist"),
        ("+1 212 555 1234 5678 9012 3456", "too long"),
        ("+61 2 1234", "valid AU phone number"),
    ] {
        let response = app.as_user("u1", SET_PHONE, json!({ "p": input })).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{input}: {response}"
        );
        let message = error_message(&response);
        assert!(message.contains(words), "{input}: {message}");
    }
    // Nothing was written by the refused attempts.
    let me = app.as_user("u1", "{ me { phoneNumber } }", json!({})).await;
    assert_eq!(data(&me)["me"]["phoneNumber"], "+12125551234");
}

async fn a_changed_number_loses_its_verification(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    data(
        &app.as_user("u1", SET_PHONE, json!({ "p": "212 555 1234" }))
            .await,
    );
    verify_phone(&app, "u1").await;
    // The same number written another way keeps it verified.
    let same = app
        .as_user("u1", SET_PHONE, json!({ "p": "+1 (212) 555-1234" }))
        .await;
    assert_eq!(data(&same)["setPhoneNumber"]["phoneVerified"], true);
    // A different number must be verified again.
    let other = app
        .as_user("u1", SET_PHONE, json!({ "p": "212 555 9876" }))
        .await;
    assert_eq!(
        data(&other)["setPhoneNumber"],
        json!({ "phoneNumber": "+12125559876", "phoneVerified": false })
    );
    // "" clears the number.
    let cleared = app.as_user("u1", SET_PHONE, json!({ "p": "" })).await;
    assert_eq!(
        data(&cleared)["setPhoneNumber"],
        json!({ "phoneNumber": null, "phoneVerified": false })
    );
}

/// Marks a user's phone as verified directly in the database (the verification flow is its own issue).
pub async fn verify_phone(app: &TestApp, user: &str) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
    let row = recipients::Entity::find_by_id(user)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    let mut active = row.into_active_model();
    active.phone_verified_at = Set(Some(sms_notify::Clock::now(app.clock.as_ref())));
    active.update(&app.db).await.expect("update");
}

async fn the_back_end_pushes_timezone_and_signup(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let upsert = "mutation($i: RecipientInput!) { upsertRecipient(input: $i) { userId timezone signedUpAt } }";
    let response = app
        .as_service(upsert, json!({ "i": { "userId": "u9", "timezone": "Asia/Kathmandu", "signedUpAt": "2026-03-01T10:00:00Z" } }))
        .await;
    assert_eq!(
        data(&response)["upsertRecipient"],
        json!({ "userId": "u9", "timezone": "Asia/Kathmandu", "signedUpAt": "2026-03-01T10:00:00+00:00" })
    );
    // Pushing again with only a time zone keeps the sign-up time.
    let response = app
        .as_service(
            upsert,
            json!({ "i": { "userId": "u9", "timezone": "Pacific/Kiritimati" } }),
        )
        .await;
    assert_eq!(
        data(&response)["upsertRecipient"]["signedUpAt"],
        "2026-03-01T10:00:00+00:00"
    );
    assert_eq!(
        data(&response)["upsertRecipient"]["timezone"],
        "Pacific/Kiritimati"
    );
    // "" goes back to the default.
    let response = app
        .as_service(upsert, json!({ "i": { "userId": "u9", "timezone": "" } }))
        .await;
    assert_eq!(
        data(&response)["upsertRecipient"]["timezone"],
        "America/New_York"
    );

    for (input, words) in [
        (
            json!({ "userId": "u9", "timezone": "Mars/Olympus_Mons" }),
            "IANA time zone",
        ),
        (
            json!({ "userId": "u9", "timezone": "EST5EDT6" }),
            "IANA time zone",
        ),
        (json!({ "userId": "", "timezone": "UTC" }), "userId"),
        (json!({ "userId": "x".repeat(129) }), "userId"),
    ] {
        let response = app.as_service(upsert, json!({ "i": input })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{input}");
        assert!(
            error_message(&response).contains(words),
            "{}",
            error_message(&response)
        );
    }
    let response = app
        .as_service(
            upsert,
            json!({ "i": { "userId": "u9", "signedUpAt": "yesterday" } }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    // Refused pushes changed nothing.
    let response = app
        .as_service("{ recipient(userId: \"u9\") { timezone } }", json!({}))
        .await;
    assert_eq!(data(&response)["recipient"]["timezone"], "America/New_York");
}
