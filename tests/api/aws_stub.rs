//! A loopback HTTP server that speaks AWS End User Messaging SMS's JSON protocol (awsJson1_0) well
//! enough for `SendTextMessage` (also with `DryRun`), `DescribeSpendLimits`, `DescribePhoneNumbers`,
//! `DescribeRegistrations`, `DescribeSenderIds` and `DescribeConfigurationSets`: it records each request
//! and answers from a script, with the bodies and `x-amzn-errortype` headers the real service sends.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use sms_notify::{config::SmsConfig, outbox::provider::AwsProvider};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Ok,
    /// An AWS error: HTTP status, exception type, extra JSON fields (e.g. `Reason`), Retry-After.
    Error {
        status: u16,
        exception: &'static str,
        fields: Value,
        retry_after: Option<u64>,
    },
    /// Never answers (a provider that hangs while the worker is killed).
    Hang,
}

impl Answer {
    pub fn throttling(retry_after: Option<u64>) -> Self {
        Self::Error {
            status: 400,
            exception: "ThrottlingException",
            fields: json!({}),
            retry_after,
        }
    }
    pub fn internal() -> Self {
        Self::Error {
            status: 500,
            exception: "InternalServerException",
            fields: json!({ "RequestId": "req-1" }),
            retry_after: None,
        }
    }
    pub fn validation() -> Self {
        Self::Error {
            status: 400,
            exception: "ValidationException",
            fields: json!({ "Reason": "INVALID_PARAMETER", "Fields": [] }),
            retry_after: None,
        }
    }
    pub fn opted_out() -> Self {
        Self::Error {
            status: 400,
            exception: "ConflictException",
            fields: json!({ "Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "ResourceType": "opt-out-list", "ResourceId": "Default" }),
            retry_after: None,
        }
    }
    pub fn access_denied() -> Self {
        Self::Error {
            status: 400,
            exception: "AccessDeniedException",
            fields: json!({ "Reason": "ACCOUNT_DISABLED" }),
            retry_after: None,
        }
    }
    pub fn not_found() -> Self {
        Self::Error {
            status: 404,
            exception: "ResourceNotFoundException",
            fields: json!({ "ResourceType": "configuration-set", "ResourceId": "missing-set" }),
            retry_after: None,
        }
    }
    pub fn not_active() -> Self {
        Self::Error {
            status: 400,
            exception: "ConflictException",
            fields: json!({ "Reason": "RESOURCE_NOT_ACTIVE", "ResourceType": "phone-number", "ResourceId": "+18663448034" }),
            retry_after: None,
        }
    }
    pub fn spend_limit() -> Self {
        Self::Error {
            status: 400,
            exception: "ServiceQuotaExceededException",
            fields: json!({ "Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT" }),
            retry_after: None,
        }
    }
}

/// A request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: HeaderMap,
    pub body: Value,
    /// When the request arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    seen: Vec<Seen>,
    /// `SendTextMessage` requests with `DryRun` (probes): checked, never sent.
    dry_runs: Vec<Seen>,
    /// What `DescribeSpendLimits` answers: the text limit in dollars, or an error; none listed when unset.
    spend_limits: Option<Result<i64, Answer>>,
    spend_limit_reads: usize,
    /// The account as the `Describe*` operations answer it.
    account: Account,
    /// Operations refused with an answer (e.g. `AccessDeniedException` for a missing permission).
    refused: std::collections::HashMap<String, Answer>,
    /// `PutMessageFeedback` calls taken: (message id, status).
    feedback: Vec<(String, String)>,
    /// The opt-out lists as `PutOptedOutNumber` and `DeleteOptedOutNumber` left them: (list, number).
    opted_out: std::collections::BTreeSet<(String, String)>,
    /// How long a `SendTextMessage` takes to answer once it arrived (AWS's own latency, or a slow day).
    send_latency: std::time::Duration,
}

/// The account the `Describe*` operations describe.
#[derive(Debug, Clone)]
pub struct Account {
    /// Phone numbers: (number, status, registration id).
    pub phone_numbers: Vec<(String, &'static str, Option<String>)>,
    /// Registrations: (id, status).
    pub registrations: Vec<(String, &'static str)>,
    /// Sender ids: (id, country, registered).
    pub sender_ids: Vec<(String, String, bool)>,
    /// Configuration sets: (name, whether it has an enabled SNS event destination).
    pub configuration_sets: Vec<(String, bool)>,
}

impl Default for Account {
    /// A healthy account: the default number active and registered, `sms-events` publishing to SNS.
    fn default() -> Self {
        Self {
            phone_numbers: vec![(
                "+18663448034".into(),
                "ACTIVE",
                Some("registration-1".into()),
            )],
            registrations: vec![("registration-1".into(), "COMPLETE")],
            sender_ids: Vec::new(),
            configuration_sets: vec![("sms-events".into(), true)],
        }
    }
}

#[derive(Clone)]
pub struct AwsStub {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    seen_notify: Arc<tokio::sync::Notify>,
    /// `SendTextMessage` answers once it can read this: `hold_sends` keeps them waiting.
    gate: Arc<tokio::sync::RwLock<()>>,
}

/// Sends wait while this is held (`AwsStub::hold_sends`); dropping it lets them answer.
pub struct HeldSends {
    _held: tokio::sync::OwnedRwLockWriteGuard<()>,
}

impl AwsStub {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let seen_notify = Arc::new(tokio::sync::Notify::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let state = (inner.clone(), seen_notify.clone(), gate.clone());
        let router = Router::new().route("/", post(handle)).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            inner,
            seen_notify,
            gate,
        }
    }

    /// Holds every `SendTextMessage` until the answer is dropped (a send in flight, as long as a test
    /// needs it).
    pub async fn hold_sends(&self) -> HeldSends {
        HeldSends {
            _held: self.gate.clone().write_owned().await,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every `SendTextMessage` answers `latency` after it arrived (it counts as seen on arrival).
    pub fn answer_after(&self, latency: std::time::Duration) {
        self.inner.lock().expect("lock").send_latency = latency;
    }

    /// Answers the next requests with `answers`, in order; after them, success.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().expect("lock").script.extend(answers);
    }

    /// `DescribeSpendLimits` answers this text limit (whole dollars, as AWS states them), or `answer`.
    pub fn spend_limits(&self, answer: Result<i64, Answer>) {
        self.inner.lock().expect("lock").spend_limits = Some(answer);
    }

    /// What the `Describe*` operations answer.
    pub fn account(&self, account: Account) {
        self.inner.lock().expect("lock").account = account;
    }

    /// Refuses `operation` (e.g. `DescribePhoneNumbers`) with `answer`.
    pub fn refuse(&self, operation: &str, answer: Answer) {
        self.inner
            .lock()
            .expect("lock")
            .refused
            .insert(operation.to_owned(), answer);
    }

    /// Answers `operation` normally again.
    pub fn allow(&self, operation: &str) {
        self.inner.lock().expect("lock").refused.remove(operation);
    }

    /// The opt-out lists' numbers: (list, number).
    pub fn opted_out(&self) -> Vec<(String, String)> {
        self.inner
            .lock()
            .expect("lock")
            .opted_out
            .iter()
            .cloned()
            .collect()
    }

    /// Puts `number` on `list`, as a STOP texted to AWS would.
    pub fn put_opted_out(&self, list: &str, number: &str) {
        self.inner
            .lock()
            .expect("lock")
            .opted_out
            .insert((list.to_owned(), number.to_owned()));
    }

    /// The `PutMessageFeedback` calls taken: (message id, status).
    pub fn feedback(&self) -> Vec<(String, String)> {
        self.inner.lock().expect("lock").feedback.clone()
    }

    /// How many times `DescribeSpendLimits` was called.
    pub fn spend_limit_reads(&self) -> usize {
        self.inner.lock().expect("lock").spend_limit_reads
    }

    /// The `SendTextMessage` requests with `DryRun`, in order.
    pub fn dry_runs(&self) -> Vec<Seen> {
        self.inner.lock().expect("lock").dry_runs.clone()
    }

    /// The `SendTextMessage` requests that send (not `DryRun`), in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().expect("lock").seen.clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.seen_notify.notified();
            if self.seen().len() >= n {
                return;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), notified).await;
        }
    }

    /// The real AWS provider aimed at this stub, with static test credentials.
    pub fn provider(&self, config: &SmsConfig) -> AwsProvider {
        use aws_sdk_pinpointsmsvoicev2::config::{BehaviorVersion, Credentials, Region};
        let mut config = config.clone();
        config.aws_endpoint_url = Some(self.url());
        if config.origination_identity.is_none() {
            config.origination_identity = Some("+18663448034".into());
        }
        let builder = aws_sdk_pinpointsmsvoicev2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.aws_region.clone()))
            .credentials_provider(Credentials::new(
                "AKIDTESTKEY",
                "test-secret",
                None,
                None,
                "test",
            ));
        AwsProvider::new(builder, &config)
    }
}

type StubState = (
    Arc<Mutex<Inner>>,
    Arc<tokio::sync::Notify>,
    Arc<tokio::sync::RwLock<()>>,
);

async fn handle(
    State((inner, notify, gate)): State<StubState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.trim_start_matches("PinpointSMSVoiceV2.");
    if operation == "SendTextMessage" && body["DryRun"] != true {
        drop(gate.read().await);
    }
    let refused = inner.lock().expect("lock").refused.get(operation).cloned();
    if let Some(answer) = refused {
        if operation == "SendTextMessage" {
            inner.lock().expect("lock").dry_runs.push(Seen {
                headers: headers.clone(),
                body: body.clone(),
                at: std::time::Instant::now(),
            });
        }
        return respond(answer, &body).await;
    }
    if operation == "PutOptedOutNumber" || operation == "DeleteOptedOutNumber" {
        let list = body["OptOutListName"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let number = body["OptedOutNumber"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut inner = inner.lock().expect("lock");
        if operation == "PutOptedOutNumber" {
            inner.opted_out.insert((list.clone(), number.clone()));
        } else {
            inner.opted_out.remove(&(list.clone(), number.clone()));
        }
        return json_response(json!({
            "OptOutListArn": format!("arn:aws:sms-voice:us-east-1:123456789012:opt-out-list/{list}"),
            "OptOutListName": list, "OptedOutNumber": number,
            "OptedOutTimestamp": 1_767_225_600, "EndUserOptedOut": false,
        }));
    }
    if operation == "DescribeOptedOutNumbers" {
        // Two numbers a page, as AWS pages long lists: the token is where the next page starts.
        let list = body["OptOutListName"].as_str().unwrap_or_default();
        let start: usize = body["NextToken"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let numbers: Vec<String> = inner
            .lock()
            .expect("lock")
            .opted_out
            .iter()
            .filter(|(l, _)| l == list)
            .map(|(_, n)| n.clone())
            .collect();
        let page: Vec<Value> = numbers
            .iter()
            .skip(start)
            .take(2)
            .map(|n| json!({ "OptedOutNumber": n, "OptedOutTimestamp": 1_767_225_600, "EndUserOptedOut": true }))
            .collect();
        let mut answer = json!({
            "OptOutListArn": format!("arn:aws:sms-voice:us-east-1:123456789012:opt-out-list/{list}"),
            "OptOutListName": list, "OptedOutNumbers": page,
        });
        if start + 2 < numbers.len() {
            answer["NextToken"] = json!((start + 2).to_string());
        }
        return json_response(answer);
    }
    if operation == "PutMessageFeedback" {
        let id = body["MessageId"].as_str().unwrap_or_default().to_owned();
        let status = body["MessageFeedbackStatus"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        inner
            .lock()
            .expect("lock")
            .feedback
            .push((id.clone(), status.clone()));
        return json_response(json!({ "MessageId": id, "MessageFeedbackStatus": status }));
    }
    if operation.starts_with("Describe") && operation != "DescribeSpendLimits" {
        let account = inner.lock().expect("lock").account.clone();
        return match describe(operation, &account, &body) {
            Ok(payload) => json_response(payload),
            Err(answer) => respond(answer, &body).await,
        };
    }
    if target == "PinpointSMSVoiceV2.DescribeSpendLimits" {
        let limits = {
            let mut inner = inner.lock().expect("lock");
            inner.spend_limit_reads += 1;
            inner.spend_limits.clone()
        };
        let listed = match limits {
            Some(Err(answer)) => return respond(answer, &body).await,
            Some(Ok(dollars)) => json!([
                { "Name": "TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", "EnforcedLimit": dollars, "MaxLimit": dollars, "Overridden": false },
                { "Name": "VOICE_MESSAGE_MONTHLY_SPEND_LIMIT", "EnforcedLimit": 1, "MaxLimit": 1, "Overridden": false },
            ]),
            None => json!([]),
        };
        let mut response =
            (StatusCode::OK, json!({ "SpendLimits": listed }).to_string()).into_response();
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        return response;
    }
    let (answer, latency) = {
        let mut inner = inner.lock().expect("lock");
        let seen = Seen {
            headers: headers.clone(),
            body: body.clone(),
            at: std::time::Instant::now(),
        };
        if body["DryRun"] == Value::Bool(true) {
            inner.dry_runs.push(seen);
        } else {
            inner.seen.push(seen);
        }
        let latency = if body["DryRun"] == Value::Bool(true) {
            std::time::Duration::ZERO
        } else {
            inner.send_latency
        };
        (inner.script.pop_front().unwrap_or(Answer::Ok), latency)
    };
    notify.notify_waiters();
    tokio::time::sleep(latency).await;
    respond(answer, &body).await
}

fn json_response(payload: Value) -> Response {
    let mut response = (StatusCode::OK, payload.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

/// What a `Describe*` operation answers about `account`, narrowed by the request as AWS narrows it; as
/// AWS, an id asked for and not there is `ResourceNotFoundException`.
fn describe(operation: &str, account: &Account, body: &Value) -> Result<Value, Answer> {
    let all_found = |wanted: usize, found: &[Value], key: &str| {
        if found.len() < wanted {
            Err(Answer::Error {
                status: 404,
                exception: "ResourceNotFoundException",
                fields: json!({ "ResourceType": key, "ResourceId": "unknown" }),
                retry_after: None,
            })
        } else {
            Ok(())
        }
    };
    let asked = |field: &str| -> Option<Vec<String>> {
        body[field].as_array().map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
    };
    let created = 1_767_225_600;
    match operation {
        "DescribePhoneNumbers" => {
            let numbers: Vec<Value> = account
                .phone_numbers
                .iter()
                .map(|(number, status, registration)| {
                    json!({
                        "PhoneNumberArn": format!("arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-{}", &number[1..]),
                        "PhoneNumberId": format!("phone-{}", &number[1..]),
                        "PhoneNumber": number, "Status": status, "IsoCountryCode": "US",
                        "MessageType": "TRANSACTIONAL", "NumberCapabilities": ["SMS"],
                        "NumberType": "TOLL_FREE", "MonthlyLeasingPrice": "2.00",
                        "TwoWayEnabled": true, "SelfManagedOptOutsEnabled": false,
                        "OptOutListName": "Default", "InternationalSendingEnabled": false,
                        "DeletionProtectionEnabled": false, "RegistrationId": registration,
                        "CreatedTimestamp": created,
                    })
                })
                .collect();
            Ok(json!({ "PhoneNumbers": numbers }))
        }
        "DescribeRegistrations" => {
            let wanted = asked("RegistrationIds").unwrap_or_default();
            let found: Vec<Value> = account
                .registrations
                .iter()
                .filter(|(id, _)| wanted.is_empty() || wanted.contains(id))
                .map(|(id, status)| {
                    json!({
                        "RegistrationArn": format!("arn:aws:sms-voice:us-east-1:123456789012:registration/{id}"),
                        "RegistrationId": id, "RegistrationType": "US_TOLL_FREE_REGISTRATION",
                        "RegistrationStatus": status, "CurrentVersionNumber": 1,
                        "CreatedTimestamp": created,
                    })
                })
                .collect();
            all_found(wanted.len(), &found, "registration")?;
            Ok(json!({ "Registrations": found }))
        }
        "DescribeSenderIds" => {
            let wanted: Vec<(String, String)> = body["SenderIds"]
                .as_array()
                .map(|ids| {
                    ids.iter()
                        .map(|v| {
                            (
                                v["SenderId"].as_str().unwrap_or_default().to_owned(),
                                v["IsoCountryCode"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let found: Vec<Value> = account
                .sender_ids
                .iter()
                .filter(|(id, country, _)| {
                    wanted.is_empty() || wanted.contains(&(id.clone(), country.clone()))
                })
                .map(|(id, country, registered)| {
                    json!({
                        "SenderIdArn": format!("arn:aws:sms-voice:us-east-1:123456789012:sender-id/{id}/{country}"),
                        "SenderId": id, "IsoCountryCode": country, "MessageTypes": ["TRANSACTIONAL"],
                        "MonthlyLeasingPrice": "0.00", "DeletionProtectionEnabled": false,
                        "Registered": registered,
                    })
                })
                .collect();
            all_found(wanted.len(), &found, "sender-id")?;
            Ok(json!({ "SenderIds": found }))
        }
        "DescribeConfigurationSets" => {
            let wanted = asked("ConfigurationSetNames").unwrap_or_default();
            let found: Vec<Value> = account
                .configuration_sets
                .iter()
                .filter(|(name, _)| wanted.is_empty() || wanted.contains(name))
                .map(|(name, sns)| {
                    let destinations = if *sns {
                        json!([{ "EventDestinationName": "to-sns", "Enabled": true,
                                 "MatchingEventTypes": ["ALL"],
                                 "SnsDestination": { "TopicArn": "arn:aws:sns:us-east-1:123456789012:sms-events" } }])
                    } else {
                        json!([])
                    };
                    json!({
                        "ConfigurationSetArn": format!("arn:aws:sms-voice:us-east-1:123456789012:configuration-set/{name}"),
                        "ConfigurationSetName": name, "EventDestinations": destinations,
                        "CreatedTimestamp": created,
                    })
                })
                .collect();
            all_found(wanted.len(), &found, "configuration-set")?;
            Ok(json!({ "ConfigurationSets": found }))
        }
        _ => Ok(json!({})),
    }
}

/// The response AWS would give for `answer`.
async fn respond(answer: Answer, body: &Value) -> Response {
    let json_type = HeaderValue::from_static("application/x-amz-json-1.0");
    match answer {
        Answer::Ok => {
            let id = format!("msg-{}", uuid_like(body));
            let request_id = format!("req-{}", uuid_like(body));
            let mut response =
                (StatusCode::OK, json!({ "MessageId": id }).to_string()).into_response();
            response.headers_mut().insert("content-type", json_type);
            // What AWS names every answer with, as the real service does.
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-amzn-requestid", value);
            }
            response
        }
        Answer::Error {
            status,
            exception,
            fields,
            retry_after,
        } => {
            let mut payload = json!({
                "__type": format!("com.amazonaws.pinpointsmsvoicev2#{exception}"),
                "Message": format!("{exception} from the test stub"),
            });
            if let (Some(p), Some(extra)) = (payload.as_object_mut(), fields.as_object()) {
                p.extend(extra.clone());
            }
            let mut response = (
                StatusCode::from_u16(status).expect("status"),
                payload.to_string(),
            )
                .into_response();
            let h = response.headers_mut();
            h.insert("content-type", json_type);
            h.insert("x-amzn-errortype", HeaderValue::from_static(exception));
            h.insert(
                "x-amzn-requestid",
                HeaderValue::from_static("00000000-test"),
            );
            if let Some(seconds) = retry_after {
                h.insert("retry-after", HeaderValue::from(seconds));
            }
            response
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

fn uuid_like(body: &Value) -> String {
    body["Context"]["sms_log_id"]
        .as_str()
        .unwrap_or("0")
        .to_owned()
}
