//! People leave: an erasure shows, table by table, what is left; the retention purge removes what is
//! past its period and nothing that still proves a standing consent; an opt-in keeps the disclosure the
//! person was shown.

use chrono::Duration;
use entity::{consent_events, phone_verifications, recipients, sms_log, sms_replies};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use sms_notify::{Clock, auth::Role, privacy::Trigger};

use crate::{
    helpers::{
        Engine, TestApp, data, error_code, error_message, opted_in_user, set_phone, start_time,
    },
    pipeline::{row, setup},
    storage_tests,
};

storage_tests!(
    erasing_a_person_leaves_only_what_must_stay,
    a_send_racing_an_erasure_leaves_no_number_behind,
    the_purge_removes_texts_and_records_past_their_periods,
    consent_events_are_kept_while_they_prove_a_standing_consent,
    opt_ins_keep_the_disclosure_they_were_shown,
    production_requires_the_disclosure,
);

const ERASE: &str = "mutation($u: ID!) { deleteRecipient(userId: $u) { userId numbers messagesCancelled messagesScrubbed verificationsDeleted consentEventsPseudonymized repliesScrubbed } }";
const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason } }";
const PUBLISH: &str = "mutation($v: String!, $t: String!) { publishConsentDisclosure(version: $v, text: $t) { version textSha256 publishedAt publishedBy } }";
const EVENTS: &str = "query($p: String, $u: ID) { consentEvents(phone: $p, userId: $u, first: 20) { nodes { action method phoneNumber phoneLast4 disclosureVersion disclosureSha256 userAgent page } } }";
const ANN: &str = "+12125550101";

fn send(user: &str, body: &str, send_at: Option<String>) -> Value {
    json!({ "i": { "userId": user, "body": body, "sendAt": send_at } })
}

fn id(log: &Value) -> i64 {
    log["id"].as_str().expect("id").parse().expect("numeric")
}

/// `user` asks for a verification code to their number.
async fn ask_for_code(app: &TestApp, user: &str) {
    data(
        &app.as_user(
            user,
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
}

/// A reply texted in from `from`, as two-way SMS delivers it.
pub(crate) async fn reply(app: &TestApp, from: &str, body: &str, id: &str) {
    let reply = sms_notify::inbound::replies::InboundReply {
        from: from.into(),
        to: "+18005550100".into(),
        body: body.into(),
        inbound_message_id: Some(id.into()),
        received_at: app.clock.now(),
    };
    app.handles
        .inbound
        .handle_reply(None, &reply)
        .await
        .expect("handled");
}

async fn user_events(app: &TestApp, user: &str) -> Vec<consent_events::Model> {
    consent_events::Entity::find()
        .filter(consent_events::Column::UserId.eq(user))
        .order_by_asc(consent_events::Column::Id)
        .all(&app.db)
        .await
        .expect("events")
}

async fn publish(app: &TestApp, version: &str, text: &str) -> Value {
    data(
        &app.as_graphql_admin(PUBLISH, json!({ "v": version, "t": text }))
            .await,
    )["publishConsentDisclosure"]
        .clone()
}

async fn erasing_a_person_leaves_only_what_must_stay(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    publish(
        &app,
        "2026-03",
        "Texts about your battles. Msg & data rates may apply. Reply STOP to stop.",
    )
    .await;
    // Ann first types a number that is not hers and asks for a code there; then gives her own.
    set_phone(&app, "ann", "+1 212 555 0199").await;
    data(
        &app.as_user(
            "ann",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
    set_phone(&app, "ann", "+1 212 555 0101").await;
    crate::recipients::verify_phone(&app, "ann").await;
    // Someone texts the number Ann typed: that text is not Ann's.
    let others = data(
        &app.as_service(
            SEND,
            json!({ "i": { "to": "+1 212 555 0199", "body": "Hi from the app", "promotional": false } }),
        )
        .await,
    )["sendSms"]
        .clone();
    data(
        &app.as_user(
            "ann",
            "mutation { smsOptIn(action: OPT_IN, disclosureVersion: \"2026-03\", page: \"/settings\") { userId } }",
            json!({}),
        )
        .await,
    );
    let streak = "mutation($i: StreakInput!) { upsertStreak(input: $i) { userId } }";
    data(
        &app.as_service(
            streak,
            json!({ "i": { "userId": "ann", "currentDays": 4, "lastActivityDate": "2026-03-02" } }),
        )
        .await,
    );
    let battle = "mutation($i: BattleInput!) { upsertBattle(input: $i) { battleId } }";
    data(&app.as_service(battle, json!({ "i": { "battleId": "b1", "topic": "Chess", "link": "/b/1", "status": "ACTIVE", "deadlineAt": "2026-03-05T00:00:00Z", "participants": [{ "userId": "ann" }, { "userId": "bob" }] } })).await);
    let sent = data(
        &app.as_service(SEND, send("ann", "You won round one", None))
            .await,
    )["sendSms"]
        .clone();
    app.run_outbox().await;
    let later = data(
        &app.as_service(
            SEND,
            send(
                "ann",
                "Round two tomorrow",
                Some((start_time() + Duration::hours(3)).to_rfc3339()),
            ),
        )
        .await,
    )["sendSms"]
        .clone();
    assert_eq!(later["status"], "PENDING");
    reply(&app, ANN, "see you there", "in-1").await;

    // Not for a user's token; a blank id is refused; nothing changes.
    let refused = app.as_user("ann", ERASE, json!({ "u": "ann" })).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let blank = app.as_service(ERASE, json!({ "u": " " })).await;
    assert_eq!(error_code(&blank), "BAD_USER_INPUT", "{blank}");
    assert_eq!(app.db_count("recipients").await, 1, "ann");

    let erased =
        data(&app.as_service(ERASE, json!({ "u": "ann" })).await)["deleteRecipient"].clone();
    assert_eq!(
        erased,
        json!({ "userId": "ann", "numbers": 2, "messagesCancelled": 1, "messagesScrubbed": 3,
                "verificationsDeleted": 1, "consentEventsPseudonymized": 1, "repliesScrubbed": 1 })
    );

    // Table by table. The profile, its preferences, codes, streak and battles: gone.
    let ann = || recipients::Entity::find_by_id("ann".to_owned());
    assert!(ann().one(&app.db).await.expect("query").is_none());
    assert_eq!(app.db_count("recipients").await, 0);
    assert_eq!(app.db_count("sms_preferences").await, 0);
    let codes = phone_verifications::Entity::find()
        .filter(phone_verifications::Column::UserId.eq("ann"))
        .all(&app.db)
        .await
        .expect("codes");
    assert!(codes.is_empty());
    assert_eq!(app.db_count("streaks").await, 0);
    assert_eq!(app.db_count("battle_participants").await, 1, "bob's");
    // Messages: kept for accounting, without text, number or user; the waiting one cancelled.
    let messages = sms_log::Entity::find()
        .order_by_asc(sms_log::Column::Id)
        .all(&app.db)
        .await
        .expect("messages");
    assert_eq!(
        messages.len(),
        4,
        "the code, the other's text, Ann's text, the scheduled one"
    );
    let others = row(&app, id(&others)).await;
    assert_eq!(
        (
            others.to_phone.as_str(),
            others.body.as_str(),
            others.status
        ),
        ("+12125550199", "Hi from the app", sms_log::SmsStatus::Sent),
        "a text to a number Ann only typed is left alone"
    );
    for m in messages.iter().filter(|m| m.id != others.id) {
        assert_eq!((m.body.as_str(), m.to_phone.as_str()), ("", ""), "{m:?}");
        assert_eq!((m.user_id.clone(), m.sensitive_body.clone()), (None, None));
        assert!(m.body_purged_at.is_some());
        assert_eq!(m.country.as_deref(), Some("US"), "the country stays");
    }
    let sent = row(&app, id(&sent)).await;
    assert_eq!(sent.status, sms_log::SmsStatus::Sent);
    assert!(sent.cost_micros.unwrap_or(0) > 0, "its cost stays");
    assert_eq!(
        row(&app, id(&later)).await.status,
        sms_log::SmsStatus::Cancelled
    );
    // Consent events: the proof stays, the number becomes its keyed hash and last four digits, and
    // the user id a keyed hash of it.
    assert!(user_events(&app, "ann").await.is_empty());
    let events = consent_events::Entity::find()
        .filter(consent_events::Column::UserId.starts_with("erased:"))
        .order_by_asc(consent_events::Column::Id)
        .all(&app.db)
        .await
        .expect("events");
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e.phone_e164, None);
        assert_eq!(e.phone_last4.as_deref(), Some("0101"));
        assert_eq!(e.phone_hash.as_ref().map(String::len), Some(64));
        assert!(
            !e.phone_hash
                .as_deref()
                .unwrap_or_default()
                .contains("2125550101")
        );
    }
    assert_eq!(events[0].disclosure_version.as_deref(), Some("2026-03"));
    assert_eq!(events[1].action, consent_events::ConsentAction::Erased);
    // An operator with the number still finds the proof.
    let found = data(
        &app.as_graphql_admin(EVENTS, json!({ "p": "(212) 555-0101" }))
            .await,
    )["consentEvents"]["nodes"]
        .clone();
    assert_eq!(
        found,
        json!([
            { "action": "ERASED", "method": "ERASURE", "phoneNumber": null, "phoneLast4": "0101",
              "disclosureVersion": null, "disclosureSha256": null, "userAgent": null, "page": null },
            { "action": "GIVEN", "method": "OPT_IN_MODAL", "phoneNumber": null, "phoneLast4": "0101",
              "disclosureVersion": "2026-03", "disclosureSha256": events[0].disclosure_sha256, "userAgent": null, "page": "/settings" },
        ])
    );
    // Replies from the number: kept without text or number.
    let replies = sms_replies::Entity::find()
        .all(&app.db)
        .await
        .expect("replies");
    assert_eq!(
        replies
            .iter()
            .map(|r| (r.body.as_str(), r.from_phone.as_str()))
            .collect::<Vec<_>>(),
        [("", "")]
    );
    // The audit trail names who did it.
    let trail = "{ adminActions(first: 5) { nodes { actor action target } } }";
    let trail =
        data(&app.as_graphql_admin(trail, json!({})).await)["adminActions"]["nodes"][0].clone();
    assert_eq!(
        trail,
        json!({ "actor": "app-backend", "action": "delete_recipient", "target": "ann" })
    );
    // Nothing is left to erase; the id is unknown now, the number a stranger's.
    let again = app.as_service(ERASE, json!({ "u": "ann" })).await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
    assert!(error_message(&again).contains("no profile"), "{again}");
    let unknown = app.as_service(SEND, send("ann", "Hello?", None)).await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT", "{unknown}");
    assert!(
        error_message(&unknown).contains("No user 'ann'"),
        "{unknown}"
    );
    let raw = data(
        &app.as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { status blockedReason } }",
            json!({ "i": { "to": ANN, "body": "Hello?", "promotional": false } }),
        )
        .await,
    )["sendSms"]
        .clone();
    assert_eq!(raw["status"], "PENDING", "decided as for any number: {raw}");
}

async fn a_send_racing_an_erasure_leaves_no_number_behind(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let sends = (0..12).map(|n| {
        let app = &app;
        async move {
            app.as_service(SEND, send("ann", &format!("Message {n}"), None))
                .await
        }
    });
    let erase = async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        app.as_service(ERASE, json!({ "u": "ann" })).await
    };
    let (answers, erased) = tokio::join!(futures::future::join_all(sends), erase);
    data(&erased);
    // Each send went before the erasure (and was cancelled by it), was blocked by it, or found no
    // one.
    for answer in &answers {
        if answer.get("errors").is_some() {
            assert!(error_message(answer).contains("No user 'ann'"), "{answer}");
        } else {
            let status = data(answer)["sendSms"]["status"].clone();
            assert!(status == "PENDING" || status == "BLOCKED", "{answer}");
        }
    }
    // Whichever came first, no message keeps the number or waits to go to it.
    let kept = sms_log::Entity::find()
        .filter(sms_log::Column::ToPhone.eq(ANN))
        .all(&app.db)
        .await
        .expect("messages");
    assert!(kept.is_empty(), "{kept:?}");
    let report = app.run_outbox().await;
    assert_eq!(report.sent, 0, "{report:?}");
}

async fn the_purge_removes_texts_and_records_past_their_periods(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    // A code asked for by someone else (a number and an IP), expired ten minutes later.
    set_phone(&app, "cy", "+1 212 555 0155").await;
    ask_for_code(&app, "cy").await;
    let old = id(&data(&app.as_service(SEND, send("ann", "Old news", None)).await)["sendSms"]);
    let scheduled = id(&data(
        &app.as_service(
            SEND,
            send(
                "ann",
                "Far ahead",
                Some((start_time() + Duration::days(34)).to_rfc3339()),
            ),
        )
        .await,
    )["sendSms"]);
    app.run_outbox().await;
    reply(&app, ANN, "thanks", "in-1").await;
    let backend = app.db.get_database_backend();
    app.db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            if backend == sea_orm::DbBackend::Postgres {
                "INSERT INTO sns_deliveries (message_id, topic_arn, received_at) VALUES ($1, $2, $3)"
            } else {
                "INSERT INTO sns_deliveries (message_id, topic_arn, received_at) VALUES (?, ?, ?)"
            },
            ["sns-1".into(), "arn:aws:sns:us-east-1:1:t".into(), start_time().into()],
        ))
        .await
        .expect("a delivery row");
    app.handles
        .scans
        .run(sms_notify::reminders::ReminderKind::Battles)
        .await
        .expect("a scan");

    app.clock.advance(Duration::days(20));
    let recent = id(&data(&app.as_service(SEND, send("ann", "Fresh news", None)).await)["sendSms"]);
    app.run_outbox().await;
    // A code asked for now stays: it expired less than SMS_BODY_RETENTION ago.
    ask_for_code(&app, "cy").await;
    app.clock.advance(Duration::days(11));
    let run = app
        .handles
        .privacy
        .purge(Trigger::Command)
        .await
        .expect("purge");
    assert_eq!(
        (
            run.message_bodies,
            run.reply_bodies,
            run.webhook_deliveries,
            run.scan_runs,
            run.consent_events
        ),
        (2, 1, 1, 0, 0),
        "the old text and the old code's: {run:?}"
    );
    assert_eq!(run.feed_changes, 0, "the change feed is the log itself");
    assert_eq!(
        run.verifications, 1,
        "the old code's row, not the recent one"
    );
    assert_eq!(app.db_count("phone_verifications").await, 1);
    let old_row = row(&app, old).await;
    assert_eq!(
        (old_row.body.as_str(), old_row.to_phone.as_str()),
        ("", ANN)
    );
    assert_eq!(old_row.body_purged_at, Some(app.clock.now()));
    assert!(row(&app, recent).await.body.starts_with("Fresh news"));
    assert!(
        row(&app, scheduled).await.body.starts_with("Far ahead"),
        "a message still waiting keeps its text"
    );
    let reply_row = sms_replies::Entity::find()
        .one(&app.db)
        .await
        .expect("q")
        .expect("reply");
    assert_eq!(
        (reply_row.body.as_str(), reply_row.from_phone.as_str()),
        ("", ANN)
    );
    // A text that is gone cannot be sent again.
    app.db
        .execute_unprepared(&format!(
            "UPDATE sms_log SET status = 'failed' WHERE id = {old}"
        ))
        .await
        .expect("make it failed");
    let retry = app
        .as_graphql_admin(
            "mutation($id: ID!) { retrySms(id: $id) { id } }",
            json!({ "id": old.to_string() }),
        )
        .await;
    assert_eq!(error_code(&retry), "BAD_USER_INPUT", "{retry}");
    assert!(
        error_message(&retry).contains("text was removed"),
        "{retry}"
    );
    // A second run finds nothing more; scan records go after 90 days, the later text after its 30.
    let again = app
        .handles
        .privacy
        .purge(Trigger::Schedule)
        .await
        .expect("purge");
    assert_eq!(
        again.message_bodies + again.reply_bodies + again.webhook_deliveries,
        0
    );
    app.clock.advance(Duration::days(60));
    assert_eq!(
        app.handles
            .privacy
            .purge(Trigger::Schedule)
            .await
            .expect("purge")
            .scan_runs,
        1
    );

    let status = "{ retentionStatus { bodyRetentionDays consentRetentionDays webhookDedupRetentionDays scanRunRetentionDays schedule lastRun { trigger messageBodies scanRuns } } }";
    let refused = app.as_service(status, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    assert_eq!(
        data(&app.as_graphql_admin(status, json!({})).await)["retentionStatus"],
        json!({ "bodyRetentionDays": 30.0, "consentRetentionDays": 1826.25, "webhookDedupRetentionDays": 14.0,
                "scanRunRetentionDays": 90.0, "schedule": "0 30 3 * * *",
                "lastRun": { "trigger": "SCHEDULE", "messageBodies": 1, "scanRuns": 1 } }),
        "the text of day 20 went too"
    );
}

async fn consent_events_are_kept_while_they_prove_a_standing_consent(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let switch = "mutation($on: Boolean!) { updateSmsPreferences(input: { allowSmsInvitations: $on }) { userId } }";
    for (user, phone) in [
        ("ann", "+1 212 555 0101"),
        ("bob", "+1 212 555 0102"),
        ("cat", "+1 212 555 0103"),
    ] {
        opted_in_user(&app, user, phone).await;
    }
    app.clock.advance(Duration::days(1));
    for user in ["ann", "cat"] {
        data(&app.as_user(user, switch, json!({ "on": false })).await);
    }
    app.clock.advance(Duration::days(1));
    data(&app.as_user("ann", switch, json!({ "on": true })).await);
    assert_eq!(app.db_count("consent_events").await, 6);

    // Under five years nothing goes.
    app.clock.advance(Duration::days(365 * 5));
    let run = app
        .handles
        .privacy
        .purge(Trigger::Command)
        .await
        .expect("purge");
    assert_eq!(run.consent_events, 0);
    // Five years after: what was superseded or ended goes; a consent still standing stays.
    app.clock.advance(Duration::days(5));
    let run = app
        .handles
        .privacy
        .purge(Trigger::Command)
        .await
        .expect("purge");
    assert_eq!(run.consent_events, 4);
    let left: Vec<(String, consent_events::ConsentAction)> = consent_events::Entity::find()
        .order_by_asc(consent_events::Column::Id)
        .all(&app.db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.user_id, e.action))
        .collect();
    use consent_events::ConsentAction::Given;
    assert_eq!(left, [("bob".to_owned(), Given), ("ann".to_owned(), Given)]);
}

async fn opt_ins_keep_the_disclosure_they_were_shown(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    const TEXT_A: &str =
        "Get texts about battles and streaks. Msg & data rates may apply. Reply STOP to cancel.";
    // Admins only; a version and a text that can be named and shown.
    let refused = app
        .as_user("ann", PUBLISH, json!({ "v": "v1", "t": TEXT_A }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    for (version, text) in [("v 1", TEXT_A), ("v1", "  "), ("", TEXT_A)] {
        let bad = app
            .as_graphql_admin(PUBLISH, json!({ "v": version, "t": text }))
            .await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    }
    let v1 = publish(&app, "v1", TEXT_A).await;
    assert_eq!(v1["publishedBy"], "ops");
    assert_eq!(
        v1["textSha256"],
        sms_notify::recipients::sha256_hex(TEXT_A.as_bytes())
    );
    app.clock.advance(Duration::minutes(5));
    assert_eq!(
        publish(&app, "v1", TEXT_A).await,
        v1,
        "the same text again: the stored one"
    );
    let changed = app
        .as_graphql_admin(PUBLISH, json!({ "v": "v1", "t": "Something else" }))
        .await;
    assert_eq!(error_code(&changed), "CONFLICT", "{changed}");
    assert!(error_message(&changed).contains("new version"), "{changed}");
    let latest = "query($v: String) { consentDisclosure(version: $v) { version text } }";
    assert_eq!(
        data(&app.as_user("ann", latest, json!({})).await)["consentDisclosure"],
        json!({ "version": "v1", "text": TEXT_A })
    );
    publish(
        &app,
        "v2",
        "Texts from the app. Reply STOP to cancel, HELP for help.",
    )
    .await;
    assert_eq!(
        data(&app.as_user("ann", latest, json!({})).await)["consentDisclosure"]["version"],
        "v2"
    );
    assert_eq!(
        data(&app.as_user("ann", latest, json!({ "v": "v1" })).await)["consentDisclosure"]["version"],
        "v1"
    );
    assert_eq!(
        data(&app.as_user("ann", latest, json!({ "v": "v9" })).await)["consentDisclosure"],
        Value::Null
    );

    opted_in_user(&app, "bob", "+1 212 555 0102").await;
    set_phone(&app, "ann", "+1 212 555 0101").await;
    crate::recipients::verify_phone(&app, "ann").await;
    let opt_in = "mutation($v: String, $p: String) { smsOptIn(action: OPT_IN, disclosureVersion: $v, page: $p) { allowSmsInvitations } }";
    // An unpublished version: refused, nothing written.
    let unknown = app
        .as_user("ann", opt_in, json!({ "v": "v9", "p": "/home" }))
        .await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT", "{unknown}");
    assert!(error_message(&unknown).contains("'v9'"), "{unknown}");
    assert!(user_events(&app, "ann").await.is_empty());
    // Through the browser's own request: the user agent comes with it.
    let response: Value = app
        .http
        .post(app.url("/graphql"))
        .header(
            "authorization",
            format!("Bearer {}", app.token("ann", Role::User)),
        )
        .header("user-agent", "Mozilla/5.0 (TestBrowser)")
        .json(&json!({ "query": opt_in, "variables": { "v": "v1", "p": "/battles/42" } }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(data(&response)["smsOptIn"]["allowSmsInvitations"], true);
    let events = data(&app.as_graphql_admin(EVENTS, json!({ "u": "ann" })).await)["consentEvents"]
        ["nodes"]
        .clone();
    assert_eq!(
        events,
        json!([{ "action": "GIVEN", "method": "OPT_IN_MODAL", "phoneNumber": ANN, "phoneLast4": null,
                 "disclosureVersion": "v1", "disclosureSha256": v1["textSha256"],
                 "userAgent": "Mozilla/5.0 (TestBrowser)", "page": "/battles/42" }])
    );
    // The export carries them.
    let day = (start_time() + Duration::minutes(5))
        .format("%Y-%m-%d")
        .to_string();
    let csv = app
        .http
        .get(app.url(&format!("/admin/consent.csv?from={day}&to={day}")))
        .header(
            "authorization",
            format!("Bearer {}", app.token("ops", Role::Admin)),
        )
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    let ann_line = csv
        .lines()
        .find(|l| l.contains(",ann,"))
        .expect("ann's row");
    assert!(
        ann_line.ends_with(&format!(
            ",,v1,{},Mozilla/5.0 (TestBrowser),/battles/42,",
            v1["textSha256"].as_str().expect("sha")
        )),
        "{ann_line}"
    );
    let trail = "{ adminActions(first: 5) { nodes { action target } } }";
    let trail =
        data(&app.as_graphql_admin(trail, json!({})).await)["adminActions"]["nodes"].clone();
    assert_eq!(
        trail,
        json!([{ "action": "publish_consent_disclosure", "target": "v2" },
               { "action": "publish_consent_disclosure", "target": "v1" }]),
        "published once each"
    );
}

async fn production_requires_the_disclosure(engine: Engine) {
    let app = TestApp::spawn_with(engine, |c| {
        c.app_env = sms_notify::config::AppEnv::Production;
    })
    .await;
    publish(&app, "v1", "Texts from the app. Reply STOP to cancel.").await;
    set_phone(&app, "ann", "+1 212 555 0101").await;
    crate::recipients::verify_phone(&app, "ann").await;
    let opt_in = "mutation($v: String) { smsOptIn(action: OPT_IN, disclosureVersion: $v) { allowSmsInvitations } }";
    let missing = app.as_user("ann", opt_in, json!({})).await;
    assert_eq!(error_code(&missing), "BAD_USER_INPUT", "{missing}");
    assert!(
        error_message(&missing).contains("disclosureVersion is required"),
        "{missing}"
    );
    let switch = "mutation($on: Boolean!, $v: String) { updateSmsPreferences(input: { allowSmsInvitations: $on, disclosureVersion: $v }) { allowSmsInvitations } }";
    let missing = app.as_user("ann", switch, json!({ "on": true })).await;
    assert_eq!(error_code(&missing), "BAD_USER_INPUT", "{missing}");
    assert!(user_events(&app, "ann").await.is_empty(), "nothing written");
    let profile = "{ me { allowSmsInvitations } }";
    assert_eq!(
        data(&app.as_user("ann", profile, json!({})).await)["me"]["allowSmsInvitations"],
        false
    );
    // Turning texts off, or the modal's other answers, need no disclosure.
    data(
        &app.as_user(
            "ann",
            "mutation { smsOptIn(action: REMIND_LATER) { userId } }",
            json!({}),
        )
        .await,
    );
    data(
        &app.as_user("ann", switch, json!({ "on": true, "v": "v1" }))
            .await,
    );
    data(&app.as_user("ann", switch, json!({ "on": false })).await);
    let events = user_events(&app, "ann").await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.action, e.disclosure_version.clone()))
            .collect::<Vec<_>>(),
        [
            (consent_events::ConsentAction::Given, Some("v1".to_owned())),
            (consent_events::ConsentAction::Revoked, None),
        ]
    );
}
