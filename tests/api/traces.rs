//! Traces end to end: the real binary exports over OTLP/HTTP to a loopback collector that decodes
//! what it gets. A `sendSms` with the app's `traceparent`, the worker's call to AWS (the stub) and the
//! SNS receipt that arrives later are one trace; the group commit's batch and the worker's claim link
//! to it; the service's log lines name it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
};
use prost::Message as _;
use serde_json::{Value, json};

use crate::{
    aws_stub::AwsStub,
    binary::Binary,
    shutdown::AWS_CREDENTIALS,
    sns::{EVENTS, INBOUND, Signer, delivery},
};

const SECRET: &str = "trace-test-secret-that-is-long-enough";

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    parent_span_id: String,
    attributes: Vec<(String, String)>,
    /// The trace ids it links to.
    links: Vec<String>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback OTLP/HTTP collector: `POST /v1/traces` with protobuf bodies, decoded.
async fn collector() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    async fn take(State(spans): State<Arc<Mutex<Vec<Received>>>>, body: Bytes) -> Vec<u8> {
        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut spans = spans.lock().expect("spans");
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(AnyValue::StringValue(s)) => s.clone(),
                                Some(AnyValue::IntValue(i)) => i.to_string(),
                                Some(AnyValue::BoolValue(b)) => b.to_string(),
                                Some(other) => format!("{other:?}"),
                                None => String::new(),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect();
                    spans.push(Received {
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes,
                        links: span.links.iter().map(|l| hex(&l.trace_id)).collect(),
                    });
                }
            }
        }
        ExportTraceServiceResponse::default().encode_to_vec()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new()
        .route("/v1/traces", post(take))
        .with_state(spans.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), spans)
}

async fn graphql(url: &str, token: &str, body: Value, traceparent: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_send_sms_through_the_provider_call_to_the_receipt() {
    let (endpoint, spans) = collector().await;
    let stub = AwsStub::start().await;
    let signer = Signer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env: Vec<(&str, String)> = vec![
        (
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
        ),
        ("LISTEN_ADDR", "127.0.0.1:0".into()),
        ("JWT_SECRET", SECRET.into()),
        ("SMS_PROVIDER", "aws".into()),
        ("SMS_AWS_ENDPOINT_URL", stub.url()),
        ("SMS_ORIGINATION_IDENTITY", "+18663448034".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("SNS_EVENTS_TOPIC_ARN", EVENTS.into()),
        ("SNS_INBOUND_TOPIC_ARN", INBOUND.into()),
        ("SNS_CERT_HOSTS", "127.0.0.1".into()),
        ("SNS_CERT_ALLOW_HTTP", "true".into()),
        ("REMINDERS_ENABLED", "false".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_SERVICE_NAME", "sms-notify-under-test".into()),
    ];
    env.extend(AWS_CREDENTIALS.map(|(k, v)| (k, v.to_owned())));
    let service = Binary::start(&env).await;
    let token = crate::binary::service_token(SECRET);

    // The app's request, in the app's own trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let send = json!({
        "query": "mutation Invite($i: SendSmsInput!) { sendSms(input: $i) { id status } }",
        "operationName": "Invite",
        "variables": { "i": { "to": "+14155550123", "body": "Your code word is maple", "promotional": false } },
    });
    let sent = graphql(&service.url, &token, send, Some(&traceparent)).await;
    let id = sent["data"]["sendSms"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sent}"))
        .to_owned();
    stub.wait_for_requests(1).await;
    let log = json!({ "query": "query($id: ID!) { smsLog(id: $id) { status providerMessageId } }",
                      "variables": { "id": id } });
    let mut provider_id = None;
    for _ in 0..100 {
        let read = graphql(&service.url, &token, log.clone(), None).await;
        if read["data"]["smsLog"]["status"] == "SENT" {
            provider_id = read["data"]["smsLog"]["providerMessageId"]
                .as_str()
                .map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let provider_id = provider_id.expect("the text is sent");

    // Minutes later (here: now), AWS's receipt arrives through SNS, in no trace of the app's.
    let now = chrono::Utc::now();
    let receipt = signer.notification(
        EVENTS,
        &delivery(&provider_id, "TEXT_DELIVERED", true, Some(0.00581), now),
        now,
    );
    let posted = reqwest::Client::new()
        .post(service.url.replace("/graphql", "/webhooks/sns"))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(receipt.to_string())
        .send()
        .await
        .expect("posted");
    assert_eq!(posted.status(), 200);
    let read = graphql(&service.url, &token, log, None).await;
    assert_eq!(read["data"]["smsLog"]["status"], "DELIVERED", "{read}");

    // SIGTERM: the spans still buffered are exported before the process ends.
    let logs = service.logs.clone();
    let (status, _) = service.terminate().await;
    assert!(status.success(), "{status}");
    let spans = spans.lock().expect("spans").clone();
    let named = |name: &'static str| spans.iter().filter(move |s| s.name == name);
    let in_trace: Vec<&Received> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();
    for expected in ["http", "mutation Invite", "sms.send", "sms.receipt"] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    // The request joined the app's span; the send and the receipt are children in the same trace.
    let http = in_trace
        .iter()
        .find(|s| s.name == "http")
        .expect("the request");
    assert_eq!(http.parent_span_id, "00f067aa0ba902b7");
    let send = in_trace
        .iter()
        .find(|s| s.name == "sms.send")
        .expect("the call");
    assert_eq!(send.attribute("sms.message_id"), Some(id.as_str()));
    assert_eq!(
        send.attribute("aws.request_id"),
        Some(format!("req-{id}").as_str())
    );
    assert_eq!(
        send.attribute("sms.provider_message_id"),
        Some(provider_id.as_str())
    );
    assert!(!send.parent_span_id.is_empty());
    let receipt = in_trace
        .iter()
        .find(|s| s.name == "sms.receipt")
        .expect("the receipt");
    assert_eq!(receipt.attribute("sms.event"), Some("TEXT_DELIVERED"));
    // The batch and the claim carry many messages: they link to this trace.
    for batch in ["outbox.accept_batch", "outbox.claim"] {
        assert!(
            named(batch).any(|s| s.links.iter().any(|l| l == trace_id)),
            "{batch} links to the trace: {:?}",
            named(batch).collect::<Vec<_>>()
        );
    }
    // The service's log lines about the message name the trace.
    let logs = logs.lock().expect("logs").clone();
    let sent_line = logs
        .iter()
        .find(|l| l.contains("message sent"))
        .unwrap_or_else(|| panic!("{logs:?}"));
    assert!(sent_line.contains(trace_id), "{sent_line}");
}
