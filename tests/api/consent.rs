//! The consent records: `consentEvents` (admin) and the CSV export.

use serde_json::{Value, json};
use sms_notify::auth::Role;

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    storage_tests,
};

storage_tests!(
    consent_records_are_listed_and_exported,
    a_numbers_opt_out_state,
);

const EVENTS: &str = "query($u: ID, $p: String, $f: DateTime, $t: DateTime, $first: Int, $after: String) {
    consentEvents(userId: $u, phone: $p, from: $f, to: $t, first: $first, after: $after) {
        edges { node { userId action method phoneNumber occurredAt } } pageInfo { hasNextPage endCursor } } }";

async fn events(app: &TestApp, vars: Value) -> Value {
    data(&app.graphql_as("ops", Role::Admin, EVENTS, vars).await)["consentEvents"].clone()
}

async fn export(app: &TestApp, query: &str, role: Option<Role>) -> (u16, String) {
    let mut request = app.http.get(app.url(&format!("/admin/consent.csv{query}")));
    if let Some(role) = role {
        request = request.bearer_auth(app.token("ops", role));
    }
    let response = request.send().await.expect("sent");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

async fn consent_records_are_listed_and_exported(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    opted_in_user(&app, "ann", "(212) 555-0001").await;
    app.clock.advance(chrono::Duration::minutes(5));
    opted_in_user(&app, "bob", "(212) 555-0002").await;
    app.clock.advance(chrono::Duration::minutes(5));
    data(
        &app.as_user(
            "bob",
            "mutation { updateSmsPreferences(input: { allowSmsInvitations: false }) { userId } }",
            json!({}),
        )
        .await,
    );

    // Newest first; filtered by user and by number (any writing); paged.
    let all = events(&app, json!({})).await;
    let actions: Vec<(&str, &str)> = all["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["userId"].as_str().unwrap_or(""),
                e["node"]["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("bob", "REVOKED"), ("bob", "GIVEN"), ("ann", "GIVEN")]
    );
    assert_eq!(all["edges"][0]["node"]["method"], "SETTINGS_PAGE");
    assert_eq!(
        events(&app, json!({ "u": "ann" })).await["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        events(&app, json!({ "p": "212.555.0002" })).await["edges"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let first = events(&app, json!({ "first": 2 })).await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = events(
        &app,
        json!({ "first": 2, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(rest["edges"][0]["node"]["userId"], "ann");
    // Only admins; a range must run forwards.
    assert_eq!(
        error_code(&app.as_user("ann", EVENTS, json!({})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &app.graphql_as(
                "ops",
                Role::Admin,
                EVENTS,
                json!({ "f": "2026-03-03T00:00:00Z", "t": "2026-03-02T00:00:00Z" })
            )
            .await
        ),
        "BAD_USER_INPUT"
    );

    // The CSV of the day, oldest first.
    let (status, csv) = export(&app, "?from=2026-03-02&to=2026-03-02", Some(Role::Admin)).await;
    assert_eq!(status, 200, "{csv}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "occurred_at,user_id,action,method,phone_number,ip,phone_last4,disclosure_version,disclosure_sha256,user_agent,page,imported_at"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[1].starts_with("2026-03-02T15:00:00Z,ann,given,opt_in_modal,'+12125550001"),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].contains(",bob,revoked,settings_page,'+12125550002"),
        "{}",
        lines[3]
    );
    // Another day has none; bad requests say why; only admins.
    let (_, empty) = export(&app, "?from=2026-03-03&to=2026-03-31", Some(Role::Admin)).await;
    assert_eq!(empty.lines().count(), 1);
    assert_eq!(
        export(&app, "?from=2026-03-02&to=2026-03-02", None).await.0,
        401
    );
    assert_eq!(
        export(&app, "?from=2026-03-02&to=2026-03-02", Some(Role::User))
            .await
            .0,
        403
    );
    let (status, body) = export(&app, "?from=03/02/2026&to=2026-03-02", Some(Role::Admin)).await;
    assert!(status == 400 && body.contains("YYYY-MM-DD"), "{body}");
    assert_eq!(
        export(&app, "?from=2026-03-05&to=2026-03-02", Some(Role::Admin))
            .await
            .0,
        400
    );
    assert_eq!(export(&app, "", Some(Role::Admin)).await.0, 400);
}

async fn a_numbers_opt_out_state(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    opted_in_user(&app, "ann", "(212) 555-0001").await;
    let query = "query($p: String!) { smsOptOut(phone: $p) { phoneNumber source optedOutAt } }";
    let state = app
        .graphql_as("ops", Role::Admin, query, json!({ "p": "212-555-0001" }))
        .await;
    assert_eq!(data(&state)["smsOptOut"], Value::Null, "not on the list");
    // Ann texts STOP: the number is on the list, in any writing.
    let reply = sms_notify::inbound::replies::InboundReply {
        from: "+12125550001".into(),
        to: "+18005550100".into(),
        body: "stop".into(),
        inbound_message_id: Some("in-1".into()),
        received_at: sms_notify::Clock::now(app.clock.as_ref()),
    };
    app.handles
        .inbound
        .handle_reply(None, &reply)
        .await
        .expect("handled");
    let state = app
        .graphql_as("ops", Role::Admin, query, json!({ "p": "(212) 555-0001" }))
        .await;
    assert_eq!(
        data(&state)["smsOptOut"],
        json!({ "phoneNumber": "+12125550001", "source": "KEYWORD", "optedOutAt": "2026-03-02T15:00:00+00:00" })
    );
    // Admins only; a number that is not one is refused with a sentence.
    for role in [Role::User, Role::Service] {
        let refused = app
            .graphql_as("ann", role, query, json!({ "p": "(212) 555-0001" }))
            .await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    }
    let bad = app
        .graphql_as("ops", Role::Admin, query, json!({ "p": "call me" }))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
}
