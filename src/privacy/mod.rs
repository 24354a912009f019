//! What people leave behind. Erasure: a person asks to be forgotten, and everything that names them
//! goes, except what the business must keep (messages for accounting, without text or number; consent
//! events as legal proof, with the number replaced by its keyed hash). Retention: texts, replies and
//! short-lived records are purged after their periods by a scheduled job (`sms-notify purge` runs it
//! at once).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use secrecy::ExposeSecret;

pub use crate::store::{erasure::Erased, retention::RetentionRun};
use crate::{
    Clock,
    config::PrivacyConfig,
    metrics::Metrics,
    store::{consent, erasure, retention},
};

/// SNS deduplication rows are kept this long: SNS gives up retrying a delivery long before.
pub const SNS_DEDUP_RETENTION: Duration = Duration::from_secs(14 * 86_400);
/// Reminder scans' run records are kept this long (the console shows the recent ones).
pub const SCAN_RUN_RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// What started a purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Command,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Command => "command",
        }
    }
}

/// The retention periods in force.
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    pub body: Duration,
    pub consent: Duration,
    pub sns_dedup: Duration,
    pub scan_runs: Duration,
}

/// The privacy handle: erasure and the retention purge.
#[derive(Clone)]
pub struct Privacy {
    db: crate::store::db::Db,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    config: PrivacyConfig,
    key: Arc<aws_lc_rs::hmac::Key>,
}

impl Privacy {
    pub fn new(
        (db, clock, metrics): (crate::store::db::Db, Arc<dyn Clock>, Arc<Metrics>),
        config: PrivacyConfig,
    ) -> Self {
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            config.erasure_key.expose_secret().as_bytes(),
        );
        Self {
            db,
            clock,
            metrics,
            config,
            key: Arc::new(key),
        }
    }

    /// A number's keyed hash (HMAC-SHA256 under `ERASURE_HASH_KEY`, hex) and its last four digits: what
    /// an erased person's consent events keep. Without the key the hash cannot be reversed or tested.
    pub fn pseudonym(&self, phone: &str) -> (String, String) {
        let tag = aws_lc_rs::hmac::sign(&self.key, phone.as_bytes());
        let hash = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
        let last4 = digits[digits.len().saturating_sub(4)..].iter().collect();
        (hash, last4)
    }

    /// The retention periods in force.
    pub fn periods(&self) -> Periods {
        Periods {
            body: self.config.body_retention,
            consent: self.config.consent_retention,
            sns_dedup: SNS_DEDUP_RETENTION,
            scan_runs: SCAN_RUN_RETENTION,
        }
    }

    /// The purge's cron, when it is on.
    pub fn schedule(&self) -> Option<&str> {
        self.config.retention_schedule.as_deref()
    }

    /// Erases `user_id` for `actor` (`via` names the surface, for the metric): `None` when the service
    /// holds no profile of theirs.
    pub async fn erase(
        &self,
        user_id: &str,
        actor: &str,
        via: &'static str,
    ) -> Result<Option<Erased>, DbErr> {
        let now = self.clock.now();
        let erased = erasure::erase(&self.db, (user_id, actor), |n| self.pseudonym(n), now).await?;
        if let Some(erased) = &erased {
            self.metrics.erasures.with_label_values(&[via]).inc();
            tracing::warn!(
                user_id,
                actor,
                cancelled = erased.messages_cancelled,
                scrubbed = erased.messages_scrubbed,
                consent_events = erased.consent_events_pseudonymized,
                "recipient erased"
            );
        }
        Ok(erased)
    }

    /// Runs the retention purge now: each kind of row older than its period goes, a batch at a time.
    /// The run is recorded, logged and counted.
    pub async fn purge(&self, trigger: Trigger) -> Result<RetentionRun, DbErr> {
        let started_at = self.clock.now();
        let before = |period: Duration| -> DateTime<Utc> {
            chrono::Duration::from_std(period)
                .ok()
                .and_then(|d| started_at.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        let periods = self.periods();
        let message_bodies =
            retention::purge_message_bodies(&self.db, before(periods.body), started_at).await?;
        let reply_bodies =
            retention::purge_reply_bodies(&self.db, before(periods.body), started_at).await?;
        let consent_events =
            consent::purge(&self.db, before(periods.consent), retention::BATCH).await?;
        let webhook_deliveries =
            retention::purge_sns_deliveries(&self.db, before(periods.sns_dedup)).await?;
        let scan_runs = retention::purge_scan_runs(&self.db, before(periods.scan_runs)).await?;
        let outbound_webhooks =
            crate::store::webhooks::purge(&self.db, before(periods.body), retention::BATCH).await?;
        let verifications = retention::purge_verifications(&self.db, before(periods.body)).await?;
        // Short links answer until they expire (`SMS_LINK_RETENTION`), then go.
        let short_links = crate::store::links::purge_expired(&self.db, started_at).await?;
        for (kind, n) in [
            ("short_link", short_links),
            ("message_body", message_bodies),
            ("reply_body", reply_bodies),
            ("consent_event", consent_events),
            ("webhook_delivery", webhook_deliveries),
            ("scan_run", scan_runs),
            ("outbound_webhook", outbound_webhooks),
            ("verification", verifications),
        ] {
            self.metrics
                .retention_purged
                .with_label_values(&[kind])
                .inc_by(n);
        }
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let run = retention::record_run(
            &self.db,
            RetentionRun {
                id: 0,
                trigger: trigger.as_str().to_owned(),
                message_bodies: count(message_bodies),
                reply_bodies: count(reply_bodies),
                consent_events: count(consent_events),
                webhook_deliveries: count(webhook_deliveries),
                scan_runs: count(scan_runs),
                // The change feed is the log itself since the fourth round: nothing of it to purge.
                feed_changes: 0,
                outbound_webhooks: count(outbound_webhooks),
                verifications: count(verifications),
                started_at,
                finished_at: self.clock.now(),
            },
        )
        .await?;
        tracing::info!(
            trigger = trigger.as_str(),
            message_bodies,
            reply_bodies,
            consent_events,
            webhook_deliveries,
            scan_runs,
            outbound_webhooks,
            verifications,
            "retention purge done"
        );
        Ok(run)
    }

    /// The latest purge, if one ran.
    pub async fn last_run(&self) -> Result<Option<RetentionRun>, DbErr> {
        retention::last_run(&self.db).await
    }
}
