//! GraphQL over HTTP as its specification says, tried the way common clients send their requests:
//! the answer's media type follows `Accept`, request errors are 400 without `data` under
//! `application/graphql-response+json`, queries run over GET (urql's default), mutations do not.

use reqwest::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use sms_notify::auth::Role;

use crate::helpers::{Engine, TestApp, data};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// What urql (v4) sends with every request.
const URQL_ACCEPT: &str = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed";

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(app: &TestApp, accept: Option<&str>, body: &str) -> Answer {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    answer(request.send().await.expect("sent")).await
}

async fn get(app: &TestApp, accept: &str, params: &[(&str, &str)], token: Option<&str>) -> Answer {
    let mut request = app
        .http
        .get(app.url("/graphql"))
        .query(params)
        .header(ACCEPT, accept);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    answer(request.send().await.expect("sent")).await
}

#[tokio::test]
async fn the_answer_follows_accept() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let query = json!({ "query": "{ __typename }" }).to_string();
    for (accept, expected) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (Some(URQL_ACCEPT), GRAPHQL_RESPONSE),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            "application/json",
        ),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
    ] {
        let a = post(&app, accept, &query).await;
        assert_eq!(a.status, 200, "{accept:?}");
        assert_eq!(a.content_type, expected, "{accept:?}");
        assert_eq!(data(&a.body)["__typename"], "Query");
    }
}

#[tokio::test]
async fn request_errors_are_400_without_data() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let bad = [
        json!({ "query": "{ me " }),
        json!({ "query": "{ noSuchField }" }),
        json!({ "query": "query($id: ID!) { smsLog(id: $id) { id } }" }),
        json!({ "query": "query($id: ID!) { smsLog(id: $id) { id } }", "variables": { "id": [1] } }),
    ];
    for body in &bad {
        let a = post(&app, Some(GRAPHQL_RESPONSE), &body.to_string()).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.content_type, GRAPHQL_RESPONSE);
        assert!(a.body.get("data").is_none(), "no data: {}", a.body);
        assert_eq!(a.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        // The legacy type keeps 200 for a well-formed request, still without data.
        let legacy = post(&app, Some("application/json"), &body.to_string()).await;
        assert_eq!(legacy.status, 200, "{body}");
        assert!(legacy.body.get("data").is_none(), "{}", legacy.body);
    }
    // An error while executing is not a request error: 200, with data.
    let a = post(
        &app,
        Some(GRAPHQL_RESPONSE),
        &json!({ "query": "{ me { userId } }" }).to_string(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"], Value::Null);
    assert_eq!(a.body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // A body that is not a GraphQL request at all: 400, JSON that says why.
    for body in ["{\"query\": ", "[]", ""] {
        let a = post(&app, Some(GRAPHQL_RESPONSE), body).await;
        assert_eq!(a.status, 400, "{body}");
        let message = a.body["errors"][0]["message"].as_str().expect("a sentence");
        assert!(!message.contains("InvalidRequest("), "{message}");
    }
}

#[tokio::test]
async fn queries_run_over_get_and_mutations_do_not() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    // urql's default: GET with the query in the address.
    let a = get(&app, URQL_ACCEPT, &[("query", "{ __typename }")], None).await;
    assert_eq!((a.status, a.content_type.as_str()), (200, GRAPHQL_RESPONSE));
    assert_eq!(data(&a.body)["__typename"], "Query");
    // With variables, an operation name and a token.
    let token = app.token("ann", Role::User);
    let a = get(
        &app,
        "application/json",
        &[
            (
                "query",
                "query Me($u: ID!) { recipient(userId: $u) { userId } } query Other { __typename }",
            ),
            ("variables", r#"{"u":"ann"}"#),
            ("operationName", "Me"),
        ],
        Some(&token),
    )
    .await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(data(&a.body)["recipient"]["userId"], "ann");

    // A mutation over GET: 405, Allow: POST, nothing done.
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { setPhoneNumber(phoneNumber: \"+12125550101\") { userId } }",
        )])
        .header(ACCEPT, URQL_ACCEPT)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers().get(ALLOW).expect("Allow"), "POST");
    let refused = answer(response).await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["code"],
        "METHOD_NOT_ALLOWED"
    );
    let phone = get(
        &app,
        "application/json",
        &[("query", "{ me { phoneNumber } }")],
        Some(&token),
    )
    .await;
    assert_eq!(
        data(&phone.body)["me"]["phoneNumber"],
        Value::Null,
        "nothing written"
    );
    // Variables that are not a JSON object.
    let a = get(
        &app,
        URQL_ACCEPT,
        &[("query", "{ __typename }"), ("variables", "[1")],
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // A browser asking for the page gets GraphiQL, with or without a query.
    for params in [vec![], vec![("query", "{ __typename }")]] {
        let page = get(
            &app,
            "text/html,application/xhtml+xml,*/*;q=0.8",
            &params,
            None,
        )
        .await;
        assert_eq!(page.status, 200);
        assert!(
            page.content_type.starts_with("text/html"),
            "{}",
            page.content_type
        );
    }
}
