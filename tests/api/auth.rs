use chrono::{Duration, Utc};
use serde_json::json;
use sms_notify::auth::{JwtKeys, Role};

use crate::{
    helpers::{Engine, TestApp, data, error_code, error_message},
    storage_tests,
};

storage_tests!(roles_are_enforced, a_user_reads_only_their_own_recipient,);

const ME: &str = "{ me { userId } }";

#[tokio::test]
async fn every_authentication_failure_is_unauthenticated() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let now = Utc::now();
    let expired = app.expired_token("u1", Role::User);
    let foreign = JwtKeys::new(&secrecy::SecretString::from("another-secret".to_owned()))
        .issue("u1", Role::User, now, now + Duration::hours(1))
        .expect("sign");
    let valid = app.token("u1", Role::User);
    let unsigned = {
        // A token whose header says `none`: never accepted.
        let mut parts = valid.split('.');
        let _header = parts.next();
        let payload = parts.next().expect("payload");
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "Sign in first"),
        (Some("Bearer".into()), "malformed"),
        (Some(format!("Basic {valid}")), "malformed"),
        (Some(format!("Bearer {valid} extra")), "malformed"),
        (Some("Bearer not-a-jwt".into()), "not valid"),
        (Some(format!("Bearer {expired}")), "expired"),
        (Some(format!("Bearer {foreign}")), "bad signature"),
        (Some(format!("Bearer {unsigned}")), "not valid"),
    ];
    for (header, words) in cases {
        let response = app.post_graphql(header.as_deref(), ME, json!({})).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{header:?}");
        assert!(
            error_message(&response).contains(words),
            "{header:?}: {}",
            error_message(&response)
        );
        assert!(response["data"].is_null());
    }
}

#[tokio::test]
async fn tokens_with_unknown_roles_or_missing_claims_are_refused() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let secret = sms_notify::config::DEVELOPMENT_JWT_SECRET.as_bytes();
    let exp = (Utc::now() + Duration::hours(1)).timestamp();
    for claims in [
        json!({ "sub": "u1", "role": "superuser", "exp": exp }),
        json!({ "sub": "u1", "exp": exp }),
        json!({ "role": "user", "exp": exp }),
        json!({ "sub": "u1", "role": "user" }),
        json!({ "sub": "", "role": "user", "exp": exp }),
    ] {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .expect("sign");
        let response = app
            .post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{claims}");
    }
}

async fn roles_are_enforced(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    // The back end cannot act as a user...
    let response = app.as_service(ME, json!({})).await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    assert!(error_message(&response).contains("role user"));
    // ...and a user cannot push facts about users.
    let response = app
        .as_user(
            "u1",
            r#"mutation { upsertRecipient(input: { userId: "u1", timezone: "UTC" }) { userId } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app
        .graphql_as(
            "ops",
            Role::Admin,
            r#"mutation { smsOptIn(action: OPT_IN) { userId } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
}

async fn a_user_reads_only_their_own_recipient(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let q = "query($id: ID!) { recipient(userId: $id) { userId phoneNumber } }";
    data(
        &app.as_user(
            "alice",
            r#"mutation { setPhoneNumber(phoneNumber: "212 555 1234") { userId } }"#,
            json!({}),
        )
        .await,
    );

    let own = app.as_user("alice", q, json!({ "id": "alice" })).await;
    assert_eq!(data(&own)["recipient"]["phoneNumber"], "+12125551234");

    let other = app.as_user("bob", q, json!({ "id": "alice" })).await;
    assert_eq!(error_code(&other), "FORBIDDEN");
    assert!(other["data"].is_null(), "nothing of alice leaks: {other}");

    // The back end reads anyone, and is told when a user does not exist.
    let by_service = app.as_service(q, json!({ "id": "alice" })).await;
    assert_eq!(
        data(&by_service)["recipient"]["phoneNumber"],
        "+12125551234"
    );
    let missing = app.as_service(q, json!({ "id": "nobody" })).await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

#[test]
fn the_token_command_prints_the_consoles_address() {
    let secret = "a-test-secret-that-is-long-enough-for-anything";
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sms-notify"))
            .args(args)
            .env("JWT_SECRET", secret)
            .env("LISTEN_ADDR", "0.0.0.0:9123")
            .env_remove("APP_ENV")
            .output()
            .expect("sms-notify runs")
    };
    let keys = JwtKeys::new(&secrecy::SecretString::from(secret.to_owned()));
    // An admin's token needs no user; with --url it is the console's address, on loopback.
    let out = run(&["token", "--role", "admin", "--url"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let token = printed
        .strip_prefix("http://127.0.0.1:9123/admin#token=")
        .unwrap_or_else(|| panic!("not the console's address: {printed}"));
    let viewer = keys
        .authenticate(Some(format!("Bearer {token}").as_bytes()))
        .expect("a valid token");
    assert_eq!(
        (viewer.role, viewer.user_id.as_str()),
        (Role::Admin, "admin")
    );
    // Without --url, the bare token for the given user.
    let out = run(&["token", "--role", "user", "--user", "u7"]);
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let viewer = keys
        .authenticate(Some(format!("Bearer {token}").as_bytes()))
        .expect("a valid token");
    assert_eq!((viewer.role, viewer.user_id.as_str()), (Role::User, "u7"));
    // A user's token without a user is refused with what to add.
    let out = run(&["token", "--role", "user"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --user USER_ID"));
}
