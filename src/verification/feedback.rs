//! Message feedback: AWS's fraud models learn which texts reached a person. Codes are sent with
//! `MessageFeedbackEnabled`; a code entered is reported `RECEIVED` (`PutMessageFeedback`), a code that
//! expired unused `FAILED`. The reports wait in a durable queue (`message_feedback`), are claimed so
//! that instances do not report one twice at once, and are retried with backoff when AWS does not take
//! them.

use std::time::Duration;

use chrono::Utc;
use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;

use super::Verifier;
use crate::{
    jobs::{backoff::Backoff, runner::Every},
    outbox::provider::SmsProvider,
    store::{SmsStatus, feedback, history},
};

/// How often the queue is looked at.
pub const EVERY: Duration = Duration::from_secs(30);
/// Tries before a report is given up (logged).
pub const MAX_ATTEMPTS: i32 = 12;
/// The wait before a report AWS did not take is tried again: 30 s doubling, at most 64 minutes.
pub const RETRY: Backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3840));

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackReport {
    pub reported: usize,
    pub retrying: usize,
    /// Nothing to report (the text never went out) or given up.
    pub dropped: usize,
}

impl Verifier {
    /// Reports what is due through `provider`.
    pub async fn report_feedback(
        &self,
        provider: &dyn SmsProvider,
    ) -> Result<FeedbackReport, DbErr> {
        let db = &self.db;
        let now = self.clock.now();
        let mut report = FeedbackReport::default();
        let due = feedback::claim_due(db, now, now + chrono::Duration::minutes(5), 100).await?;
        for row in due {
            let text = history::get(db, row.sms_log_id).await?;
            let provider_id = text.as_ref().and_then(|t| t.provider_message_id.clone());
            let Some(provider_id) = provider_id else {
                let waiting = text
                    .as_ref()
                    .is_some_and(|t| matches!(t.status, SmsStatus::Pending | SmsStatus::Sending));
                if waiting {
                    feedback::retry_at(db, &row, now + chrono::Duration::minutes(1)).await?;
                    report.retrying += 1;
                } else {
                    feedback::done(db, row.code_id).await?;
                    report.dropped += 1;
                }
                continue;
            };
            match provider.message_feedback(&provider_id, row.received).await {
                Ok(()) => {
                    feedback::done(db, row.code_id).await?;
                    report.reported += 1;
                }
                Err(error) if row.attempts + 1 >= MAX_ATTEMPTS => {
                    tracing::warn!(code = %error.code, "message feedback given up after {MAX_ATTEMPTS} tries");
                    feedback::done(db, row.code_id).await?;
                    report.dropped += 1;
                }
                Err(error) => {
                    let wait = RETRY.after(row.attempts + 1);
                    tracing::info!(code = %error.code, "message feedback not taken; trying again");
                    feedback::retry_at(db, &row, now + wait).await?;
                    report.retrying += 1;
                }
            }
        }
        Ok(report)
    }

    /// Reports feedback every `EVERY` until `shutdown`.
    pub fn start_feedback(
        self,
        provider: std::sync::Arc<dyn SmsProvider>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // The first pass waits a period, as the queue is filled by codes sent from now on.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
            Every::new("message feedback", EVERY)
                .run(shutdown, || async {
                    let r = self.report_feedback(provider.as_ref()).await?;
                    // A full pass (100 claimed) means more are due: again at once.
                    let claimed = r.reported + r.retrying + r.dropped;
                    Ok(if claimed >= 100 { claimed } else { 0 })
                })
                .await
        })
    }
}

/// Queues the report of code `code_id` (sent as `sms_log_id`): `FAILED` at its expiry unless entered.
pub(super) async fn expect_for(
    db: &impl sea_orm::ConnectionTrait,
    code_id: i64,
    sms_log_id: i64,
    expires_at: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    feedback::expect(db, code_id, sms_log_id, expires_at).await
}
