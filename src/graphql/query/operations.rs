use async_graphql::{
    Context, ID, Object, SimpleObject,
    connection::{Connection, OpaqueCursor},
};
use chrono::{DateTime, Utc};

use super::sms::{connection, page};
use crate::{
    auth::Role,
    error::ApiResult,
    graphql::{handle, require_role, types::reminders::ReminderKind},
    outbox::Outbox,
    reminders::Scans,
};

#[derive(Default)]
pub struct OperationsQuery;

/// The outbox now.
#[derive(SimpleObject)]
pub struct SmsQueue {
    /// Waiting to be sent: due now, held for quiet hours, or waiting for a retry.
    pub pending: i64,
    /// Claimed by a worker right now.
    pub sending: i64,
    /// Pending after at least one failed attempt.
    pub retrying: i64,
    /// Pending and due now.
    pub due: i64,
    /// Failed for good today (UTC).
    pub failed_today: i64,
    /// How long the oldest due message has waited since it came due, in seconds (0 when none).
    pub oldest_due_wait_seconds: f64,
    /// Message parts per second the whole deployment may send (`SMS_RATE_LIMIT_MPS`; 0: no limit).
    pub rate_limit_per_second: f64,
    /// Set while the provider refuses the account itself and sending is paused for the whole
    /// deployment (messages stay pending, no attempt spent); null while sending runs.
    pub paused: Option<SendingPause>,
}

/// Why sending is paused: the provider refused the account (access denied, an origination identity
/// or configuration set missing or not active, a registration not complete, AWS's spend limit).
#[derive(SimpleObject)]
pub struct SendingPause {
    /// The provider's error code, e.g. `AccessDeniedException`.
    pub code: String,
    /// The provider's words for it.
    pub reason: String,
    /// When sending paused.
    pub since: DateTime<Utc>,
    /// When the next `DryRun` probe runs (every `SMS_PAUSE_PROBE_INTERVAL`); sending resumes when it
    /// passes, or at once with `resumeSending`.
    pub next_probe_at: DateTime<Utc>,
}

impl SmsQueue {
    /// The outbox as it is now.
    pub async fn now(outbox: &Outbox) -> ApiResult<Self> {
        let now = outbox.now();
        let state = outbox.queue_state().await?;
        let paused = outbox.paused().await?.map(|p| SendingPause {
            code: p.code,
            reason: p.reason,
            since: p.since,
            next_probe_at: p.next_probe_at,
        });
        Ok(Self {
            pending: state.pending,
            sending: state.sending,
            retrying: state.retrying,
            due: state.due,
            failed_today: state.failed_today,
            oldest_due_wait_seconds: state.oldest_due.map_or(0.0, |at| {
                (now - at).num_milliseconds().max(0) as f64 / 1000.0
            }),
            rate_limit_per_second: outbox.rate_limit_mps(),
            paused,
        })
    }
}

/// The SMS provider's account at a glance (`smsProviderAccount`).
#[derive(SimpleObject)]
pub struct SmsProviderAccount {
    /// `aws` or `console` (`SMS_PROVIDER`).
    pub provider: String,
    /// Each origination identity the service sends from, with its use and AWS's statuses.
    pub identities: Vec<OriginationIdentity>,
    /// AWS's monthly spend limit for texts, in dollars, when it could be read.
    pub aws_spend_limit: Option<rust_decimal::Decimal>,
    /// The configuration set texts are sent with (`SMS_CONFIGURATION_SET`), when one is set.
    pub configuration_set: Option<ConfigurationSetStatus>,
    /// Set while sending is paused because the account is refused.
    pub paused: Option<SendingPause>,
    /// Whether every check passed.
    pub healthy: bool,
    /// Every check, with the IAM permission it needs.
    pub checks: Vec<ProviderCheck>,
}

/// An origination identity: a phone number, pool or sender id.
#[derive(SimpleObject)]
pub struct OriginationIdentity {
    /// As configured (`SMS_ORIGINATION_IDENTITY`, `SMS_ORIGINATION_IDENTITY_VERIFICATION`,
    /// `SMS_SENDER_IDS`).
    pub identity: String,
    /// `phone number`, `pool` or `sender id`.
    pub kind: String,
    /// What it sends: `default`, `verification codes`, `sender id for GB`.
    pub uses: Vec<String>,
    /// AWS's status (`ACTIVE`, `PENDING`, ...; `REGISTERED` or `UNREGISTERED` for a sender id); null
    /// when it could not be read or is not in the account.
    pub status: Option<String>,
    /// Its registration's status (`COMPLETE`, `REVIEWING`, ...), when it has one.
    pub registration_status: Option<String>,
}

/// The configuration set and its event destination.
#[derive(SimpleObject)]
pub struct ConfigurationSetStatus {
    /// The configuration set's name (SMS_CONFIGURATION_SET).
    pub name: String,
    /// Whether the account has it; null when it could not be read.
    pub found: Option<bool>,
    /// Whether an enabled SNS event destination publishes its events (receipts and prices).
    pub publishes_to_sns: bool,
}

/// How a check went.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// The account answered, and all is well.
    Passed,
    /// The account answered, and the answer is a problem.
    Failed,
    /// The call was refused: grant the permission.
    Denied,
    /// Not run.
    Skipped,
}

/// One check of the provider account.
#[derive(SimpleObject)]
pub struct ProviderCheck {
    /// What was checked, in words.
    pub what: String,
    /// The IAM action it calls, e.g. `sms-voice:DescribePhoneNumbers` (empty when none).
    pub permission: String,
    /// Whether this part of the account is ready.
    pub status: CheckStatus,
    /// What the account said, or what to do.
    pub detail: String,
}

/// One admin write, as the audit trail keeps it.
#[derive(SimpleObject)]
pub struct AdminAction {
    /// The action's id (increasing).
    pub id: ID,
    /// The admin token's subject.
    pub actor: String,
    /// What was done: `cancel_sms`, `retry_sms`, `resume_sending`, `set_country_sending`,
    /// `lift_verification_guard`.
    pub action: String,
    /// On what: a message id, a country, a range of numbers, `sending`.
    pub target: String,
    /// The admin's note, when one was given.
    pub note: Option<String>,
    /// What changed.
    pub detail: Option<String>,
    /// When it was done.
    pub created_at: DateTime<Utc>,
}

/// One run of a reminder scan, as kept.
pub struct ReminderRunRecord(pub crate::store::reminders::ScanRunRow);

/// One scan as recorded (kept 90 days).
#[Object(name = "ReminderRunRecord")]
impl ReminderRunRecord {
    /// The record's id (increasing).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Which scan ran.
    async fn kind(&self) -> ReminderKind {
        match self.0.kind {
            crate::store::ScanKind::Battles => ReminderKind::Battles,
            crate::store::ScanKind::Streaks => ReminderKind::Streaks,
        }
    }

    /// Recipients it found due.
    async fn found(&self) -> i64 {
        self.0.found
    }

    /// Reminders it queued.
    async fn enqueued(&self) -> i64 {
        self.0.enqueued
    }

    /// Found but not queued (sent already, refused by policy).
    async fn skipped(&self) -> i64 {
        self.0.skipped
    }

    /// When it started.
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    /// When it finished.
    async fn finished_at(&self) -> DateTime<Utc> {
        self.0.finished_at
    }

    /// How long the scan took, in milliseconds of wall-clock time.
    async fn duration_ms(&self) -> i64 {
        self.0.duration_ms
    }
}

#[Object]
impl OperationsQuery {
    /// The outbox now (admin): counts by state, the oldest due wait, the rate limit, and whether
    /// sending is paused.
    async fn sms_queue(&self, ctx: &Context<'_>) -> ApiResult<SmsQueue> {
        require_role(ctx, &[Role::Admin])?;
        SmsQueue::now(handle::<Outbox>(ctx)?).await
    }

    /// The SMS provider's account at a glance (admin): each origination identity with its use, status
    /// and registration, AWS's spend limit, the configuration set and its event destination, the pause
    /// state, and each check with the IAM permission it needs. Calls AWS's `Describe*` operations.
    async fn sms_provider_account(&self, ctx: &Context<'_>) -> ApiResult<SmsProviderAccount> {
        use crate::outbox::provider::{CheckOutcome, SmsProvider};
        require_role(ctx, &[Role::Admin])?;
        let provider = handle::<std::sync::Arc<dyn SmsProvider>>(ctx)?;
        let report = provider.account(None).await;
        let queue = SmsQueue::now(handle::<Outbox>(ctx)?).await?;
        Ok(SmsProviderAccount {
            provider: provider.name().to_owned(),
            healthy: report.healthy(),
            identities: report
                .identities
                .into_iter()
                .map(|i| OriginationIdentity {
                    identity: i.identity,
                    kind: i.kind.to_owned(),
                    uses: i.uses,
                    status: i.status,
                    registration_status: i.registration_status,
                })
                .collect(),
            aws_spend_limit: report
                .text_spend_limit
                .map(crate::billing::micros_to_dollars),
            configuration_set: report.configuration_set.map(|c| ConfigurationSetStatus {
                name: c.name,
                found: c.found,
                publishes_to_sns: c.publishes_to_sns,
            }),
            paused: queue.paused,
            checks: report
                .checks
                .into_iter()
                .map(|c| ProviderCheck {
                    what: c.what,
                    permission: c.permission.to_owned(),
                    status: match c.outcome {
                        CheckOutcome::Passed => CheckStatus::Passed,
                        CheckOutcome::Failed => CheckStatus::Failed,
                        CheckOutcome::Denied => CheckStatus::Denied,
                        CheckOutcome::Skipped => CheckStatus::Skipped,
                    },
                    detail: c.detail,
                })
                .collect(),
        })
    }

    /// Every admin write, newest first (admin), as a cursor connection (`first` up to 100): who (the
    /// token's subject), what, on what, when, with the note. Kept in the transaction of the write
    /// where it has one.
    #[graphql(complexity = "super::super::page_items(first) * child_complexity")]
    async fn admin_actions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many actions to return: 1 to 100, default 20.")] first: Option<i32>,
        #[graphql(desc = "The endCursor of the previous page, to read the next (older) one.")]
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, AdminAction>> {
        require_role(ctx, &[Role::Admin])?;
        let (first, before_id) = page(first, after)?;
        let rows = handle::<Outbox>(ctx)?
            .admin_actions(before_id, first as u64 + 1)
            .await?;
        Ok(connection(rows, first, before_id, |row| {
            (
                row.id,
                AdminAction {
                    id: ID(row.id.to_string()),
                    actor: row.actor,
                    action: row.action,
                    target: row.target,
                    note: row.note,
                    detail: row.detail,
                    created_at: row.created_at,
                },
            )
        }))
    }

    /// What the reminder scans found, enqueued and skipped (admin), newest first, as a cursor
    /// connection; `kind` narrows to one scan.
    #[graphql(complexity = "super::super::page_items(first) * child_complexity")]
    async fn reminder_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs of this scan (BATTLES or STREAKS).")] kind: Option<
            ReminderKind,
        >,
        #[graphql(desc = "How many runs to return: 1 to 100, default 20.")] first: Option<i32>,
        #[graphql(desc = "The endCursor of the previous page, to read the next (older) one.")]
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, ReminderRunRecord>> {
        require_role(ctx, &[Role::Admin])?;
        let (first, before_id) = page(first, after)?;
        let rows = handle::<Scans>(ctx)?
            .runs(kind.map(Into::into), before_id, first as u64 + 1)
            .await?;
        Ok(connection(rows, first, before_id, |row| {
            (row.id, ReminderRunRecord(row))
        }))
    }
}
