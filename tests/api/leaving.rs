//! A queued text is decided again when it leaves: what changed between the queueing and the claim
//! (the master switch, a STOP, a new number, the country switch, quiet hours) decides it then.

use chrono::Duration;
use entity::sms_log::{BlockedReason, SmsStatus};
use serde_json::{Value, json};

use crate::{
    helpers::{Engine, TestApp, data, opted_in_user, set_phone, start_time},
    pipeline::{row, setup},
    storage_tests,
};

storage_tests!(
    scheduled_texts_meet_the_rules_of_when_they_leave,
    a_text_follows_its_person_to_a_new_number,
    the_country_switch_and_quiet_hours_are_decided_again,
);

const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

/// A promotional and a transactional text for `user`, both scheduled `minutes` from the start.
async fn two_scheduled(app: &TestApp, user: &str, minutes: i64) -> (i64, i64) {
    let send_at = (start_time() + Duration::minutes(minutes)).to_rfc3339();
    let mut ids = Vec::new();
    for promotional in [true, false] {
        let log = data(
            &app.as_service(
                SEND,
                json!({ "i": { "userId": user, "body": format!("Hello {user}"), "promotional": promotional, "sendAt": send_at } }),
            )
            .await,
        )["sendSms"]
            .clone();
        assert_eq!(log["status"], "PENDING", "{log}");
        ids.push(id(&log));
    }
    (ids[0], ids[1])
}

fn id(log: &Value) -> i64 {
    log["id"].as_str().expect("id").parse().expect("numeric")
}

async fn stop_from(app: &TestApp, number: &str) {
    crate::privacy::reply(app, number, "STOP", &format!("in-{number}")).await;
}

async fn assert_blocked(app: &TestApp, id: i64, reason: BlockedReason) {
    let row = row(app, id).await;
    assert_eq!(
        (row.status, row.blocked_reason),
        (SmsStatus::Blocked, Some(reason)),
        "message {id}"
    );
    assert_eq!(row.cost_micros, None, "its reservation went back");
}

/// The destinations the provider was asked to text.
fn destinations(stub: &crate::aws_stub::AwsStub) -> Vec<String> {
    stub.seen()
        .iter()
        .filter_map(|s| s.body["DestinationPhoneNumber"].as_str().map(str::to_owned))
        .collect()
}

async fn scheduled_texts_meet_the_rules_of_when_they_leave(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "off", "+1 212 555 0101").await;
    opted_in_user(&app, "stop", "+1 212 555 0102").await;
    opted_in_user(&app, "moved", "+1 212 555 0103").await;
    opted_in_user(&app, "same", "+1 212 555 0104").await;
    let off = two_scheduled(&app, "off", 75).await;
    let stop = two_scheduled(&app, "stop", 75).await;
    let moved = two_scheduled(&app, "moved", 75).await;
    let same = two_scheduled(&app, "same", 75).await;

    // Before they leave: one turns SMS off, one texts STOP, one changes to a number not yet proven.
    data(
        &app.as_user(
            "off",
            "mutation { updateSmsPreferences(input: { allowSmsInvitations: false }) { userId } }",
            json!({}),
        )
        .await,
    );
    stop_from(&app, "+12125550102").await;
    // AWS answers the keyword itself (`SMS_SELF_MANAGED_OPT_OUTS` is off): nothing was sent yet.
    assert_eq!(app.run_outbox().await.claimed, 0);
    let answers = destinations(&stub).len();
    set_phone(&app, "moved", "+1 212 555 0199").await;

    app.clock.advance(Duration::minutes(76));
    let report = app.run_outbox().await;
    // STOP blocked the number's waiting promotion at once; the rest are decided as they leave.
    assert_eq!(report.claimed, 7, "{report:?}");
    assert_eq!(report.blocked, 4, "{report:?}");
    assert_blocked(&app, off.0, BlockedReason::SmsDisabled).await;
    assert_eq!(
        row(&app, off.1).await.status,
        SmsStatus::Sent,
        "the master switch is for promotions"
    );
    assert_blocked(&app, stop.0, BlockedReason::OptedOut).await;
    assert_blocked(&app, stop.1, BlockedReason::OptedOut).await;
    assert_blocked(&app, moved.0, BlockedReason::PhoneNotVerified).await;
    assert_blocked(&app, moved.1, BlockedReason::PhoneNotVerified).await;
    for id in [same.0, same.1] {
        assert_eq!(row(&app, id).await.status, SmsStatus::Sent);
    }
    let sent = destinations(&stub)[answers..].to_vec();
    assert!(
        !sent
            .iter()
            .any(|n| n == "+12125550102" || n == "+12125550103"),
        "nothing to a number on the list or one given up: {sent:?}"
    );
    assert_eq!(sent.len(), 3, "{sent:?}");
}

async fn a_text_follows_its_person_to_a_new_number(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let (promo, transactional) = two_scheduled(&app, "ann", 30).await;
    // Ann moves to a new number and proves it before the texts leave.
    set_phone(&app, "ann", "+1 212 555 0177").await;
    crate::recipients::verify_phone(&app, "ann").await;
    app.clock.advance(Duration::minutes(31));
    assert_eq!(app.run_outbox().await.sent, 2);
    for id in [promo, transactional] {
        let row = row(&app, id).await;
        assert_eq!(
            (row.status, row.to_phone.as_str()),
            (SmsStatus::Sent, "+12125550177")
        );
    }
    assert_eq!(destinations(&stub), ["+12125550177", "+12125550177"]);

    // A number in another country has another price: the text is blocked, not moved.
    let (promo, _) = two_scheduled(&app, "ann", 60).await;
    set_phone(&app, "ann", "+1 604 555 0199").await;
    crate::recipients::verify_phone(&app, "ann").await;
    app.clock.advance(Duration::minutes(30));
    app.run_outbox().await;
    assert_blocked(&app, promo, BlockedReason::PhoneChanged).await;
    assert_eq!(destinations(&stub).len(), 2);
}

async fn the_country_switch_and_quiet_hours_are_decided_again(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    // 15:00 UTC is 10:00 in New York. Both leave at 12:00 there.
    let (promo, transactional) = two_scheduled(&app, "ann", 120).await;
    data(
        &app.as_graphql_admin(
            "mutation { setCountrySending(country: \"US\", messages: false) { country } }",
            json!({}),
        )
        .await,
    );
    app.clock.advance(Duration::minutes(121));
    assert_eq!(app.run_outbox().await.blocked, 2);
    assert_blocked(&app, promo, BlockedReason::CountryPaused).await;
    assert_blocked(&app, transactional, BlockedReason::CountryPaused).await;
    data(
        &app.as_graphql_admin(
            "mutation { setCountrySending(country: \"US\", messages: true) { country } }",
            json!({}),
        )
        .await,
    );

    // A promotion queued for the afternoon whose claim comes at 23:00 there (a backlog, a pause):
    // back in the queue until 08:00, not sent at night.
    let (promo, transactional) = two_scheduled(&app, "ann", 240).await;
    app.clock.advance(Duration::hours(11));
    let report = app.run_outbox().await;
    assert_eq!((report.sent, report.deferred), (1, 1), "{report:?}");
    assert_eq!(row(&app, transactional).await.status, SmsStatus::Sent);
    let held = row(&app, promo).await;
    assert_eq!(held.status, SmsStatus::Pending);
    assert_eq!(held.attempts, 0, "the deferral spends no attempt");
    let morning = start_time() + Duration::hours(22);
    assert_eq!(
        held.next_attempt_at,
        Some(morning.min(held.expires_at.expect("expires")))
    );
    assert_eq!(destinations(&stub).len(), 1);
}
