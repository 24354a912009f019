//! What the HTTP face refuses before any resolver runs: bodies that are not JSON, and documents too
//! large to validate.

use serde_json::{Value, json};

use sms_notify::graphql::limits::doubling_fragments;

use crate::helpers::{Engine, TestApp, error_code, error_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_json_are_refused_with_415() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let token = format!("Bearer {}", app.token("u1", sms_notify::auth::Role::User));
    let body = json!({ "query": "mutation { smsOptIn(action: OPT_IN) { allowSmsInvitations } }" })
        .to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = app
            .http
            .post(app.url("/graphql"))
            .header("authorization", &token)
            .body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 415, "{content_type:?}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"],
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert!(
            error_message(&answer).contains("application/json"),
            "{answer}"
        );
    }
    // Nothing was executed: the user never opted in.
    let me = app
        .as_user("u1", "{ me { allowSmsInvitations } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["allowSmsInvitations"], false);
    // JSON with a charset is JSON.
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .header("authorization", &token)
        .body(json!({ "query": "{ me { userId } }" }).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["data"]["me"]["userId"], "u1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_fragments_are_refused_before_validation() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let query = doubling_fragments(27);
    assert!(query.len() < 1_300);
    // Without a token too: the document is measured before anything else.
    let answers =
        futures::future::join_all((0..8).map(|_| app.post_graphql(None, &query, json!({})))).await;
    for answer in &answers {
        assert_eq!(error_code(answer), "BAD_USER_INPUT");
        assert_eq!(
            error_message(answer),
            "The query selects more than 2000 fields once its fragments are expanded; ask for fewer fields or split the query."
        );
        assert!(answer.get("data").is_none_or(Value::is_null), "{answer}");
    }
    // Up to the limit, the same shape is an ordinary query.
    let fine = app.as_user("u1", &doubling_fragments(8), json!({})).await;
    assert_eq!(fine["data"]["me"]["userId"], "u1", "{fine}");
    // Syntax errors still read as before.
    let broken = app.post_graphql(None, "{ me { ", json!({})).await;
    assert_eq!(error_code(&broken), "BAD_USER_INPUT");
}

/// A refusal's status, content type and JSON body.
async fn refused(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("a body");
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    (status, content_type, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_json_with_a_code_and_a_sentence() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    for (body, says) in [
        ("", "empty"),
        ("not json at all", "not JSON"),
        (r#"{"query": 5}"#, "\"query\""),
        (r#"{"variables": {}}"#, "\"query\""),
        (
            r#"[{"query": "{ me { userId } }"}]"#,
            "one operation per request",
        ),
        (
            r#"{"query": "{ me { userId } }", "variables": 7}"#,
            "does not read as",
        ),
    ] {
        let response = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        let (status, content_type, json) = refused(response).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(error_code(&json), "BAD_USER_INPUT", "{body}");
        let message = error_message(&json);
        assert!(message.contains(says), "{body}: {message}");
        assert!(
            !message.contains("InvalidRequest("),
            "no Rust debug text: {message}"
        );
    }
    // Refusals made below the handlers have the same shape. The server reads a body declared a little
    // over the limit to its end, answers 413 and closes the connection, so the answer is never lost to
    // a reset and the connection is not pooled for the next request.
    let too_big = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("connection", "close")
        .body(format!(
            r#"{{"query": "{}"}}"#,
            "x".repeat(sms_notify::http::MAX_BODY_BYTES + 1024)
        ))
        .send()
        .await
        .expect("sent");
    let (status, _, json) = refused(too_big).await;
    assert_eq!((status, error_code(&json)), (413, "PAYLOAD_TOO_LARGE"));
    let nowhere = app
        .http
        .get(app.url("/nowhere"))
        .send()
        .await
        .expect("sent");
    let (status, _, json) = refused(nowhere).await;
    assert_eq!((status, error_code(&json)), (404, "NOT_FOUND"));
    let put = app
        .http
        .put(app.url("/graphql"))
        .send()
        .await
        .expect("sent");
    let (status, _, json) = refused(put).await;
    assert_eq!((status, error_code(&json)), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_asking_for_too_many_items_is_refused_before_it_runs() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    // 300 aliases of a page of 100: 30,000 messages (with their ids: 60,000 items).
    let aliases: String = (0..300)
        .map(|i| format!("a{i}: smsLogs(first: 100) {{ nodes {{ id }} }} "))
        .collect();
    let started = std::time::Instant::now();
    let refused = app
        .as_graphql_admin(&format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert!(
        error_message(&refused).starts_with("The query asks for more than 10000 items"),
        "{refused}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // `first` given as a variable counts the same.
    let query = "query($n: Int) { a: smsLogs(first: $n) { nodes { id body status } } b: smsLogs(first: $n) { nodes { id body status } } c: consentEvents(first: $n) { nodes { action } } }";
    let ok = app.as_graphql_admin(query, json!({ "n": 100 })).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    let many = (0..30)
        .map(|i| format!("a{i}: smsLogs(first: $n) {{ nodes {{ id body status }} }} "))
        .collect::<String>();
    let refused = app
        .as_graphql_admin(&format!("query($n: Int) {{ {many} }}"), json!({ "n": 100 }))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
}

/// A client that sends a body over the limit whole (as most do: they write before they read) gets the
/// 413 and its JSON. A server that answered at once and closed with the body unread would make the
/// kernel reset the connection: the client's write fails once the buffers fill, and the answer with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_sent_whole_gets_its_answer_not_a_reset() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(Engine::Sqlite).await;
    // Four times the limit: more than the loopback buffers hold, so nothing here depends on timing.
    let body = vec![b' '; 4 * sms_notify::http::MAX_BODY_BYTES];
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connected");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        app.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head sent");
    stream
        .write_all(&body)
        .await
        .expect("the whole body is taken, not cut off by a reset");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection after its answer")
    .expect("the answer, then the server's close");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}
