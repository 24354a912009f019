//! `verification_guard_lifts`: an admin's lift of the verification fraud guard for a range of numbers.
//! Codes sent before the lift no longer count against the range.

use chrono::{DateTime, Utc};
use entity::verification_guard_lifts::{self, Column, Entity};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// When the guard was last lifted for `range`.
pub async fn lifted_at(
    db: &impl ConnectionTrait,
    range: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(Entity::find_by_id(range)
        .one(db)
        .await?
        .map(|l| l.lifted_at))
}

/// Lifts the guard for `range` now.
pub async fn lift(
    db: &impl ConnectionTrait,
    range: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::insert(verification_guard_lifts::ActiveModel {
        phone_range: Set(range.to_owned()),
        lifted_at: Set(now),
        lifted_by: Set(by.to_owned()),
    })
    .on_conflict(
        OnConflict::column(Column::PhoneRange)
            .update_columns([Column::LiftedAt, Column::LiftedBy])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
