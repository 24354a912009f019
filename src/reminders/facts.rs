//! Facts the app pushes for the reminder engine: battles with their participants, and streaks. Every
//! push is idempotent: the same fact twice leaves the same rows.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    battle_participants as participants,
    battles::{self, BattleStatus},
    streaks,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait, sea_query::OnConflict,
};

use super::streaks::alert_window;
use crate::AppContext;

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

#[derive(Debug, Clone)]
pub struct BattleFacts {
    pub battle_id: String,
    pub topic: String,
    pub link: String,
    pub status: BattleStatus,
    pub deadline_at: DateTime<Utc>,
    /// Everyone in the battle, with when they submitted for the current turn.
    pub participants: Vec<(String, Option<DateTime<Utc>>)>,
}

pub type BattleWithParticipants = (battles::Model, Vec<participants::Model>);

fn check_id(field: &str, id: &str) -> Result<(), FactsError> {
    if id.trim().is_empty() || id.len() > 128 {
        return Err(FactsError::Invalid(format!(
            "{field} must be 1 to 128 characters."
        )));
    }
    Ok(())
}

pub async fn load_battle(
    db: &impl ConnectionTrait,
    battle_id: &str,
) -> Result<Option<BattleWithParticipants>, DbErr> {
    let Some(battle) = battles::Entity::find_by_id(battle_id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let people = participants::Entity::find()
        .filter(participants::Column::BattleId.eq(battle_id))
        .order_by_asc(participants::Column::UserId)
        .all(db)
        .await?;
    Ok(Some((battle, people)))
}

/// Creates or replaces a battle and its participant list.
pub async fn upsert_battle(
    ctx: &AppContext,
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
    let now = ctx.clock.now();
    let txn = ctx.db.begin().await?;
    battles::Entity::insert(battles::ActiveModel {
        battle_id: Set(facts.battle_id.clone()),
        topic: Set(facts.topic.clone()),
        link: Set(facts.link.clone()),
        status: Set(facts.status),
        deadline_at: Set(facts.deadline_at),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(battles::Column::BattleId)
            .update_columns([
                battles::Column::Topic,
                battles::Column::Link,
                battles::Column::Status,
                battles::Column::DeadlineAt,
                battles::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    participants::Entity::delete_many()
        .filter(participants::Column::BattleId.eq(facts.battle_id.as_str()))
        .filter(
            participants::Column::UserId
                .is_not_in(facts.participants.iter().map(|(u, _)| u.clone())),
        )
        .exec(&txn)
        .await?;
    if !facts.participants.is_empty() {
        participants::Entity::insert_many(facts.participants.iter().map(|(user, submitted)| {
            participants::ActiveModel {
                battle_id: Set(facts.battle_id.clone()),
                user_id: Set(user.clone()),
                submitted_at: Set(*submitted),
            }
        }))
        .on_conflict(
            OnConflict::columns([participants::Column::BattleId, participants::Column::UserId])
                .update_column(participants::Column::SubmittedAt)
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    let result = load_battle(&txn, &facts.battle_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(facts.battle_id.clone()))?;
    txn.commit().await?;
    Ok(result)
}

/// Marks a participant's entry as submitted (the first submission time is kept).
pub async fn record_submission(
    ctx: &AppContext,
    battle_id: &str,
    user_id: &str,
) -> Result<BattleWithParticipants, FactsError> {
    let now = ctx.clock.now();
    let updated = participants::Entity::update_many()
        .col_expr(
            participants::Column::SubmittedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(participants::Column::BattleId.eq(battle_id))
        .filter(participants::Column::UserId.eq(user_id))
        .filter(participants::Column::SubmittedAt.is_null())
        .exec(&ctx.db)
        .await?;
    let battle = load_battle(&ctx.db, battle_id).await?.ok_or_else(|| {
        FactsError::NotFound(format!(
            "No battle '{battle_id}'; push it with upsertBattle first."
        ))
    })?;
    if updated.rows_affected == 0 && !battle.1.iter().any(|p| p.user_id == user_id) {
        return Err(FactsError::NotFound(format!(
            "'{user_id}' is not a participant of battle '{battle_id}'."
        )));
    }
    Ok(battle)
}

/// Creates or updates a user's streak, and schedules its next alert in the user's time zone.
pub async fn upsert_streak(
    ctx: &AppContext,
    user_id: &str,
    current_days: i32,
    last_activity: NaiveDate,
) -> Result<streaks::Model, FactsError> {
    check_id("userId", user_id)?;
    if current_days < 0 {
        return Err(FactsError::Invalid(
            "currentDays cannot be negative.".into(),
        ));
    }
    let now = ctx.clock.now();
    let existing = streaks::Entity::find_by_id(user_id.to_owned())
        .one(&ctx.db)
        .await?;
    let recipient = crate::recipients::load(&ctx.db, user_id)
        .await?
        .map(|p| p.recipient);
    let locale = ctx.config.locale(
        recipient.as_ref().and_then(|r| r.timezone.as_deref()),
        recipient.as_ref().and_then(|r| r.phone_e164.as_deref()),
    );
    let (alert_at, expires) = alert_window(
        last_activity,
        &locale,
        ctx.config.reminders.streak_alert_time,
    );
    // The same fact again must not re-arm an alert that was already handled.
    let already_handled = existing
        .as_ref()
        .is_some_and(|s| s.last_activity_date == last_activity && s.next_alert_at.is_none());
    let next = (current_days >= 1 && !already_handled && now < expires).then_some(alert_at);
    let row = streaks::ActiveModel {
        user_id: Set(user_id.to_owned()),
        current_days: Set(current_days),
        last_activity_date: Set(last_activity),
        next_alert_at: Set(next),
        alert_expires_at: Set(Some(expires)),
        updated_at: Set(now),
    };
    streaks::Entity::insert(row)
        .on_conflict(
            OnConflict::column(streaks::Column::UserId)
                .update_columns([
                    streaks::Column::CurrentDays,
                    streaks::Column::LastActivityDate,
                    streaks::Column::NextAlertAt,
                    streaks::Column::AlertExpiresAt,
                    streaks::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&ctx.db)
        .await?;
    streaks::Entity::find_by_id(user_id.to_owned())
        .one(&ctx.db)
        .await?
        .ok_or_else(|| FactsError::Db(DbErr::RecordNotFound(user_id.to_owned())))
}

/// After a user's time zone changes, moves their pending streak alert to the new local time.
pub async fn reschedule_streak(ctx: &AppContext, user_id: &str) -> Result<(), DbErr> {
    let Some(streak) = streaks::Entity::find_by_id(user_id.to_owned())
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    if streak.next_alert_at.is_none() {
        return Ok(());
    }
    match upsert_streak(ctx, user_id, streak.current_days, streak.last_activity_date).await {
        Ok(_) => Ok(()),
        Err(FactsError::Db(e)) => Err(e),
        Err(_) => Ok(()),
    }
}
