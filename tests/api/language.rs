//! Language: a person's texts in Spanish (set by the app or by the person), the Spanish keywords
//! answered in Spanish, and a number without an account answered in the language of its last text.

use chrono::Duration;
use entity::sms_log;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};
use sms_notify::Clock as _;

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::STREAK,
    sns::{INBOUND, Signer, post, reply, setup_signed},
    storage_tests,
};

storage_tests!(
    the_app_or_the_person_sets_the_language_of_every_text,
    a_bad_locale_changes_nothing,
    spanish_keywords_act_and_are_answered_in_spanish,
    a_number_without_an_account_is_answered_in_its_last_texts_language,
);

const UPSERT: &str =
    "mutation($i: RecipientInput!) { upsertRecipient(input: $i) { userId locale } }";
const PREFS: &str = "mutation($i: SmsPreferencesInput!) { updateSmsPreferences(input: $i) { locale preferences { smsStreakAlerts } } }";
const BODY: &str = "query($id: ID!) { smsLog(id: $id) { status body encoding segments } }";

async fn streak(app: &TestApp, user: &str) -> Value {
    let input = json!({ "i": { "userId": user, "streakCount": 5, "actionLink": "/streak" } });
    let id = data(&app.as_service(STREAK, input).await)["sendStreakAlert"]["id"].clone();
    data(&app.as_graphql_admin(BODY, json!({ "id": id })).await)["smsLog"].clone()
}

async fn the_app_or_the_person_sets_the_language_of_every_text(engine: Engine) {
    let (app, _stub, _signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "ana", "+1 212 555 0101").await;
    let english = streak(&app, "ana").await;
    assert!(
        english["body"]
            .as_str()
            .expect("body")
            .ends_with("Reply STOP to unsubscribe.")
    );
    // The app's back end says she reads Spanish ("es" is taken as es-US).
    let set = data(
        &app.as_service(UPSERT, json!({ "i": { "userId": "ana", "locale": "es" } }))
            .await,
    )["upsertRecipient"]
        .clone();
    assert_eq!(set["locale"], "es-US");
    let spanish = streak(&app, "ana").await;
    let body = spanish["body"].as_str().expect("body");
    assert!(
        body.starts_with("AllThrive: ¡No pierdas tu racha de 5!"),
        "{body}"
    );
    assert!(body.ends_with("Responde STOP para cancelar."), "{body}");
    assert_eq!(spanish["encoding"], "GSM-7");
    assert_eq!(spanish["segments"], 1);
    // A security alert too (transactional: no footer).
    let alert = data(
        &app.as_service(
            "mutation { sendSecurityAlert(input: { userId: \"ana\", what: \"Nuevo inicio de sesión\", link: \"/s\" }) { body } }",
            json!({}),
        )
        .await,
    )["sendSecurityAlert"]["body"]
        .clone();
    assert!(
        alert
            .as_str()
            .expect("body")
            .starts_with("AllThrive, alerta de seguridad:"),
        "{alert}"
    );
    // She switches back herself.
    let mine = data(
        &app.as_user("ana", PREFS, json!({ "i": { "locale": "en-US" } }))
            .await,
    )["updateSmsPreferences"]
        .clone();
    assert_eq!(mine["locale"], "en-US");
    assert!(
        streak(&app, "ana").await["body"]
            .as_str()
            .expect("body")
            .contains("Keep it alive")
    );
    // A verification code too (the log shows it masked).
    crate::helpers::set_phone(&app, "eva", "+1 212 555 0109").await;
    data(
        &app.as_service(
            UPSERT,
            json!({ "i": { "userId": "eva", "locale": "es-US" } }),
        )
        .await,
    );
    data(
        &app.as_user(
            "eva",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
    let code = sms_log::Entity::find()
        .order_by_desc(sms_log::Column::Id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("a code");
    assert!(
        code.body
            .starts_with("AllThrive: ****** es tu clave para verificar tu teléfono."),
        "{}",
        code.body
    );
    // "" is back to the default.
    data(
        &app.as_service(
            UPSERT,
            json!({ "i": { "userId": "ana", "locale": "es-US" } }),
        )
        .await,
    );
    let cleared = data(
        &app.as_service(UPSERT, json!({ "i": { "userId": "ana", "locale": "" } }))
            .await,
    )["upsertRecipient"]["locale"]
        .clone();
    assert_eq!(cleared, "en-US");
}

async fn a_bad_locale_changes_nothing(engine: Engine) {
    let (app, _stub, _signer) = setup_signed(engine, |_| {}).await;
    opted_in_user(&app, "ana", "+1 212 555 0101").await;
    for bad in ["fr-FR", "klingon!", "x"] {
        let response = app
            .as_user(
                "ana",
                PREFS,
                json!({ "i": { "locale": bad, "smsStreakAlerts": false } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}");
        let message = response["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("en-US, es-US"), "{message}");
        let response = app
            .as_service(
                UPSERT,
                json!({ "i": { "userId": "ana", "locale": bad, "timezone": "Asia/Tokyo" } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}");
    }
    let me = data(
        &app.as_user(
            "ana",
            "{ me { locale timezone preferences { smsStreakAlerts } } }",
            json!({}),
        )
        .await,
    )["me"]
        .clone();
    assert_eq!(me["locale"], "en-US");
    assert_eq!(me["preferences"]["smsStreakAlerts"], true);
    assert_ne!(me["timezone"], "Asia/Tokyo");
}

/// The answers queued to `number`, newest last.
async fn answers(app: &TestApp, number: &str) -> Vec<sms_log::Model> {
    sms_log::Entity::find()
        .order_by_asc(sms_log::Column::Id)
        .all(&app.db)
        .await
        .expect("query")
        .into_iter()
        .filter(|r| r.to_phone == number && !r.promotional)
        .collect()
}

async fn text(app: &TestApp, signer: &Signer, from: &str, body: &str) {
    let now = app.clock.now();
    let envelope = signer
        .notification(INBOUND, &reply(from, body), now)
        .to_string();
    assert_eq!(post(app, envelope).await.0, 200, "{body}");
    app.clock.advance(Duration::seconds(1));
}

async fn spanish_keywords_act_and_are_answered_in_spanish(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |c| c.sms.self_managed_opt_outs = true).await;
    // An English speaker texts the Spanish words: they act, and the answer is in Spanish.
    opted_in_user(&app, "bob", "+1 212 555 0102").await;
    let number = "+12125550102";
    text(&app, &signer, number, "Alto").await;
    let said = answers(&app, number).await;
    assert!(
        said[0].body.contains("Te has dado de baja"),
        "{}",
        said[0].body
    );
    assert_eq!(said[0].locale.as_deref(), Some("es-US"));
    assert_eq!(streak(&app, "bob").await["status"], "BLOCKED", "opted out");
    text(&app, &signer, number, "ayuda").await;
    assert!(
        answers(&app, number).await[1]
            .body
            .contains("Alertas de batallas y rachas")
    );
    text(&app, &signer, number, "COMENZAR").await;
    let said = answers(&app, number).await;
    assert!(
        said[2].body.contains("Te has suscrito de nuevo"),
        "{}",
        said[2].body
    );
    assert!(
        streak(&app, "bob").await["body"]
            .as_str()
            .expect("body")
            .contains("Keep it alive"),
        "resubscribed; his own texts stay English"
    );
    // A Spanish speaker's STOP (the word every program honours) is answered in her language.
    opted_in_user(&app, "ana", "+1 212 555 0101").await;
    data(
        &app.as_service(
            UPSERT,
            json!({ "i": { "userId": "ana", "locale": "es-US" } }),
        )
        .await,
    );
    text(&app, &signer, "+12125550101", "STOP").await;
    let said = answers(&app, "+12125550101").await;
    assert!(
        said[0].body.contains("Te has dado de baja"),
        "{}",
        said[0].body
    );
    // Anything else is kept, not acted on.
    text(&app, &signer, "+12125550101", "hola").await;
    assert_eq!(answers(&app, "+12125550101").await.len(), 1);
}

async fn a_number_without_an_account_is_answered_in_its_last_texts_language(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |c| c.sms.self_managed_opt_outs = true).await;
    let stranger = "+12125550199";
    // English by default.
    text(&app, &signer, stranger, "HELP").await;
    let said = answers(&app, stranger).await;
    assert!(
        said[0].body.contains("Battle and streak alerts"),
        "{}",
        said[0].body
    );
    // AYUDA is answered in Spanish: the number's last text is Spanish now.
    text(&app, &signer, stranger, "AYUDA").await;
    text(&app, &signer, stranger, "HELP").await;
    let said = answers(&app, stranger).await;
    assert_eq!(said.len(), 3);
    assert!(
        said[2].body.contains("Alertas de batallas"),
        "{}",
        said[2].body
    );
    assert_eq!(said[2].locale.as_deref(), Some("es-US"));
}
