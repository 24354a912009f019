//! Every cent: smart encoding, short links with their clicks, the savings report, and the price before
//! sending (`previewSms`, `previewTemplate`). Digests are in `digests.rs`.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use sms_notify::Clock;

use crate::{
    helpers::{Engine, TestApp, data, error_code, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    typographic_punctuation_goes_as_gsm7,
    smart_encoding_never_changes_gsm7_or_what_it_cannot_carry,
    links_are_short_and_each_click_counts_once,
    unknown_expired_and_erased_links_answer_404,
    a_sender_may_keep_its_addresses,
    savings_are_reported_by_feature_day_and_type,
    a_preview_writes_nothing_and_tells_the_truth,
    previews_refuse_what_sends_refuse,
);

pub const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status blockedReason body segments encoding smartEncoded links { url shortUrl clicks firstClickedAt } } }";
const LOG: &str = "query($id: ID!) { smsLog(id: $id) { status body smartEncoded links { url shortUrl clicks firstClickedAt lastClickedAt } } }";
const PREVIEW: &str = "query($i: SendSmsInput!) { previewSms(input: $i) { body segments encoding estimatedCost verdict deferredUntil blockedReason smartEncoded savedSegments country links { url shortUrl } } }";
const PREVIEW_TEMPLATE: &str = "query($i: TemplatePreviewInput!) { previewTemplate(input: $i) { body segments encoding estimatedCost verdict deferredUntil blockedReason } }";

/// How a phone types a streak text: curly apostrophe, en dash, em dash, ellipsis.
const TYPED: &str =
    "Don\u{2019}t lose your 12\u{2013}day streak \u{2014} play one round now\u{2026}";

async fn send(app: &TestApp, input: Value) -> Value {
    data(&app.as_service(SEND, json!({ "i": input })).await)["sendSms"].clone()
}

async fn sms_log(app: &TestApp, id: &Value) -> Value {
    data(&app.as_graphql_admin(LOG, json!({ "id": id })).await)["smsLog"].clone()
}

async fn typographic_punctuation_goes_as_gsm7(engine: Engine) {
    let (app, stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let log = send(&app, json!({ "userId": "ann", "body": TYPED })).await;
    assert_eq!(log["status"], "PENDING");
    assert_eq!(log["smartEncoded"], true);
    assert_eq!(log["encoding"], "GSM-7");
    assert_eq!(log["segments"], 1);
    assert_eq!(
        log["body"],
        "Don't lose your 12-day streak - play one round now...\nReply STOP to unsubscribe."
    );
    // The log keeps the body as sent, and AWS got exactly that.
    app.run_outbox().await;
    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body["MessageBody"], log["body"]);
    // Off, the same words go as typed: UCS-2, two segments.
    let (off, _stub) = setup(engine, |c| c.sms.savings.smart_encoding = false).await;
    opted_in_user(&off, "ann", "+1 212 555 0101").await;
    let log = send(&off, json!({ "userId": "ann", "body": TYPED })).await;
    assert_eq!(log["smartEncoded"], false);
    assert_eq!(log["encoding"], "UCS-2");
    assert_eq!(log["segments"], 2);
}

async fn smart_encoding_never_changes_gsm7_or_what_it_cannot_carry(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    for (body, encoding) in [
        (
            "Plain ASCII, with 'quotes' - and {braces} and \u{20ac}5.",
            "GSM-7",
        ),
        (
            "Z\u{fc}rich \u{c4}\u{d6}\u{d1}\u{dc} \u{e9} \u{e0} @ \u{a3}",
            "GSM-7",
        ),
        ("Don\u{2019}t stop \u{1f525}", "UCS-2"),
        (
            "\u{2018}\u{416}\u{2019} \u{2014} Ma\u{f1}ana \u{e1}",
            "UCS-2",
        ),
    ] {
        let log = send(
            &app,
            json!({ "userId": "ann", "body": body, "promotional": false }),
        )
        .await;
        assert_eq!(log["body"], body, "never changed");
        assert_eq!(log["smartEncoded"], false, "{body}");
        assert_eq!(log["encoding"], encoding, "{body}");
    }
    // Invisible characters alone are no text, encoded or not.
    let empty = app
        .as_service(
            SEND,
            json!({ "i": { "userId": "ann", "body": "\u{200b}\u{feff}\u{2060}" } }),
        )
        .await;
    assert_eq!(error_code(&empty), "BAD_USER_INPUT");
}

async fn links_are_short_and_each_click_counts_once(engine: Engine) {
    let (app, _stub) = setup(engine, |c| {
        c.webhook_allow_private_urls = true;
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    data(
        &app.as_graphql_admin(
            "mutation($u: String!) { createWebhookEndpoint(url: $u, eventTypes: [MESSAGE_CLICKED]) { secret } }",
            json!({ "u": "http://127.0.0.1:9/hook" }),
        )
        .await,
    );
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let address = "https://allthrive.ai/battles/7?invite=3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44";
    let log = send(
        &app,
        json!({ "userId": "ann", "body": format!("Alice challenged you: {address} (tap to accept)") }),
    )
    .await;
    let link = &log["links"][0];
    assert_eq!(link["url"], address);
    let short = link["shortUrl"].as_str().expect("short url");
    let code = short.rsplit('/').next().expect("code");
    assert!(code.len() >= 8 && code.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        log["body"],
        format!("Alice challenged you: {short} (tap to accept)\nReply STOP to unsubscribe.")
    );
    assert_eq!(log["segments"], 1);
    // Twenty clicks at once: twenty counted, each answered with the stored address.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let clicks = (0..20).map(|_| {
        let client = no_redirects.clone();
        let url = app.url(&format!("/l/{code}"));
        async move { client.get(url).send().await.expect("a click") }
    });
    for response in futures_util::future::join_all(clicks).await {
        assert_eq!(response.status(), 302);
        assert_eq!(response.headers()["location"], address);
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    let after = sms_log(&app, &log["id"]).await;
    assert_eq!(after["links"][0]["clicks"], 20);
    assert!(after["links"][0]["firstClickedAt"].is_string());
    // One `message.clicked` webhook per click, naming the message and the address, never who.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_type = 'message.clicked'"
        )
        .await,
        20
    );
    let metrics = crate::metrics::scrape(&app).await;
    assert_eq!(
        crate::metrics::value(&metrics, "sms_link_clicks_total{message_type=\"other\"}"),
        20.0,
        "{metrics}"
    );
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let sql = sql.replace("COUNT(*)", "CAST(COUNT(*) AS BIGINT)");
    app.db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            sql,
        ))
        .await
        .expect("count")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("n")
}

async fn unknown_expired_and_erased_links_answer_404(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in [
        "/l/AAAAAAAAAA",
        "/l/short",
        "/l/..%2F..%2Fetc",
        "/l/https:%2F%2Fevil.example",
    ] {
        let response = client.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.expect("page");
        assert!(page.contains("does not work any more"), "{page}");
    }
    let log = send(
        &app,
        json!({ "userId": "ann", "body": "See https://allthrive.ai/a/1" }),
    )
    .await;
    let short = log["links"][0]["shortUrl"]
        .as_str()
        .expect("short")
        .to_owned();
    let path = format!("/l/{}", short.rsplit('/').next().expect("code"));
    assert_eq!(
        client
            .get(app.url(&path))
            .send()
            .await
            .expect("get")
            .status(),
        302
    );
    // Past SMS_LINK_RETENTION (90 days) it answers 404 and counts nothing.
    app.clock.advance(Duration::days(91));
    assert_eq!(
        client
            .get(app.url(&path))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(sms_log(&app, &log["id"]).await["links"][0]["clicks"], 1);
    // Erasure takes the person's links with it.
    let log = send(
        &app,
        json!({ "userId": "ann", "body": "See https://allthrive.ai/a/2" }),
    )
    .await;
    let short = log["links"][0]["shortUrl"]
        .as_str()
        .expect("short")
        .to_owned();
    let path = format!("/l/{}", short.rsplit('/').next().expect("code"));
    data(
        &app.as_graphql_admin(
            "mutation { deleteRecipient(userId: \"ann\") { userId } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        client
            .get(app.url(&path))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(app.db_count("sms_links").await, 0, "the expired one too");
}

async fn a_sender_may_keep_its_addresses(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let log = send(
        &app,
        json!({ "userId": "ann", "body": "See https://allthrive.ai/a/1", "shortenLinks": false }),
    )
    .await;
    assert_eq!(
        log["body"],
        "See https://allthrive.ai/a/1\nReply STOP to unsubscribe."
    );
    assert_eq!(log["links"], json!([]));
    let (off, _stub) = setup(engine, |c| c.sms.savings.link_shortening = false).await;
    opted_in_user(&off, "ann", "+1 212 555 0101").await;
    let log = send(
        &off,
        json!({ "userId": "ann", "body": "See https://allthrive.ai/a/1" }),
    )
    .await;
    assert_eq!(log["links"], json!([]));
    assert_eq!(off.db_count("sms_links").await, 0);
}

const COSTS: &str = "query($from: DateTime!, $to: DateTime!) { smsCosts(from: $from, to: $to) { savings {
    smartEncoding { texts segments cost } shortLinks { texts segments cost } digests { texts segments cost }
    total { texts segments cost } byDay { key smartEncoding { segments } } byMessageType { key shortLinks { segments } } } } }";

async fn savings_are_reported_by_feature_day_and_type(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    // Typed punctuation (2 segments -> 1), and a long address (2 segments -> 1).
    send(&app, json!({ "userId": "ann", "body": TYPED })).await;
    let address = format!(
        "https://allthrive.ai/battles/7?invite={}",
        "3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44"
    );
    send(
        &app,
        json!({ "userId": "ann", "body": format!("{} {address}", "Alice challenged you to a battle about the best haiku of the year. Accept now:"), "messageType": "BATTLE_INVITATION" }),
    )
    .await;
    // Queued texts saved nothing yet: savings count what went out.
    let range = json!({ "from": app.clock.now() - Duration::days(1), "to": app.clock.now() + Duration::days(1) });
    let before =
        data(&app.as_graphql_admin(COSTS, range.clone()).await)["smsCosts"]["savings"].clone();
    assert_eq!(before["total"]["segments"], 0);
    app.run_outbox().await;
    let saved = data(&app.as_graphql_admin(COSTS, range).await)["smsCosts"]["savings"].clone();
    assert_eq!(
        saved["smartEncoding"],
        json!({ "texts": 1, "segments": 1, "cost": "0.0075" })
    );
    assert_eq!(
        saved["shortLinks"],
        json!({ "texts": 1, "segments": 1, "cost": "0.0075" })
    );
    assert_eq!(saved["digests"]["texts"], 0);
    assert_eq!(saved["total"]["segments"], 2);
    assert_eq!(
        saved["byDay"][0]["key"],
        app.clock.now().format("%Y-%m-%d").to_string()
    );
    let types: Vec<&str> = saved["byMessageType"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|b| b["key"].as_str())
        .collect();
    assert_eq!(types, ["BATTLE_INVITATION", "OTHER"]);
}

async fn a_preview_writes_nothing_and_tells_the_truth(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let before = (
        app.db_count("sms_log").await,
        app.db_count("sms_links").await,
    );
    let address = "https://allthrive.ai/battles/7?invite=3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44";
    let input = json!({ "userId": "ann", "body": format!("{TYPED} {address}") });
    let preview =
        data(&app.as_service(PREVIEW, json!({ "i": input.clone() })).await)["previewSms"].clone();
    assert_eq!(preview["verdict"], "SEND");
    assert_eq!(preview["encoding"], "GSM-7");
    assert_eq!(preview["smartEncoded"], true);
    assert_eq!(preview["segments"], 1);
    assert_eq!(preview["savedSegments"], 2);
    assert_eq!(preview["estimatedCost"], "0.0075");
    assert_eq!(preview["country"], "US");
    assert_eq!(preview["links"][0]["url"], address);
    assert_eq!(
        (
            app.db_count("sms_log").await,
            app.db_count("sms_links").await
        ),
        before,
        "a preview writes nothing"
    );
    // The send that follows does what the preview said.
    let sent = send(&app, input).await;
    assert_eq!(sent["status"], "PENDING");
    assert_eq!(sent["segments"], preview["segments"]);
    // Inside the person's quiet hours (21:00-08:00 in New York) it would wait until they end.
    let template =
        json!({ "streakAlert": { "userId": "ann", "streakCount": 12, "actionLink": "/streak" } });
    // 2026-03-03 07:00 UTC is 02:00 in New York; quiet hours end at 08:00 there.
    let night = Utc
        .with_ymd_and_hms(2026, 3, 3, 7, 0, 0)
        .single()
        .expect("time");
    app.clock.advance(night - app.clock.now());
    let preview = data(
        &app.as_service(PREVIEW_TEMPLATE, json!({ "i": template }))
            .await,
    )["previewTemplate"]
        .clone();
    assert_eq!(preview["verdict"], "DEFER", "{preview}");
    let morning = Utc
        .with_ymd_and_hms(2026, 3, 3, 13, 0, 0)
        .single()
        .expect("time");
    assert_eq!(preview["deferredUntil"], morning.to_rfc3339());
    assert!(
        preview["body"]
            .as_str()
            .expect("body")
            .contains("12-day streak")
    );
}

async fn previews_refuse_what_sends_refuse(engine: Engine) {
    let (app, _stub) = setup(engine, |_| {}).await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    let unknown = app
        .as_service(
            PREVIEW,
            json!({ "i": { "userId": "nobody", "body": "Hi" } }),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    let empty = app
        .as_service(
            PREVIEW,
            json!({ "i": { "userId": "ann", "body": "\u{200b} \u{00ad}" } }),
        )
        .await;
    assert_eq!(error_code(&empty), "BAD_USER_INPUT");
    let as_user = app
        .as_user(
            "ann",
            PREVIEW,
            json!({ "i": { "userId": "ann", "body": "Hi" } }),
        )
        .await;
    assert_eq!(error_code(&as_user), "FORBIDDEN");
    let two = app
        .as_service(
            PREVIEW_TEMPLATE,
            json!({ "i": { "streakAlert": { "userId": "ann", "streakCount": 1, "actionLink": "/s" }, "battleResult": { "userId": "ann", "battleTopic": "x", "resultSummary": "y", "resultLink": "/r" } } }),
        )
        .await;
    assert!(two.get("errors").is_some(), "exactly one template: {two}");
    let past = app
        .as_service(
            PREVIEW,
            json!({ "i": { "userId": "ann", "body": "Hi", "sendAt": app.clock.now() - Duration::minutes(1) } }),
        )
        .await;
    assert_eq!(error_code(&past), "BAD_USER_INPUT", "{past}");
    // A number that texted STOP: blocked, and why; nothing written.
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+12125550101\") { __typename } }",
            json!({}),
        )
        .await,
    );
    let before = app.db_count("sms_log").await;
    let preview = data(
        &app.as_service(PREVIEW, json!({ "i": { "userId": "ann", "body": "Hi" } }))
            .await,
    )["previewSms"]
        .clone();
    assert_eq!(preview["verdict"], "BLOCK");
    assert_eq!(preview["blockedReason"], "OPTED_OUT");
    assert_eq!(app.db_count("sms_log").await, before);
}
