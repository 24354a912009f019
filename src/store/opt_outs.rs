//! `opt_outs`: numbers that must get no promotional text (STOP, the carrier, an operator),
//! independent of any account.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::opt_outs::{self, Column, Entity};
pub use entity::opt_outs::{Model as OptOut, OptOutSource};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

/// Adds a number to the list (idempotent: an existing entry keeps its source and time); true when it
/// was not on it. Its event is the consent capability's (`consent::opt_out`).
pub async fn add(
    db: &impl ConnectionTrait,
    e164: &str,
    source: OptOutSource,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let added = Entity::insert(opt_outs::ActiveModel {
        phone_e164: Set(e164.to_owned()),
        source: Set(source),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(Column::PhoneE164)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(added == 1)
}

/// Takes a number off the list; true when it was on it.
pub async fn remove(db: &impl ConnectionTrait, e164: &str) -> Result<bool, DbErr> {
    let result = Entity::delete_many()
        .filter(Column::PhoneE164.eq(e164))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The list's entry for a number, if it is on it.
pub async fn get(db: &impl ConnectionTrait, e164: &str) -> Result<Option<OptOut>, DbErr> {
    Entity::find_by_id(e164.to_owned()).one(db).await
}

/// Which of `numbers` are on the list, in one query.
pub async fn among<'a>(
    db: &impl ConnectionTrait,
    numbers: impl IntoIterator<Item = &'a str>,
) -> Result<HashSet<String>, DbErr> {
    let numbers: Vec<&str> = numbers.into_iter().collect();
    if numbers.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(Entity::find()
        .filter(Column::PhoneE164.is_in(numbers))
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.phone_e164)
        .collect())
}
