//! Admins' actions on one message: cancel it before it is sent, or send a failed one again as a new
//! message linked to the first, through the same policy as any send.

use sea_orm::{DbErr, TransactionTrait};

use super::{Outbox, SendError, SendRequest, Target, catalogue::Template};
use crate::store::{
    MessageRow, MessageType, SmsStatus, actions,
    audit::{self, NewAction},
    history,
};

/// Why an action was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("No message has the id {0}.")]
    NotFound(i64),
    /// The message is not in a state the action applies to; the sentence says which it is in.
    #[error("{0}")]
    WrongState(String),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Whether a message ended without being sent (so trying it again sends nothing twice).
fn ended_unsent(status: SmsStatus) -> bool {
    matches!(
        status,
        SmsStatus::Failed
            | SmsStatus::Unknown
            | SmsStatus::Expired
            | SmsStatus::Blocked
            | SmsStatus::Cancelled
    )
}

fn status_name(status: SmsStatus) -> String {
    sea_orm::ActiveEnum::to_value(&status).to_ascii_uppercase()
}

/// Why a message cannot be sent again (`retrySms`), if it cannot: only a `FAILED`, `UNKNOWN` or
/// `EXPIRED` message whose text is still kept, and never a code.
fn may_send_again(row: &MessageRow) -> Result<(), ActionError> {
    if !matches!(
        row.status,
        SmsStatus::Failed | SmsStatus::Unknown | SmsStatus::Expired
    ) {
        return Err(ActionError::WrongState(format!(
            "Message {} is {}: only a FAILED, UNKNOWN or EXPIRED message can be sent again.",
            row.id,
            status_name(row.status)
        )));
    }
    if row.message_type == MessageType::PhoneVerification {
        return Err(ActionError::WrongState(
                "A verification code is never sent again: the person asks for a new one (startPhoneVerification)."
                    .into(),
            ));
    }
    if let Some(at) = row.body_purged_at {
        return Err(ActionError::WrongState(format!(
            "Message {}'s text was removed on {} (retention period, or its person was erased): it cannot be sent again; send a new message.",
            row.id,
            at.format("%Y-%m-%d")
        )));
    }
    Ok(())
}

impl Outbox {
    /// Cancels message `id` while it waits to be sent (`PENDING`, also between retries): it becomes
    /// `CANCELLED` and its reserved cost goes back to the budget.
    pub async fn cancel(&self, id: i64, by: &str) -> Result<MessageRow, ActionError> {
        // A busy database is tried again a few times (the transaction did nothing), then answered
        // as unavailable: never a cancel that seemed to fail while the text went out anyway.
        let mut pause = std::time::Duration::from_millis(50);
        let cancelled = loop {
            match self.cancel_once(id, by).await {
                Err(e) if crate::store::unavailable(&e) && pause.as_millis() <= 400 => {
                    tracing::warn!(id, error = %e, "database busy: cancelling again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                other => break other?,
            }
        };
        let Some(row) = cancelled else {
            return Err(match history::get(&self.db, id).await? {
                None => ActionError::NotFound(id),
                Some(row) => ActionError::WrongState(format!(
                    "Message {id} is {}: only a message waiting to be sent (PENDING) can be cancelled.",
                    status_name(row.status)
                )),
            });
        };
        tracing::warn!(id, by, "message cancelled");
        self.metrics
            .messages
            .with_label_values(&[row.message_type_label().as_str(), "cancelled"])
            .inc();
        self.signals.outcome_recorded();
        Ok(row)
    }

    /// One try of `cancel`: the cancellation and its audit record are one transaction.
    async fn cancel_once(&self, id: i64, by: &str) -> Result<Option<MessageRow>, DbErr> {
        let txn = self.db.write().await?;
        let cancelled = actions::cancel(&txn, id).await?;
        if cancelled.is_some() {
            let target = id.to_string();
            let action = NewAction {
                actor: by,
                action: "cancel_sms",
                target: &target,
                note: None,
                detail: None,
            };
            audit::record(&txn, action, self.clock.now()).await?;
        }
        txn.commit().await?;
        Ok(cancelled)
    }

    /// Sends a `FAILED`, `UNKNOWN` or `EXPIRED` message again: a new message with the same text, to the
    /// same user or number, linked by `retry_of`, decided by the same policy as any send (an opt-out
    /// since, quiet hours, the budget). A code is never sent again: its person asks for a new one.
    pub async fn retry(&self, id: i64, by: &str) -> Result<MessageRow, ActionError> {
        let row = history::get(&self.db, id)
            .await?
            .ok_or(ActionError::NotFound(id))?;
        may_send_again(&row)?;
        // Every retry refers to the first message, and one is made at a time: while an attempt is
        // waiting or went out, another is refused; concurrent retries share one key, so one row.
        let original = row.retry_of.unwrap_or(row.id);
        let attempts = history::retries_of(&self.db, original).await?;
        if let Some(live) = attempts.iter().rev().find(|r| !ended_unsent(r.status)) {
            return Err(ActionError::WrongState(format!(
                "Message {original} was already sent again as message {} ({}); only a retry that fails can be retried.",
                live.id,
                status_name(live.status)
            )));
        }
        let target = match &row.user_id {
            Some(user) => Target::User(user.clone()),
            None => Target::Phone(crate::locale::phone::E164::stored(row.to_phone.clone())),
        };
        let template = Template::Text {
            message_type: row.message_type,
            body: row.body.clone(),
        };
        let mut request = SendRequest::new(
            super::Origin::Retry { of: original },
            target,
            template,
            row.promotional,
        );
        request.related = row
            .related_object_type
            .clone()
            .zip(row.related_object_id.clone());
        request.dedupe_key = Some(format!("retry:{original}:{}", attempts.len() + 1));
        let answer = self
            .enqueue_many(vec![request])
            .await?
            .pop()
            .unwrap_or_else(|| Err(SendError::internal("no answer")))?;
        let again = answer.row;
        if !answer.created {
            // A concurrent retry of the same message made it: that one is the answer.
            return Ok(again);
        }
        tracing::warn!(id, retry = again.id, by, "message sent again");
        // The new message is written by the pipeline's own batch: the record follows it.
        let target = id.to_string();
        let detail = format!(
            "sent again as message {} ({})",
            again.id,
            status_name(again.status)
        );
        let action = NewAction {
            actor: by,
            action: "retry_sms",
            target: &target,
            note: None,
            detail: Some(detail),
        };
        audit::record(&self.db, action, self.clock.now()).await?;
        Ok(again)
    }
}

impl Outbox {
    /// The audit trail of admins' writes, newest first: up to `limit` with ids below `before_id`.
    pub async fn admin_actions(
        &self,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<audit::ActionRow>, DbErr> {
        audit::list(&self.db, before_id, limit).await
    }

    /// Appends an admin's write to the audit trail (for writes that have no transaction of their
    /// own to record it in).
    pub async fn record_admin_action(&self, action: NewAction<'_>) -> Result<(), DbErr> {
        audit::record(&self.db, action, self.clock.now()).await
    }

    /// Lifts a pause for an admin, recorded with the lift in one transaction (also when nothing was
    /// paused: the admin asked); true when sending was paused.
    pub async fn resume_sending_for(&self, actor: &str) -> Result<bool, DbErr> {
        let txn = self.db.begin().await?;
        let lifted = crate::store::gate::resume(&txn).await?;
        let action = NewAction {
            actor,
            action: "resume_sending",
            target: "sending",
            note: None,
            detail: (!lifted).then(|| "nothing was paused".to_owned()),
        };
        audit::record(&txn, action, self.clock.now()).await?;
        txn.commit().await?;
        if lifted {
            tracing::warn!(by = actor, "sending resumed");
            self.signals.work_queued();
        }
        Ok(lifted)
    }
}
