//! Paused, not failed: when the provider refuses the account itself (access denied, an origination
//! identity or configuration set that does not exist or is not active, a registration not complete,
//! AWS's monthly spend limit), every queued message would fail alike. So the whole deployment pauses
//! (the state lives on the shared gate row, so every instance stops), the messages stay `PENDING` with
//! no attempt spent, and the operator alert is logged once. Every `SMS_PAUSE_PROBE_INTERVAL` one
//! instance tries the refused message again with `DryRun` (not sent, not charged) and resumes sending
//! when it passes; an admin can resume at once (`resumeSending`).

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::{
    Outbox,
    provider::{FailureKind, ProviderError, SmsProvider},
};
use crate::{
    locale::phone,
    store::{
        MessageRow,
        gate::{self, AccountPause},
        history,
    },
};

/// Why sending is paused, for the API and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    /// The provider's error code (`AccessDeniedException`, ...).
    pub code: String,
    /// The provider's words.
    pub reason: String,
    pub since: DateTime<Utc>,
    /// When the next `DryRun` probe runs.
    pub next_probe_at: DateTime<Utc>,
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl From<AccountPause> for Paused {
    fn from(pause: AccountPause) -> Self {
        Self {
            code: pause.code,
            reason: pause.reason,
            since: time(pause.since_us),
            next_probe_at: time(pause.next_probe_us),
        }
    }
}

impl Outbox {
    fn probe_interval(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.sms.pause_probe_interval)
            .unwrap_or(chrono::Duration::minutes(5))
    }

    /// Pauses the deployment after `error` refused the account while sending `row` (unless it is
    /// paused already); the operator alert is said by the instance that paused.
    pub(super) async fn pause_for(
        &self,
        row: &MessageRow,
        error: &ProviderError,
    ) -> Result<(), DbErr> {
        let now = self.clock.now();
        let paused = gate::pause_account(
            &self.db,
            (&error.code, &error.message),
            now.timestamp_micros(),
            (now + self.probe_interval()).timestamp_micros(),
            row.id,
        )
        .await?;
        if paused {
            tracing::error!(
                alert = "sms_sending_paused",
                code = %error.code,
                id = row.id,
                to = phone::mask(&row.to_phone),
                "OPERATOR ALERT: the provider refuses the account ({}: {}); sending is paused for the \
                 whole deployment and messages stay queued. A DryRun probe runs every {:?} and resumes \
                 sending when it passes; an admin can resume now (resumeSending)",
                error.code,
                error.message,
                self.sms.pause_probe_interval
            );
        }
        Ok(())
    }

    /// Why sending is paused, if it is.
    pub async fn paused(&self) -> Result<Option<Paused>, DbErr> {
        Ok(gate::state(&self.db).await?.account.map(Paused::from))
    }

    /// Lifts the pause now (an admin's `resumeSending`, or a probe that passed); true when sending
    /// was paused. Idle workers wake at once.
    pub async fn resume_sending(&self, by: &str) -> Result<bool, DbErr> {
        let lifted = gate::resume(&self.db).await?;
        if lifted {
            tracing::warn!(by, "sending resumed");
            self.signals.work_queued();
        }
        Ok(lifted)
    }

    /// Runs the probe `pause` has due, unless another worker or instance took it: a `DryRun` of the
    /// refused message. Passing (or refused for the message's own sake, not the account's) resumes
    /// sending; the account still refused keeps the pause with the latest error; no answer tries
    /// again at the next probe.
    pub(super) async fn probe(
        &self,
        provider: &dyn SmsProvider,
        pause: &AccountPause,
    ) -> Result<(), DbErr> {
        let now = self.clock.now();
        let next = (now + self.probe_interval()).timestamp_micros();
        if !gate::claim_probe(&self.db, pause.next_probe_us, next).await? {
            return Ok(());
        }
        let row = match pause.probe_message_id {
            Some(id) => history::get(&self.db, id).await?,
            None => None,
        };
        let Some(row) = row else {
            // Nothing to try: the next real send tells.
            self.resume_sending("probe (no message to try)").await?;
            return Ok(());
        };
        let message_type = sea_orm::ActiveEnum::to_value(&row.message_type);
        let sms = super::validity::outgoing(&row, &message_type, now);
        let answer = tokio::time::timeout(self.sms.send_timeout, provider.probe(&sms))
            .await
            .unwrap_or_else(|_| {
                Err(ProviderError::new(
                    FailureKind::Ambiguous,
                    "Timeout",
                    "no answer to the probe",
                ))
            });
        match answer {
            Ok(()) => {
                self.resume_sending("probe").await?;
            }
            Err(error) if error.kind == FailureKind::Account => {
                tracing::warn!(code = %error.code, "probe: the account is still refused; sending stays paused");
                gate::still_paused(&self.db, (&error.code, &error.message)).await?;
            }
            Err(error)
                if matches!(
                    error.kind,
                    FailureKind::Transient
                        | FailureKind::Ambiguous
                        | FailureKind::Interrupted
                        | FailureKind::Throttled { .. }
                ) =>
            {
                tracing::warn!(code = %error.code, "probe: no clear answer; trying again at the next probe");
            }
            Err(error) => {
                // The account answers; only this message is refused, and its own send will say why.
                tracing::info!(code = %error.code, "probe: the account is accepted again");
                self.resume_sending("probe").await?;
            }
        }
        Ok(())
    }
}
