//! What a provider call came to, written down: successes in groups (`SentGroup`), failures by the
//! retry plan (`record_failure`), each with its log line and metrics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::{
    gate,
    provider::{ProviderError, SmsProvider},
    retry::{self, Plan, RETRY},
    worker::{BatchReport, GROUP_COMMIT, Workers},
};
use crate::{
    jobs::backoff::Backoff,
    locale::phone,
    store::{
        MessageRow,
        lease::{self, Outcome},
    },
    telemetry,
};

/// Successes waiting to be written.
pub(super) struct SentGroup<'a> {
    rows: Vec<(&'a MessageRow, String)>,
    since: Option<tokio::time::Instant>,
}

impl<'a> SentGroup<'a> {
    pub(super) fn new() -> Self {
        Self {
            rows: Vec::new(),
            since: None,
        }
    }

    pub(super) fn push(&mut self, row: &'a MessageRow, provider_id: String) {
        self.since.get_or_insert_with(tokio::time::Instant::now);
        self.rows.push((row, provider_id));
    }

    pub(super) fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= GROUP_COMMIT)
    }

    pub(super) async fn flush(
        &mut self,
        workers: &Workers,
        provider: &dyn SmsProvider,
        report: &mut BatchReport,
    ) -> Result<(), DbErr> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let now = workers.outbox.clock.now();
        let written = record_sent(workers, &self.rows, now).await?;
        report.sent += written.len();
        // Only the rows still held count as this worker's: the others were taken over.
        let mine = || {
            self.rows
                .iter()
                .filter(|(row, _)| written.contains(&row.id))
        };
        for (row, _) in mine() {
            workers
                .outbox
                .metrics
                .messages
                .with_label_values(&[row.message_type_label().as_str(), "sent"])
                .inc();
            workers
                .outbox
                .metrics
                .queued_to_sent
                .observe((now - row.created_at).num_milliseconds().max(0) as f64 / 1000.0);
            for (feature, saved) in crate::store::savings::of(row) {
                let metrics = &workers.outbox.metrics.savings;
                let label = [feature.as_str()];
                metrics
                    .saved_segments
                    .with_label_values(&label)
                    .inc_by(saved.segments.max(0) as u64);
                metrics
                    .saved_texts
                    .with_label_values(&label)
                    .inc_by(saved.texts.max(0) as u64);
            }
        }
        if provider.simulates_receipts() {
            // Local work sees the whole loop: each text is reported delivered, as AWS would, the
            // group's receipts in one transaction.
            let at = workers.outbox.clock.now();
            let ids: Vec<&str> = mine().map(|(_, id)| id.as_str()).collect();
            workers.receipts.delivered(&ids, at).await?;
        }
        report.lease_lost += self.rows.len() - written.len();
        for (row, _) in mine() {
            tracing::info!(
                id = row.id,
                to = phone::mask(&row.to_phone),
                attempt = row.attempts,
                provider = provider.name(),
                trace_id = telemetry::trace_id_of(row.trace_parent.as_deref()),
                "message sent"
            );
        }
        if written.len() < self.rows.len() {
            tracing::warn!(
                lost = self.rows.len() - written.len(),
                "sent, but some leases had passed to another worker"
            );
        }
        self.rows.clear();
        self.since = None;
        workers.outbox.signals.outcome_recorded();
        Ok(())
    }
}

/// Records a failed send with its log line and metrics; what became of the message.
pub(super) async fn failed(
    workers: &Workers,
    row: &MessageRow,
    error: &ProviderError,
) -> Result<Outcome, DbErr> {
    let outcome = record_failure(workers, row, error).await?;
    if outcome == Outcome::Failed && row.carried > 0 {
        // A digest that failed for good: what it carried fails with it, each retryable on its own.
        use sea_orm::TransactionTrait;
        let txn = workers.outbox.db.begin().await?;
        let what = (error.code.as_str(), error.message.as_str());
        crate::store::digests::fail_carried(&txn, row, what).await?;
        txn.commit().await?;
    }
    tracing::warn!(
        id = row.id,
        to = phone::mask(&row.to_phone),
        attempt = row.attempts,
        code = error.code,
        ?outcome,
        trace_id = telemetry::trace_id_of(row.trace_parent.as_deref()),
        "send failed"
    );
    workers
        .outbox
        .metrics
        .provider_errors
        .with_label_values(&[error.metric_code()])
        .inc();
    let settled = match outcome {
        Outcome::Failed => Some("failed"),
        Outcome::Unknown => Some("unknown"),
        _ => None,
    };
    if let Some(status) = settled {
        workers
            .outbox
            .metrics
            .messages
            .with_label_values(&[row.message_type_label().as_str(), status])
            .inc();
    }
    workers.outbox.signals.outcome_recorded();
    Ok(outcome)
}

/// Records successes the provider accepted. A database error does not drop them: the texts are out,
/// and forgetting them would send them again once their lease expires. So the write is tried again,
/// with backoff, for as long as the lease holds (after that another worker may take the rows over).
async fn record_sent(
    workers: &Workers,
    rows: &[(&MessageRow, String)],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    const AGAIN: Backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(2));
    let give_up = tokio::time::Instant::now() + workers.outbox.sms.lease;
    let mut failed = 0;
    loop {
        let written = lease::record_sent_many(&workers.outbox.db, rows, now).await;
        failed += 1;
        let pause = AGAIN.delay(failed);
        match written {
            Ok(written) => return Ok(written),
            Err(error) if tokio::time::Instant::now() + pause < give_up => {
                tracing::error!(%error, sent = rows.len(), "sent texts not recorded yet; trying again");
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Records a failed attempt: released without spending it (throttling pauses the whole deployment),
/// retried later with backoff (transient, attempts left), or failed for good.
async fn record_failure(
    workers: &Workers,
    row: &MessageRow,
    error: &ProviderError,
) -> Result<Outcome, DbErr> {
    let now = workers.outbox.clock.now();
    let what = (error.code.as_str(), error.message.as_str());
    let attempted = retry::Attempted {
        attempts: row.attempts,
        promotional: row.promotional,
        expires_at: row.expires_at,
    };
    let backoff = (workers.outbox.sms.max_attempts, RETRY.after(row.attempts));
    let held = |held: bool, then: Outcome| if held { then } else { Outcome::LeaseLost };
    let opted_out = match retry::plan(&error.kind, attempted, backoff, now) {
        Plan::PauseAll { until } => {
            gate::pause_until(&workers.outbox.db, until.timestamp_micros()).await?;
            tracing::warn!(
                pause_ms = (until - now).num_milliseconds(),
                "provider throttling: pausing sends"
            );
            return lease::release(&workers.outbox.db, row, until).await;
        }
        Plan::PauseAccount => {
            workers.outbox.pause_for(row, error).await?;
            return lease::release(&workers.outbox.db, row, now).await;
        }
        Plan::AwaitReceipt => {
            let unknown = lease::unknown(&workers.outbox.db, row, what).await?;
            return Ok(held(unknown, Outcome::Unknown));
        }
        Plan::RetryAt(at) => {
            let later = lease::retry_later(&workers.outbox.db, row, what, at).await?;
            return Ok(held(later, Outcome::Retrying));
        }
        Plan::Fail { opted_out } => opted_out.then_some(now),
    };
    let txn = workers.outbox.db.write().await?;
    if !lease::fail(&txn, row, what).await? {
        return Ok(Outcome::LeaseLost);
    }
    if let Some(at) = opted_out {
        crate::consent::opt_out(
            &txn,
            &phone::E164::stored(row.to_phone.clone()),
            crate::consent::OptOutSource::Provider,
            at,
        )
        .await?;
    }
    txn.commit().await?;
    if opted_out.is_some() {
        tracing::info!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            "destination opted out with the carrier: added to the opt-out list"
        );
    }
    Ok(Outcome::Failed)
}
