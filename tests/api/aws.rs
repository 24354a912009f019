//! The real AWS SDK against the loopback stub: the request is signed and carries the right fields, and
//! each error the service sends maps to how the outbox treats it.

use std::time::Duration;

use serde_json::{Value, json};

use sms_notify::{
    Config,
    outbox::provider::{FailureKind, OutgoingSms, SmsProvider},
};

use crate::aws_stub::{Answer, AwsStub};

fn sms<'a>(transactional: bool) -> OutgoingSms<'a> {
    OutgoingSms {
        log_id: 42,
        to: "+12125551234",
        body: "AllThrive: Sam challenged you.\nReply STOP to unsubscribe.",
        message_type: "battle_invitation",
        transactional,
        country: Some("US"),
        time_to_live: Some(chrono::Duration::minutes(10)),
    }
}

fn config() -> Config {
    let mut config = Config::for_database("sqlite::memory:");
    config.sms.configuration_set = Some("sms-events".into());
    config
}

#[tokio::test]
async fn a_send_is_signed_and_carries_every_field() {
    let stub = AwsStub::start().await;
    let provider = stub.provider(&config().sms);
    let id = provider.send(&sms(false)).await.expect("sent");
    assert_eq!(id, "msg-42");
    let seen = stub.seen();
    assert_eq!(seen.len(), 1, "one request: the SDK's own retries are off");
    let h = &seen[0].headers;
    assert_eq!(h["x-amz-target"], "PinpointSMSVoiceV2.SendTextMessage");
    assert_eq!(h["content-type"], "application/x-amz-json-1.0");
    let auth = h["authorization"].to_str().expect("ascii");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTESTKEY/")
            && auth.contains("/us-east-1/sms-voice/aws4_request")
            && auth.contains("SignedHeaders=")
            && auth.contains("Signature="),
        "SigV4 for the sms-voice service: {auth}"
    );
    assert!(h.contains_key("x-amz-date"));
    let body = &seen[0].body;
    assert_eq!(body["DestinationPhoneNumber"], "+12125551234");
    assert_eq!(body["OriginationIdentity"], "+18663448034");
    assert_eq!(body["MessageBody"], sms(false).body);
    assert_eq!(
        body["MessageType"], "TRANSACTIONAL",
        "SMS_MESSAGE_TYPE's default"
    );
    assert_eq!(body["ConfigurationSetName"], "sms-events");
    assert_eq!(body["Context"]["sms_log_id"], "42");
    assert_eq!(body["Context"]["message_type"], "battle_invitation");
    assert_eq!(body["TimeToLive"], 600, "what is left of its validity");
    assert!(body.get("DryRun").is_none(), "a real send");
}

#[tokio::test]
async fn each_use_and_country_sends_from_its_own_identity() {
    let stub = AwsStub::start().await;
    let mut c = config();
    c.sms.origination_identity = Some("+18663448034".into());
    c.sms.verification_identity = Some("pool-0123456789abcdef".into());
    c.sms.sender_ids = vec![(phonenumber::country::Id::GB, "AllThrive".into())];
    let provider = stub.provider(&c.sms);
    let code = OutgoingSms {
        message_type: "phone_verification",
        body: "Your AllThrive code is 123456",
        ..sms(true)
    };
    let uk = OutgoingSms {
        to: "+447946095800",
        country: Some("GB"),
        ..sms(false)
    };
    let uk_code = OutgoingSms {
        country: Some("GB"),
        ..code.clone()
    };
    for message in [&sms(false), &code, &uk, &uk_code, &sms(true)] {
        provider.send(message).await.expect("sent");
    }
    let from: Vec<Value> = stub
        .seen()
        .iter()
        .map(|s| s.body["OriginationIdentity"].clone())
        .collect();
    assert_eq!(
        from,
        [
            json!("+18663448034"),
            json!("pool-0123456789abcdef"),
            json!("AllThrive"),
            json!("AllThrive"),
            json!("+18663448034"),
        ],
        "battle invitation, code, UK invitation, UK code, security alert"
    );
}

#[tokio::test]
async fn promotional_type_is_configurable_but_codes_stay_transactional() {
    let stub = AwsStub::start().await;
    let mut c = config();
    c.sms.aws_message_type = sms_notify::config::AwsMessageType::Promotional;
    let provider = stub.provider(&c.sms);
    provider.send(&sms(false)).await.expect("sent");
    provider.send(&sms(true)).await.expect("sent");
    let seen = stub.seen();
    assert_eq!(seen[0].body["MessageType"], "PROMOTIONAL");
    assert_eq!(seen[1].body["MessageType"], "TRANSACTIONAL");
}

#[tokio::test]
async fn each_service_error_maps_to_its_handling() {
    let stub = AwsStub::start().await;
    let provider = stub.provider(&config().sms);
    let cases = [
        (
            Answer::throttling(Some(7)),
            FailureKind::Throttled {
                retry_after: Some(Duration::from_secs(7)),
            },
            "ThrottlingException",
        ),
        (
            Answer::throttling(None),
            FailureKind::Throttled { retry_after: None },
            "ThrottlingException",
        ),
        (
            Answer::internal(),
            FailureKind::Transient,
            "InternalServerException",
        ),
        (
            Answer::validation(),
            FailureKind::Permanent,
            "ValidationException",
        ),
        (
            Answer::opted_out(),
            FailureKind::OptedOut,
            "ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT",
        ),
        (
            Answer::spend_limit(),
            FailureKind::Account,
            "ServiceQuotaExceededException:MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT",
        ),
        (
            Answer::Error {
                status: 403,
                exception: "AccessDeniedException",
                fields: serde_json::json!({ "Reason": "ACCOUNT_DISABLED" }),
                retry_after: None,
            },
            FailureKind::Account,
            "AccessDeniedException",
        ),
        (
            Answer::not_found(),
            FailureKind::Account,
            "ResourceNotFoundException",
        ),
        (
            Answer::not_active(),
            FailureKind::Account,
            "ConflictException:RESOURCE_NOT_ACTIVE",
        ),
    ];
    for (answer, kind, code) in cases {
        stub.script([answer.clone()]);
        let error = provider.send(&sms(false)).await.expect_err("an error");
        assert_eq!(error.kind, kind, "{answer:?}");
        assert_eq!(error.code, code, "{answer:?}");
        assert!(error.message.contains("from the test stub"), "{error:?}");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient_a_silent_one_ambiguous() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut c = config();
    c.sms.aws_endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    let stub = AwsStub::start().await;
    let mut provider_config = c.sms.clone();
    provider_config.send_timeout = Duration::from_millis(300);
    let unreachable = {
        use aws_sdk_pinpointsmsvoicev2::config::{BehaviorVersion, Credentials, Region};
        provider_config.origination_identity = Some("+18663448034".into());
        let builder = aws_sdk_pinpointsmsvoicev2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDTESTKEY", "s", None, None, "test"));
        sms_notify::outbox::provider::AwsProvider::new(builder, &provider_config)
    };
    let error = unreachable.send(&sms(false)).await.expect_err("refused");
    assert_eq!(error.kind, FailureKind::Transient, "{error:?}");

    stub.script([Answer::Hang]);
    let silent = stub.provider(&provider_config);
    let error = silent.send(&sms(false)).await.expect_err("timed out");
    assert_eq!(
        error.kind,
        FailureKind::Ambiguous,
        "the request left: the text may be out: {error:?}"
    );
}
