//! The price of a text before it is sent: the same rendering, shaping and policy as `enqueue`, and the
//! checks the write would make (the opt-out list, the daily limits, the month's budget) read as they
//! stand, writing nothing.

use chrono::{DateTime, Utc};

use super::{
    Outbox,
    accept::{self, SendError, SendRequest},
    catalogue::Brand,
    facts::Facts,
    shaping::Shaped,
};
use crate::store::{BlockedReason, messages::Verdict};

/// What would happen to a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Send,
    Defer(DateTime<Utc>),
    Block(BlockedReason),
}

/// A text as it would go, and what would happen to it.
#[derive(Debug, Clone)]
pub struct Preview {
    pub shaped: Shaped,
    /// Segments times the destination's price; `None` without a number or a price.
    pub cost_micros: Option<i64>,
    pub country: Option<String>,
    pub outcome: Outcome,
}

impl Outbox {
    /// Decides `request` as `enqueue` would now, writing nothing: its body (smart-encoded, links
    /// shortened; the codes shown are examples and are not kept), segments, price and verdict. Invalid
    /// input and unknown users are errors, as for a send.
    pub async fn preview(&self, request: SendRequest) -> Result<Preview, SendError> {
        accept::validate(&request.template)?;
        let brand = Brand {
            app_name: self.sms.app_name.clone(),
            frontend_url: self.sms.frontend_url.clone(),
        };
        let now = self.now();
        let facts = Facts::load(&self.db, &[&request], now).await?;
        // In the person's language, as it would go.
        let language = facts.language_for(&request);
        let item = super::language::write(0, request, language, (&brand, &self.sms.savings))?;
        let message = facts.message(self, &item, &brand, now)?;
        let price = message
            .country
            .as_deref()
            .and_then(|c| {
                self.costs
                    .prices
                    .iter()
                    .find(|(id, _)| id.as_ref() == c)
                    .map(|(_, p)| *p)
            })
            .or(self.costs.default_price)
            .filter(|_| !message.to_phone.is_empty())
            .map(|p| p * i64::from(message.segments));
        let outcome = match message.verdict {
            Verdict::Block(reason) => Outcome::Block(reason),
            Verdict::Accept {
                due_at,
                cost_micros,
            } => match self.limits_now(&message, cost_micros, now).await? {
                Some(reason) => Outcome::Block(reason),
                None if due_at > now => Outcome::Defer(due_at),
                None => match self.digest_close(&message, now).await? {
                    Some(at) => Outcome::Defer(at),
                    None => Outcome::Send,
                },
            },
        };
        Ok(Preview {
            shaped: item.shaped,
            cost_micros: price,
            country: message.country,
            outcome,
        })
    }

    /// What the write's own checks would refuse now: the opt-out list, the person's and the state's
    /// daily limits, the month's budget.
    async fn limits_now(
        &self,
        message: &crate::store::messages::NewMessage,
        cost_micros: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<BlockedReason>, SendError> {
        let checks = crate::store::write_checks::preview(
            &self.db,
            (message.user_id.as_deref(), &message.to_phone),
            message.promotional,
            now,
        )
        .await?;
        if !message.opt_out_exempt && checks.opted_out {
            return Ok(Some(BlockedReason::OptedOut));
        }
        // Held for a digest where digests are on: joining a waiting one adds no text.
        let mut held = message.clone();
        held.digest_hold = held.digest_part.is_some() && self.digest_window().is_some();
        let capped =
            crate::store::caps::preview(&self.db, &held, self.costs.inviter_cap, now).await?;
        if capped.is_some() {
            return Ok(capped);
        }
        if message.promotional {
            if message.user_id.is_some() && checks.user_today >= self.costs.user_daily_limit {
                return Ok(Some(BlockedReason::UserDailyLimit));
            }
            if message
                .state_cap
                .is_some_and(|cap| checks.number_today >= cap)
            {
                return Ok(Some(BlockedReason::StateDailyLimit));
            }
        }
        let limit = self.cap.monthly_limit();
        let cap = if super::catalogue::is_transactional(message.message_type) {
            limit
        } else {
            limit - self.cap.transactional_reserve()
        };
        if checks.month_reserved + cost_micros > cap {
            return Ok(Some(BlockedReason::SpendLimit));
        }
        Ok(None)
    }
}
