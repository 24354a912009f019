//! SMS providers behind one trait: `console` for local work, `aws` for AWS End User Messaging SMS.

mod account;
mod aws;
mod aws_account;
mod console;

use std::{sync::Arc, time::Duration};

pub use account::{AccountReport, Check, CheckOutcome, ConfigurationSetReport, IdentityReport};
pub use aws::AwsProvider;
pub use console::ConsoleProvider;

use crate::{
    config::{ProviderKind, SmsConfig},
    locale::phone::E164,
};

/// One text to send.
#[derive(Debug, Clone)]
pub struct OutgoingSms<'a> {
    /// The `sms_log` id, passed to the provider as context so receipts can be matched.
    pub log_id: i64,
    pub to: &'a str,
    pub body: &'a str,
    /// `message_type` of the log row (`battle_invitation`, ...).
    pub message_type: &'a str,
    pub transactional: bool,
    /// ISO region of `to` (`US`), when it has one.
    pub country: Option<&'a str>,
    /// How long the provider may keep trying to hand it to the carrier: what is left of its
    /// validity (AWS's `TimeToLive`, 5 seconds to 72 hours).
    pub time_to_live: Option<chrono::Duration>,
}

/// How a failed send should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth another attempt later: 5xx, a connection that could not be made.
    Transient,
    /// The request may have reached the provider, and the text may be out: a timeout, a connection
    /// broken after the request left, an answer that could not be read. A promotion is not tried again
    /// (`UNKNOWN` until a receipt settles it; a second copy would annoy); a code or another
    /// transactional text is (a code that never arrives is worse than two).
    Ambiguous,
    /// The service stopped (`SHUTDOWN_GRACE` ran out) while the provider had not answered: the text may
    /// be out. Never tried again blindly, code or promotion: `UNKNOWN` until its receipt settles it.
    Interrupted,
    /// The provider asks us to slow down: pause the whole deployment, do not count an attempt.
    Throttled { retry_after: Option<Duration> },
    /// Will never succeed as it is: validation errors and the like.
    Permanent,
    /// The destination opted out with the carrier.
    OptedOut,
    /// The account itself is refused, not the message: access denied, an origination identity or
    /// configuration set that does not exist or is not active, a registration not complete, the
    /// monthly spend limit reached. Every message would fail alike: the deployment pauses.
    Account,
}

/// A failed send, with the provider's code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProviderError {
    pub kind: FailureKind,
    pub code: String,
    pub message: String,
}

/// The error codes metrics name (`sms_provider_errors_total{code}`): AWS's exception names and the
/// transport failures; any other code, whatever a provider returns, counts as `other`, so a label never
/// takes values from outside.
pub const METRIC_CODES: &[&str] = &[
    "ThrottlingException",
    "InternalServerException",
    "ConflictException",
    "ServiceQuotaExceededException",
    "ValidationException",
    "AccessDeniedException",
    "ResourceNotFoundException",
    "Timeout",
    "Shutdown",
    "ConnectionError",
    "ResponseError",
    "SdkError",
];

impl ProviderError {
    /// The code as a metric label: one of `METRIC_CODES` (a reason after `:` is dropped), or `other`.
    pub fn metric_code(&self) -> &'static str {
        let exception = self.code.split(':').next().unwrap_or_default();
        METRIC_CODES
            .iter()
            .find(|known| **known == exception)
            .copied()
            .unwrap_or("other")
    }

    pub fn new(kind: FailureKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }
}

#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync + std::fmt::Debug {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// The sender `sms` goes out from, whose own rate limit it counts against (AWS limits each
    /// origination identity apart); `None`: the deployment's one limit.
    fn sender(&self, sms: &OutgoingSms<'_>) -> Option<String> {
        let _ = sms;
        None
    }

    /// Sends one text; returns the provider's message id.
    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<String, ProviderError>;

    /// Checks that `sms` would be accepted, without sending it or being charged (AWS's `DryRun`):
    /// the probe that ends a pause.
    async fn probe(&self, sms: &OutgoingSms<'_>) -> Result<(), ProviderError> {
        let _ = sms;
        Ok(())
    }

    /// The account at a glance: identities, spend limit, configuration set, and a `DryRun` send to
    /// `dry_run_to` when given; every check names the permission it needs.
    async fn account(&self, dry_run_to: Option<&str>) -> AccountReport {
        let _ = dry_run_to;
        let mut report = AccountReport::default();
        report.checks.push(Check {
            what: format!("the {} provider", self.name()),
            permission: "",
            outcome: CheckOutcome::Skipped,
            detail: "texts are printed, not sent: there is no provider account to check".into(),
        });
        report
    }

    /// Tells the provider whether a text reached its person (`PutMessageFeedback`: a code entered is
    /// `received`, one that expired unused is not). Nothing for providers without feedback.
    async fn message_feedback(
        &self,
        provider_message_id: &str,
        received: bool,
    ) -> Result<(), ProviderError> {
        let _ = (provider_message_id, received);
        Ok(())
    }

    /// Puts `e164` on the provider's opt-out list (`opted_out`) or takes it off, so the two lists never
    /// disagree. `Ok(false)` when the provider keeps no list for the service (the console, or AWS
    /// without `SMS_OPT_OUT_LIST`).
    async fn sync_opt_out(&self, e164: &E164, opted_out: bool) -> Result<bool, ProviderError> {
        let _ = (e164, opted_out);
        Ok(false)
    }

    /// Every number on the provider's own opt-out list (`SMS_OPT_OUT_LIST`) with when it opted out,
    /// for `sms-notify import`; `None` when the provider keeps no list for the service.
    async fn opted_out_numbers(
        &self,
    ) -> Result<Option<Vec<(String, chrono::DateTime<chrono::Utc>)>>, ProviderError> {
        Ok(None)
    }

    /// The account's enforced monthly spend limit for texts, in micro-dollars; `None` where the
    /// provider has none (the console).
    async fn text_spend_limit(&self) -> Result<Option<i64>, ProviderError> {
        Ok(None)
    }

    /// Whether the service should report each sent text delivered itself (the console provider, so
    /// that local work shows the whole loop); real providers send receipts of their own.
    fn simulates_receipts(&self) -> bool {
        false
    }
}

/// The provider of `config`.
pub async fn from_config(config: &SmsConfig) -> Arc<dyn SmsProvider> {
    match config.provider {
        ProviderKind::Console => Arc::new(ConsoleProvider),
        ProviderKind::Aws => Arc::new(AwsProvider::from_env(config).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_come_from_a_closed_set() {
        let label = |code: &str| ProviderError::new(FailureKind::Permanent, code, "").metric_code();
        assert_eq!(label("ThrottlingException"), "ThrottlingException");
        assert_eq!(
            label("ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT"),
            "ConflictException"
        );
        assert_eq!(label("Timeout"), "Timeout");
        for outside in ["MadeUpException", "x\ny", "", "ThrottlingException2"] {
            assert_eq!(label(outside), "other", "{outside:?}");
        }
    }
}
