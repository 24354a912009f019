//! Facts the app pushes for the reminder engine: battles with their participants, and streaks. Every
//! push is idempotent: the same fact twice leaves the same rows.

use chrono::NaiveDate;
use sea_orm::DbErr;

use super::streaks::alert_window;
pub use crate::store::reminders::{BattleFacts, BattleWithParticipants, StreakRow};
use crate::{
    Clock,
    locale::local_time::LocaleRules,
    store::reminders::{self as rows, StreakFacts},
};

/// The facts handle: battles and streaks as the app pushes them, and the streak alerts they plan.
#[derive(Clone)]
pub struct Facts {
    db: crate::store::db::Db,
    clock: std::sync::Arc<dyn Clock>,
    locale_rules: std::sync::Arc<LocaleRules>,
    /// Local time after which a streak at risk is texted (`STREAK_ALERT_TIME`).
    streak_alert_time: chrono::NaiveTime,
}

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn check_id(field: &str, id: &str) -> Result<(), FactsError> {
    if id.trim().is_empty() || id.len() > 128 {
        return Err(FactsError::Invalid(format!(
            "{field} must be 1 to 128 characters."
        )));
    }
    Ok(())
}

impl Facts {
    pub fn new(
        db: crate::store::db::Db,
        clock: std::sync::Arc<dyn Clock>,
        locale_rules: std::sync::Arc<LocaleRules>,
        streak_alert_time: chrono::NaiveTime,
    ) -> Self {
        Self {
            db,
            clock,
            locale_rules,
            streak_alert_time,
        }
    }

    /// A battle with its participants, if the app pushed it.
    pub async fn battle(&self, battle_id: &str) -> Result<Option<BattleWithParticipants>, DbErr> {
        rows::load_battle(&self.db, battle_id).await
    }

    /// Creates or replaces a battle and its participant list.
    pub async fn upsert_battle(
        &self,
        facts: BattleFacts,
    ) -> Result<BattleWithParticipants, FactsError> {
        check_id("battleId", &facts.battle_id)?;
        if facts.topic.trim().is_empty() || facts.topic.chars().count() > 500 {
            return Err(FactsError::Invalid(
                "topic must be 1 to 500 characters.".into(),
            ));
        }
        if facts.link.trim().is_empty() || facts.link.len() > 1000 {
            return Err(FactsError::Invalid(
                "link must be 1 to 1000 characters.".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (user, _) in &facts.participants {
            check_id("participants.userId", user)?;
            if !seen.insert(user.as_str()) {
                return Err(FactsError::Invalid(format!(
                    "participant '{user}' is listed twice."
                )));
            }
        }
        Ok(rows::upsert_battle(&self.db, &facts, self.clock.now()).await?)
    }

    /// Marks a participant's entry as submitted (the first submission time is kept).
    pub async fn record_submission(
        &self,
        battle_id: &str,
        user_id: &str,
    ) -> Result<BattleWithParticipants, FactsError> {
        let updated = rows::mark_submitted(&self.db, battle_id, user_id, self.clock.now()).await?;
        let battle = rows::load_battle(&self.db, battle_id)
            .await?
            .ok_or_else(|| {
                FactsError::NotFound(format!(
                    "No battle '{battle_id}'; push it with upsertBattle first."
                ))
            })?;
        if !updated && !battle.1.iter().any(|p| p.user_id == user_id) {
            return Err(FactsError::NotFound(format!(
                "'{user_id}' is not a participant of battle '{battle_id}'."
            )));
        }
        Ok(battle)
    }

    /// Creates or updates a user's streak, and schedules its next alert in the user's time zone.
    pub async fn upsert_streak(
        &self,
        user_id: &str,
        current_days: i32,
        last_activity: NaiveDate,
    ) -> Result<StreakRow, FactsError> {
        check_id("userId", user_id)?;
        if current_days < 0 {
            return Err(FactsError::Invalid(
                "currentDays cannot be negative.".into(),
            ));
        }
        let now = self.clock.now();
        let recipient = crate::recipients::load(&self.db, user_id)
            .await?
            .map(|p| p.recipient);
        let locale = self.locale_rules.locale(
            recipient.as_ref().and_then(|r| r.timezone.as_deref()),
            recipient.as_ref().and_then(|r| r.phone_e164.as_deref()),
        );
        let (alert_at, expires) = alert_window(last_activity, &locale, self.streak_alert_time);
        // Read and written in one transaction that holds the row: a concurrent push waits.
        let (txn, existing) = rows::begin_streak(&self.db, user_id).await?;
        // The same fact again must not re-arm an alert that was already handled.
        let already_handled = existing
            .as_ref()
            .is_some_and(|s| s.last_activity_date == last_activity && s.next_alert_at.is_none());
        let next = (current_days >= 1 && !already_handled && now < expires).then_some(alert_at);
        let facts = StreakFacts {
            user_id: user_id.to_owned(),
            current_days,
            last_activity,
            next_alert_at: next,
            alert_expires_at: expires,
        };
        let row = rows::upsert_streak(&txn, facts, now).await?;
        sea_orm::TransactionSession::commit(txn).await?;
        Ok(row)
    }

    /// After a user's time zone changes, moves their pending streak alert to the new local time.
    pub async fn reschedule_streak(&self, user_id: &str) -> Result<(), DbErr> {
        let Some(streak) = rows::streak(&self.db, user_id).await? else {
            return Ok(());
        };
        if streak.next_alert_at.is_none() {
            return Ok(());
        }
        match self
            .upsert_streak(user_id, streak.current_days, streak.last_activity_date)
            .await
        {
            Ok(_) => Ok(()),
            Err(FactsError::Db(e)) => Err(e),
            Err(_) => Ok(()),
        }
    }
}
