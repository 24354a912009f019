//! The back end's bulk calls: `upsertRecipients` (up to 1,000 users in one call and one transaction)
//! and the fan-out `sendBattleResults`, each item answered in its place, a bad item refused alone.

use serde_json::{Value, json};

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    storage_tests,
};

storage_tests!(
    upsert_recipients_answers_each_input_in_its_place,
    upsert_recipients_takes_a_thousand_and_no_more,
    battle_results_go_to_every_participant_with_their_own_answer,
);

const UPSERT: &str = "mutation($i: [RecipientInput!]!) { upsertRecipients(inputs: $i) {
    index userId error { code message }
    recipient { userId phoneNumber phoneVerified timezone locale } } }";

async fn upsert(app: &TestApp, inputs: Value) -> Value {
    app.as_service(UPSERT, json!({ "i": inputs })).await
}

async fn upsert_recipients_answers_each_input_in_its_place(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let answers = upsert(
        &app,
        json!([
            { "userId": "ann", "phoneNumber": "(212) 555-0101", "phoneVerified": true,
              "timezone": "America/New_York", "locale": "es" },
            { "userId": "bob", "timezone": "Mars/Olympus" },
            { "userId": "cat", "phoneNumber": "12" },
            { "userId": "dan", "phoneNumber": "+1 212 555 0104" },
            { "userId": "" },
        ]),
    )
    .await;
    let answers = data(&answers)["upsertRecipients"]
        .as_array()
        .expect("a list")
        .clone();
    assert_eq!(answers.len(), 5);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["index"], i);
    }
    assert_eq!(
        answers[0]["recipient"],
        json!({ "userId": "ann", "phoneNumber": "+12125550101", "phoneVerified": true,
                "timezone": "America/New_York", "locale": "es-US" })
    );
    assert!(answers[0]["error"].is_null());
    assert_eq!(answers[1]["error"]["code"], "BAD_USER_INPUT");
    assert!(
        answers[1]["error"]["message"]
            .as_str()
            .expect("why")
            .contains("Mars/Olympus")
    );
    assert!(answers[1]["recipient"].is_null());
    assert_eq!(answers[2]["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(answers[3]["recipient"]["phoneVerified"], false);
    assert_eq!(answers[4]["error"]["code"], "BAD_USER_INPUT");
    // The refused inputs wrote nothing.
    let bob = app
        .as_service("{ recipient(userId: \"bob\") { timezone } }", json!({}))
        .await;
    assert_eq!(error_code(&bob), "NOT_FOUND", "{bob}");

    // Again: the same number keeps its proof; a new one starts unproven; false takes it away.
    let again = upsert(
        &app,
        json!([
            { "userId": "ann", "phoneNumber": "+12125550101" },
            { "userId": "dan", "phoneNumber": "+12125550104", "phoneVerified": true },
        ]),
    )
    .await;
    let again = &data(&again)["upsertRecipients"];
    assert_eq!(again[0]["recipient"]["phoneVerified"], true);
    assert_eq!(again[1]["recipient"]["phoneVerified"], true);
    let unproven = upsert(&app, json!([{ "userId": "ann", "phoneVerified": false }])).await;
    assert_eq!(
        data(&unproven)["upsertRecipients"][0]["recipient"]["phoneVerified"],
        false
    );
    let moved = upsert(
        &app,
        json!([{ "userId": "dan", "phoneNumber": "+12125550199" }]),
    )
    .await;
    assert_eq!(
        data(&moved)["upsertRecipients"][0]["recipient"]["phoneVerified"],
        false
    );
    // Only the back end and admins.
    let user = app
        .as_user("ann", UPSERT, json!({ "i": [{ "userId": "ann" }] }))
        .await;
    assert_eq!(error_code(&user), "FORBIDDEN");
}

async fn upsert_recipients_takes_a_thousand_and_no_more(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let inputs: Vec<Value> = (0..1_000)
        .map(|i| json!({ "userId": format!("u{i}"), "phoneNumber": format!("+1212555{:04}", i), "phoneVerified": true, "timezone": "America/Chicago" }))
        .collect();
    let answers = upsert(&app, json!(inputs)).await;
    let answers = data(&answers)["upsertRecipients"]
        .as_array()
        .expect("a list")
        .clone();
    assert_eq!(answers.len(), 1_000);
    assert!(
        answers
            .iter()
            .all(|a| a["error"].is_null() && a["recipient"]["phoneVerified"] == true)
    );
    assert_eq!(answers[999]["recipient"]["userId"], "u999");
    let mut over = inputs.clone();
    over.push(json!({ "userId": "one-more" }));
    let refused = upsert(&app, json!(over)).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .expect("why")
            .contains("1 to 1000")
    );
    let none = upsert(&app, json!([])).await;
    assert_eq!(error_code(&none), "BAD_USER_INPUT");
}

const RESULTS: &str = "mutation($i: BattleResultsInput!) { sendBattleResults(input: $i) {
    index userId error { code message } message { id status blockedReason body } } }";

async fn battle_results_go_to_every_participant_with_their_own_answer(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    opted_in_user(&app, "bob", "+1 212 555 0102").await;
    let input = |key: &str| {
        json!({ "i": {
            "battleId": "b7", "battleTopic": "haiku", "resultLink": "/battles/7",
            "results": [
                { "userId": "ann", "resultSummary": "You won 3 to 1", "idempotencyKey": format!("{key}-ann") },
                { "userId": "bob", "resultSummary": "You lost 1 to 3", "idempotencyKey": format!("{key}-bob") },
                { "userId": "nobody-here", "resultSummary": "You drew" },
                { "userId": "", "resultSummary": "?" },
            ],
        } })
    };
    let first = app.as_service(RESULTS, input("r1")).await;
    let answers = data(&first)["sendBattleResults"]
        .as_array()
        .expect("a list")
        .clone();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0]["message"]["status"], "PENDING", "{answers:?}");
    assert!(
        answers[0]["message"]["body"]
            .as_str()
            .expect("text")
            .contains("You won 3 to 1")
    );
    assert_eq!(answers[1]["message"]["status"], "PENDING");
    assert_eq!(answers[2]["error"]["code"], "BAD_USER_INPUT", "{answers:?}");
    assert!(
        answers[2]["error"]["message"]
            .as_str()
            .expect("why")
            .contains("upsertRecipient")
    );
    assert_eq!(answers[3]["error"]["code"], "BAD_USER_INPUT");
    assert!(answers[3]["message"].is_null());
    // The same keys again: the same messages, nothing sent twice.
    let again = app.as_service(RESULTS, input("r1")).await;
    let again = data(&again)["sendBattleResults"].clone();
    assert_eq!(again[0]["message"]["id"], answers[0]["message"]["id"]);
    assert_eq!(again[1]["message"]["id"], answers[1]["message"]["id"]);
    // No participants, or too many, is refused as a whole.
    let none = app
        .as_service(RESULTS, json!({ "i": { "battleId": "b8", "battleTopic": "t", "resultLink": "/", "results": [] } }))
        .await;
    assert_eq!(error_code(&none), "BAD_USER_INPUT");
}
