//! Outbox workers: claim due messages, wait for a send slot, call the provider one message at a time,
//! record the outcome. Several run in each `serve`; any number of instances share one PostgreSQL.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::Outbox;
use super::{
    claimed::{decide_again, end_unsent},
    gate,
    outcome::{SentGroup, failed},
    provider::{FailureKind, ProviderError, SmsProvider},
};
use crate::{
    stages::{InStage, Stage},
    store::{
        MessageRow, SmsStatus, history,
        lease::{self, Outcome},
    },
    telemetry,
};

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub released: usize,
    pub lease_lost: usize,
    /// Promotions whose send may have gone out (a timeout): `UNKNOWN`, not tried again.
    pub unknown: usize,
    /// Claimed past their time (`expires_at`): marked expired, never sent.
    pub expired: usize,
    /// Claimed after their person was erased (no number left): cancelled, never sent.
    pub cancelled: usize,
    /// Refused by the rules decided again at the claim (a STOP, a switch turned off, a number
    /// changed since they were queued): blocked, never sent.
    pub blocked: usize,
    /// Promotions claimed inside the recipient's quiet hours: back in the queue until they end.
    pub deferred: usize,
    /// Held requests carried by a digest (this worker's or another's): not sent on their own.
    pub digested: usize,
}

impl BatchReport {
    pub(super) fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released => self.released += 1,
            Outcome::LeaseLost => self.lease_lost += 1,
            Outcome::Unknown => self.unknown += 1,
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

/// Waits for this message's slot under its sender's rate limit, shared by the whole deployment.
/// `false` when shutting down.
/// AWS limits message *parts* per second: a text of `parts` segments takes that many slots of the
/// gate, so a three-part text at 3 per second has a whole second to itself.
async fn wait_for_slot(
    workers: &Workers,
    shutdown: &CancellationToken,
    (sender, parts): (&str, i32),
) -> Result<bool, DbErr> {
    let mps = workers.outbox.sms.rate_limit_mps;
    if mps <= 0.0 {
        return Ok(true);
    }
    let interval = gate::interval_us(mps) * i64::from(parts.max(1));
    let lateness = gate::LATENESS.as_micros() as i64;
    loop {
        let slot = gate::reserve_slot(
            &workers.outbox.db,
            sender,
            workers.outbox.clock.now().timestamp_micros(),
            interval,
        )
        .await?;
        let wait = slot - workers.outbox.clock.now().timestamp_micros();
        if wait > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_micros(wait as u64)) => {}
                () = shutdown.cancelled() => return Ok(false),
            }
        }
        // Woken too late, the send could crowd the next slots: give this one up and take another.
        if workers.outbox.clock.now().timestamp_micros() - slot <= lateness {
            return Ok(true);
        }
    }
}

/// How long a worker that just worked through a batch short of full waits before it claims again, so
/// that under load claims take batches, not a message or two each. An idle worker is woken at once by
/// a new message, so a send on a quiet service does not wait for this.
pub const CLAIM_LINGER: Duration = Duration::from_millis(25);

/// How long a successful send may wait to be recorded together with the next ones. At real provider
/// speeds (tens of milliseconds a send) every success is written on its own; when sends are faster
/// than the database, they are written in groups. A worker that dies inside this window leaves those
/// messages leased, and they are sent again after the lease expires (at-least-once).
pub const GROUP_COMMIT: Duration = Duration::from_millis(20);

/// Calls the provider for one claimed message, bounded by the send timeout.
async fn call_provider(
    workers: &Workers,
    provider: &dyn SmsProvider,
    row: &MessageRow,
) -> Result<String, ProviderError> {
    let message_type = sea_orm::ActiveEnum::to_value(&row.message_type);
    let sms = super::validity::outgoing(row, &message_type, workers.outbox.clock.now());
    let timeout = workers.outbox.sms.send_timeout;
    tokio::select! {
        answer = tokio::time::timeout(timeout, provider.send(&sms)) => match answer {
            Ok(result) => result,
            Err(_) => Err(ProviderError::new(
                FailureKind::Ambiguous,
                "Timeout",
                format!("no answer from the provider within {timeout:?}; the text may have been sent"),
            )),
        },
        () = workers.abandon.cancelled() => Err(ProviderError::new(
            FailureKind::Interrupted,
            "Shutdown",
            "the service stopped (SHUTDOWN_GRACE) before the provider answered; the text may have been sent",
        )),
    }
}

/// Whether `row` can no longer be sent in time: it expires within AWS's shortest time to live.
fn too_late(row: &MessageRow, now: DateTime<Utc>) -> bool {
    row.expires_at
        .is_some_and(|at| at - now < super::validity::MIN_TIME_TO_LIVE)
}

/// Claims one batch of due messages and works through it.
async fn run_once(
    workers: &Workers,
    provider: &dyn SmsProvider,
    shutdown: &CancellationToken,
) -> Result<BatchReport, DbErr> {
    let mut report = BatchReport::default();
    let span = claim_span();
    let Some(batch) = claim(workers, provider)
        .stage(Stage::Claim)
        .instrument(span.clone())
        .await?
    else {
        return Ok(report);
    };
    report.claimed = batch.len();
    if !batch.is_empty() {
        span.record("messages", batch.len());
        telemetry::link_all(
            &span,
            batch.iter().filter_map(|r| r.trace_parent.as_deref()),
        );
    }
    let (late, batch): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|row| !row.to_phone.is_empty() && too_late(row, workers.outbox.clock.now()));
    let late: Vec<&MessageRow> = late.iter().collect();
    end_unsent(workers, &late, (SmsStatus::Expired, None), &mut report)
        .stage(Stage::Outcome)
        .await?;
    let batch = super::digest::gather(workers, batch, &mut report)
        .stage(Stage::Claim)
        .await?;
    let batch = decide_again(workers, batch, &mut report)
        .stage(Stage::Claim)
        .instrument(span)
        .await?;
    // The outcomes' writes; the provider calls inside count as their own stage.
    send_batch(workers, (provider, shutdown), &batch, &mut report)
        .stage(Stage::Outcome)
        .await?;
    Ok(report)
}

/// The worker's claim's span, linked to every message it takes; none while traces are off.
fn claim_span() -> tracing::Span {
    if !telemetry::enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "outbox.claim",
        messages = tracing::field::Empty,
        trace_id = tracing::field::Empty
    )
}

/// The provider call's span: a child of the message's own trace (the request that asked for it), with
/// the message's id, and AWS's request id and message id once known; none while traces are off.
fn send_span(row: &MessageRow, provider: &dyn SmsProvider) -> tracing::Span {
    if !telemetry::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "sms.send",
        sms.message_id = row.id,
        sms.attempt = row.attempts,
        sms.provider = provider.name(),
        aws.request_id = tracing::field::Empty,
        sms.provider_message_id = tracing::field::Empty,
        error.code = tracing::field::Empty,
        trace_id = tracing::field::Empty
    );
    telemetry::continue_trace(&span, row.trace_parent.as_deref(), None);
    span
}

/// Claims a batch of due messages, unless sending is paused (`None`): an account refused (its probe
/// is run when due) or the deployment throttled.
async fn claim(
    workers: &Workers,
    provider: &dyn SmsProvider,
) -> Result<Option<Vec<MessageRow>>, DbErr> {
    let now = workers.outbox.clock.now();
    let state = gate::state(&workers.outbox.db).await?;
    if let Some(pause) = &state.account {
        // The account is refused: nothing is sent until a probe passes or an admin resumes.
        if pause.next_probe_us <= now.timestamp_micros() {
            workers.outbox.probe(provider, pause).await?;
        }
        return Ok(None);
    }
    if state.paused_until_us > now.timestamp_micros() {
        return Ok(None);
    }
    let lease = chrono::Duration::from_std(workers.outbox.sms.lease)
        .unwrap_or(chrono::Duration::seconds(60));
    let batch = lease::claim_due(
        &workers.outbox.db,
        now,
        lease,
        batch_size(workers.outbox.sms.rate_limit_mps),
    )
    .await?;
    Ok(Some(batch))
}

/// Sends a claimed batch one text at a time, each in its rate-limit slot; on shutdown or a pause the
/// rest is handed back at once, attempts unspent.
async fn send_batch(
    workers: &Workers,
    (provider, shutdown): (&dyn SmsProvider, &CancellationToken),
    batch: &[MessageRow],
    report: &mut BatchReport,
) -> Result<(), DbErr> {
    let mut group = SentGroup::new();
    let mut rest = batch.iter();
    while let Some(row) = rest.next() {
        if workers.outbox.sms.rate_limit_mps > 0.0 {
            // About to wait for a slot: write what is done first.
            group.flush(workers, provider, report).await?;
        }
        let sender = {
            let message_type = sea_orm::ActiveEnum::to_value(&row.message_type);
            let now = workers.outbox.clock.now();
            provider.sender(&super::validity::outgoing(row, &message_type, now))
        };
        let slot = (sender.as_deref().unwrap_or(gate::GATE), row.segments);
        if shutdown.is_cancelled() || !wait_for_slot(workers, shutdown, slot).await? {
            // Shutting down: hand the unsent part of the batch back at once rather than at lease expiry.
            group.flush(workers, provider, report).await?;
            for row in std::iter::once(row).chain(rest.by_ref()) {
                report.count(
                    lease::release(&workers.outbox.db, row, workers.outbox.clock.now()).await?,
                );
            }
            break;
        }
        if too_late(row, workers.outbox.clock.now()) {
            // Its time passed while it waited for a slot.
            let expired = (SmsStatus::Expired, None);
            end_unsent(workers, &[row], expired, report).await?;
            continue;
        }
        let call = std::time::Instant::now();
        let span = send_span(row, provider);
        let answer = call_provider(workers, provider, row)
            .stage(Stage::Provider)
            .instrument(span.clone())
            .await;
        match &answer {
            Ok(provider_id) => span.record("sms.provider_message_id", provider_id.as_str()),
            Err(error) => span.record("error.code", error.code.as_str()),
        };
        drop(span);
        workers
            .outbox
            .metrics
            .provider_call
            .observe(call.elapsed().as_secs_f64());
        match answer {
            Ok(provider_id) => {
                group.push(row, provider_id);
                if group.due() {
                    group.flush(workers, provider, report).await?;
                }
            }
            Err(error) => {
                report.count(failed(workers, row, &error).await?);
                if let FailureKind::Throttled { .. } | FailureKind::Account = error.kind {
                    // The deployment is paused: the rest of the batch waits with it, attempts unspent.
                    group.flush(workers, provider, report).await?;
                    let until = gate::paused_until(&workers.outbox.db).await?;
                    let resume = micros_to_time(until).max(workers.outbox.clock.now());
                    for row in rest.by_ref() {
                        report.count(lease::release(&workers.outbox.db, row, resume).await?);
                    }
                }
            }
        }
    }
    group.flush(workers, provider, report).await?;
    Ok(())
}

/// Where a provider that simulates receipts (the console provider) reports each text it printed as
/// delivered, a group at a time: the inbound side applies them as AWS's receipts.
#[async_trait::async_trait]
pub trait ReceiptSink: Send + Sync {
    async fn delivered(&self, provider_ids: &[&str], at: DateTime<Utc>) -> Result<(), DbErr>;
}

/// The outbox's workers: they claim due messages, call the provider and record each outcome.
#[derive(Clone)]
pub struct Workers {
    pub(super) outbox: Outbox,
    /// Where the console provider's simulated receipts go.
    pub(super) receipts: Arc<dyn ReceiptSink>,
    provider: Arc<dyn SmsProvider>,
    /// Cancelled when a stop's grace runs out: provider calls still unanswered are given up and
    /// recorded as interrupted (`UNKNOWN`, never sent again blindly).
    abandon: CancellationToken,
}

impl Workers {
    pub fn new(
        outbox: Outbox,
        receipts: Arc<dyn ReceiptSink>,
        provider: Arc<dyn SmsProvider>,
    ) -> Self {
        Self {
            outbox,
            receipts,
            provider,
            abandon: CancellationToken::new(),
        }
    }

    /// The token that, cancelled, makes every worker of this set give up the provider calls it is
    /// waiting on (the end of a stop's grace period).
    /// When a claim made now would expire (`SMS_LEASE`).
    pub(super) fn lease_until(&self) -> DateTime<Utc> {
        self.outbox.clock.now()
            + chrono::Duration::from_std(self.outbox.sms.lease)
                .unwrap_or(chrono::Duration::seconds(60))
    }

    pub fn abandon_calls(&self) -> CancellationToken {
        self.abandon.clone()
    }

    /// Claims one batch of due messages and works through it.
    pub async fn run_once(&self, shutdown: &CancellationToken) -> Result<BatchReport, DbErr> {
        run_once(self, self.provider.as_ref(), shutdown).await
    }

    /// One worker: runs until `shutdown`, sleeping while idle until a message is queued in this
    /// instance or the poll interval passes (for work queued by other instances, retries coming due,
    /// pauses ending).
    pub async fn run(self, worker: usize, shutdown: CancellationToken) {
        let provider = self.provider.name();
        tracing::info!(worker, provider, "outbox worker started");
        let poll = self.outbox.sms.poll_interval;
        let full = batch_size(self.outbox.sms.rate_limit_mps) as usize;
        while !shutdown.is_cancelled() {
            let idle = match self.run_once(&shutdown).await {
                Ok(report) => {
                    // Busy but not full: a moment's wait lets the next claim take a batch worth its
                    // statements (a claim, its checks, one outcome and one receipt transaction each).
                    if report.claimed > 0 && report.claimed < full {
                        tokio::select! {
                            () = tokio::time::sleep(CLAIM_LINGER) => {}
                            () = shutdown.cancelled() => {}
                        }
                    }
                    report.claimed == 0
                }
                Err(error) => {
                    tracing::error!(worker, %error, "outbox worker: database error; retrying shortly");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = self.outbox.signals.wait_for_work() => {}
                    () = tokio::time::sleep(poll) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
        tracing::info!(worker, "outbox worker stopped");
    }
}

/// Waits up to `wait` for a message's first outcome (`sendAsync: false`): sent, failed, retrying or
/// blocked; answers the row as it is then.
pub async fn wait_for_outcome(
    outbox: &Outbox,
    id: i64,
    wait: Duration,
) -> Result<MessageRow, DbErr> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = outbox.signals.outcome();
        let row = history::get(&outbox.db, id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("sms_log {id}")))?;
        let retrying = row.status == SmsStatus::Pending && row.attempts > 0;
        if super::accept::is_settled(row.status)
            || retrying
            || tokio::time::Instant::now() >= deadline
        {
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
