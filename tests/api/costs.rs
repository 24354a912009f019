//! Prices, the monthly budget, the transactional reserve, the daily limit and the cost report.

use chrono::{Duration, TimeZone, Utc};
use entity::{sms_log, spend_months};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};
use sms_notify::{Config, auth::Role};

use crate::{
    aws_stub::{Answer, AwsStub},
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::{setup, setup_on},
    storage_tests,
};

storage_tests!(
    prices_follow_country_and_segments,
    the_limit_is_reached_exactly_and_warned_about_once,
    promotions_never_eat_the_transactional_reserve,
    free_texts_never_eat_the_transactional_reserve,
    a_failed_send_gives_its_reservation_back,
    the_daily_limit_counts_promotions_of_the_last_24_hours,
    one_batch_counts_each_user_on_its_own,
    each_calendar_month_has_its_own_budget,
    two_instances_with_fifty_concurrent_senders_get_exactly_ten,
    fifty_concurrent_senders_get_exactly_ten,
    sixty_concurrent_promotions_to_one_user_respect_the_daily_limit,
    the_report_matches_the_log,
    days_split_by_message_type_add_up,
    one_batch_that_outgrows_the_budget_blocks_its_tail,
    fixed_charges_stand_beside_the_texts_outside_the_budget,
    aws_spend_limit_below_ours_is_the_budget,
    a_refused_spend_limit_read_leaves_our_budget,
);

const SEND: &str =
    "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason cost segments } }";
const ALERT: &str = "mutation($i: SecurityAlertInput!) { sendSecurityAlert(input: $i) { id status blockedReason cost } }";
const COSTS: &str = "query($from: DateTime!, $to: DateTime!, $g: CostGrouping) { smsCosts(from: $from, to: $to, groupBy: $g) {
    messageCount segmentCount totalCost monthToDate monthlyLimit remaining projectedMonthEnd
    buckets { key messageCount segmentCount cost } } }";

/// A budget of `messages` one-segment US texts, with `reserve` of it kept for transactional ones.
async fn budget(
    engine: Engine,
    messages: i64,
    reserve: &str,
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, AwsStub) {
    let reserve = reserve.to_owned();
    setup(engine, move |c| {
        c.costs.monthly_limit = 7_500 * messages;
        c.costs.transactional_reserve =
            sms_notify::billing::share_of(c.costs.monthly_limit, reserve.parse().expect("a share"));
        c.costs.user_daily_limit = 1_000;
        tweak(c);
    })
    .await
}

async fn promo(app: &TestApp, user: &str, body: &str) -> Value {
    let response = app
        .as_service(SEND, json!({ "i": { "userId": user, "body": body } }))
        .await;
    data(&response)["sendSms"].clone()
}

async fn prices_follow_country_and_segments(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.sms.allowed_countries.push(phonenumber::country::Id::GB);
    })
    .await;
    opted_in_user(&app, "us", "212 555 0001").await;
    opted_in_user(&app, "ca", "+1 604 555 0199").await;
    opted_in_user(&app, "uk", "+44 20 7946 0958").await;
    let one = promo(&app, "us", "Hi").await;
    assert_eq!(
        (one["segments"].as_i64(), one["cost"].as_str()),
        (Some(1), Some("0.0075"))
    );
    let two = promo(&app, "us", &"x".repeat(150)).await;
    assert_eq!(
        (two["segments"].as_i64(), two["cost"].as_str()),
        (Some(2), Some("0.015"))
    );
    assert_eq!(promo(&app, "ca", "Hi").await["cost"], "0.0075");
    // No price for the UK and no default price: refused before it costs anything.
    let uk = promo(&app, "uk", "Hi").await;
    assert_eq!(
        (
            uk["status"].as_str(),
            uk["blockedReason"].as_str(),
            uk["cost"].clone()
        ),
        (Some("BLOCKED"), Some("NO_PRICE"), Value::Null)
    );
    // With a default price it goes.
    let (app, _stub) = setup(engine, |c| {
        c.sms.allowed_countries.push(phonenumber::country::Id::GB);
        c.costs.default_price = Some(50_000);
    })
    .await;
    opted_in_user(&app, "uk", "+44 20 7946 0958").await;
    assert_eq!(promo(&app, "uk", "Hi").await["cost"], "0.05");
}

async fn the_limit_is_reached_exactly_and_warned_about_once(engine: Engine) {
    let (app, _stub) = budget(engine, 10, "0", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    let month = || async {
        spend_months::Entity::find_by_id("2026-03")
            .one(&app.db)
            .await
            .expect("q")
            .expect("row")
    };
    for n in 1..=9 {
        assert_eq!(
            promo(&app, "u1", "Hi").await["status"],
            "PENDING",
            "message {n}"
        );
        let warned = month().await.warned_pct;
        let expected = match n {
            1..=4 => 0,
            5..=7 => 50,
            _ => 80,
        };
        assert_eq!(warned, expected, "after {n} messages");
    }
    // Two segments no longer fit, one does: the last cent is used, not one more.
    let two = promo(&app, "u1", &"x".repeat(150)).await;
    assert_eq!(two["blockedReason"], "SPEND_LIMIT");
    assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
    assert_eq!(month().await.reserved_micros, 75_000);
    assert_eq!(month().await.warned_pct, 100);
    assert_eq!(
        promo(&app, "u1", "Hi").await["blockedReason"],
        "SPEND_LIMIT"
    );
    assert_eq!(
        month().await.reserved_micros,
        75_000,
        "not one micro-dollar over"
    );
}

async fn promotions_never_eat_the_transactional_reserve(engine: Engine) {
    // A budget of 10 texts with 20% kept for verification codes and security alerts.
    let (app, _stub) = budget(engine, 10, "0.2", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    for _ in 0..8 {
        assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
    }
    assert_eq!(
        promo(&app, "u1", "Hi").await["blockedReason"],
        "SPEND_LIMIT"
    );
    let alert = json!({ "i": { "userId": "u1", "what": "A new sign-in", "link": "/security" } });
    for _ in 0..2 {
        assert_eq!(
            data(&app.as_service(ALERT, alert.clone()).await)["sendSecurityAlert"]["status"],
            "PENDING"
        );
    }
    assert_eq!(
        data(&app.as_service(ALERT, alert).await)["sendSecurityAlert"]["blockedReason"],
        "SPEND_LIMIT"
    );
}

async fn free_texts_never_eat_the_transactional_reserve(engine: Engine) {
    // `sendSms` with `promotional: false` is transactional for the carrier, but it is no code and
    // no security alert: it stops where the reserve begins, like a promotion.
    let (app, _stub) = budget(engine, 10, "0.2", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    let free = |body: &str| json!({ "i": { "userId": "u1", "body": body, "promotional": false } });
    for n in 0..8 {
        let sent = app.as_service(SEND, free(&format!("note {n}"))).await;
        assert_eq!(data(&sent)["sendSms"]["status"], "PENDING", "{sent}");
    }
    let ninth = app.as_service(SEND, free("one too many")).await;
    assert_eq!(data(&ninth)["sendSms"]["blockedReason"], "SPEND_LIMIT");
    // The reserve is still there for what it is for.
    let alert = json!({ "i": { "userId": "u1", "what": "A new sign-in", "link": "/security" } });
    for _ in 0..2 {
        assert_eq!(
            data(&app.as_service(ALERT, alert.clone()).await)["sendSecurityAlert"]["status"],
            "PENDING"
        );
    }
    assert_eq!(
        data(&app.as_service(ALERT, alert).await)["sendSecurityAlert"]["blockedReason"],
        "SPEND_LIMIT"
    );
}

async fn a_failed_send_gives_its_reservation_back(engine: Engine) {
    let (app, stub) = budget(engine, 2, "0", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    let first = promo(&app, "u1", "one").await;
    promo(&app, "u1", "two").await;
    assert_eq!(
        promo(&app, "u1", "three").await["blockedReason"],
        "SPEND_LIMIT"
    );
    stub.script([Answer::validation()]);
    app.run_outbox().await;
    let failed = sms_log::Entity::find_by_id(
        first["id"]
            .as_str()
            .expect("id")
            .parse::<i64>()
            .expect("int"),
    )
    .one(&app.db)
    .await
    .expect("q")
    .expect("row");
    assert_eq!(
        (failed.status, failed.cost_micros),
        (sms_log::SmsStatus::Failed, None)
    );
    assert_eq!(
        promo(&app, "u1", "four").await["status"],
        "PENDING",
        "the failed one's cost came back"
    );
}

async fn the_daily_limit_counts_promotions_of_the_last_24_hours(engine: Engine) {
    let (app, _stub) = setup(engine, |c| c.costs.user_daily_limit = 3).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    for _ in 0..3 {
        assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
        app.clock.advance(Duration::hours(1));
    }
    assert_eq!(
        promo(&app, "u1", "Hi").await["blockedReason"],
        "USER_DAILY_LIMIT"
    );
    // Transactional texts do not count and are not counted.
    let alert = json!({ "i": { "userId": "u1", "what": "A new sign-in", "link": "/security" } });
    assert_eq!(
        data(&app.as_service(ALERT, alert).await)["sendSecurityAlert"]["status"],
        "PENDING"
    );
    // 24 hours after the first, one slot is free again.
    app.clock.advance(Duration::hours(21));
    assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
    assert_eq!(
        promo(&app, "u1", "Hi").await["blockedReason"],
        "USER_DAILY_LIMIT"
    );
}

async fn one_batch_counts_each_user_on_its_own(engine: Engine) {
    use sms_notify::outbox::{SendRequest, Target, catalogue::Template};
    // Before the batch, u1 had two of its three promotions, u2 none, u3 one.
    let (app, _stub) = setup(engine, |c| c.costs.user_daily_limit = 3).await;
    for (user, number) in [
        ("u1", "212 555 0001"),
        ("u2", "212 555 0002"),
        ("u3", "212 555 0003"),
    ] {
        opted_in_user(&app, user, number).await;
    }
    for user in ["u1", "u1", "u3"] {
        assert_eq!(promo(&app, user, "earlier").await["status"], "PENDING");
    }
    app.clock.advance(Duration::hours(1));
    let request = |user: &str| {
        SendRequest::new(
            sms_notify::outbox::Origin::Service,
            Target::User(user.into()),
            Template::StreakAlert {
                days: 7,
                link: "/streak".into(),
            },
            true,
        )
    };
    let batch = ["u1", "u2", "u1", "u3", "u2", "u3", "u2", "u3", "u2"];
    let answers = app
        .handles
        .outbox
        .enqueue_many(batch.iter().map(|u| request(u)).collect())
        .await
        .expect("no database error");
    let reasons: Vec<Option<String>> = answers
        .into_iter()
        .map(|a| {
            a.expect("accepted")
                .row
                .blocked_reason
                .map(|r| r.as_str().to_owned())
        })
        .collect();
    let limit = Some("user_daily_limit".to_owned());
    assert_eq!(
        reasons,
        vec![
            None,
            None,
            limit.clone(),
            None,
            None,
            None,
            None,
            limit.clone(),
            limit
        ],
        "u1 has room for one more, u2 for three, u3 for two"
    );
}

async fn each_calendar_month_has_its_own_budget(engine: Engine) {
    let (app, _stub) = budget(engine, 1, "0", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 31, 23, 59, 0)
            .single()
            .expect("t"),
    );
    data(&app.as_user("u1", "{ me { userId } }", json!({})).await);
    assert_eq!(promo(&app, "u1", "late March").await["status"], "PENDING");
    assert_eq!(
        promo(&app, "u1", "too much").await["blockedReason"],
        "SPEND_LIMIT"
    );
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
            .single()
            .expect("t"),
    );
    assert_eq!(promo(&app, "u1", "April").await["status"], "PENDING");
    let march = spend_months::Entity::find_by_id("2026-03")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    let april = spend_months::Entity::find_by_id("2026-04")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(
        (march.reserved_micros, april.reserved_micros),
        (7_500, 7_500)
    );
}

async fn two_instances_with_fifty_concurrent_senders_get_exactly_ten(engine: Engine) {
    use sms_notify::outbox::{SendRequest, Target, catalogue::Template};
    // A second instance on the same database: its own pool, its own group commit.
    let (app, _stub) = budget(engine, 10, "0", |c| c.costs.user_daily_limit = 1_000).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    let other = sms_notify::App::build((*app.config).clone(), app.clock.clone())
        .await
        .expect("second instance");
    let outboxes = [app.handles.outbox.clone(), other.handles.outbox.clone()];
    let sends = (0..50).map(|i| {
        let outbox = outboxes[i % 2].clone();
        async move {
            let request = SendRequest::new(
                sms_notify::outbox::Origin::Service,
                Target::User("u1".into()),
                Template::StreakAlert {
                    days: i as u32 + 1,
                    link: "/streak".into(),
                },
                true,
            );
            outbox.enqueue(request).await.expect("decided")
        }
    });
    let rows = futures::future::join_all(sends).await;
    let accepted = rows.iter().filter(|r| r.blocked_reason.is_none()).count();
    let refused = rows
        .iter()
        .filter(|r| r.blocked_reason.map(|r| r.as_str()) == Some("spend_limit"))
        .count();
    assert_eq!((accepted, refused), (10, 40));
    let month = spend_months::Entity::find_by_id("2026-03")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(month.reserved_micros, 75_000);
    assert_eq!(app.db_count("sms_log").await, 50);
}

async fn fifty_concurrent_senders_get_exactly_ten(engine: Engine) {
    let (app, _stub) = budget(engine, 10, "0", |c| c.costs.user_daily_limit = 1_000).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    let bodies: Vec<String> = (0..50).map(|i| format!("race {i}")).collect();
    let answers = futures::future::join_all(bodies.iter().map(|b| promo(&app, "u1", b))).await;
    let accepted = answers.iter().filter(|a| a["status"] == "PENDING").count();
    let refused = answers
        .iter()
        .filter(|a| a["blockedReason"] == "SPEND_LIMIT")
        .count();
    assert_eq!((accepted, refused), (10, 40));
    let month = spend_months::Entity::find_by_id("2026-03")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(month.reserved_micros, 75_000);
}

async fn sixty_concurrent_promotions_to_one_user_respect_the_daily_limit(engine: Engine) {
    let (app, _stub) = budget(engine, 1_000, "0", |c| c.costs.user_daily_limit = 10).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    opted_in_user(&app, "u2", "212 555 0002").await;
    // Another user's sends race alongside and are counted apart.
    let sends: Vec<(&str, String)> = (0..60)
        .map(|i| ("u1", format!("race {i}")))
        .chain((0..5).map(|i| ("u2", format!("other {i}"))))
        .collect();
    let answers =
        futures::future::join_all(sends.iter().map(|(user, body)| promo(&app, user, body))).await;
    let count = |range: std::ops::Range<usize>, f: &dyn Fn(&Value) -> bool| {
        answers[range].iter().filter(|a| f(a)).count()
    };
    let accepted = count(0..60, &|a| a["status"] == "PENDING");
    let limited = count(0..60, &|a| a["blockedReason"] == "USER_DAILY_LIMIT");
    assert_eq!((accepted, limited), (10, 50), "{answers:?}");
    assert_eq!(count(60..65, &|a| a["status"] == "PENDING"), 5);
    // The budget holds exactly what was accepted: the limited ones reserved nothing.
    let month = spend_months::Entity::find_by_id("2026-03")
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(month.reserved_micros, 15 * 7_500);
}

/// Sums from the raw log, for comparison with the rollup.
async fn raw_sums(app: &TestApp, column: &str) -> Vec<(String, i64, i64, i64)> {
    let sql = format!(
        "SELECT {column} AS k, CAST(COUNT(*) AS BIGINT) AS m, CAST(SUM(segments) AS BIGINT) AS s, \
         CAST(SUM(COALESCE(cost_micros, 0)) AS BIGINT) AS c FROM sms_log GROUP BY {column} ORDER BY {column}"
    );
    let rows = app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .expect("raw sums");
    rows.iter()
        .map(|r| {
            let key: Option<String> = r.try_get("", "k").expect("k");
            (
                key.unwrap_or_default(),
                r.try_get("", "m").expect("m"),
                r.try_get("", "s").expect("s"),
                r.try_get("", "c").expect("c"),
            )
        })
        .collect()
}

async fn the_report_matches_the_log(engine: Engine) {
    let (app, stub) = setup(engine, |c| {
        c.sms.allowed_countries.push(phonenumber::country::Id::GB)
    })
    .await;
    opted_in_user(&app, "us", "212 555 0001").await;
    opted_in_user(&app, "ca", "+1 604 555 0199").await;
    opted_in_user(&app, "uk", "+44 20 7946 0958").await;
    for (user, body) in [
        ("us", "a"),
        ("us", &*"x".repeat(200)),
        ("ca", "b"),
        ("uk", "c"),
        ("us", "d"),
    ] {
        promo(&app, user, body).await;
    }
    data(
        &app.as_service(
            ALERT,
            json!({ "i": { "userId": "ca", "what": "New sign-in", "link": "/s" } }),
        )
        .await,
    );
    stub.script([Answer::internal(), Answer::validation()]);
    app.run_outbox().await; // one retrying, one failed, the rest sent
    app.clock.advance(Duration::days(1));
    promo(&app, "us", "next day").await;

    let from = Utc
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t");
    let to = Utc
        .with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
        .single()
        .expect("t");
    let report = |g: &'static str| {
        app.graphql_as(
            "ops",
            Role::Admin,
            COSTS,
            json!({ "from": from, "to": to, "g": g }),
        )
    };
    let by_status = report("STATUS").await;
    let r = &data(&by_status)["smsCosts"];
    let raw = raw_sums(&app, "status").await;
    let buckets = r["buckets"].as_array().expect("buckets");
    // The rollup counts a message being sent as pending; nothing is being sent now.
    assert_eq!(buckets.len(), raw.len(), "{r} vs {raw:?}");
    for (bucket, (key, m, s, c)) in buckets.iter().zip(&raw) {
        assert_eq!(bucket["key"], key.to_ascii_uppercase());
        assert_eq!(
            (
                bucket["messageCount"].as_i64(),
                bucket["segmentCount"].as_i64()
            ),
            (Some(*m), Some(*s)),
            "{key}"
        );
        assert_eq!(
            bucket["cost"]
                .as_str()
                .map(sms_notify::billing::dollars_to_micros),
            Some(Some(*c)),
            "{key}"
        );
    }
    let total_m: i64 = raw.iter().map(|r| r.1).sum();
    let total_c: i64 = raw.iter().map(|r| r.3).sum();
    assert_eq!(r["messageCount"].as_i64(), Some(total_m));
    assert_eq!(
        r["totalCost"]
            .as_str()
            .and_then(sms_notify::billing::dollars_to_micros),
        Some(total_c)
    );
    for (grouping, column) in [("MESSAGE_TYPE", "message_type"), ("COUNTRY", "country")] {
        let response = report(grouping).await;
        let buckets = data(&response)["smsCosts"]["buckets"]
            .as_array()
            .expect("buckets")
            .clone();
        let raw = raw_sums(&app, column).await;
        let got: Vec<(i64, i64)> = buckets
            .iter()
            .map(|b| {
                (
                    b["messageCount"].as_i64().expect("n"),
                    b["segmentCount"].as_i64().expect("s"),
                )
            })
            .collect();
        let want: Vec<(i64, i64)> = raw.iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(got, want, "{grouping}");
    }
    let by_day = report("DAY").await;
    let days: Vec<&str> = data(&by_day)["smsCosts"]["buckets"]
        .as_array()
        .expect("b")
        .iter()
        .map(|b| b["key"].as_str().expect("k"))
        .collect();
    assert_eq!(days, vec!["2026-03-02", "2026-03-03"]);
    // The month to date is what the budget holds; the projection runs it to the 31st.
    let r = &data(&by_day)["smsCosts"];
    assert_eq!(r["monthlyLimit"], "1");
    let mtd = sms_notify::billing::dollars_to_micros(r["monthToDate"].as_str().expect("mtd"))
        .expect("micros");
    let remaining = sms_notify::billing::dollars_to_micros(r["remaining"].as_str().expect("rem"))
        .expect("micros");
    assert_eq!(mtd + remaining, 1_000_000);
    assert!(
        sms_notify::billing::dollars_to_micros(r["projectedMonthEnd"].as_str().expect("p"))
            .expect("micros")
            > mtd
    );
    // Bad ranges and the wrong role.
    let response = app
        .graphql_as("ops", Role::Admin, COSTS, json!({ "from": to, "to": from }))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(
        error_code(
            &app.as_service(COSTS, json!({ "from": from, "to": to }))
                .await
        ),
        "FORBIDDEN"
    );
}

async fn days_split_by_message_type_add_up(engine: Engine) {
    let (app, _stub) = budget(engine, 100, "0.2", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    promo(&app, "u1", "one").await;
    promo(&app, "u1", &"y".repeat(200)).await;
    data(
        &app.as_service(
            ALERT,
            json!({ "i": { "userId": "u1", "what": "New sign-in", "link": "/s" } }),
        )
        .await,
    );
    app.clock.advance(Duration::days(1));
    promo(&app, "u1", "next day").await;
    let query = "query($s: CostGrouping) { smsCosts(from: \"2026-03-01T00:00:00Z\", to: \"2026-03-08T00:00:00Z\", groupBy: DAY, splitBy: $s) {
        monthlyLimit transactionalReserve
        buckets { key messageCount cost estimatedCost parts { key messageCount segmentCount cost estimatedCost parts { key } } } } }";
    let split = app
        .graphql_as("ops", Role::Admin, query, json!({ "s": "MESSAGE_TYPE" }))
        .await;
    let report = &data(&split)["smsCosts"];
    // 100 texts at $0.0075 with a 20% reserve: $0.75, of which $0.15 kept for codes and alerts.
    assert_eq!(
        (
            report["monthlyLimit"].as_str(),
            report["transactionalReserve"].as_str()
        ),
        (Some("0.75"), Some("0.15"))
    );
    let micros = |v: &Value| {
        sms_notify::billing::dollars_to_micros(v.as_str().expect("decimal")).expect("micros")
    };
    let buckets = report["buckets"].as_array().expect("buckets");
    let keys: Vec<(&str, Vec<(&str, i64)>)> = buckets
        .iter()
        .map(|b| {
            let parts = b["parts"].as_array().expect("parts");
            // Each day is the sum of its parts; parts are not split again.
            assert_eq!(
                micros(&b["cost"]),
                parts.iter().map(|p| micros(&p["cost"])).sum::<i64>()
            );
            assert_eq!(
                b["messageCount"].as_i64(),
                Some(
                    parts
                        .iter()
                        .map(|p| p["messageCount"].as_i64().expect("n"))
                        .sum()
                )
            );
            assert!(parts.iter().all(|p| p["parts"] == json!([])));
            (
                b["key"].as_str().expect("day"),
                parts
                    .iter()
                    .map(|p| {
                        (
                            p["key"].as_str().expect("type"),
                            p["messageCount"].as_i64().expect("n"),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("2026-03-02", vec![("OTHER", 2), ("SECURITY_ALERT", 1)]),
            ("2026-03-03", vec![("OTHER", 1)])
        ]
    );
    // Nothing is priced by AWS yet: every cost is an estimate.
    assert_eq!(buckets[0]["cost"], buckets[0]["estimatedCost"]);
    // Without splitBy, days have no parts; the same totals.
    let plain = app
        .graphql_as("ops", Role::Admin, query, json!({ "s": null }))
        .await;
    let plain = data(&plain)["smsCosts"]["buckets"]
        .as_array()
        .expect("b")
        .clone();
    assert_eq!(
        plain.iter().map(|b| b["cost"].clone()).collect::<Vec<_>>(),
        buckets
            .iter()
            .map(|b| b["cost"].clone())
            .collect::<Vec<_>>()
    );
    assert!(plain.iter().all(|b| b["parts"] == json!([])));
    // splitBy without groupBy, or by the same grouping, is refused with a sentence.
    for bad in [
        "{ smsCosts(from: \"2026-03-01T00:00:00Z\", to: \"2026-03-08T00:00:00Z\", splitBy: DAY) { totalCost } }",
        "{ smsCosts(from: \"2026-03-01T00:00:00Z\", to: \"2026-03-08T00:00:00Z\", groupBy: DAY, splitBy: DAY) { totalCost } }",
    ] {
        let response = app.graphql_as("ops", Role::Admin, bad, json!({})).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        assert!(
            crate::helpers::error_message(&response).contains("`splitBy`"),
            "{response}"
        );
    }
}

async fn one_batch_that_outgrows_the_budget_blocks_its_tail(engine: Engine) {
    use sms_notify::outbox::{SendRequest, Target, catalogue::Template};
    // Room for three texts; a batch of five (as a reminder scan sends them) plus a repeat of one
    // key already in the batch.
    let (app, _stub) = budget(engine, 3, "0", |_| {}).await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    let request = |i: usize| {
        let mut r = SendRequest::new(
            sms_notify::outbox::Origin::Service,
            Target::User("u1".into()),
            Template::StreakAlert {
                days: 7,
                link: "/streak".into(),
            },
            true,
        );
        r.dedupe_key = Some(format!("batch:{}", i.min(4)));
        r
    };
    let answers = app
        .handles
        .outbox
        .enqueue_many((0..6).map(request).collect())
        .await
        .expect("no database error");
    let rows: Vec<_> = answers
        .into_iter()
        .map(|a| a.expect("accepted").row)
        .collect();
    let statuses: Vec<(String, Option<String>, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                format!("{:?}", r.status),
                r.blocked_reason.map(|r| r.as_str().to_owned()),
                r.cost_micros,
            )
        })
        .collect();
    let pending = ("Pending".to_owned(), None, Some(7_500));
    let blocked = ("Blocked".to_owned(), Some("spend_limit".to_owned()), None);
    assert_eq!(
        statuses,
        vec![
            pending.clone(),
            pending.clone(),
            pending,
            blocked.clone(),
            blocked.clone(),
            blocked
        ]
    );
    assert_eq!(
        rows[4].id, rows[5].id,
        "the repeated key answers with the first row"
    );
    // The database says the same, the budget holds exactly three, the rollup counts two blocked.
    let stored = sms_log::Entity::find().all(&app.db).await.expect("rows");
    assert_eq!(stored.len(), 5);
    for row in &rows {
        let db_row = stored.iter().find(|s| s.id == row.id).expect("stored");
        assert_eq!(
            (
                db_row.status,
                &db_row.blocked_reason,
                db_row.cost_micros,
                db_row.next_attempt_at.is_some()
            ),
            (
                row.status,
                &row.blocked_reason,
                row.cost_micros,
                row.next_attempt_at.is_some()
            )
        );
    }
    let month = spend_months::Entity::find_by_id("2026-03".to_owned())
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(month.reserved_micros, 22_500);
    let from = Utc
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t");
    let to = from + Duration::days(31);
    let report = app
        .graphql_as(
            "ops",
            Role::Admin,
            COSTS,
            json!({ "from": from, "to": to, "g": "STATUS" }),
        )
        .await;
    let buckets = data(&report)["smsCosts"]["buckets"].clone();
    assert_eq!(
        buckets,
        json!([
            { "key": "BLOCKED", "messageCount": 2, "segmentCount": 2, "cost": "0" },
            { "key": "PENDING", "messageCount": 3, "segmentCount": 3, "cost": "0.0225" }
        ])
    );
}

async fn fixed_charges_stand_beside_the_texts_outside_the_budget(engine: Engine) {
    // A budget of two texts, and $3.50 a month of fixed charges that it could never hold.
    let (app, _stub) = budget(engine, 2, "0", |c| {
        c.costs.fixed_costs = vec![
            sms_notify::config::FixedCost {
                name: "toll-free number".into(),
                monthly_micros: 2_000_000,
            },
            sms_notify::config::FixedCost {
                name: "registration".into(),
                monthly_micros: 1_500_000,
            },
        ];
    })
    .await;
    opted_in_user(&app, "u1", "212 555 0001").await;
    for _ in 0..2 {
        assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
    }
    assert_eq!(
        promo(&app, "u1", "Hi").await["blockedReason"],
        "SPEND_LIMIT",
        "the budget is the texts' alone"
    );
    let report = |from: &str, to: &str| {
        let (from, to) = (from.to_owned(), to.to_owned());
        let app = &app;
        async move {
            let query = "query($f: DateTime!, $t: DateTime!) { smsCosts(from: $f, to: $t) {
                totalCost fixedCost fixedCharges { name monthly } monthToDate monthlyLimit remaining } }";
            let answer = app
                .graphql_as("ops", Role::Admin, query, json!({ "f": from, "t": to }))
                .await;
            data(&answer)["smsCosts"].clone()
        }
    };
    let march = report("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z").await;
    assert_eq!(
        march,
        json!({
            "totalCost": "0.015", "fixedCost": "3.5",
            "fixedCharges": [{ "name": "toll-free number", "monthly": "2" }, { "name": "registration", "monthly": "1.5" }],
            "monthToDate": "0.015", "monthlyLimit": "0.015", "remaining": "0"
        })
    );
    // A range that reaches into April touches two months; one inside March, one.
    let across = report("2026-03-15T00:00:00Z", "2026-04-02T00:00:00Z").await;
    assert_eq!(across["fixedCost"], "7");
    let day = report("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z").await;
    assert_eq!(day["fixedCost"], "3.5");
}

const LIMITS: &str = "query($f: DateTime!, $t: DateTime!) { smsCosts(from: $f, to: $t) {
    monthlyLimit awsSpendLimit transactionalReserve remaining } }";

async fn limits(app: &TestApp) -> Value {
    let range = json!({ "f": "2026-03-01T00:00:00Z", "t": "2026-04-01T00:00:00Z" });
    data(&app.graphql_as("ops", Role::Admin, LIMITS, range).await)["smsCosts"].clone()
}

/// Ours: $5 a month, $1 of it kept for codes and security alerts.
fn five_dollars(c: &mut Config) {
    c.costs.monthly_limit = 5_000_000;
    c.costs.transactional_reserve = 1_000_000;
    c.costs.user_daily_limit = 1_000;
}

async fn aws_spend_limit_below_ours_is_the_budget(engine: Engine) {
    let stub = AwsStub::start().await;
    stub.spend_limits(Ok(1));
    let (app, stub) = setup_on(stub, engine, five_dollars).await;
    assert_eq!(stub.spend_limit_reads(), 1, "read once at start");
    assert_eq!(
        limits(&app).await,
        json!({ "monthlyLimit": "1", "awsSpendLimit": "1", "transactionalReserve": "0.2", "remaining": "1" }),
        "AWS's $1 is the budget, its reserve the same share"
    );
    opted_in_user(&app, "u1", "212 555 0001").await;
    assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
    // The month has spent $0.795: under ours by far, but the next promotion would cross AWS's $0.80
    // line for promotions.
    spend_months::Entity::update(spend_months::ActiveModel {
        month: sea_orm::Set("2026-03".into()),
        reserved_micros: sea_orm::Set(795_000),
        ..Default::default()
    })
    .exec(&app.db)
    .await
    .expect("update");
    assert_eq!(
        promo(&app, "u1", "Hi").await["blockedReason"],
        "SPEND_LIMIT"
    );
    let alert = json!({ "i": { "userId": "u1", "what": "A new sign-in", "link": "/security" } });
    assert_eq!(
        data(&app.as_service(ALERT, alert).await)["sendSecurityAlert"]["status"],
        "PENDING",
        "the reserve is there for alerts"
    );
}

async fn a_refused_spend_limit_read_leaves_our_budget(engine: Engine) {
    let stub = AwsStub::start().await;
    stub.spend_limits(Err(Answer::Error {
        status: 400,
        exception: "AccessDeniedException",
        fields: json!({ "Reason": "ACCOUNT_DISABLED" }),
        retry_after: None,
    }));
    let (app, stub) = setup_on(stub, engine, five_dollars).await;
    assert_eq!(stub.spend_limit_reads(), 1);
    assert_eq!(
        limits(&app).await,
        json!({ "monthlyLimit": "5", "awsSpendLimit": null, "transactionalReserve": "1", "remaining": "5" })
    );
    opted_in_user(&app, "u1", "212 555 0001").await;
    assert_eq!(promo(&app, "u1", "Hi").await["status"], "PENDING");
}
