//! The provider account at a glance: `smsProviderAccount` and `sms-notify aws check` against the
//! loopback AWS stub's `Describe*` operations.

use serde_json::{Value, json};

use crate::{
    aws_stub::{Account, Answer, AwsStub},
    helpers::{Engine, TestApp, data, error_code},
    pipeline::setup_on,
    storage_tests,
};

storage_tests!(
    the_account_at_a_glance,
    refused_calls_name_their_permission,
    only_admins_read_the_account,
);

const ACCOUNT: &str = "{ smsProviderAccount { provider healthy awsSpendLimit
    identities { identity kind uses status registrationStatus }
    configurationSet { name found publishesToSns }
    paused { code }
    checks { what permission status detail } } }";

async fn account(app: &TestApp) -> Value {
    data(&app.as_graphql_admin(ACCOUNT, json!({})).await)["smsProviderAccount"].clone()
}

fn check<'a>(account: &'a Value, what: &str) -> &'a Value {
    account["checks"]
        .as_array()
        .and_then(|checks| {
            checks
                .iter()
                .find(|c| c["what"].as_str().is_some_and(|w| w.contains(what)))
        })
        .unwrap_or_else(|| panic!("no check of {what}: {account}"))
}

/// A stub whose account has the default number ready and the codes' number still in review.
async fn stub() -> AwsStub {
    let stub = AwsStub::start().await;
    stub.spend_limits(Ok(50));
    stub.account(Account {
        phone_numbers: vec![
            (
                "+18663448034".into(),
                "ACTIVE",
                Some("registration-1".into()),
            ),
            (
                "+18005550199".into(),
                "PENDING",
                Some("registration-2".into()),
            ),
        ],
        registrations: vec![
            ("registration-1".into(), "COMPLETE"),
            ("registration-2".into(), "REVIEWING"),
        ],
        ..Account::default()
    });
    stub
}

async fn the_account_at_a_glance(engine: Engine) {
    let (app, _stub) = setup_on(stub().await, engine, |c| {
        c.sms.configuration_set = Some("sms-events".into());
        c.sms.verification_identity = Some("+18005550199".into());
    })
    .await;
    let a = account(&app).await;
    assert_eq!(a["provider"], "aws");
    assert_eq!(
        a["identities"],
        json!([
            { "identity": "+18663448034", "kind": "phone number", "uses": ["default"],
              "status": "ACTIVE", "registrationStatus": "COMPLETE" },
            { "identity": "+18005550199", "kind": "phone number", "uses": ["verification codes"],
              "status": "PENDING", "registrationStatus": "REVIEWING" },
        ])
    );
    assert_eq!(a["awsSpendLimit"], "50");
    assert_eq!(
        a["configurationSet"],
        json!({ "name": "sms-events", "found": true, "publishesToSns": true })
    );
    assert_eq!(a["paused"], Value::Null);
    assert_eq!(a["healthy"], false, "the codes' number is not ready");
    let codes = check(&a, "+18005550199");
    assert_eq!(codes["status"], "FAILED");
    assert!(
        codes["detail"]
            .as_str()
            .is_some_and(|d| d.contains("PENDING"))
    );
    assert_eq!(check(&a, "registration-2")["status"], "FAILED");
    assert_eq!(check(&a, "registration-1")["status"], "PASSED");
    assert_eq!(check(&a, "+18663448034")["status"], "PASSED");
    assert_eq!(check(&a, "DryRun")["status"], "SKIPPED");
}

async fn refused_calls_name_their_permission(engine: Engine) {
    let stub = stub().await;
    stub.refuse("DescribePhoneNumbers", Answer::access_denied());
    stub.spend_limits(Err(Answer::access_denied()));
    let (app, stub) = setup_on(stub, engine, |c| {
        c.sms.configuration_set = Some("missing-set".into());
    })
    .await;
    let a = account(&app).await;
    assert_eq!(a["healthy"], false, "{a}");
    let numbers = check(&a, "phone numbers");
    assert_eq!(
        (&numbers["status"], &numbers["permission"]),
        (&json!("DENIED"), &json!("sms-voice:DescribePhoneNumbers"))
    );
    assert_eq!(
        check(&a, "spend limit")["permission"],
        "sms-voice:DescribeSpendLimits"
    );
    assert_eq!(check(&a, "spend limit")["status"], "DENIED");
    assert_eq!(a["identities"][0]["status"], Value::Null, "not read");
    let set = check(&a, "missing-set");
    assert_eq!(set["status"], "FAILED");
    assert_eq!(a["configurationSet"]["found"], false);

    // A configuration set without an SNS destination: no receipts would arrive.
    stub.account(Account {
        configuration_sets: vec![("missing-set".into(), false)],
        ..Account::default()
    });
    let a = account(&app).await;
    assert_eq!(a["configurationSet"]["publishesToSns"], false);
    assert!(
        check(&a, "missing-set")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no enabled SNS event destination"))
    );
}

async fn only_admins_read_the_account(engine: Engine) {
    let (app, _stub) = setup_on(stub().await, engine, |_| {}).await;
    for response in [
        app.as_user("u1", ACCOUNT, json!({})).await,
        app.as_service(ACCOUNT, json!({})).await,
    ] {
        assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    }
    // The console provider has no account to read.
    let console = TestApp::spawn(engine).await;
    let a = account(&console).await;
    assert_eq!(
        (&a["provider"], &a["healthy"], &a["identities"]),
        (&json!("console"), &json!(true), &json!([]))
    );
    assert_eq!(a["checks"][0]["status"], "SKIPPED");
}

/// `sms-notify aws check` against the stub, as an operator runs it.
async fn aws_check(stub: &AwsStub, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sms-notify"));
    command
        .args(["aws", "check"])
        .args(args)
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("SMS_PROVIDER", "aws")
        .env("SMS_AWS_ENDPOINT_URL", stub.url())
        .env("SMS_ORIGINATION_IDENTITY", "+18663448034")
        .env("SMS_CONFIGURATION_SET", "sms-events")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTKEY")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    tokio::task::spawn_blocking(move || command.output().expect("sms-notify runs"))
        .await
        .expect("joined")
}

#[tokio::test]
async fn aws_check_prints_a_checklist() {
    let stub = AwsStub::start().await;
    stub.spend_limits(Ok(20));
    let out = aws_check(&stub, &["--to", "(425) 414-7755"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "[ok  ] phone number +18663448034 (default): ACTIVE",
        "[ok  ] registration registration-1: COMPLETE",
        "[ok  ] AWS's monthly spend limit for texts: $20",
        "[ok  ] configuration set sms-events: publishes events to SNS",
        "[ok  ] a DryRun send from the default identity: accepted",
        "All checks passed.",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    let probes = stub.dry_runs();
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].body["DestinationPhoneNumber"], "+14254147755");
    assert!(stub.seen().is_empty(), "nothing sent");

    // A role without two permissions: each is named, and the command fails.
    stub.spend_limits(Err(Answer::access_denied()));
    stub.refuse("SendTextMessage", Answer::access_denied());
    let out = aws_check(&stub, &["--to", "+14254147755"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success());
    assert!(
        stdout.contains("[DENY] AWS's monthly spend limit for texts: missing IAM permission sms-voice:DescribeSpendLimits"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("Grant this role: sms-voice:DescribeSpendLimits, sms-voice:SendTextMessage"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not ready to send"));
}
