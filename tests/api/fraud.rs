//! Verification that pumping cannot drain: the conversion guard per range of numbers, the codes' daily
//! ceiling, countries switched at run time, and every refusal decided before a code is hashed.

use std::collections::HashMap;

use chrono::Duration;
use serde_json::{Value, json};

use crate::{
    aws_stub::AwsStub,
    helpers::{Engine, TestApp, data, error_code, error_message, opted_in_user},
    metrics::{scrape, value},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    the_guard_holds_a_range_that_never_converts,
    an_attack_and_a_normal_day_at_once,
    codes_stop_at_the_days_ceiling,
    countries_are_switched_at_run_time,
    codes_report_their_fate_to_aws,
);

const START: &str = "mutation { startPhoneVerification { expiresAt } }";
const CONFIRM: &str =
    "mutation($c: String!) { confirmPhoneVerification(code: $c) { phoneVerified } }";
const RANGE: &str =
    "query($r: String!) { verificationRange(range: $r) { range sent confirmed conversion held } }";

/// GB allowed and priced (a mobile range there is the attacked one), a trusted proxy on loopback.
fn with_gb(c: &mut sms_notify::Config) {
    c.sms.allowed_countries.push(phonenumber::country::Id::GB);
    c.costs.prices.push((phonenumber::country::Id::GB, 40_000));
    c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
}

/// `startPhoneVerification` as `user` for `phone`, from client address `ip` (via the proxy).
async fn ask(app: &TestApp, user: &str, phone: &str, ip: &str) -> Value {
    crate::helpers::set_phone(app, user, phone).await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .header(
            "authorization",
            format!("Bearer {}", app.token(user, sms_notify::auth::Role::User)),
        )
        .header("x-forwarded-for", ip)
        .json(&json!({ "query": START }))
        .send()
        .await
        .expect("sent");
    response.json().await.expect("json")
}

/// The newest code the stub sent to `phone`.
fn code_sent_to(stub: &AwsStub, phone: &str) -> String {
    let seen = stub.seen();
    let body = seen
        .iter()
        .rev()
        .find(|s| s.body["DestinationPhoneNumber"] == phone)
        .expect("a text to the number")
        .body["MessageBody"]
        .as_str()
        .expect("body")
        .to_owned();
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a code")
        .to_owned()
}

fn texts_to(stub: &AwsStub, prefix: &str) -> usize {
    stub.seen()
        .iter()
        .filter(|s| {
            s.body["DestinationPhoneNumber"]
                .as_str()
                .is_some_and(|p| p.starts_with(prefix))
        })
        .count()
}

async fn range(app: &TestApp, range: &str) -> Value {
    data(&app.as_graphql_admin(RANGE, json!({ "r": range })).await)["verificationRange"].clone()
}

async fn the_guard_holds_a_range_that_never_converts(engine: Engine) {
    let (app, stub) = setup(engine, |c| {
        with_gb(c);
        c.verification.guard_min_sample = 5;
        c.costs.monthly_limit = 100_000_000;
    })
    .await;
    for i in 0..5 {
        let answer = ask(
            &app,
            &format!("bot{i}"),
            &format!("+44 7400 0000{i:02}"),
            "198.51.100.1",
        )
        .await;
        data(&answer);
    }
    app.run_outbox().await;
    assert_eq!(texts_to(&stub, "+44740"), 5);
    let held = range(&app, "+44740").await;
    assert_eq!(
        held,
        json!({ "range": "+44740", "sent": 5, "confirmed": 0, "conversion": 0.0, "held": true })
    );

    let hashed = app.handles.verifier.codes_hashed();
    let refused = ask(&app, "bot9", "+44 7400 000099", "198.51.100.2").await;
    assert_eq!(error_code(&refused), "VERIFICATION_BLOCKED", "{refused}");
    assert_eq!(
        error_message(&refused),
        "We can't send a code to this number right now; try again later or contact support."
    );
    assert_eq!(
        app.handles.verifier.codes_hashed(),
        hashed,
        "refused before any code was hashed"
    );
    let log = data(
        &app.as_graphql_admin(
            "{ smsLogs(filter: { messageType: PHONE_VERIFICATION, status: BLOCKED }, first: 5) { nodes { blockedReason cost toPhone } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]["nodes"]
        .clone();
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(log[0]["blockedReason"], "FRAUD_GUARD");
    app.run_outbox().await;
    assert_eq!(texts_to(&stub, "+44740"), 5, "nothing more sent");

    // Other ranges are not held.
    opted_in_user(&app, "real", "+1 212 555 0101").await;
    data(&ask(&app, "fresh", "+44 7800 123456", "198.51.100.3").await);

    // An admin lifts it; codes before the lift no longer count.
    for response in [
        app.as_user(
            "u",
            "mutation { liftVerificationGuard(range: \"+44740\") { held } }",
            json!({}),
        )
        .await,
        app.as_service(
            "mutation { liftVerificationGuard(range: \"+44740\") { held } }",
            json!({}),
        )
        .await,
    ] {
        assert_eq!(error_code(&response), "FORBIDDEN");
    }
    let bad = app
        .as_graphql_admin(
            "mutation { liftVerificationGuard(range: \"44-770\") { held } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let lifted = data(
        &app.as_graphql_admin(
            "mutation { liftVerificationGuard(range: \"+44740\") { sent held } }",
            json!({}),
        )
        .await,
    )["liftVerificationGuard"]
        .clone();
    assert_eq!(lifted, json!({ "sent": 0, "held": false }));
    app.clock.advance(Duration::seconds(1));
    data(&ask(&app, "bot9", "+44 7400 000099", "198.51.100.2").await);

    // Without a lift, the window recovers by itself.
    for i in 10..14 {
        data(
            &ask(
                &app,
                &format!("bot{i}"),
                &format!("+44 7400 0000{i:02}"),
                "198.51.100.4",
            )
            .await,
        );
    }
    assert_eq!(range(&app, "+44740").await["held"], true);
    app.clock.advance(Duration::minutes(61));
    assert_eq!(range(&app, "+44740").await["held"], false);
}

async fn an_attack_and_a_normal_day_at_once(engine: Engine) {
    let (app, stub) = setup(engine, |c| {
        with_gb(c);
        c.costs.monthly_limit = 100_000_000;
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let mut refused: HashMap<&str, usize> = HashMap::new();
    let mut real_refused = 0;
    for round in 0..3 {
        for bot in 0..100 {
            // 100 accounts from 100 addresses, each round a fresh number in one mobile range.
            let answer = ask(
                &app,
                &format!("bot{bot}"),
                &format!("+44 7400 {round}{bot:05}"),
                &format!("203.0.113.{bot}"),
            )
            .await;
            if answer["errors"].is_array() {
                *refused
                    .entry(if error_code(&answer) == "VERIFICATION_BLOCKED" {
                        "guard"
                    } else {
                        "other"
                    })
                    .or_default() += 1;
            }
            if bot % 10 == 0 {
                // Meanwhile a real user elsewhere asks for a code and enters it.
                let user = format!("real{round}{bot}");
                let phone = format!("+1212555{:04}", 100 + round * 10 + bot / 10);
                let ip = format!("198.51.100.{}", round * 10 + bot / 10);
                let answer = ask(&app, &user, &phone, &ip).await;
                if answer["errors"].is_array() {
                    real_refused += 1;
                    continue;
                }
                app.run_outbox().await;
                let code = code_sent_to(&stub, &phone);
                let confirmed = app.as_user(&user, CONFIRM, json!({ "c": code })).await;
                assert_eq!(
                    data(&confirmed)["confirmPhoneVerification"]["phoneVerified"],
                    true
                );
            }
        }
        app.run_outbox().await;
        app.clock.advance(Duration::seconds(61));
    }
    app.run_outbox().await;
    assert_eq!(real_refused, 0, "no real user is refused");
    let attacked = texts_to(&stub, "+44740");
    assert!(attacked <= 15, "the guard held after {attacked} texts");
    assert_eq!(refused.get("guard").copied().unwrap_or(0), 300 - attacked);
    assert_eq!(refused.get("other"), None, "no other limit was reached");
    let real = range(&app, "+1212555").await;
    assert_eq!(
        (real["sent"].as_i64(), real["confirmed"].as_i64()),
        (Some(30), Some(30))
    );
    // The spend stays under the day's ceiling for codes.
    let spent = texts_to(&stub, "+44") as i64 * 40_000 + texts_to(&stub, "+1") as i64 * 7_500;
    let ceiling = app.handles.outbox.code_daily_limit();
    assert!(spent <= ceiling, "{spent} of {ceiling}");

    // Operators see it: the report by range, and the metrics by country.
    let stats = data(
        &app.as_graphql_admin(
            "query($f: DateTime!, $t: DateTime!) { verificationStats(from: $f, to: $t, groupBy: RANGE) { key sent confirmed conversion refused refusedByReason { reason count } } }",
            json!({ "f": "2026-03-01T00:00:00Z", "t": "2026-03-03T00:00:00Z" }),
        )
        .await,
    )["verificationStats"]
        .clone();
    assert_eq!(
        stats,
        json!([
            { "key": "+44740", "sent": attacked, "confirmed": 0, "conversion": 0.0, "refused": 300 - attacked,
              "refusedByReason": [{ "reason": "FRAUD_GUARD", "count": 300 - attacked }] },
            { "key": "+1212555", "sent": 30, "confirmed": 30, "conversion": 1.0, "refused": 0,
              "refusedByReason": [] },
        ])
    );
    let metrics = scrape(&app).await;
    let series = |country: &str, outcome: &str| {
        value(
            &metrics,
            &format!("sms_verification_codes_total{{country=\"{country}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(series("GB", "sent"), attacked as f64);
    assert_eq!(series("GB", "fraud_guard"), (300 - attacked) as f64);
    assert_eq!(
        (series("US", "sent"), series("US", "confirmed")),
        (30.0, 30.0)
    );
}

async fn codes_stop_at_the_days_ceiling(engine: Engine) {
    // $1 a month, 2% of it a day for codes: $0.02, two codes at $0.0075.
    let (app, _stub) = setup(engine, |c| {
        c.costs.code_daily_share = rust_decimal::Decimal::new(2, 2);
    })
    .await;
    for i in 0..2 {
        data(
            &ask(
                &app,
                &format!("u{i}"),
                &format!("+1 212 555 010{i}"),
                "198.51.100.1",
            )
            .await,
        );
    }
    let refused = ask(&app, "u3", "+1 646 555 0103", "198.51.100.1").await;
    assert_eq!(error_code(&refused), "VERIFICATION_BLOCKED", "{refused}");
    let reasons = data(
        &app.as_graphql_admin(
            "{ smsLogs(filter: { status: BLOCKED }, first: 5) { nodes { blockedReason } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]["nodes"]
        .clone();
    assert_eq!(
        reasons,
        json!([{ "blockedReason": "VERIFICATION_CEILING" }])
    );
    // The next UTC day has its own share.
    app.clock.advance(Duration::hours(24));
    data(&ask(&app, "u3", "+1 646 555 0103", "198.51.100.1").await);
}

async fn countries_are_switched_at_run_time(engine: Engine) {
    let (app, _stub) = setup(engine, with_gb).await;
    let set = "mutation($c: String!, $v: Boolean, $m: Boolean) { setCountrySending(country: $c, verification: $v, messages: $m) { country verification messages updatedBy } }";
    let off = data(
        &app.as_graphql_admin(set, json!({ "c": "gb", "v": false }))
            .await,
    )["setCountrySending"]
        .clone();
    assert_eq!(
        off,
        json!({ "country": "GB", "verification": false, "messages": true, "updatedBy": "ops" })
    );
    let refused = ask(&app, "u1", "+44 7400 123456", "198.51.100.1").await;
    assert_eq!(error_code(&refused), "VERIFICATION_BLOCKED", "{refused}");
    // Other texts to GB still go, codes elsewhere too.
    let send = "mutation($i: SendSmsInput!) { sendSms(input: $i) { status blockedReason } }";
    let text = json!({ "i": { "to": "+44 7400 123457", "body": "Hi", "promotional": false } });
    assert_eq!(
        data(&app.as_service(send, text.clone()).await)["sendSms"]["status"],
        "PENDING"
    );
    data(&ask(&app, "u2", "+1 212 555 0102", "198.51.100.1").await);
    // All texts off: refused at once, logged with the reason.
    data(
        &app.as_graphql_admin(set, json!({ "c": "GB", "m": false }))
            .await,
    );
    assert_eq!(
        data(&app.as_service(send, text).await)["sendSms"],
        json!({ "status": "BLOCKED", "blockedReason": "COUNTRY_PAUSED" })
    );
    let listed = data(
        &app.as_graphql_admin(
            "{ countrySending { country verification messages updatedBy } }",
            json!({}),
        )
        .await,
    )["countrySending"]
        .clone();
    assert_eq!(
        listed,
        json!([
            { "country": "US", "verification": true, "messages": true, "updatedBy": null },
            { "country": "CA", "verification": true, "messages": true, "updatedBy": null },
            { "country": "GB", "verification": false, "messages": false, "updatedBy": "ops" },
        ])
    );
    // Refusals: another role, a country outside SMS_ALLOWED_COUNTRIES.
    let response = app.as_service(set, json!({ "c": "GB", "v": true })).await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app
        .as_graphql_admin(set, json!({ "c": "FR", "v": true }))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert!(error_message(&response).contains("SMS_ALLOWED_COUNTRIES"));
    // Back on.
    data(
        &app.as_graphql_admin(set, json!({ "c": "GB", "v": true, "m": true }))
            .await,
    );
    data(&ask(&app, "u1", "+44 7400 123456", "198.51.100.1").await);
}

/// Codes ask AWS for feedback and go through the Protect configuration; what became of each is
/// reported, durably.
async fn codes_report_their_fate_to_aws(engine: Engine) {
    let (app, stub) = setup(engine, |c| {
        c.sms.protect_configuration = Some("protect-all".into());
        c.sms.protect_configuration_verification = Some("protect-codes".into());
    })
    .await;
    let provider = stub.provider(&app.config.sms);
    opted_in_user(&app, "promo", "+1 212 555 0100").await;
    data(&ask(&app, "u1", "+1 212 555 0101", "198.51.100.1").await);
    data(&ask(&app, "u2", "+1 212 555 0102", "198.51.100.1").await);
    data(
        &app.as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id } }",
            json!({ "i": { "userId": "promo", "body": "Round two" } }),
        )
        .await,
    );
    app.run_outbox().await;
    let seen = stub.seen();
    let by_number = |n: &str| {
        seen.iter()
            .find(|s| s.body["DestinationPhoneNumber"] == n)
            .expect("sent")
            .body
            .clone()
    };
    let code = by_number("+12125550101");
    assert_eq!(code["MessageFeedbackEnabled"], true);
    assert_eq!(code["ProtectConfigurationId"], "protect-codes");
    let promo = by_number("+12125550100");
    assert!(promo.get("MessageFeedbackEnabled").is_none());
    assert_eq!(promo["ProtectConfigurationId"], "protect-all");

    // u1 enters the code; u2 never does.
    let entered = code_sent_to(&stub, "+12125550101");
    data(&app.as_user("u1", CONFIRM, json!({ "c": entered })).await);
    // AWS refuses the first report: it waits and goes later.
    stub.refuse("PutMessageFeedback", crate::aws_stub::Answer::internal());
    let first = app
        .handles
        .verifier
        .report_feedback(&provider)
        .await
        .expect("pass");
    assert_eq!((first.reported, first.retrying), (0, 1));
    stub.allow("PutMessageFeedback");
    app.clock.advance(Duration::seconds(31));
    let second = app
        .handles
        .verifier
        .report_feedback(&provider)
        .await
        .expect("pass");
    assert_eq!(second.reported, 1);
    let id_of = |n: &str| {
        format!(
            "msg-{}",
            by_number(n)["Context"]["sms_log_id"].as_str().expect("id")
        )
    };
    assert_eq!(
        stub.feedback(),
        [(id_of("+12125550101"), "RECEIVED".to_owned())]
    );
    // The unused code is reported FAILED once it expired, and only then.
    app.clock.advance(Duration::minutes(11));
    assert_eq!(
        app.handles
            .verifier
            .report_feedback(&provider)
            .await
            .expect("pass")
            .reported,
        1
    );
    assert_eq!(
        stub.feedback()[1],
        (id_of("+12125550102"), "FAILED".to_owned())
    );
    assert_eq!(
        app.handles
            .verifier
            .report_feedback(&provider)
            .await
            .expect("pass")
            .reported,
        0
    );
    assert_eq!(
        app.db_count("message_feedback").await,
        0,
        "nothing left queued"
    );
}
