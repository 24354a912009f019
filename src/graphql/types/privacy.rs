use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{privacy::Erased, recipients::Disclosure};

/// A text people are shown when they opt in to texts, as published.
pub struct ConsentDisclosure(pub Disclosure);

/// A text people are shown when they opt in to texts, as published.
#[Object]
impl ConsentDisclosure {
    /// The version opt-ins name (disclosureVersion).
    async fn version(&self) -> &str {
        &self.0.version
    }

    /// The text as people are shown it.
    async fn text(&self) -> &str {
        &self.0.text
    }

    /// SHA-256 of the text, lowercase hex: what each consent event keeps.
    async fn text_sha256(&self) -> &str {
        &self.0.text_sha256
    }

    /// When it was published.
    async fn published_at(&self) -> DateTime<Utc> {
        self.0.published_at
    }

    /// The admin who published it (the token's subject).
    async fn published_by(&self) -> &str {
        &self.0.published_by
    }
}

/// What an erasure did, table by table.
pub struct Erasure {
    pub user_id: String,
    pub erased: Erased,
}

/// What an erasure did, table by table.
#[Object]
impl Erasure {
    /// The person erased.
    async fn user_id(&self) -> ID {
        ID(self.user_id.clone())
    }

    /// How many numbers the person had (current and earlier).
    async fn numbers(&self) -> usize {
        self.erased.numbers.len()
    }

    /// Messages that were waiting to be sent, now CANCELLED.
    async fn messages_cancelled(&self) -> u64 {
        self.erased.messages_cancelled
    }

    /// Messages kept for accounting, without text, number or user id.
    async fn messages_scrubbed(&self) -> u64 {
        self.erased.messages_scrubbed
    }

    /// Verification codes deleted.
    async fn verifications_deleted(&self) -> u64 {
        self.erased.verifications_deleted
    }

    /// Consent events kept as proof, their number replaced by its keyed hash and last four digits.
    async fn consent_events_pseudonymized(&self) -> u64 {
        self.erased.consent_events_pseudonymized
    }

    /// Replies from the person's numbers, kept without text or number.
    async fn replies_scrubbed(&self) -> u64 {
        self.erased.replies_scrubbed
    }

    /// Webhook deliveries about the person, queued or delivered, rewritten without them (never
    /// replayed).
    async fn webhook_deliveries_scrubbed(&self) -> u64 {
        self.erased.webhook_deliveries_scrubbed
    }

    /// Admin actions whose target was one of the person's numbers, now naming its keyed hash.
    async fn admin_actions_masked(&self) -> u64 {
        self.erased.admin_actions_masked
    }
}

/// One run of the retention purge: what it removed.
#[derive(SimpleObject)]
pub struct RetentionRun {
    /// SCHEDULE or COMMAND (`sms-notify purge`).
    pub trigger: String,
    /// Message texts removed.
    pub message_bodies: i64,
    /// Reply texts removed.
    pub reply_bodies: i64,
    /// Consent events deleted after CONSENT_RETENTION.
    pub consent_events: i64,
    /// SNS deduplication rows deleted.
    pub webhook_deliveries: i64,
    /// Reminder scan records deleted.
    pub scan_runs: i64,
    /// Rows of the old message change feed deleted (runs before the feed moved into the log).
    #[graphql(
        deprecation = "The change feed is read from the message log itself: purges no longer delete feed rows, and this is 0 for every newer run."
    )]
    pub feed_changes: i64,
    /// Finished webhook deliveries deleted (with their attempts) after SMS_BODY_RETENTION.
    pub outbound_webhooks: i64,
    /// Verification codes' rows (number, IP) deleted SMS_BODY_RETENTION after they expired.
    pub verifications: i64,
    /// When the purge started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

impl From<crate::privacy::RetentionRun> for RetentionRun {
    fn from(r: crate::privacy::RetentionRun) -> Self {
        Self {
            trigger: r.trigger.to_ascii_uppercase(),
            message_bodies: r.message_bodies,
            reply_bodies: r.reply_bodies,
            consent_events: r.consent_events,
            webhook_deliveries: r.webhook_deliveries,
            scan_runs: r.scan_runs,
            feed_changes: r.feed_changes,
            outbound_webhooks: r.outbound_webhooks,
            verifications: r.verifications,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// What is kept and for how long, and the purge's last run.
#[derive(SimpleObject)]
pub struct RetentionStatus {
    /// Days message and reply texts are kept (SMS_BODY_RETENTION).
    pub body_retention_days: f64,
    /// Days consent events are kept after they stop proving a standing consent (CONSENT_RETENTION).
    pub consent_retention_days: f64,
    /// Days SNS deduplication rows are kept.
    pub webhook_dedup_retention_days: f64,
    /// Days reminder scan records are kept.
    pub scan_run_retention_days: f64,
    /// The purge's cron (RETENTION_SCHEDULE), null when it is off.
    pub schedule: Option<String>,
    /// The latest run, null before the first.
    pub last_run: Option<RetentionRun>,
}
