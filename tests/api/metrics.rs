//! `GET /metrics` on its own address: counters move by what happened, gauges read the outbox.

use serde_json::json;

use crate::{
    helpers::{Engine, TestApp, data, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(counters_move_by_what_happened,);

/// The value of one series in Prometheus' text format (0 when absent).
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

pub async fn scrape(app: &TestApp) -> String {
    let addr = app
        .server
        .as_ref()
        .and_then(|s| s.metrics_addr)
        .expect("METRICS_ADDR is served");
    let response = app
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scraped");
    assert_eq!(response.status(), 200);
    response.text().await.expect("text")
}

async fn counters_move_by_what_happened(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"))
    })
    .await;
    opted_in_user(&app, "u1", "(212) 555-0001").await;
    // Not served with the API.
    assert_eq!(
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("sent")
            .status(),
        404
    );
    let before = scrape(&app).await;
    let send = "mutation($i: SendSmsInput!) { sendSms(input: $i) { status } }";
    for i in 0..3 {
        data(
            &app.as_service(
                send,
                json!({ "i": { "userId": "u1", "body": format!("Go {i}") } }),
            )
            .await,
        );
    }
    // One refused: a stranger's number gets no promotion without consent.
    data(
        &app.as_service(
            send,
            json!({ "i": { "to": "(212) 555-0999", "body": "Hi" } }),
        )
        .await,
    );
    let queued = scrape(&app).await;
    let other = |status: &str| format!("sms_messages_total{{status=\"{status}\",type=\"other\"}}");
    assert_eq!(
        value(&queued, &other("queued")) - value(&before, &other("queued")),
        3.0,
        "{queued}"
    );
    assert_eq!(
        value(&queued, &other("blocked")) - value(&before, &other("blocked")),
        1.0
    );
    assert_eq!(
        value(&queued, "sms_blocked_total{reason=\"no_consent\"}")
            - value(&before, "sms_blocked_total{reason=\"no_consent\"}"),
        1.0
    );
    assert_eq!(value(&queued, "sms_queue_messages{state=\"pending\"}"), 3.0);
    assert!(value(&queued, "sms_spend_month_to_date_dollars") > 0.0);
    assert_eq!(value(&queued, "sms_budget_monthly_dollars"), 1.0);
    assert_eq!(value(&queued, "sms_queue_oldest_pending_age_seconds"), 0.0);
    // Ten minutes later, nothing sent: the oldest due message has waited 600 s.
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(
        value(&scrape(&app).await, "sms_queue_oldest_pending_age_seconds"),
        600.0
    );
    app.run_outbox().await;
    let sent = scrape(&app).await;
    assert_eq!(
        value(&sent, &other("sent")) - value(&before, &other("sent")),
        3.0,
        "{sent}"
    );
    assert_eq!(value(&sent, "sms_queue_messages{state=\"pending\"}"), 0.0);
    assert!(value(&sent, "sms_provider_call_duration_seconds_count") >= 3.0);
    assert_eq!(value(&sent, "sms_up"), 1.0);
    // No phone number or user id in any label.
    assert!(!sent.contains("555") && !sent.contains("u1"), "{sent}");
}
