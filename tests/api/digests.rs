//! Digests: battle invitations and results to one person within `SMS_DIGEST_WINDOW` go as one text,
//! sent when the window closes; each request keeps its row (`DIGESTED`, `digestId`).

use chrono::Duration;
use serde_json::{Value, json};
use sms_notify::Clock;

use crate::{
    aws_stub::{Answer, AwsStub},
    helpers::{Engine, TestApp, data, opted_in_user},
    pipeline::setup,
    storage_tests,
};

storage_tests!(
    three_invitations_within_the_window_are_one_text,
    thirty_concurrent_invitations_and_racing_workers_make_one_text,
    a_lone_request_goes_as_it_is_when_its_window_closes,
    results_are_digested_apart_from_invitations,
    a_cancelled_request_stays_out_of_the_digest,
    a_digest_that_fails_leaves_each_request_retryable,
    what_is_never_held,
);

const INVITE: &str = "mutation($i: BattleInvitationInput!) { sendBattleInvitation(input: $i) { id status nextAttemptAt body } }";
const RESULT: &str =
    "mutation($i: BattleResultInput!) { sendBattleResult(input: $i) { id status nextAttemptAt } }";
const LOG: &str = "query($id: ID!) { smsLog(id: $id) { id status digestId digested body segments errorCode messageType } }";

async fn digests_on(
    engine: Engine,
    tweak: impl FnOnce(&mut sms_notify::Config),
) -> (TestApp, AwsStub) {
    let (app, stub) = setup(engine, |c| {
        c.sms.savings.digest_window = Some(std::time::Duration::from_secs(120));
        c.costs.user_daily_limit = 1_000;
        tweak(c);
    })
    .await;
    opted_in_user(&app, "ann", "+1 212 555 0101").await;
    (app, stub)
}

async fn invite(app: &TestApp, inviter: &str, topic: &str) -> Value {
    let input = json!({
        "inviterUserId": inviter, "inviterName": inviter, "toUserId": "ann",
        "battleTopic": topic, "invitationLink": format!("/battles/{topic}"),
    });
    data(&app.as_service(INVITE, json!({ "i": input })).await)["sendBattleInvitation"].clone()
}

async fn sms_log(app: &TestApp, id: &Value) -> Value {
    data(&app.as_graphql_admin(LOG, json!({ "id": id })).await)["smsLog"].clone()
}

/// Runs worker passes until one finds nothing to do.
async fn drain(app: &TestApp) {
    for _ in 0..20 {
        if app.run_outbox().await.claimed == 0 {
            return;
        }
    }
    panic!("the outbox never emptied");
}

async fn three_invitations_within_the_window_are_one_text(engine: Engine) {
    let (app, stub) = digests_on(engine, |_| {}).await;
    let opened = app.clock.now();
    let mut ids = Vec::new();
    for (who, topic) in [("Alice", "haiku"), ("Bob", "limericks"), ("Cy", "sonnets")] {
        let log = invite(&app, who, topic).await;
        assert_eq!(log["status"], "PENDING");
        // All wait for the window the first one opened.
        assert_eq!(
            log["nextAttemptAt"],
            (opened + Duration::minutes(2)).to_rfc3339()
        );
        ids.push(log["id"].clone());
        app.clock.advance(Duration::seconds(20));
    }
    drain(&app).await;
    assert!(
        stub.seen().is_empty(),
        "nothing goes before the window closes"
    );
    app.clock.advance(Duration::seconds(61));
    drain(&app).await;
    let seen = stub.seen();
    assert_eq!(seen.len(), 1, "one text");
    let body = seen[0].body["MessageBody"].as_str().expect("body");
    assert!(
        body.starts_with("AllThrive: Alice and 2 others challenged you to 3 battles: \"haiku\", \"limericks\", \"sonnets\". Accept: "),
        "{body}"
    );
    assert!(body.ends_with("\nReply STOP to unsubscribe."));
    let first = sms_log(&app, &ids[0]).await;
    let digest_id = first["digestId"].clone();
    assert!(digest_id.is_string());
    for id in &ids {
        let request = sms_log(&app, id).await;
        assert_eq!(request["status"], "DIGESTED");
        assert_eq!(request["digestId"], digest_id);
    }
    let digest = sms_log(&app, &digest_id).await;
    assert_eq!(digest["status"], "SENT");
    assert_eq!(digest["digested"], 3);
    assert_eq!(digest["messageType"], "BATTLE_INVITATION");
    assert_eq!(digest["body"], body);
    // The report counts two texts saved, and the segments of three texts less the digest's.
    let costs = data(
        &app.as_graphql_admin(
            "query($f: DateTime!, $t: DateTime!) { smsCosts(from: $f, to: $t) { totalCost savings { digests { texts segments cost } } } }",
            json!({ "f": opened - Duration::days(1), "t": opened + Duration::days(1) }),
        )
        .await,
    )["smsCosts"]
        .clone();
    assert_eq!(costs["savings"]["digests"]["texts"], 2);
    assert_eq!(costs["savings"]["digests"]["segments"], 2);
    assert_eq!(costs["totalCost"], "0.0075", "one text charged");
}

async fn thirty_concurrent_invitations_and_racing_workers_make_one_text(engine: Engine) {
    // Small claims (4 a worker at 4 per second), so that three workers split the thirty between them.
    let (app, stub) = digests_on(engine, |c| c.sms.rate_limit_mps = 4.0).await;
    let sends = (0..30).map(|i| {
        let app = &app;
        async move { invite(app, &format!("Friend{i}"), &format!("t{i}")).await }
    });
    let logs = futures_util::future::join_all(sends).await;
    assert!(logs.iter().all(|l| l["status"] == "PENDING"));
    app.clock.advance(Duration::minutes(3));
    let racing: Vec<_> = (0..3).map(|_| app.run_outbox_in_background()).collect();
    for pass in racing {
        pass.await.expect("a pass");
    }
    drain(&app).await;
    assert_eq!(stub.seen().len(), 1, "one text for thirty invitations");
    let mut digests = std::collections::HashSet::new();
    for log in &logs {
        let row = sms_log(&app, &log["id"]).await;
        assert_eq!(row["status"], "DIGESTED", "{row}");
        digests.insert(row["digestId"].as_str().expect("digest").to_owned());
    }
    assert_eq!(digests.len(), 1);
    let digest = sms_log(&app, &json!(digests.into_iter().next())).await;
    assert_eq!(digest["digested"], 30);
    assert!(digest["segments"].as_i64().expect("segments") <= 2);
    assert_eq!(
        app.db_count("sms_log").await,
        31,
        "thirty requests and their digest"
    );
}

async fn a_lone_request_goes_as_it_is_when_its_window_closes(engine: Engine) {
    let (app, stub) = digests_on(engine, |_| {}).await;
    let log = invite(&app, "Alice", "haiku").await;
    drain(&app).await;
    assert!(stub.seen().is_empty());
    app.clock.advance(Duration::minutes(2));
    drain(&app).await;
    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body["MessageBody"], log["body"]);
    let row = sms_log(&app, &log["id"]).await;
    assert_eq!(row["status"], "SENT");
    assert_eq!(row["digestId"], Value::Null);
    // The next invitation opens a new window of its own.
    let next = invite(&app, "Bob", "limericks").await;
    assert_eq!(
        next["nextAttemptAt"],
        (app.clock.now() + Duration::minutes(2)).to_rfc3339()
    );
}

async fn results_are_digested_apart_from_invitations(engine: Engine) {
    let (app, stub) = digests_on(engine, |_| {}).await;
    invite(&app, "Alice", "haiku").await;
    invite(&app, "Bob", "limericks").await;
    for (topic, summary) in [("haiku", "You won 3-2!"), ("odes", "Sam won.")] {
        let input = json!({ "userId": "ann", "battleTopic": topic, "resultSummary": summary, "resultLink": "/r" });
        let log =
            data(&app.as_service(RESULT, json!({ "i": input })).await)["sendBattleResult"].clone();
        assert_eq!(log["status"], "PENDING");
    }
    app.clock.advance(Duration::minutes(2));
    drain(&app).await;
    let mut bodies: Vec<String> = stub
        .seen()
        .iter()
        .map(|s| s.body["MessageBody"].as_str().expect("body").to_owned())
        .collect();
    bodies.sort();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[0].starts_with("AllThrive: 2 of your battles are over: \"haiku\" You won 3-2!; \"odes\" Sam won. See the results: "), "{}", bodies[0]);
    assert!(
        bodies[1].starts_with("AllThrive: Alice and Bob challenged you to 2 battles"),
        "{}",
        bodies[1]
    );
}

async fn a_cancelled_request_stays_out_of_the_digest(engine: Engine) {
    let (app, stub) = digests_on(engine, |_| {}).await;
    let a = invite(&app, "Alice", "haiku").await;
    let b = invite(&app, "Bob", "limericks").await;
    let c = invite(&app, "Cy", "sonnets").await;
    data(
        &app.as_graphql_admin(
            "mutation($id: ID!) { cancelSms(id: $id) { status } }",
            json!({ "id": b["id"] }),
        )
        .await,
    );
    app.clock.advance(Duration::minutes(2));
    drain(&app).await;
    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    let body = seen[0].body["MessageBody"].as_str().expect("body");
    assert!(
        body.contains("Alice and Cy challenged you to 2 battles"),
        "{body}"
    );
    assert_eq!(sms_log(&app, &b["id"]).await["status"], "CANCELLED");
    assert_eq!(sms_log(&app, &a["id"]).await["status"], "DIGESTED");
    assert_eq!(sms_log(&app, &c["id"]).await["status"], "DIGESTED");
}

async fn a_digest_that_fails_leaves_each_request_retryable(engine: Engine) {
    let (app, stub) = digests_on(engine, |_| {}).await;
    let a = invite(&app, "Alice", "haiku").await;
    let b = invite(&app, "Bob", "limericks").await;
    stub.script([Answer::validation()]);
    app.clock.advance(Duration::minutes(2));
    drain(&app).await;
    let row = sms_log(&app, &a["id"]).await;
    let digest = sms_log(&app, &row["digestId"]).await;
    assert_eq!(digest["status"], "FAILED");
    for log in [&a, &b] {
        let request = sms_log(&app, &log["id"]).await;
        assert_eq!(request["status"], "FAILED", "{request}");
        assert_eq!(request["errorCode"], digest["errorCode"]);
    }
    // Each can be sent again on its own.
    let retried = data(
        &app.as_graphql_admin(
            "mutation($id: ID!) { retrySms(id: $id) { status body } }",
            json!({ "id": a["id"] }),
        )
        .await,
    )["retrySms"]
        .clone();
    assert_eq!(retried["status"], "PENDING");
    drain(&app).await;
    assert_eq!(
        stub.seen().len(),
        2,
        "the failed digest, then Alice's invitation alone"
    );
}

async fn what_is_never_held(engine: Engine) {
    let (app, stub) = digests_on(engine, |c| {
        c.sms.sync_wait = std::time::Duration::from_millis(100);
    })
    .await;
    // A caller that waits for the outcome gets it now.
    let input = json!({
        "inviterUserId": "alice", "inviterName": "Alice", "toUserId": "ann",
        "battleTopic": "haiku", "invitationLink": "/b/1", "sendAsync": false,
    });
    let response = app.as_service(INVITE, json!({ "i": input })).await;
    assert_eq!(data(&response)["sendBattleInvitation"]["status"], "PENDING");
    drain(&app).await;
    assert_eq!(stub.seen().len(), 1, "sent without waiting for a window");
    // Other types, and digests turned off, are never held.
    let streak = data(
        &app.as_service(
            crate::pipeline::STREAK,
            json!({ "i": { "userId": "ann", "streakCount": 3, "actionLink": "/s" } }),
        )
        .await,
    )["sendStreakAlert"]
        .clone();
    assert_eq!(streak["status"], "PENDING");
    drain(&app).await;
    assert_eq!(stub.seen().len(), 2);
    let (off, off_stub) = setup(engine, |_| {}).await;
    opted_in_user(&off, "ann", "+1 212 555 0101").await;
    invite(&off, "Alice", "haiku").await;
    invite(&off, "Bob", "odes").await;
    drain(&off).await;
    assert_eq!(off_stub.seen().len(), 2, "SMS_DIGEST_WINDOW=off");
}
