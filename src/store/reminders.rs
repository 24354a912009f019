//! The facts the reminder engine scans, as the app pushes them (`battles`, `battle_participants`,
//! `streaks`), and `reminder_runs`, what each scan did.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    battle_participants as participants,
    battles::{self, BattleStatus},
    reminder_runs::{self, ScanKind},
    streaks,
};
pub use entity::{
    battle_participants::Model as ParticipantRow, battles::Model as BattleRow,
    reminder_runs::Model as ScanRunRow, streaks::Model as StreakRow,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use super::placeholder;

/// Candidates read per query.
pub const BATCH: u64 = 1_000;

/// A battle with its participants, in user order.
pub type BattleWithParticipants = (BattleRow, Vec<ParticipantRow>);

/// A battle as the app pushes it.
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

/// Creates or replaces a battle and its participant list (participants not listed are removed), in
/// one transaction; the battle as it is now.
pub async fn upsert_battle<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    facts: &BattleFacts,
    now: DateTime<Utc>,
) -> Result<BattleWithParticipants, DbErr> {
    let txn = db.begin().await?;
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
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(result)
}

/// Marks a participant's entry as submitted (the first submission time is kept); true when it was
/// not marked before.
pub async fn mark_submitted(
    db: &impl ConnectionTrait,
    battle_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = participants::Entity::update_many()
        .col_expr(participants::Column::SubmittedAt, Expr::value(now))
        .filter(participants::Column::BattleId.eq(battle_id))
        .filter(participants::Column::UserId.eq(user_id))
        .filter(participants::Column::SubmittedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// A user's streak row.
pub async fn streak(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<StreakRow>, DbErr> {
    streaks::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await
}

/// A streak as it is stored, with its next alert.
#[derive(Debug, Clone)]
pub struct StreakFacts {
    pub user_id: String,
    pub current_days: i32,
    pub last_activity: NaiveDate,
    pub next_alert_at: Option<DateTime<Utc>>,
    pub alert_expires_at: DateTime<Utc>,
}

/// Opens a transaction that holds the user's streak for writing, and reads it in it: a concurrent push
/// of the same streak waits, so what is read stays true until the write commits.
pub async fn begin_streak<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
) -> Result<(C::Transaction, Option<StreakRow>), DbErr> {
    let txn = db.begin().await?;
    let mut query = streaks::Entity::find_by_id(user_id.to_owned());
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let existing = query.one(&txn).await?;
    Ok((txn, existing))
}

/// Creates or replaces a user's streak; the row as it is now.
pub async fn upsert_streak(
    db: &impl ConnectionTrait,
    facts: StreakFacts,
    now: DateTime<Utc>,
) -> Result<StreakRow, DbErr> {
    let user_id = facts.user_id.clone();
    streaks::Entity::insert(streaks::ActiveModel {
        user_id: Set(facts.user_id),
        current_days: Set(facts.current_days),
        last_activity_date: Set(facts.last_activity),
        next_alert_at: Set(facts.next_alert_at),
        alert_expires_at: Set(Some(facts.alert_expires_at)),
        updated_at: Set(now),
    })
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
    .exec_without_returning(db)
    .await?;
    streak(db, &user_id)
        .await?
        .ok_or(DbErr::RecordNotFound(user_id))
}

/// Streaks whose alert is due at `now`, oldest first, a batch at a time (a partial index).
pub async fn streaks_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Vec<StreakRow>, DbErr> {
    streaks::Entity::find()
        .filter(streaks::Column::NextAlertAt.lte(now))
        .order_by_asc(streaks::Column::NextAlertAt)
        .limit(BATCH)
        .all(db)
        .await
}

/// Marks these streaks' alerts handled. A streak pushed again meanwhile has a future alert and keeps
/// it.
pub async fn streak_alerts_handled(
    db: &impl ConnectionTrait,
    users: impl IntoIterator<Item = String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    streaks::Entity::update_many()
        .col_expr(
            streaks::Column::NextAlertAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(streaks::Column::UserId.is_in(users))
        .filter(streaks::Column::NextAlertAt.lte(now))
        .exec(db)
        .await?;
    Ok(())
}

/// What one scan run did.
#[derive(Debug, Clone, Copy)]
pub struct ScanRun {
    pub kind: ScanKind,
    pub found: u64,
    pub enqueued: u64,
    pub skipped: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
}

/// Keeps a scan run for operators (`reminderRuns`).
pub async fn record_run(db: &impl ConnectionTrait, run: ScanRun) -> Result<(), DbErr> {
    reminder_runs::ActiveModel {
        kind: Set(run.kind),
        found: Set(run.found as i64),
        enqueued: Set(run.enqueued as i64),
        skipped: Set(run.skipped as i64),
        started_at: Set(run.started_at),
        finished_at: Set(run.finished_at),
        duration_ms: Set(run.duration_ms as i64),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

#[derive(Debug, FromQueryResult)]
pub struct Candidate {
    pub battle_id: String,
    pub user_id: String,
    pub topic: String,
    pub link: String,
    pub deadline_at: DateTime<Utc>,
    pub timezone: Option<String>,
    pub phone_e164: Option<String>,
}

/// Participants of active battles who have not submitted, with a deadline in `(now, horizon]`, in key
/// order after `after`: one indexed range over `battles (status, deadline_at)`. Raw SQL for the
/// row-value keyset comparison, which sea-query does not build for three columns across a join.
pub async fn candidates(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    after: Option<(DateTime<Utc>, String, String)>,
) -> Result<Vec<Candidate>, DbErr> {
    let backend = db.get_database_backend();
    let p = |n: usize| placeholder(backend, n);
    let mut values: Vec<sea_orm::Value> = vec![now.into(), horizon.into()];
    let mut keyset = String::new();
    if let Some((deadline, battle, user)) = after {
        values.extend([deadline.into(), battle.into(), user.into()]);
        keyset = format!(
            " AND (b.deadline_at, b.battle_id, p.user_id) > ({}, {}, {})",
            p(3),
            p(4),
            p(5)
        );
    }
    let sql = format!(
        "SELECT b.battle_id, p.user_id, b.topic, b.link, b.deadline_at, r.timezone, r.phone_e164 \
         FROM battles b \
         JOIN battle_participants p ON p.battle_id = b.battle_id \
         LEFT JOIN recipients r ON r.user_id = p.user_id \
         WHERE b.status = 'active' AND b.deadline_at > {} AND b.deadline_at <= {} \
           AND p.submitted_at IS NULL{keyset} \
         ORDER BY b.deadline_at, b.battle_id, p.user_id LIMIT {BATCH}",
        p(1),
        p(2)
    );
    Candidate::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
}
