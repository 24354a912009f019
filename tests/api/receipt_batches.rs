//! Receipts applied together, in one transaction, end exactly as the same receipts applied one at a
//! time: statuses, prices, delivered times, carrier errors, kept events, the month's spend and the cost
//! report; a repeated SNS message inside one batch counts once, and an unknown id is kept unmatched.

use chrono::Duration;
use serde_json::{Value, json};
use sms_notify::{
    Clock as _,
    inbound::receipts::{DeliveryEvent, Recorded, SnsDelivery},
};

use crate::{
    helpers::{Engine, TestApp, data, opted_in_user},
    pipeline::setup,
    sns::{EVENTS, delivery, post, sent_promo, setup_signed},
    storage_tests,
};

storage_tests!(
    a_batch_of_receipts_ends_as_the_same_receipts_one_at_a_time,
    receipts_posted_at_once_are_each_applied_once,
);

const LOG: &str = "query($id: ID!) { smsLog(id: $id) { status cost carrierFee costIsActual errorCode errorMessage deliveredAt
    events { eventType isFinal price carrierFee occurredAt } } }";
const COSTS: &str = "query($f: DateTime!, $t: DateTime!) { smsCosts(from: $f, to: $t) { totalCost estimatedCost monthToDate } }";

/// Four texts sent, then their receipts (one at a time, or in one batch): what the log and the cost
/// report say afterwards, and what each receipt was answered.
async fn receipts(engine: Engine, batched: bool) -> (Vec<Value>, Value, Vec<String>) {
    let (app, _stub) = setup(engine, |_| {}).await;
    let mut sent = Vec::new();
    for (i, user) in ["u1", "u2", "u3", "u4"].iter().enumerate() {
        opted_in_user(&app, user, &format!("(212) 555-000{}", i + 1)).await;
        sent.push(sent_promo(&app, user).await);
    }
    let now = app.clock.now();
    let event = |i: usize, kind: &str, fin: bool, price: Option<f64>, after: i64| {
        let id = sent.get(i).map_or("no-such-id".to_owned(), |s| s.1.clone());
        DeliveryEvent::parse(
            &delivery(&id, kind, fin, price, now + Duration::seconds(after)).to_string(),
        )
        .expect("an event")
    };
    let events = [
        // The carrier took it, with the price; then the handset's receipt, priced again (counted once).
        event(0, "TEXT_SUCCESSFUL", false, Some(0.00581), 1),
        event(0, "TEXT_DELIVERED", true, Some(0.00581), 2),
        event(1, "TEXT_DELIVERED", true, None, 3),
        event(2, "TEXT_CARRIER_UNREACHABLE", true, Some(0.00581), 4),
        event(9, "TEXT_DELIVERED", true, None, 5),
        event(3, "TEXT_DELIVERED", true, Some(0.00645), 6),
        event(3, "TEXT_DELIVERED", true, Some(0.00645), 6),
    ];
    // The last two are one SNS message delivered twice.
    let sns: Vec<String> = (0..events.len())
        .map(|i| format!("sns-{}", i.min(5)))
        .collect();
    let items: Vec<_> = events
        .iter()
        .zip(&sns)
        .map(|(e, id)| {
            let delivery = SnsDelivery {
                message_id: id,
                topic_arn: "arn:aws:sns:us-east-1:123456789012:sms-events",
            };
            (Some(delivery), e)
        })
        .collect();
    let inbound = &app.handles.inbound;
    let recorded: Vec<Recorded> = if batched {
        inbound
            .record_delivery_events(&items)
            .await
            .expect("recorded")
    } else {
        let mut out = Vec::new();
        for (sns, e) in &items {
            out.push(
                inbound
                    .record_delivery_event(*sns, e)
                    .await
                    .expect("recorded"),
            );
        }
        out
    };
    let mut logs = Vec::new();
    for (id, _) in &sent {
        logs.push(log(&app, *id).await);
    }
    let costs = data(
        &app.as_graphql_admin(
            COSTS,
            json!({ "f": "2026-03-01T00:00:00Z", "t": "2026-04-01T00:00:00Z" }),
        )
        .await,
    )["smsCosts"]
        .clone();
    let answers = recorded
        .iter()
        .map(|r| match r {
            Recorded::Applied { status, .. } => format!("applied {status:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    (logs, costs, answers)
}

async fn log(app: &TestApp, id: i64) -> Value {
    data(&app.as_service(LOG, json!({ "id": id.to_string() })).await)["smsLog"].clone()
}

async fn a_batch_of_receipts_ends_as_the_same_receipts_one_at_a_time(engine: Engine) {
    let one_at_a_time = receipts(engine, false).await;
    let batched = receipts(engine, true).await;
    assert_eq!(batched.0, one_at_a_time.0, "the log");
    assert_eq!(batched.1, one_at_a_time.1, "the cost report");
    assert_eq!(batched.2, one_at_a_time.2, "the answers");
    let (logs, costs, answers) = batched;
    let settled: Vec<_> = logs
        .iter()
        .map(|l| {
            (
                l["status"].clone(),
                l["cost"].clone(),
                l["events"].as_array().map(Vec::len),
            )
        })
        .collect();
    assert_eq!(
        settled,
        [
            (json!("DELIVERED"), json!("0.00831"), Some(2)),
            (json!("DELIVERED"), json!("0.0075"), Some(1)),
            (json!("UNDELIVERED"), json!("0.00831"), Some(1)),
            (json!("DELIVERED"), json!("0.00895"), Some(1)),
        ],
        "{logs:?}"
    );
    assert_eq!(logs[2]["errorCode"], "TEXT_CARRIER_UNREACHABLE");
    assert_eq!(
        logs[0]["deliveredAt"].as_str().map(|s| s.len() > 10),
        Some(true)
    );
    assert_eq!(
        answers,
        [
            "applied Sent",
            "applied Delivered",
            "applied Delivered",
            "applied Undelivered",
            "Unmatched",
            "applied Delivered",
            "Duplicate",
        ]
    );
    // Three texts priced by AWS, one still at its estimate.
    assert_eq!(
        (&costs["totalCost"], &costs["estimatedCost"]),
        (&json!("0.03307"), &json!("0.0075")),
        "{costs}"
    );
}

/// SNS posts many envelopes at once: 12 texts' receipts, each envelope posted twice at the same time
/// (SNS delivers at least once), all concurrently. Those that arrive together share a transaction;
/// every text is settled once, every event kept once, every post answered 200.
async fn receipts_posted_at_once_are_each_applied_once(engine: Engine) {
    let (app, _stub, signer) = setup_signed(engine, |_| {}).await;
    let mut sent = Vec::new();
    for i in 0..12 {
        let user = format!("u{i}");
        opted_in_user(&app, &user, &format!("(212) 555-01{i:02}")).await;
        sent.push(sent_promo(&app, &user).await);
    }
    let now = app.clock.now();
    let envelopes: Vec<String> = sent
        .iter()
        .map(|(_, provider_id)| {
            let event = delivery(provider_id, "TEXT_DELIVERED", true, Some(0.00581), now);
            signer.notification(EVENTS, &event, now).to_string()
        })
        .collect();
    let posts = envelopes
        .iter()
        .chain(envelopes.iter())
        .map(|body| post(&app, body.clone()));
    let answers = futures::future::join_all(posts).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let recorded = answers
        .iter()
        .filter(|(_, body)| body["status"] == "delivery event recorded")
        .count();
    assert_eq!(recorded, 12, "each SNS message applied once: {answers:?}");
    for (id, _) in &sent {
        let settled = log(&app, *id).await;
        assert_eq!(settled["status"], "DELIVERED", "{settled}");
        assert_eq!(settled["cost"], "0.00831", "{settled}");
        assert_eq!(
            settled["events"].as_array().map(Vec::len),
            Some(1),
            "{settled}"
        );
    }
    assert_eq!(app.db_count("sms_events").await, 12);
}
