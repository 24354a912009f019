//! Operators act on one message: cancel it before it is sent, send a failed one again, find it by the
//! id AWS gave it.

use entity::sms_log::SmsStatus;
use serde_json::{Value, json};

use crate::{
    aws_stub::Answer,
    helpers::{Engine, TestApp, data, error_code, error_message, opted_in_user, start_time},
    pipeline::{row, setup, streak_alert},
    storage_tests,
};

storage_tests!(
    a_pending_message_is_cancelled_and_its_budget_released,
    a_failed_message_is_sent_again_through_the_policy,
    messages_are_found_by_the_providers_id,
    every_admin_write_is_in_the_audit_trail,
    admin_token_sends_upserts_and_scans_are_audited,
    admins_keep_the_opt_out_list_and_awss_in_step,
);

const CANCEL: &str = "mutation($id: ID!) { cancelSms(id: $id) { id status cost } }";
const RETRY: &str =
    "mutation($id: ID!) { retrySms(id: $id) { id status retryOf blockedReason body } }";

async fn reserved(app: &TestApp) -> i64 {
    sms_notify::billing::reserved(&app.db, &sms_notify::billing::month_of(start_time()))
        .await
        .expect("spend")
}

async fn a_pending_message_is_cancelled_and_its_budget_released(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let id = streak_alert(&app, "u1").await;
    assert!(reserved(&app).await > 0);
    for response in [
        app.as_user("u1", CANCEL, json!({ "id": id.to_string() }))
            .await,
        app.as_service(CANCEL, json!({ "id": id.to_string() }))
            .await,
    ] {
        assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    }
    assert_eq!(
        row(&app, id).await.status,
        SmsStatus::Pending,
        "refused callers change nothing"
    );

    let cancelled = data(
        &app.as_graphql_admin(CANCEL, json!({ "id": id.to_string() }))
            .await,
    )["cancelSms"]
        .clone();
    assert_eq!(
        cancelled,
        json!({ "id": id.to_string(), "status": "CANCELLED", "cost": null })
    );
    assert_eq!(reserved(&app).await, 0, "its reservation went back");
    assert_eq!(app.run_outbox().await.claimed, 0);
    assert!(stub.seen().is_empty(), "never sent");

    // Twice, or a message that is not waiting: refused with its status; an unknown id: not found.
    let again = app
        .as_graphql_admin(CANCEL, json!({ "id": id.to_string() }))
        .await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    assert_eq!(
        error_message(&again),
        format!(
            "Message {id} is CANCELLED: only a message waiting to be sent (PENDING) can be cancelled."
        )
    );
    let sent = streak_alert(&app, "u1").await;
    app.run_outbox().await;
    let response = app
        .as_graphql_admin(CANCEL, json!({ "id": sent.to_string() }))
        .await;
    assert!(error_message(&response).contains("is SENT"), "{response}");
    let missing = app
        .as_graphql_admin(CANCEL, json!({ "id": "999999" }))
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    let garbage = app.as_graphql_admin(CANCEL, json!({ "id": "abc" })).await;
    assert_eq!(error_code(&garbage), "BAD_USER_INPUT");
}

async fn a_failed_message_is_sent_again_through_the_policy(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let id = streak_alert(&app, "u1").await;
    // Not failed yet: nothing to retry.
    let early = app
        .as_graphql_admin(RETRY, json!({ "id": id.to_string() }))
        .await;
    assert_eq!(error_code(&early), "BAD_USER_INPUT");
    assert!(error_message(&early).contains("is PENDING"));
    stub.script([Answer::validation()]);
    app.run_outbox().await;
    assert_eq!(row(&app, id).await.status, SmsStatus::Failed);

    let again: Value = data(
        &app.as_graphql_admin(RETRY, json!({ "id": id.to_string() }))
            .await,
    )["retrySms"]
        .clone();
    assert_eq!(again["status"], "PENDING");
    assert_eq!(again["retryOf"], id.to_string());
    assert_eq!(
        again["body"],
        row(&app, id).await.body,
        "the same text, one footer"
    );
    assert_eq!(app.run_outbox().await.sent, 1);
    assert_eq!(stub.seen().len(), 2);

    // The same policy as any send: a text that failed because the number opted out with the
    // carrier is blocked when sent again, and says why.
    stub.script([Answer::opted_out()]);
    let other = streak_alert(&app, "u1").await;
    app.run_outbox().await;
    assert_eq!(row(&app, other).await.status, SmsStatus::Failed);
    let blocked = data(
        &app.as_graphql_admin(RETRY, json!({ "id": other.to_string() }))
            .await,
    )["retrySms"]
        .clone();
    assert_eq!(
        (
            &blocked["status"],
            &blocked["blockedReason"],
            &blocked["retryOf"]
        ),
        (
            &json!("BLOCKED"),
            &json!("OPTED_OUT"),
            &json!(other.to_string())
        )
    );
    assert_eq!(app.run_outbox().await.claimed, 0);

    // A code is never sent again.
    crate::helpers::set_phone(&app, "u2", "+1 212 555 0102").await;
    stub.script([Answer::validation()]);
    data(
        &app.as_user(
            "u2",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
    app.run_outbox().await;
    let code = data(
        &app.as_graphql_admin(
            "{ smsLogs(filter: { messageType: PHONE_VERIFICATION }, first: 1) { nodes { id status } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]["nodes"][0]
        .clone();
    assert_eq!(code["status"], "FAILED");
    let response = app
        .as_graphql_admin(RETRY, json!({ "id": code["id"] }))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert!(error_message(&response).contains("never sent again"));
}

async fn messages_are_found_by_the_providers_id(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let first = streak_alert(&app, "u1").await;
    app.run_outbox().await;
    let provider_id = row(&app, first).await.provider_message_id.expect("an id");
    let found = data(
        &app.as_graphql_admin(
            "query($p: String!) { smsLogs(filter: { providerMessageId: $p }, first: 5) { nodes { id } } }",
            json!({ "p": format!(" {provider_id} ") }),
        )
        .await,
    )["smsLogs"]["nodes"]
        .clone();
    assert_eq!(found, json!([{ "id": first.to_string() }]));
    let none = data(
        &app.as_graphql_admin(
            "{ smsLogs(filter: { providerMessageId: \"msg-none\" }, first: 5) { nodes { id } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]["nodes"]
        .clone();
    assert_eq!(none, json!([]));
}

async fn every_admin_write_is_in_the_audit_trail(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let pending = streak_alert(&app, "u1").await;
    data(
        &app.as_graphql_admin(CANCEL, json!({ "id": pending.to_string() }))
            .await,
    );
    stub.script([Answer::validation()]);
    let failed = streak_alert(&app, "u1").await;
    app.run_outbox().await;
    let again = data(
        &app.as_graphql_admin(RETRY, json!({ "id": failed.to_string() }))
            .await,
    )["retrySms"]["id"]
        .clone();
    data(
        &app.as_graphql_admin(
            "mutation { setCountrySending(country: \"CA\", messages: false) { country } }",
            json!({}),
        )
        .await,
    );
    data(
        &app.as_graphql_admin(
            "mutation { liftVerificationGuard(range: \"+1212555\") { held } }",
            json!({}),
        )
        .await,
    );
    // A refused write is not recorded: the message is no longer pending.
    let refused = app
        .as_graphql_admin(CANCEL, json!({ "id": pending.to_string() }))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");

    const TRAIL: &str = "query($after: String) { adminActions(first: 3, after: $after) { nodes { actor action target detail createdAt } pageInfo { hasNextPage endCursor } } }";
    let first = data(&app.as_graphql_admin(TRAIL, json!({})).await)["adminActions"].clone();
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = data(
        &app.as_graphql_admin(TRAIL, json!({ "after": first["pageInfo"]["endCursor"] }))
            .await,
    )["adminActions"]
        .clone();
    let mut trail: Vec<Value> = first["nodes"].as_array().expect("nodes").clone();
    trail.extend(second["nodes"].as_array().expect("nodes").clone());
    let rows: Vec<(String, String, String)> = trail
        .iter()
        .map(|a| {
            assert_eq!(a["actor"], "ops", "{a}");
            assert_eq!(a["createdAt"], "2026-03-02T15:00:00+00:00");
            (
                a["action"].as_str().unwrap_or_default().to_owned(),
                a["target"].as_str().unwrap_or_default().to_owned(),
                a["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "lift_verification_guard".into(),
                "+1212555".into(),
                String::new()
            ),
            (
                "set_country_sending".into(),
                "CA".into(),
                "verification on, messages off".into()
            ),
            (
                "retry_sms".into(),
                failed.to_string(),
                format!(
                    "sent again as message {} (PENDING)",
                    again.as_str().unwrap_or_default()
                )
            ),
            ("cancel_sms".into(), pending.to_string(), String::new()),
        ]
    );
    for response in [
        app.as_user("u1", TRAIL, json!({})).await,
        app.as_service(TRAIL, json!({})).await,
    ] {
        assert_eq!(error_code(&response), "FORBIDDEN");
    }
}

async fn admin_token_sends_upserts_and_scans_are_audited(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let sent = data(
        &app.as_graphql_admin(
            "mutation { sendSms(input: { userId: \"u1\", body: \"From ops\" }) { id } }",
            json!({}),
        )
        .await,
    )["sendSms"]["id"]
        .clone();
    data(
        &app.as_graphql_admin(
            "mutation { upsertRecipient(input: { userId: \"u2\" }) { userId } }",
            json!({}),
        )
        .await,
    );
    data(
        &app.as_graphql_admin(
            "mutation { runReminderScan(kind: STREAKS) { found } }",
            json!({}),
        )
        .await,
    );
    data(
        &app.as_graphql_admin("mutation { resumeSending { pending } }", json!({}))
            .await,
    );
    // The app's back end writes as itself: not an admin's write.
    data(
        &app.as_service(
            "mutation { upsertRecipient(input: { userId: \"u3\" }) { userId } }",
            json!({}),
        )
        .await,
    );
    let trail = data(
        &app.as_graphql_admin(
            "{ adminActions(first: 10) { nodes { actor action target detail } } }",
            json!({}),
        )
        .await,
    )["adminActions"]["nodes"]
        .clone();
    assert_eq!(
        trail,
        json!([
            { "actor": "ops", "action": "resume_sending", "target": "sending", "detail": "nothing was paused" },
            { "actor": "ops", "action": "run_reminder_scan", "target": "streaks", "detail": "found 0, enqueued 0, skipped 0" },
            { "actor": "ops", "action": "upsert_recipient", "target": "u2", "detail": null },
            { "actor": "ops", "action": "send_sms", "target": sent, "detail": "other pending" },
        ])
    );
}

async fn admins_keep_the_opt_out_list_and_awss_in_step(engine: Engine) {
    let (app, stub) = setup(engine, |c| c.sms.opt_out_list = Some("Default".into())).await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    const ADD: &str = "mutation($p: String!, $n: String) { addOptOut(phone: $p, note: $n) { phoneNumber source } }";
    const REMOVE: &str = "mutation($p: String!, $n: String!) { removeOptOut(phone: $p, note: $n) }";
    let added = data(
        &app.as_graphql_admin(ADD, json!({ "p": "(212) 555-0101", "n": "asked by phone" }))
            .await,
    )["addOptOut"]
        .clone();
    assert_eq!(
        added,
        json!({ "phoneNumber": "+12125550101", "source": "ADMIN" })
    );
    assert_eq!(
        stub.opted_out(),
        [("Default".to_owned(), "+12125550101".to_owned())]
    );
    // A promotion to it is now refused.
    let promo = app
        .as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { blockedReason } }",
            json!({ "i": { "userId": "u1", "body": "Hi" } }),
        )
        .await;
    assert_eq!(data(&promo)["sendSms"]["blockedReason"], "OPTED_OUT");

    // Removing needs a note; a number not on the list is not found; other roles are refused.
    let blank = app
        .as_graphql_admin(REMOVE, json!({ "p": "+12125550101", "n": "  " }))
        .await;
    assert_eq!(error_code(&blank), "BAD_USER_INPUT");
    let absent = app
        .as_graphql_admin(REMOVE, json!({ "p": "+12125550199", "n": "asked" }))
        .await;
    assert_eq!(error_code(&absent), "NOT_FOUND");
    let user = app
        .as_user("u1", REMOVE, json!({ "p": "+12125550101", "n": "me" }))
        .await;
    assert_eq!(error_code(&user), "FORBIDDEN");

    // AWS refuses: ours is unchanged, and the answer says so.
    stub.refuse("DeleteOptedOutNumber", Answer::access_denied());
    let refused = app
        .as_graphql_admin(
            REMOVE,
            json!({ "p": "+12125550101", "n": "texted support" }),
        )
        .await;
    assert_eq!(error_code(&refused), "PROVIDER_REFUSED", "{refused}");
    assert!(error_message(&refused).contains("unchanged"));
    let still = data(
        &app.as_graphql_admin(
            "{ smsOptOut(phone: \"+12125550101\") { source } }",
            json!({}),
        )
        .await,
    )["smsOptOut"]
        .clone();
    assert_eq!(still, json!({ "source": "ADMIN" }));

    stub.allow("DeleteOptedOutNumber");
    let removed = data(
        &app.as_graphql_admin(
            REMOVE,
            json!({ "p": "+12125550101", "n": "texted support to come back" }),
        )
        .await,
    )["removeOptOut"]
        .clone();
    assert_eq!(removed, true);
    assert!(stub.opted_out().is_empty(), "AWS's list too");
    let trail = data(
        &app.as_graphql_admin(
            "{ adminActions(first: 5) { nodes { action target note } } }",
            json!({}),
        )
        .await,
    )["adminActions"]["nodes"]
        .clone();
    assert_eq!(
        trail,
        json!([
            { "action": "remove_opt_out", "target": "+12125550101", "note": "texted support to come back" },
            { "action": "add_opt_out", "target": "+12125550101", "note": "asked by phone" },
        ])
    );
}
