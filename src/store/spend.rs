//! `spend_months`: each month's reserved spend, the row every sender touches. Reserving is one atomic
//! conditional update, so concurrent senders (and instances) can never pass the cap.

use chrono::{DateTime, Datelike, Utc};
use entity::spend_months::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, OnConflict},
};

/// What a month has reserved and the highest budget threshold (percent) warned of.
pub type Standing = (i64, i64);

/// Reserves `micros` of `month`'s budget unless that would pass `cap`; the month's standing after it,
/// told by the same statement (`None`: it did not fit).
pub async fn reserve_month(
    db: &impl ConnectionTrait,
    month: &str,
    micros: i64,
    cap: i64,
) -> Result<Option<Standing>, DbErr> {
    let update = || {
        Entity::update_many()
            .col_expr(
                Column::ReservedMicros,
                Expr::col(Column::ReservedMicros).add(micros),
            )
            .filter(Column::Month.eq(month))
            .filter(Expr::col(Column::ReservedMicros).add(micros).lte(cap))
    };
    let standing = |rows: Vec<spend_months::Model>| {
        rows.first()
            .map(|m| (m.reserved_micros, i64::from(m.warned_pct)))
    };
    if let Some(now) = standing(update().exec_with_returning(db).await?) {
        return Ok(Some(now));
    }
    // No row yet, or it does not fit: the row is made only here (see `reserve_in`).
    let blank = spend_months::ActiveModel {
        month: Set(month.to_owned()),
        reserved_micros: Set(0),
        warned_pct: Set(0),
    };
    Entity::insert(blank)
        .on_conflict(OnConflict::column(Column::Month).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(standing(update().exec_with_returning(db).await?))
}

/// Reserves `micros` of `month`'s budget unless that would pass `cap`.
pub async fn reserve(
    db: &impl ConnectionTrait,
    month: &str,
    micros: i64,
    cap: i64,
) -> Result<bool, DbErr> {
    let blank = spend_months::ActiveModel {
        month: Set(month.to_owned()),
        reserved_micros: Set(0),
        warned_pct: Set(0),
    };
    reserve_in::<Entity, _>(
        db,
        (Column::Month, Column::ReservedMicros),
        month,
        (micros, cap),
        blank,
    )
    .await
}

/// Adds `micros` to the amount of the row whose `key` column is `key`, unless that would pass `cap`:
/// one atomic conditional update, so concurrent senders (and instances) can never pass the cap. The
/// budget rows of the month and of the codes' day share it.
pub(super) async fn reserve_in<E, A>(
    db: &impl ConnectionTrait,
    (key_column, amount): (E::Column, E::Column),
    key: &str,
    (micros, cap): (i64, i64),
    blank: A,
) -> Result<bool, DbErr>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let update = || {
        E::update_many()
            .col_expr(amount, Expr::col(amount).add(micros))
            .filter(key_column.eq(key))
            .filter(Expr::col(amount).add(micros).lte(cap))
    };
    if update().exec(db).await?.rows_affected == 1 {
        return Ok(true);
    }
    // No row yet, or the amount does not fit. Creating the row first on every call would make each
    // sender wait for the row's current holder twice (PostgreSQL's INSERT ... ON CONFLICT waits for
    // it to commit), so it is done only here.
    E::insert(blank)
        .on_conflict(OnConflict::column(key_column).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(update().exec(db).await?.rows_affected == 1)
}

/// Corrects `month`'s spend by `micros` (negative gives back). Unlike `reserve`, no cap: this is what
/// was spent, or a reservation returned.
pub async fn adjust(db: &impl ConnectionTrait, month: &str, micros: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(
            Column::ReservedMicros,
            Expr::col(Column::ReservedMicros).add(micros),
        )
        .filter(Column::Month.eq(month))
        .exec(db)
        .await?;
    Ok(())
}

/// Adds what was spent in `month` outside this service (the old app's texts, imported), making the
/// month's row when there is none; no cap.
pub async fn add(db: &impl ConnectionTrait, month: &str, micros: i64) -> Result<(), DbErr> {
    Entity::insert(spend_months::ActiveModel {
        month: Set(month.to_owned()),
        reserved_micros: Set(micros),
        warned_pct: Set(0),
    })
    .on_conflict(
        OnConflict::column(Column::Month)
            .value(
                Column::ReservedMicros,
                Expr::col((Entity, Column::ReservedMicros)).add(micros),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// What is reserved in `month`.
pub async fn reserved(db: &impl ConnectionTrait, month: &str) -> Result<i64, DbErr> {
    Ok(Entity::find()
        .select_only()
        .column(Column::ReservedMicros)
        .filter(Column::Month.eq(month))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

/// Marks `pct` as warned for `month` when the month's spend has reached it of `limit` and it was not
/// marked before; true for the one caller (across every instance) that marks it.
pub async fn mark_threshold(
    db: &impl ConnectionTrait,
    month: &str,
    pct: i64,
    limit: i64,
) -> Result<bool, DbErr> {
    let crossed = Entity::update_many()
        .col_expr(Column::WarnedPct, Expr::value(pct))
        .filter(Column::Month.eq(month))
        .filter(Column::WarnedPct.lt(pct))
        .filter(Expr::col(Column::ReservedMicros).mul(100).gte(pct * limit))
        .exec(db)
        .await?;
    Ok(crossed.rows_affected == 1)
}

/// The budget month of a moment: `YYYY-MM` in UTC (the key of `spend_months`).
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}
