use chrono::Duration;
use entity::consent_events::{self, ConsentAction, ConsentMethod};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::{
    helpers::{Engine, TestApp, data, error_code, start_time},
    storage_tests,
};

storage_tests!(
    categories_update_partially,
    the_master_switch_records_and_revokes_consent,
    settings_need_a_user_token,
);

const UPDATE: &str = "mutation($i: SmsPreferencesInput!) { updateSmsPreferences(input: $i) {
    allowSmsInvitations
    preferences { smsBattleInvitations smsBattleResults smsBattleReminders smsStreakAlerts
                  smsDirectMessages smsAchievements hasConsent consentMethod consentGivenAt consentRevokedAt } } }";

async fn categories_update_partially(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let response = app
        .as_user(
            "u1",
            UPDATE,
            json!({ "i": { "smsStreakAlerts": false, "smsAchievements": false } }),
        )
        .await;
    let prefs = &data(&response)["updateSmsPreferences"]["preferences"];
    assert_eq!(prefs["smsStreakAlerts"], false);
    assert_eq!(prefs["smsAchievements"], false);
    assert_eq!(prefs["smsBattleInvitations"], true, "untouched");
    assert_eq!(
        data(&response)["updateSmsPreferences"]["allowSmsInvitations"],
        false
    );
    assert_eq!(
        prefs["hasConsent"], false,
        "categories alone are no consent"
    );

    let response = app
        .as_user("u1", UPDATE, json!({ "i": { "smsStreakAlerts": true } }))
        .await;
    let prefs = &data(&response)["updateSmsPreferences"]["preferences"];
    assert_eq!(prefs["smsStreakAlerts"], true);
    assert_eq!(prefs["smsAchievements"], false, "kept from before");

    let response = app
        .as_user("u1", UPDATE, json!({ "i": { "smsStreakAlerts": "yes" } }))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
}

async fn the_master_switch_records_and_revokes_consent(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    data(
        &app.as_user(
            "u1",
            "mutation { setPhoneNumber(phoneNumber: \"+1 212 555 1234\") { userId } }",
            json!({}),
        )
        .await,
    );
    let on = app
        .as_user(
            "u1",
            UPDATE,
            json!({ "i": { "allowSmsInvitations": true } }),
        )
        .await;
    let r = &data(&on)["updateSmsPreferences"];
    assert_eq!(r["allowSmsInvitations"], true);
    assert_eq!(r["preferences"]["hasConsent"], true);
    assert_eq!(r["preferences"]["consentMethod"], "SETTINGS_PAGE");
    assert_eq!(
        r["preferences"]["consentGivenAt"],
        start_time().to_rfc3339()
    );

    app.clock.advance(Duration::hours(1));
    let off = app
        .as_user(
            "u1",
            UPDATE,
            json!({ "i": { "allowSmsInvitations": false } }),
        )
        .await;
    let r = &data(&off)["updateSmsPreferences"];
    assert_eq!(r["allowSmsInvitations"], false);
    assert_eq!(r["preferences"]["hasConsent"], false);
    assert_eq!(r["preferences"]["consentGivenAt"], json!(null));
    assert_eq!(
        r["preferences"]["consentRevokedAt"],
        (start_time() + Duration::hours(1)).to_rfc3339()
    );

    // Turning it off twice revokes once; on again is a new consent.
    data(
        &app.as_user(
            "u1",
            UPDATE,
            json!({ "i": { "allowSmsInvitations": false } }),
        )
        .await,
    );
    app.clock.advance(Duration::hours(1));
    let again = app
        .as_user(
            "u1",
            UPDATE,
            json!({ "i": { "allowSmsInvitations": true } }),
        )
        .await;
    assert_eq!(
        data(&again)["updateSmsPreferences"]["preferences"]["hasConsent"],
        true
    );

    let events = consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(&app.db)
        .await
        .expect("query");
    let trail: Vec<_> = events
        .iter()
        .map(|e| (e.action, e.method, e.ip.clone(), e.occurred_at))
        .collect();
    let ip = Some("127.0.0.1".to_owned());
    assert_eq!(
        trail,
        vec![
            (
                ConsentAction::Given,
                ConsentMethod::SettingsPage,
                ip.clone(),
                start_time()
            ),
            (
                ConsentAction::Revoked,
                ConsentMethod::SettingsPage,
                ip.clone(),
                start_time() + Duration::hours(1)
            ),
            (
                ConsentAction::Given,
                ConsentMethod::SettingsPage,
                ip,
                start_time() + Duration::hours(2)
            ),
        ]
    );
}

async fn settings_need_a_user_token(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let response = app
        .post_graphql(
            None,
            UPDATE,
            json!({ "i": { "allowSmsInvitations": true } }),
        )
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    let response = app
        .as_service(UPDATE, json!({ "i": { "allowSmsInvitations": true } }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    assert!(
        consent_events::Entity::find()
            .all(&app.db)
            .await
            .expect("query")
            .is_empty()
    );
}
