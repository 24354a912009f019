//! AWS End User Messaging SMS through `aws-sdk-pinpointsmsvoicev2` `SendTextMessage`. Region and
//! credentials come from `aws-config`'s default chain (an IAM role in production);
//! `SMS_AWS_ENDPOINT_URL` aims the client elsewhere (local stacks, tests). The SDK's own retries are
//! off: the outbox retries with backoff and pauses the deployment on throttling.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_pinpointsmsvoicev2::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    operation::send_text_message::{SendTextMessageError, builders::SendTextMessageFluentBuilder},
    types::{
        ConflictExceptionReason, MessageType, ServiceQuotaExceededExceptionReason, SpendLimitName,
    },
};

use super::{FailureKind, OutgoingSms, ProviderError, SmsProvider};
use crate::{
    config::{AwsMessageType, SmsConfig},
    locale::phone::E164,
};

#[derive(Debug, Clone)]
pub struct AwsProvider {
    pub(super) client: Client,
    pub(super) origination_identity: String,
    pub(super) verification_identity: Option<String>,
    pub(super) sender_ids: Vec<(String, String)>,
    promotional_type: MessageType,
    pub(super) configuration_set: Option<String>,
    /// AWS Protect configurations: for every text, and for codes when one is set for them.
    protect: (Option<String>, Option<String>),
    /// The opt-out list admins' changes are copied to (`SMS_OPT_OUT_LIST`).
    opt_out_list: Option<String>,
}

impl AwsProvider {
    /// A client from the default credential chain and `config`.
    pub async fn from_env(config: &SmsConfig) -> Self {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.aws_region.clone()))
            .load()
            .await;
        Self::new(
            aws_sdk_pinpointsmsvoicev2::config::Builder::from(&shared),
            config,
        )
    }

    /// A client from an SDK configuration builder (tests pass static credentials).
    pub fn new(builder: aws_sdk_pinpointsmsvoicev2::config::Builder, config: &SmsConfig) -> Self {
        let mut builder = builder
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_timeout(config.send_timeout)
                    .build(),
            );
        if let Some(url) = &config.aws_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        Self {
            client: Client::from_conf(builder.build()),
            origination_identity: config.origination_identity.clone().unwrap_or_default(),
            verification_identity: config.verification_identity.clone(),
            sender_ids: config
                .sender_ids
                .iter()
                .map(|(country, id)| (country.as_ref().to_owned(), id.clone()))
                .collect(),
            promotional_type: match config.aws_message_type {
                AwsMessageType::Transactional => MessageType::Transactional,
                AwsMessageType::Promotional => MessageType::Promotional,
            },
            configuration_set: config.configuration_set.clone(),
            protect: (
                config.protect_configuration.clone(),
                config.protect_configuration_verification.clone(),
            ),
            opt_out_list: config.opt_out_list.clone(),
        }
    }
}

impl AwsProvider {
    /// The `SendTextMessage` request for `sms`.
    fn request(&self, sms: &OutgoingSms<'_>) -> SendTextMessageFluentBuilder {
        let message_type = if sms.transactional {
            MessageType::Transactional
        } else {
            self.promotional_type.clone()
        };
        let request = self
            .client
            .send_text_message()
            .destination_phone_number(sms.to)
            .origination_identity(self.identity_for(sms))
            .message_body(sms.body)
            .message_type(message_type)
            .context("sms_log_id", sms.log_id.to_string())
            .context("message_type", sms.message_type);
        let code = sms.message_type == "phone_verification";
        // Codes ask for feedback, so AWS's fraud models learn which reached a person.
        let request = request.set_message_feedback_enabled(code.then_some(true));
        let protect = match &self.protect {
            (_, Some(codes)) if code => Some(codes),
            (all, _) => all.as_ref(),
        };
        let request = match protect {
            Some(id) => request.protect_configuration_id(id),
            None => request,
        };
        let request = match sms.time_to_live {
            Some(ttl) => request.time_to_live(i32::try_from(ttl.num_seconds()).unwrap_or(i32::MAX)),
            None => request,
        };
        match &self.configuration_set {
            Some(set) => request.configuration_set_name(set),
            None => request,
        }
    }

    /// Where a text is sent from: the destination country's sender id when it has one, else the
    /// verification identity for codes when one is set, else `SMS_ORIGINATION_IDENTITY`.
    pub fn identity_for(&self, sms: &OutgoingSms<'_>) -> &str {
        if let Some(country) = sms.country
            && let Some((_, id)) = self.sender_ids.iter().find(|(c, _)| c == country)
        {
            return id;
        }
        match &self.verification_identity {
            Some(identity) if sms.message_type == "phone_verification" => identity,
            _ => &self.origination_identity,
        }
    }
}

#[async_trait::async_trait]
impl SmsProvider for AwsProvider {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn sender(&self, sms: &OutgoingSms<'_>) -> Option<String> {
        Some(self.identity_for(sms).to_owned())
    }

    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<String, ProviderError> {
        use aws_sdk_pinpointsmsvoicev2::operation::RequestId as _;
        let answer = self.request(sms).send().await;
        // AWS's request id, on the send's span (`sms.send`) when traces are exported.
        if crate::telemetry::enabled() {
            let request_id = match &answer {
                Ok(output) => output.request_id(),
                Err(error) => error.request_id(),
            };
            if let Some(id) = request_id {
                tracing::Span::current().record("aws.request_id", id);
            }
        }
        match answer {
            Ok(output) => Ok(output.message_id().unwrap_or_default().to_owned()),
            Err(error) => Err(classify(error)),
        }
    }

    async fn probe(&self, sms: &OutgoingSms<'_>) -> Result<(), ProviderError> {
        match self.request(sms).dry_run(true).send().await {
            Ok(_) => Ok(()),
            Err(error) => Err(classify(error)),
        }
    }

    async fn account(&self, dry_run_to: Option<&str>) -> super::AccountReport {
        self.account_report(dry_run_to).await
    }

    async fn message_feedback(
        &self,
        provider_message_id: &str,
        received: bool,
    ) -> Result<(), ProviderError> {
        use aws_sdk_pinpointsmsvoicev2::types::MessageFeedbackStatus;
        let status = if received {
            MessageFeedbackStatus::Received
        } else {
            MessageFeedbackStatus::Failed
        };
        self.client
            .put_message_feedback()
            .message_id(provider_message_id)
            .message_feedback_status(status)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                let code = error
                    .as_service_error()
                    .and_then(|e| e.code())
                    .unwrap_or("NoAnswer")
                    .to_owned();
                ProviderError::new(
                    FailureKind::Transient,
                    code,
                    aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(&error).to_string(),
                )
            })
    }

    async fn sync_opt_out(&self, e164: &E164, opted_out: bool) -> Result<bool, ProviderError> {
        let Some(list) = &self.opt_out_list else {
            return Ok(false);
        };
        let refused = |code: Option<&str>, message: String| {
            ProviderError::new(
                FailureKind::Permanent,
                code.unwrap_or("NoAnswer").to_owned(),
                message,
            )
        };
        if opted_out {
            self.client
                .put_opted_out_number()
                .opt_out_list_name(list)
                .opted_out_number(e164.as_str())
                .send()
                .await
                .map_err(|e| {
                    let code = e
                        .as_service_error()
                        .and_then(|s| s.code())
                        .map(str::to_owned);
                    refused(
                        code.as_deref(),
                        aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(&e).to_string(),
                    )
                })?;
        } else {
            self.client
                .delete_opted_out_number()
                .opt_out_list_name(list)
                .opted_out_number(e164.as_str())
                .send()
                .await
                .map_err(|e| {
                    let code = e
                        .as_service_error()
                        .and_then(|s| s.code())
                        .map(str::to_owned);
                    refused(
                        code.as_deref(),
                        aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(&e).to_string(),
                    )
                })?;
        }
        Ok(true)
    }

    async fn opted_out_numbers(
        &self,
    ) -> Result<Option<Vec<(String, chrono::DateTime<chrono::Utc>)>>, ProviderError> {
        let Some(list) = &self.opt_out_list else {
            return Ok(None);
        };
        let mut numbers = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_opted_out_numbers()
                .opt_out_list_name(list)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    let code = e
                        .as_service_error()
                        .and_then(|s| s.code())
                        .map(str::to_owned);
                    ProviderError::new(
                        FailureKind::Permanent,
                        code.unwrap_or_else(|| "NoAnswer".into()),
                        aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(&e).to_string(),
                    )
                })?;
            for entry in page.opted_out_numbers() {
                let at = chrono::DateTime::from_timestamp(entry.opted_out_timestamp().secs(), 0)
                    .unwrap_or_default();
                numbers.push((entry.opted_out_number().to_owned(), at));
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(Some(numbers))
    }

    async fn text_spend_limit(&self) -> Result<Option<i64>, ProviderError> {
        let output = self
            .client
            .describe_spend_limits()
            .send()
            .await
            .map_err(|error| {
                let (code, message) = match error.as_service_error() {
                    Some(e) => (
                        e.code().unwrap_or("Unknown").to_owned(),
                        e.message().unwrap_or_default().to_owned(),
                    ),
                    None => (
                        "NoAnswer".to_owned(),
                        aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(&error).to_string(),
                    ),
                };
                ProviderError::new(FailureKind::Permanent, code, message)
            })?;
        // AWS states limits in whole dollars.
        Ok(output
            .spend_limits()
            .iter()
            .find(|l| *l.name() == SpendLimitName::TextMessageMonthlySpendLimit)
            .map(|l| l.enforced_limit().saturating_mul(crate::billing::MICROS)))
    }
}

/// Whether a dispatch failure happened before a connection was made (so the request never left): a
/// connect error of the HTTP client anywhere in the error's sources.
fn never_connected(connector_error: Option<&(dyn std::error::Error + 'static)>) -> bool {
    let mut next = connector_error;
    while let Some(error) = next {
        if error
            .downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(|e| e.is_connect())
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// Conflicts that describe the account's set-up rather than the message.
const ACCOUNT_CONFLICTS: [ConflictExceptionReason; 3] = [
    ConflictExceptionReason::ResourceNotActive,
    ConflictExceptionReason::RegistrationNotComplete,
    ConflictExceptionReason::NoOriginationIdentitiesFound,
];

/// Maps an SDK error to how the outbox treats it, by exception type and reason.
fn classify(
    error: SdkError<SendTextMessageError, aws_sdk_pinpointsmsvoicev2::config::http::HttpResponse>,
) -> ProviderError {
    let service = match error {
        SdkError::ServiceError(context) => {
            let retry_after = context
                .raw()
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            (context.into_err(), retry_after)
        }
        SdkError::TimeoutError(_) => {
            return ProviderError::new(
                FailureKind::Ambiguous,
                "Timeout",
                "AWS did not answer in time; the text may have been sent",
            );
        }
        SdkError::DispatchFailure(failure) => {
            return dispatch_failure(failure.as_connector_error(), || format!("{failure:?}"));
        }
        SdkError::ResponseError(_) => {
            return ProviderError::new(
                FailureKind::Ambiguous,
                "ResponseError",
                "AWS sent a response that could not be read; the text may have been sent",
            );
        }
        other => {
            return ProviderError::new(FailureKind::Permanent, "SdkError", other.to_string());
        }
    };
    let (error, retry_after) = service;
    let code = error.code().unwrap_or("Unknown").to_owned();
    let message = error.message().unwrap_or_default().to_owned();
    let kind = kind_of_service_error(&error, retry_after);
    // ConflictException and ServiceQuotaExceededException say why in their reason.
    let reason = match &error {
        SendTextMessageError::ConflictException(e) => e.reason().map(|r| r.as_str().to_owned()),
        SendTextMessageError::ServiceQuotaExceededException(e) => {
            e.reason().map(|r| r.as_str().to_owned())
        }
        _ => None,
    };
    let code = match reason {
        Some(reason) => format!("{code}:{reason}"),
        None => code,
    };
    ProviderError {
        kind,
        code,
        message,
    }
}

/// A request that never got an answer: it may never have left (transient) or may have been sent.
fn dispatch_failure(
    connector: Option<&aws_sdk_pinpointsmsvoicev2::error::ConnectorError>,
    debug: impl FnOnce() -> String,
) -> ProviderError {
    let cause = connector.map(|e| e as &(dyn std::error::Error + 'static));
    let detail = match connector {
        Some(e) => aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(e).to_string(),
        None => debug(),
    };
    if never_connected(cause) {
        ProviderError::new(
            FailureKind::Transient,
            "ConnectionError",
            format!("cannot reach AWS: {detail}"),
        )
    } else {
        ProviderError::new(
            FailureKind::Ambiguous,
            "ConnectionError",
            format!(
                "the connection to AWS broke after the request left; the text may have been sent: {detail}"
            ),
        )
    }
}

/// How the outbox treats an error AWS answered with, by exception type and reason.
fn kind_of_service_error(
    error: &SendTextMessageError,
    retry_after: Option<Duration>,
) -> FailureKind {
    match error {
        SendTextMessageError::ThrottlingException(_) => FailureKind::Throttled { retry_after },
        SendTextMessageError::InternalServerException(_) => FailureKind::Transient,
        SendTextMessageError::ConflictException(e)
            if e.reason() == Some(&ConflictExceptionReason::DestinationPhoneNumberOptedOut) =>
        {
            FailureKind::OptedOut
        }
        SendTextMessageError::ServiceQuotaExceededException(e)
            if e.reason()
                == Some(&ServiceQuotaExceededExceptionReason::MonthlySpendLimitReachedForText) =>
        {
            FailureKind::Account
        }
        SendTextMessageError::ConflictException(e)
            if e.reason().is_some_and(|r| ACCOUNT_CONFLICTS.contains(r)) =>
        {
            FailureKind::Account
        }
        // Denied (IAM, a disabled account) or an identity or configuration set that is not there:
        // every message would meet the same answer.
        SendTextMessageError::AccessDeniedException(_)
        | SendTextMessageError::ResourceNotFoundException(_) => FailureKind::Account,
        SendTextMessageError::ConflictException(_)
        | SendTextMessageError::ServiceQuotaExceededException(_)
        | SendTextMessageError::ValidationException(_) => FailureKind::Permanent,
        _ => FailureKind::Transient,
    }
}
