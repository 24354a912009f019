//! The fraud guard and the other refusals decided before a code is made: SMS pumping sends codes to a
//! block of numbers whose operator shares the termination fee, and never enters them. Per block
//! (`phone::range_of`), the guard counts codes sent and entered over a sliding window; while at least
//! `VERIFY_GUARD_MIN_SAMPLE` were sent and fewer than `VERIFY_GUARD_MIN_CONVERSION` of them entered,
//! new codes to the block are refused. It lifts when old codes leave the window, or when an admin
//! lifts it (`liftVerificationGuard`).
//!
//! Every check here is a few indexed reads: they all run before argon2 hashes a code (about 14 ms of a
//! core and 19 MiB), so a refused request costs next to nothing.

use chrono::{DateTime, Duration, Utc};
use sea_orm::DbErr;

use super::{VerificationError, Verifier};
use crate::{
    locale::phone,
    outbox::{SendRequest, Target, catalogue::Template},
    store::{
        BlockedReason, code_spend, countries, guard as lifts, rollup::day_of,
        verifications as codes,
    },
};

/// What the guard knows of a range now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeState {
    pub sent: i64,
    pub confirmed: i64,
    pub held: bool,
}

/// The sentence for a refused code: the person cannot fix it, only wait or ask for help.
pub const BLOCKED_SENTENCE: &str =
    "We can't send a code to this number right now; try again later or contact support.";

impl Verifier {
    /// Codes sent to `range` in the guard's window (since the last lift), and whether it holds.
    pub async fn range_state(&self, range: &str, now: DateTime<Utc>) -> Result<RangeState, DbErr> {
        let window = Duration::from_std(self.limits.guard_window).unwrap_or(Duration::hours(1));
        let mut since = now - window;
        if let Some(lifted) = lifts::lifted_at(&self.db, range).await? {
            since = since.max(lifted);
        }
        let (sent, confirmed) = codes::range_counts(&self.db, range, since).await?;
        let held = self.limits.guard_enabled
            && sent >= i64::from(self.limits.guard_min_sample)
            && (confirmed as f64) < self.limits.guard_min_conversion * sent as f64;
        Ok(RangeState {
            sent,
            confirmed,
            held,
        })
    }

    /// The ranges the guard holds now (at most `limit`, the most codes first).
    pub async fn held_ranges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, RangeState)>, DbErr> {
        let window = Duration::from_std(self.limits.guard_window).unwrap_or(Duration::hours(1));
        let mut candidates: Vec<(String, i64)> =
            codes::sent_by_range(&self.db, now - window, now + Duration::seconds(1))
                .await?
                .into_iter()
                .filter(|(_, _, sent, _)| *sent >= i64::from(self.limits.guard_min_sample))
                .map(|(range, _, sent, _)| (range, sent))
                .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut held = Vec::new();
        for (range, _) in candidates {
            let state = self.range_state(&range, now).await?;
            if state.held {
                held.push((range, state));
                if held.len() == limit {
                    break;
                }
            }
        }
        Ok(held)
    }

    /// The guard's settings: enabled, window, minimum sample, minimum conversion.
    pub fn guard_settings(&self) -> (bool, std::time::Duration, u32, f64) {
        (
            self.limits.guard_enabled,
            self.limits.guard_window,
            self.limits.guard_min_sample,
            self.limits.guard_min_conversion,
        )
    }

    /// Lifts the guard for `range` (an admin): the codes sent there so far no longer count.
    pub async fn lift_guard(&self, range: &str, by: &str) -> Result<RangeState, DbErr> {
        use sea_orm::TransactionTrait;
        let now = self.clock.now();
        // The lift and its audit record are one transaction.
        let txn = self.db.begin().await?;
        lifts::lift(&txn, range, by, now).await?;
        let action = crate::store::audit::NewAction {
            actor: by,
            action: "lift_verification_guard",
            target: range,
            note: None,
            detail: None,
        };
        crate::store::audit::record(&txn, action, now).await?;
        txn.commit().await?;
        tracing::warn!(range, by, "verification fraud guard lifted for a range");
        self.range_state(range, now).await
    }

    /// The refusals decided before a code is made: the guard, the country switch, the day's ceiling
    /// for codes. A refusal is written to the log (`BLOCKED` with its reason) and answered
    /// `VERIFICATION_BLOCKED`.
    pub(super) async fn refuse_early(
        &self,
        user_id: &str,
        phone_e164: &str,
        now: DateTime<Utc>,
    ) -> Result<(), VerificationError> {
        let reason = self.early_reason(phone_e164, now).await?;
        let Some(reason) = reason else {
            return Ok(());
        };
        let mut request = SendRequest::new(
            crate::outbox::Origin::Service,
            Target::User(user_id.to_owned()),
            // No code was made: the log shows the text masked, as it shows every code.
            Template::PhoneVerification {
                code: "------".into(),
            },
            false,
        );
        request.refused = Some(reason);
        self.outbox.enqueue(request).await.map_err(|e| match e {
            crate::outbox::SendError::Db(db) => VerificationError::Db(db),
            other => VerificationError::Internal(other.to_string()),
        })?;
        tracing::warn!(
            phone = phone::mask(phone_e164),
            reason = reason.as_str(),
            "verification code refused before it was made"
        );
        self.count(phone_e164, reason.as_str());
        Err(VerificationError::Blocked(BLOCKED_SENTENCE.to_owned()))
    }

    async fn early_reason(
        &self,
        phone_e164: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<BlockedReason>, DbErr> {
        let db = &self.db;
        if let Some(country) = phone::region_of(phone_e164)
            && countries::switched_off(db)
                .await?
                .iter()
                .any(|c| c.country == country.as_ref() && !c.verification)
        {
            return Ok(Some(BlockedReason::CountryPaused));
        }
        if let Some(range) = phone::range_of(phone_e164)
            && self.range_state(&range, now).await?.held
        {
            return Ok(Some(BlockedReason::FraudGuard));
        }
        let ceiling = self.outbox.code_daily_limit();
        if code_spend::reserved(db, &day_of(now)).await? >= ceiling {
            return Ok(Some(BlockedReason::VerificationCeiling));
        }
        Ok(None)
    }
}
