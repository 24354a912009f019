//! The outbox: accepting a message (render, policy, one row), the group commit, the send gate, the
//! providers and the workers that claim due rows and record their outcomes.

pub mod accept;
pub mod actions;
pub mod catalogue;
mod claimed;
mod clicks;
pub mod digest;
mod facts;
pub mod gate;
pub mod group_commit;
mod language;
pub mod lifecycle;
pub mod links;
mod outcome;
pub mod pause;
pub mod policy;
mod preview;
pub mod provider;
mod recheck;
pub mod retry;
pub mod shaping;
pub mod smart;
mod validate;
pub mod validity;
pub mod worker;
mod writes;

pub use accept::{Enqueued, Origin, QuietPolicy, SendError, SendRequest, Target, Validity};
pub use preview::{Outcome as PreviewOutcome, Preview};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::{
    Clock,
    config::{CostConfig, SmsConfig},
    locale::local_time::LocaleRules,
    metrics::Metrics,
    stages::{InStage, Stage},
    store::{self, MessageRow},
};

/// The outbox's handle: accepting messages (with group commit) and the signals between the API, the
/// workers and receipts. Cheap to clone.
#[derive(Clone)]
pub struct Outbox(Arc<Parts>);

/// What the outbox holds: the database, the clock, its settings and its signals.
pub struct Parts {
    pub(crate) db: store::db::Db,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) sms: SmsConfig,
    pub(crate) costs: CostConfig,
    /// The month's budget, ours or AWS's when lower.
    pub(crate) cap: Arc<crate::billing::SpendCap>,
    pub(crate) locale_rules: LocaleRules,
    pub(crate) signals: Signals,
    pub(crate) group_commit: Arc<group_commit::GroupCommit<SendRequest, accept::Answer>>,
    /// Clicks on short links arriving together, recorded in one transaction.
    pub(crate) clicks: Arc<group_commit::GroupCommit<String, Option<store::links::Click>>>,
    /// Batches waiting for the write, written together (`writes`).
    pub(crate) writes: writes::Writes,
}

impl std::ops::Deref for Outbox {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Outbox {
    pub fn new(
        (db, clock, metrics): (store::db::Db, Arc<dyn Clock>, Arc<Metrics>),
        sms: SmsConfig,
        costs: CostConfig,
        locale_rules: LocaleRules,
    ) -> Self {
        Self(Arc::new(Parts {
            db,
            clock,
            metrics,
            sms,
            cap: Arc::new(crate::billing::SpendCap::new(&costs)),
            costs,
            locale_rules,
            signals: Signals::default(),
            group_commit: Arc::default(),
            clicks: Arc::default(),
            writes: writes::writes(),
        }))
    }

    /// The database handle the outbox writes through.
    pub fn db(&self) -> store::db::Db {
        self.db.clone()
    }

    /// The settings of smart encoding, short links and digests.
    pub fn savings(&self) -> &crate::config::SavingsConfig {
        &self.sms.savings
    }

    /// The month's budget, shared with the reports.
    pub fn spend_cap(&self) -> Arc<crate::billing::SpendCap> {
        self.cap.clone()
    }

    /// Renders, decides and records one message: `pending` when the policy allows it (the workers are
    /// woken), `blocked` with the reason otherwise. Invalid input writes nothing. Calls that arrive
    /// together share one transaction (`group_commit`).
    pub async fn enqueue(&self, mut request: SendRequest) -> Result<MessageRow, SendError> {
        if request.trace_parent.is_none() {
            request.trace_parent = crate::telemetry::current_traceparent();
        }
        if !self.sms.group_commit {
            let mut answers = accept::enqueue_many(self, vec![request])
                .stage(Stage::Accept)
                .await?;
            let answer = answers
                .pop()
                .unwrap_or_else(|| Err(SendError::internal("no answer")));
            return answer.map(|e| e.row);
        }
        let outbox = self.clone();
        let decide = move |batch: Vec<SendRequest>| {
            let outbox = outbox.clone();
            async move {
                let n = batch.len();
                let span = batch_span(&batch);
                match accept::enqueue_isolating(&outbox, batch)
                    .stage(Stage::Accept)
                    .instrument(span)
                    .await
                {
                    // Every caller of the batch hears that the database is unavailable, as such.
                    Err(e) if store::unavailable(&e) => {
                        tracing::warn!(error = %e, batch = n, "database unavailable: batch refused");
                        Ok((0..n).map(|_| Err(SendError::Unavailable)).collect())
                    }
                    other => other,
                }
            }
        };
        let window = self.sms.group_commit_window;
        match self.group_commit.submit(request, window, decide).await {
            Ok(answer) => answer.map(|e| e.row),
            Err(failure) => Err(SendError::internal(failure)),
        }
        .map_err(|e| match e {
            SendError::Db(db) if store::unavailable(&db) => SendError::Unavailable,
            other => other,
        })
    }

    /// Decides a batch in one transaction (see `accept::enqueue_many`): how scans enqueue.
    pub async fn enqueue_many(
        &self,
        mut requests: Vec<SendRequest>,
    ) -> Result<Vec<Result<Enqueued, SendError>>, DbErr> {
        if crate::telemetry::enabled() {
            let caller = crate::telemetry::current_traceparent();
            for request in requests.iter_mut().filter(|r| r.trace_parent.is_none()) {
                request.trace_parent.clone_from(&caller);
            }
        }
        accept::enqueue_many(self, requests)
            .stage(Stage::Accept)
            .await
    }

    /// The signals between the API, the workers and receipts.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// Batches flushed and messages decided by group commit since the start.
    pub fn group_commit_totals(&self) -> (u64, u64) {
        self.group_commit.totals()
    }

    /// Shared writes made since the start (`writes`), and the batches they wrote.
    pub fn shared_write_totals(&self) -> (u64, u64) {
        self.writes.totals()
    }

    /// Batches waiting for the next shared write.
    pub fn shared_writes_waiting(&self) -> usize {
        self.writes.waiting()
    }

    /// Waits up to `SMS_SYNC_WAIT` for a message's first outcome (`sendAsync: false`).
    pub async fn wait_for_outcome(&self, id: i64) -> Result<MessageRow, DbErr> {
        worker::wait_for_outcome(self, id, self.sms.sync_wait).await
    }

    /// One message by id.
    pub async fn message(&self, id: i64) -> Result<Option<MessageRow>, DbErr> {
        store::history::get(&self.db, id).await
    }

    /// Messages matching `filter` with ids below `before_id`, newest first.
    pub async fn messages(
        &self,
        filter: &store::history::LogFilter,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<MessageRow>, DbErr> {
        store::history::list(&self.db, filter, before_id, limit).await
    }

    /// The queue now: what waits, what is being sent, what is retrying, what is due.
    pub async fn queue_state(&self) -> Result<store::history::QueueState, DbErr> {
        store::history::queue_state(&self.db, self.now()).await
    }

    /// The countries texts may go to at all (`SMS_ALLOWED_COUNTRIES`).
    pub fn allowed_countries(&self) -> &[phonenumber::country::Id] {
        &self.sms.allowed_countries
    }

    /// Every allowed country's switches (on where none was ever set).
    pub async fn country_sending(&self) -> Result<Vec<store::countries::CountrySwitch>, DbErr> {
        let set = store::countries::all(&self.db).await?;
        Ok(self
            .sms
            .allowed_countries
            .iter()
            .map(|c| {
                set.iter()
                    .find(|s| s.country == c.as_ref())
                    .cloned()
                    .unwrap_or_else(|| store::countries::CountrySwitch {
                        country: c.as_ref().to_owned(),
                        verification: true,
                        messages: true,
                        updated_at: DateTime::<Utc>::UNIX_EPOCH,
                        updated_by: String::new(),
                    })
            })
            .collect())
    }

    /// Sets a country's switches; logged with who.
    pub async fn set_country_sending(
        &self,
        country: &str,
        switches: (Option<bool>, Option<bool>),
        by: &str,
    ) -> Result<store::countries::CountrySwitch, DbErr> {
        use sea_orm::TransactionTrait;
        let now = self.clock.now();
        // The change and its audit record are one transaction.
        let txn = self.db.begin().await?;
        let switch = store::countries::set(&txn, country, switches, by, now).await?;
        let detail = format!(
            "verification {}, messages {}",
            if switch.verification { "on" } else { "off" },
            if switch.messages { "on" } else { "off" }
        );
        let action = store::audit::NewAction {
            actor: by,
            action: "set_country_sending",
            target: country,
            note: None,
            detail: Some(detail),
        };
        store::audit::record(&txn, action, now).await?;
        txn.commit().await?;
        tracing::warn!(
            country,
            verification = switch.verification,
            messages = switch.messages,
            by,
            "country sending switched"
        );
        Ok(switch)
    }

    /// What verification codes may reserve per UTC day: `VERIFY_DAILY_SPEND_SHARE` of the month's
    /// budget (ours, or AWS's when lower).
    pub fn code_daily_limit(&self) -> i64 {
        crate::billing::share_of(self.cap.monthly_limit(), self.costs.code_daily_share)
    }

    /// Sends per second for the whole deployment (`SMS_RATE_LIMIT_MPS`; 0 is no limit).
    pub fn rate_limit_mps(&self) -> f64 {
        self.sms.rate_limit_mps
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// In-process signals between the API and the workers.
#[derive(Debug, Default)]
pub struct Signals {
    /// A message was queued: idle workers wake at once instead of at their next poll.
    work: Notify,
    /// A message reached an outcome: `sendAsync: false` callers look again.
    outcome: Notify,
}

impl Signals {
    pub fn work_queued(&self) {
        self.work.notify_waiters();
        // A worker between its empty claim and its wait still finds the permit.
        self.work.notify_one();
    }

    pub async fn wait_for_work(&self) {
        self.work.notified().await;
    }

    pub fn outcome_recorded(&self) {
        self.outcome.notify_waiters();
    }

    pub fn outcome(&self) -> tokio::sync::futures::Notified<'_> {
        self.outcome.notified()
    }
}

/// The group commit's span for a batch, linked to the trace of every request it carries; none while
/// traces are off.
fn batch_span(batch: &[SendRequest]) -> tracing::Span {
    if !crate::telemetry::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "outbox.accept_batch",
        requests = batch.len(),
        trace_id = tracing::field::Empty
    );
    crate::telemetry::link_all(
        &span,
        batch.iter().filter_map(|r| r.trace_parent.as_deref()),
    );
    span
}
