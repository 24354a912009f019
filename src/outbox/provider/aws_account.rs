//! `AccountReport` for AWS End User Messaging SMS: `DescribePhoneNumbers`, `DescribePools`,
//! `DescribeSenderIds`, `DescribeRegistrations`, `DescribeSpendLimits`, `DescribeConfigurationSets`
//! and a `SendTextMessage` with `DryRun`, each a check that names its IAM permission when refused.

use aws_sdk_pinpointsmsvoicev2::{
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{PhoneNumberInformation, SenderIdAndCountry},
};

use super::{
    AwsProvider, FailureKind, OutgoingSms, SmsProvider,
    account::{AccountReport, CheckOutcome, ConfigurationSetReport, IdentityReport},
};

/// What kind of origination identity a configured value names.
fn kind_of(identity: &str) -> &'static str {
    if identity.starts_with('+')
        || identity.starts_with("phone-")
        || identity.contains(":phone-number/")
    {
        "phone number"
    } else if identity.starts_with("pool-") || identity.contains(":pool/") {
        "pool"
    } else {
        "sender id"
    }
}

/// How a refused call reads in the checklist: denied (a missing permission) or failed.
fn refusal<E, R>(error: &SdkError<E, R>) -> (CheckOutcome, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => {
            let code = service.code().unwrap_or("Unknown");
            let message = service.message().unwrap_or_default();
            let outcome = if code == "AccessDeniedException" {
                CheckOutcome::Denied
            } else {
                CheckOutcome::Failed
            };
            (outcome, format!("{code}: {message}"))
        }
        None => (
            CheckOutcome::Failed,
            format!("no answer from AWS: {}", DisplayErrorContext(error)),
        ),
    }
}

impl AwsProvider {
    /// Every identity the service sends from, with its uses.
    fn identities(&self) -> Vec<(String, Vec<String>, Option<String>)> {
        let mut out: Vec<(String, Vec<String>, Option<String>)> = Vec::new();
        let mut add = |identity: &str, usage: String, country: Option<&str>| match out
            .iter_mut()
            .find(|(i, _, _)| i == identity)
        {
            Some((_, uses, _)) => uses.push(usage),
            None => out.push((identity.to_owned(), vec![usage], country.map(str::to_owned))),
        };
        add(&self.origination_identity, "default".into(), None);
        if let Some(identity) = &self.verification_identity {
            add(identity, "verification codes".into(), None);
        }
        for (country, id) in &self.sender_ids {
            add(id, format!("sender id for {country}"), Some(country));
        }
        out
    }

    /// Every phone number of the account (a few pages at most); `None` when the call was refused.
    async fn phone_numbers(
        &self,
        report: &mut AccountReport,
    ) -> Option<Vec<PhoneNumberInformation>> {
        let mut numbers = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..20 {
            let mut call = self.client.describe_phone_numbers();
            if let Some(t) = &token {
                call = call.next_token(t);
            }
            match call.send().await {
                Ok(page) => {
                    numbers.extend(page.phone_numbers().iter().cloned());
                    token = page.next_token().map(str::to_owned);
                    if token.is_none() {
                        break;
                    }
                }
                Err(error) => {
                    let (outcome, detail) = refusal(&error);
                    report.check(
                        "read the account's phone numbers",
                        "sms-voice:DescribePhoneNumbers",
                        outcome,
                        detail,
                    );
                    return None;
                }
            }
        }
        Some(numbers)
    }

    /// The status of registration `id`, as a check.
    async fn registration(&self, id: &str, report: &mut AccountReport) -> Option<String> {
        match self
            .client
            .describe_registrations()
            .registration_ids(id)
            .send()
            .await
        {
            Ok(output) => {
                let status = output
                    .registrations()
                    .first()
                    .map(|r| r.registration_status().as_str().to_owned());
                report.status(
                    format!("registration {id}"),
                    "sms-voice:DescribeRegistrations",
                    status.as_deref(),
                    status.as_deref() == Some("COMPLETE"),
                    ("texts are refused until it is COMPLETE", "not found"),
                );
                status
            }
            Err(error) => {
                let (outcome, detail) = refusal(&error);
                report.check(
                    format!("registration {id}"),
                    "sms-voice:DescribeRegistrations",
                    outcome,
                    detail,
                );
                None
            }
        }
    }

    /// One identity's status and registration.
    async fn identity_report(
        &self,
        (identity, uses, country): (String, Vec<String>, Option<String>),
        numbers: Option<&[PhoneNumberInformation]>,
        report: &mut AccountReport,
    ) -> IdentityReport {
        let kind = kind_of(&identity);
        let what = format!("{kind} {identity} ({})", uses.join(", "));
        let mut status = None;
        let mut registration_id = None;
        match kind {
            "phone number" => {
                if let Some(numbers) = numbers {
                    let found = numbers.iter().find(|n| {
                        n.phone_number() == identity
                            || n.phone_number_id() == Some(identity.as_str())
                            || n.phone_number_arn() == identity
                    });
                    status = found.map(|n| n.status().as_str().to_owned());
                    registration_id = found.and_then(|n| n.registration_id().map(str::to_owned));
                }
            }
            "pool" => status = self.pool_status(&identity, &what, report).await,
            _ => {
                (status, registration_id) = self
                    .sender_id_status(&identity, country.as_deref(), &what, report)
                    .await;
            }
        }
        let permission = match kind {
            "phone number" => "sms-voice:DescribePhoneNumbers",
            "pool" => "sms-voice:DescribePools",
            _ => "sms-voice:DescribeSenderIds",
        };
        let read = numbers.is_some() || kind != "phone number";
        if read && !report.checks.iter().any(|c| c.what == what) {
            let usable = matches!(status.as_deref(), Some("ACTIVE" | "REGISTERED"))
                || (kind == "sender id" && status.is_some());
            report.status(
                &what,
                permission,
                status.as_deref(),
                usable,
                (
                    "texts from it are refused until it is ACTIVE",
                    "not in this account and region (AWS_REGION)",
                ),
            );
        }
        let registration_status = match &registration_id {
            Some(id) => self.registration(id, report).await,
            None => None,
        };
        IdentityReport {
            identity,
            kind,
            uses,
            status,
            registration_status,
        }
    }

    /// A pool's status, or the refusal recorded in `report`.
    async fn pool_status(
        &self,
        identity: &str,
        what: &str,
        report: &mut AccountReport,
    ) -> Option<String> {
        match self.client.describe_pools().pool_ids(identity).send().await {
            Ok(output) => output
                .pools()
                .first()
                .map(|p| p.status().as_str().to_owned()),
            Err(error) => {
                let (outcome, detail) = refusal(&error);
                report.check(what, "sms-voice:DescribePools", outcome, detail);
                None
            }
        }
    }

    /// A sender id's registration in `country` (`REGISTERED` or `UNREGISTERED`, and the registration's
    /// id), or the refusal recorded in `report` (one that is not in the account is not a refusal).
    async fn sender_id_status(
        &self,
        identity: &str,
        country: Option<&str>,
        what: &str,
        report: &mut AccountReport,
    ) -> (Option<String>, Option<String>) {
        let filter = SenderIdAndCountry::builder()
            .sender_id(identity)
            .iso_country_code(country.unwrap_or("US"))
            .build();
        let filter = match filter {
            Ok(filter) => filter,
            Err(error) => {
                report.check(
                    what,
                    "sms-voice:DescribeSenderIds",
                    CheckOutcome::Failed,
                    error.to_string(),
                );
                return (None, None);
            }
        };
        match self
            .client
            .describe_sender_ids()
            .sender_ids(filter)
            .send()
            .await
        {
            Ok(output) => {
                let found = output.sender_ids().first();
                let status = found.map(|s| {
                    if s.registered() {
                        "REGISTERED".to_owned()
                    } else {
                        "UNREGISTERED".to_owned()
                    }
                });
                (
                    status,
                    found.and_then(|s| s.registration_id().map(str::to_owned)),
                )
            }
            Err(error) => {
                let (outcome, detail) = refusal(&error);
                if !detail.starts_with("ResourceNotFoundException") {
                    report.check(what, "sms-voice:DescribeSenderIds", outcome, detail);
                }
                (None, None)
            }
        }
    }

    /// The configuration set and whether it publishes events to SNS.
    async fn configuration_set_report(
        &self,
        report: &mut AccountReport,
    ) -> Option<ConfigurationSetReport> {
        let Some(name) = &self.configuration_set else {
            report.check(
                "configuration set",
                "sms-voice:DescribeConfigurationSets",
                CheckOutcome::Failed,
                "SMS_CONFIGURATION_SET is not set: no delivery receipts or prices will arrive",
            );
            return None;
        };
        let what = format!("configuration set {name}");
        let result = self
            .client
            .describe_configuration_sets()
            .configuration_set_names(name)
            .send()
            .await;
        let (found, publishes_to_sns) = match result {
            Ok(output) => {
                let set = output.configuration_sets().first();
                let sns = set.is_some_and(|s| {
                    s.event_destinations()
                        .iter()
                        .any(|d| d.enabled() && d.sns_destination().is_some())
                });
                (Some(set.is_some()), sns)
            }
            Err(error) => {
                let (outcome, detail) = refusal(&error);
                let missing = detail.starts_with("ResourceNotFoundException");
                if !missing {
                    report.check(
                        &what,
                        "sms-voice:DescribeConfigurationSets",
                        outcome,
                        detail,
                    );
                    return Some(ConfigurationSetReport {
                        name: name.clone(),
                        found: None,
                        publishes_to_sns: false,
                    });
                }
                (Some(false), false)
            }
        };
        let (outcome, detail) = match (found, publishes_to_sns) {
            (Some(false), _) => (
                CheckOutcome::Failed,
                "not in this account and region: every send is refused".to_owned(),
            ),
            (_, false) => (
                CheckOutcome::Failed,
                "no enabled SNS event destination: no delivery receipts or prices will arrive"
                    .to_owned(),
            ),
            _ => (CheckOutcome::Passed, "publishes events to SNS".to_owned()),
        };
        report.check(
            &what,
            "sms-voice:DescribeConfigurationSets",
            outcome,
            detail,
        );
        Some(ConfigurationSetReport {
            name: name.clone(),
            found,
            publishes_to_sns,
        })
    }

    /// The whole account, as `SmsProvider::account` reports it.
    pub(super) async fn account_report(&self, dry_run_to: Option<&str>) -> AccountReport {
        let mut report = AccountReport::default();
        let identities = self.identities();
        let needs_numbers = identities
            .iter()
            .any(|(i, _, _)| kind_of(i) == "phone number");
        let numbers = if needs_numbers {
            self.phone_numbers(&mut report).await
        } else {
            None
        };
        for identity in identities {
            let read = self
                .identity_report(identity, numbers.as_deref(), &mut report)
                .await;
            report.identities.push(read);
        }
        match self.text_spend_limit().await {
            Ok(limit) => {
                report.text_spend_limit = limit;
                report.check(
                    "AWS's monthly spend limit for texts",
                    "sms-voice:DescribeSpendLimits",
                    CheckOutcome::Passed,
                    match limit {
                        Some(l) => format!("${}", crate::billing::micros_to_dollars(l)),
                        None => "none listed".into(),
                    },
                );
            }
            Err(error) => report.check(
                "AWS's monthly spend limit for texts",
                "sms-voice:DescribeSpendLimits",
                if error.code == "AccessDeniedException" {
                    CheckOutcome::Denied
                } else {
                    CheckOutcome::Failed
                },
                format!("{}: {}", error.code, error.message),
            ),
        }
        report.configuration_set = self.configuration_set_report(&mut report).await;
        self.dry_run(dry_run_to, &mut report).await;
        report
    }

    /// A `SendTextMessage` with `DryRun` from the default identity: checked, not sent, not charged.
    async fn dry_run(&self, to: Option<&str>, report: &mut AccountReport) {
        let what = "a DryRun send from the default identity";
        let Some(to) = to else {
            report.check(
                what,
                "sms-voice:SendTextMessage",
                CheckOutcome::Skipped,
                "give a destination (--to) to try one",
            );
            return;
        };
        let sms = OutgoingSms {
            log_id: 0,
            to,
            body: "sms-notify aws check",
            message_type: "other",
            transactional: true,
            country: None,
            time_to_live: None,
        };
        match self.probe(&sms).await {
            Ok(()) => report.check(
                what,
                "sms-voice:SendTextMessage",
                CheckOutcome::Passed,
                "accepted",
            ),
            Err(error) => report.check(
                what,
                "sms-voice:SendTextMessage",
                if error.code == "AccessDeniedException" && error.kind == FailureKind::Account {
                    CheckOutcome::Denied
                } else {
                    CheckOutcome::Failed
                },
                format!("{}: {}", error.code, error.message),
            ),
        }
    }
}
