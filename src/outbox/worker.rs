//! Outbox workers: claim due messages, wait for a send slot, call the provider one message at a time,
//! record the outcome. Several run in each `serve`; any number of instances share one PostgreSQL.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;

use super::Outbox;
use super::{
    claimed::{decide_again, end_unsent},
    gate,
    provider::{FailureKind, ProviderError, SmsProvider},
    retry::{self, Plan, RETRY},
};
use crate::{
    jobs::backoff::Backoff,
    locale::phone,
    stages::{InStage, Stage},
    store::{
        MessageRow, SmsStatus, history,
        lease::{self, Outcome},
    },
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
}

impl BatchReport {
    fn count(&mut self, outcome: Outcome) {
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

/// Successes waiting to be written.
struct SentGroup<'a> {
    rows: Vec<(&'a MessageRow, String)>,
    since: Option<tokio::time::Instant>,
}

impl<'a> SentGroup<'a> {
    fn new() -> Self {
        Self {
            rows: Vec::new(),
            since: None,
        }
    }

    fn push(&mut self, row: &'a MessageRow, provider_id: String) {
        self.since.get_or_insert_with(tokio::time::Instant::now);
        self.rows.push((row, provider_id));
    }

    fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= GROUP_COMMIT)
    }

    async fn flush(
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
async fn failed(
    workers: &Workers,
    row: &MessageRow,
    error: &ProviderError,
) -> Result<Outcome, DbErr> {
    let outcome = record_failure(workers, row, error).await?;
    tracing::warn!(
        id = row.id,
        to = phone::mask(&row.to_phone),
        attempt = row.attempts,
        code = error.code,
        ?outcome,
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
    let Some(batch) = claim(workers, provider).stage(Stage::Claim).await? else {
        return Ok(report);
    };
    report.claimed = batch.len();
    let (late, batch): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|row| !row.to_phone.is_empty() && too_late(row, workers.outbox.clock.now()));
    let late: Vec<&MessageRow> = late.iter().collect();
    end_unsent(workers, &late, (SmsStatus::Expired, None), &mut report)
        .stage(Stage::Outcome)
        .await?;
    let batch = decide_again(workers, batch, &mut report)
        .stage(Stage::Claim)
        .await?;
    // The outcomes' writes; the provider calls inside count as their own stage.
    send_batch(workers, (provider, shutdown), &batch, &mut report)
        .stage(Stage::Outcome)
        .await?;
    Ok(report)
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
        let answer = call_provider(workers, provider, row)
            .stage(Stage::Provider)
            .await;
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
    receipts: Arc<dyn ReceiptSink>,
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
