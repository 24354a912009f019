//! Outbox workers: claim due messages, wait for a send slot, call the provider one message at a time,
//! record the outcome. Several run in each `serve`; any number of instances share one PostgreSQL.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::sms_log::{self, SmsStatus};
use sea_orm::{DbErr, EntityTrait};
use tokio_util::sync::CancellationToken;

use super::{
    gate,
    outbox::{self, Outcome},
    phone,
    provider::{FailureKind, OutgoingSms, ProviderError, SmsProvider},
};
use crate::AppContext;

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub released: usize,
    pub lease_lost: usize,
}

impl BatchReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released => self.released += 1,
            Outcome::LeaseLost => self.lease_lost += 1,
        }
    }
}

/// Messages one worker claims at a time: about a second's worth at the configured rate.
pub fn batch_size(mps: f64) -> u64 {
    if mps <= 0.0 {
        64
    } else {
        (mps.ceil() as u64).clamp(1, 64)
    }
}

fn micros_to_time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Waits for this message's slot under the deployment-wide rate limit. `false` when shutting down.
async fn wait_for_slot(ctx: &AppContext, shutdown: &CancellationToken) -> Result<bool, DbErr> {
    let mps = ctx.config.sms.rate_limit_mps;
    if mps <= 0.0 {
        return Ok(true);
    }
    let interval = gate::interval_us(mps);
    let lateness = gate::LATENESS.as_micros() as i64;
    loop {
        let slot =
            gate::reserve_slot(&ctx.db, ctx.clock.now().timestamp_micros(), interval).await?;
        let wait = slot - ctx.clock.now().timestamp_micros();
        if wait > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_micros(wait as u64)) => {}
                () = shutdown.cancelled() => return Ok(false),
            }
        }
        // Woken too late, the send could crowd the next slots: give this one up and take another.
        if ctx.clock.now().timestamp_micros() - slot <= lateness {
            return Ok(true);
        }
    }
}

/// Sends one claimed message and records its outcome.
async fn deliver(
    ctx: &AppContext,
    provider: &dyn SmsProvider,
    row: &sms_log::Model,
) -> Result<(Outcome, Option<ProviderError>), DbErr> {
    let message_type = sea_orm::ActiveEnum::to_value(&row.message_type);
    let sms = OutgoingSms {
        log_id: row.id,
        to: &row.to_phone,
        body: &row.body,
        message_type: &message_type,
        transactional: !row.promotional,
    };
    let timeout = ctx.config.sms.send_timeout;
    let result = match tokio::time::timeout(timeout, provider.send(&sms)).await {
        Ok(result) => result,
        Err(_) => Err(ProviderError::new(
            FailureKind::Transient,
            "Timeout",
            format!("no answer from the provider within {timeout:?}"),
        )),
    };
    let now = ctx.clock.now();
    let outcome = match &result {
        Ok(provider_id) => outbox::record_sent(&ctx.db, row, provider_id, now).await?,
        Err(error) => {
            outbox::record_failure(&ctx.db, row, error, ctx.config.sms.max_attempts, now).await?
        }
    };
    match (&result, outcome) {
        (Ok(_), Outcome::Sent) => tracing::info!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            attempt = row.attempts,
            provider = provider.name(),
            "message sent"
        ),
        (Err(error), _) => tracing::warn!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            attempt = row.attempts,
            code = error.code,
            ?outcome,
            "send failed"
        ),
        (Ok(_), _) => tracing::warn!(
            id = row.id,
            ?outcome,
            "sent, but the lease had passed to another worker"
        ),
    }
    ctx.signals.outcome_recorded();
    Ok((outcome, result.err()))
}

/// Claims one batch of due messages and works through it.
pub async fn run_once(
    ctx: &AppContext,
    provider: &dyn SmsProvider,
    shutdown: &CancellationToken,
) -> Result<BatchReport, DbErr> {
    let mut report = BatchReport::default();
    let now = ctx.clock.now();
    if gate::paused_until(&ctx.db).await? > now.timestamp_micros() {
        return Ok(report);
    }
    let lease =
        chrono::Duration::from_std(ctx.config.sms.lease).unwrap_or(chrono::Duration::seconds(60));
    let batch = outbox::claim_due(
        &ctx.db,
        now,
        lease,
        batch_size(ctx.config.sms.rate_limit_mps),
    )
    .await?;
    report.claimed = batch.len();
    let mut rest = batch.iter();
    while let Some(row) = rest.next() {
        if shutdown.is_cancelled() || !wait_for_slot(ctx, shutdown).await? {
            // Shutting down: hand the unsent part of the batch back at once rather than at lease expiry.
            for row in std::iter::once(row).chain(rest.by_ref()) {
                report.count(outbox::release(&ctx.db, row, ctx.clock.now()).await?);
            }
            break;
        }
        let (outcome, error) = deliver(ctx, provider, row).await?;
        report.count(outcome);
        if let Some(ProviderError {
            kind: FailureKind::Throttled { .. },
            ..
        }) = error
        {
            // The deployment is paused: the rest of the batch waits with it, attempts unspent.
            let resume = micros_to_time(gate::paused_until(&ctx.db).await?);
            for row in rest.by_ref() {
                report.count(outbox::release(&ctx.db, row, resume).await?);
            }
        }
    }
    Ok(report)
}

/// One worker: runs until `shutdown`, sleeping while idle until a message is queued in this instance or
/// the poll interval passes (for work queued by other instances, retries coming due, pauses ending).
pub async fn run(
    ctx: AppContext,
    provider: Arc<dyn SmsProvider>,
    worker: usize,
    shutdown: CancellationToken,
) {
    tracing::info!(worker, provider = provider.name(), "outbox worker started");
    let poll = ctx.config.sms.poll_interval;
    while !shutdown.is_cancelled() {
        let idle = match run_once(&ctx, provider.as_ref(), &shutdown).await {
            Ok(report) => report.claimed == 0,
            Err(error) => {
                tracing::error!(worker, %error, "outbox worker: database error; retrying shortly");
                true
            }
        };
        if idle {
            tokio::select! {
                () = ctx.signals.wait_for_work() => {}
                () = tokio::time::sleep(poll) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
    tracing::info!(worker, "outbox worker stopped");
}

/// Waits up to `wait` for message `id` to settle; returns the row as it is then.
pub async fn wait_for_outcome(
    ctx: &AppContext,
    id: i64,
    wait: Duration,
) -> Result<sms_log::Model, DbErr> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = ctx.signals.outcome();
        let row = sms_log::Entity::find_by_id(id)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("sms_log {id}")))?;
        let retrying = row.status == SmsStatus::Pending && row.attempts > 0;
        if outbox::is_settled(row.status) || retrying || tokio::time::Instant::now() >= deadline {
            return Ok(row);
        }
        tokio::select! {
            () = notified => {}
            // Outcomes recorded by another instance do not signal this one.
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}
