//! One caller's bad bytes fail that caller only: text no engine can store is refused at the edge
//! (`BAD_USER_INPUT`), and a group-committed batch that fails on one request decides the others
//! without it.

use entity::sms_log::{self, MessageType, SmsStatus};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use sms_notify::outbox::{SendError, SendRequest, Target, catalogue::Template};

use crate::{
    helpers::{Engine, TestApp, error_code, error_message, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    a_nul_byte_fails_its_own_request_only,
    control_characters_anywhere_are_refused,
    a_batch_decides_the_others_without_the_request_that_broke_it,
    invisible_text_is_empty,
);

const INVITE: &str =
    "mutation($i: BattleInvitationInput!) { sendBattleInvitation(input: $i) { id status } }";

fn invitation(inviter: &str, n: usize) -> serde_json::Value {
    json!({ "i": {
        "inviterUserId": "alice", "inviterName": inviter, "toPhone": format!("+1212555{:04}", 2000 + n),
        "battleTopic": "Chess", "invitationLink": "/b/1", "invitationId": format!("inv-{n}")
    } })
}

async fn a_nul_byte_fails_its_own_request_only(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.sms.group_commit_window = std::time::Duration::from_millis(50)
    })
    .await;
    opted_in_user(&app, "alice", "+1 212 555 0101").await;
    for round in 0..3 {
        let answers = futures::future::join_all((0..16).map(|i| {
            let name = if i == 7 { "Mal\u{0}lory" } else { "Alice" };
            app.as_service(INVITE, invitation(name, round * 16 + i))
        }))
        .await;
        for (i, answer) in answers.iter().enumerate() {
            if i == 7 {
                assert_eq!(error_code(answer), "BAD_USER_INPUT", "{answer}");
                assert!(
                    error_message(answer)
                        .contains("$i.inviterName contains the control character U+0000"),
                    "{answer}"
                );
            } else {
                assert!(
                    answer.get("errors").is_none(),
                    "round {round}, {i}: {answer}"
                );
            }
        }
    }
    let count = sms_log::Entity::find()
        .all(&app.db)
        .await
        .expect("rows")
        .iter()
        .filter(|r| r.message_type == MessageType::BattleInvitation)
        .count();
    assert_eq!(
        count, 45,
        "every good request written, the bad one not at all"
    );
}

async fn control_characters_anywhere_are_refused(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let before = sms_log::Entity::find().count(&app.db).await.expect("count");
    let cases = [
        (
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
            json!({ "i": { "to": "+12125550101", "body": "hi", "idempotencyKey": "k\u{0}" } }),
        ),
        (
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
            json!({ "i": { "userId": "u\u{0}1", "body": "hi" } }),
        ),
        (
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
            json!({ "i": { "to": "+12125550101", "body": "Paint \u{1b}[2J the screen" } }),
        ),
        (
            "mutation($i: RecipientInput!) { upsertRecipient(input: $i) { userId } }",
            json!({ "i": { "userId": "u\u{7f}" } }),
        ),
        (
            "mutation { sendSms(input: { to: \"+12125550101\", body: \"a\u{0}b\" }) { id } }",
            json!({}),
        ),
    ];
    for (query, variables) in cases {
        let answer = app.as_service(query, variables).await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
        assert!(
            error_message(&answer).contains("control character"),
            "{answer}"
        );
    }
    assert_eq!(
        sms_log::Entity::find().count(&app.db).await.expect("count"),
        before,
        "nothing written"
    );
    // Line breaks and tabs are text.
    let fine = app
        .as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { status } }",
            json!({ "i": { "to": "+12125550101", "body": "Line one\r\nLine\ttwo", "promotional": false } }),
        )
        .await;
    assert!(fine.get("errors").is_none(), "{fine}");
}

fn text(body: &str) -> SendRequest {
    SendRequest::new(
        sms_notify::outbox::Origin::Service,
        Target::User("alice".into()),
        Template::Text {
            message_type: MessageType::Other,
            body: body.into(),
        },
        false,
    )
}

async fn a_batch_decides_the_others_without_the_request_that_broke_it(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.sms.group_commit_window = std::time::Duration::from_millis(50)
    })
    .await;
    opted_in_user(&app, "alice", "+1 212 555 0101").await;
    // Past the edge (a caller inside the process): PostgreSQL refuses the NUL, SQLite takes it.
    let bodies: Vec<String> = (0..12)
        .map(|i| {
            if i == 5 {
                "bad\u{0}".into()
            } else {
                format!("good {i}")
            }
        })
        .collect();
    let (batches_before, _) = app.handles.outbox.group_commit_totals();
    let answers =
        futures::future::join_all(bodies.iter().map(|b| app.handles.outbox.enqueue(text(b)))).await;
    assert!(app.handles.outbox.group_commit_totals().0 - batches_before <= 2);
    for (i, answer) in answers.iter().enumerate() {
        match (i, engine) {
            (5, Engine::Postgres) => assert!(matches!(answer, Err(SendError::Db(_))), "{answer:?}"),
            _ => assert!(
                answer
                    .as_ref()
                    .is_ok_and(|r| r.status == SmsStatus::Pending),
                "{i}: {answer:?}"
            ),
        }
    }
}

async fn invisible_text_is_empty(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    for body in ["\u{200B}\u{200B}", " \u{FEFF}\u{2060} ", "\u{200D}"] {
        let answer = app
            .as_service(
                "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
                json!({ "i": { "to": "+12125550101", "body": body } }),
            )
            .await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    }
    let answer = app
        .as_service(
            INVITE,
            json!({ "i": { "inviterUserId": "a", "inviterName": "\u{200B}", "toPhone": "+12125550101",
                "battleTopic": "Chess", "invitationLink": "/b/1" } }),
        )
        .await;
    assert!(
        error_message(&answer).contains("inviterName must not be empty"),
        "{answer}"
    );
}
