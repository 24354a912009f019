//! `phone_verifications`: codes (as argon2 hashes) with their number, expiry and tries, counted by
//! indexed ranges for the abuse limits.

use chrono::{DateTime, Duration, Utc};
pub use entity::phone_verifications::Model as CodeRow;
use entity::phone_verifications::{self as pv, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, sea_query::Expr,
};

/// What an abuse limit counts codes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountedBy {
    Phone,
    User,
    ClientIp,
}

impl CountedBy {
    fn column(self) -> Column {
        match self {
            Self::Phone => Column::PhoneE164,
            Self::User => Column::UserId,
            Self::ClientIp => Column::ClientIp,
        }
    }
}

/// The user's newest code, used or not.
pub async fn latest(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<CodeRow>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::CreatedAt)
        .one(db)
        .await
}

/// When the `limit`-th newest code of this key, counted since `since`, stops counting (`None`: under
/// the limit). Reads at most `limit` rows of an indexed range.
pub async fn window_full(
    db: &impl ConnectionTrait,
    by: CountedBy,
    key: &str,
    (since, window): (DateTime<Utc>, Duration),
    limit: u32,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let recent = Entity::find()
        .filter(by.column().eq(key))
        .filter(Column::CreatedAt.gt(since))
        .order_by_desc(Column::CreatedAt)
        .paginate(db, u64::from(limit))
        .fetch_page(0)
        .await?;
    if (recent.len() as u32) < limit {
        return Ok(None);
    }
    Ok(recent.last().map(|oldest| oldest.created_at + window))
}

/// A new code for a user's number.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub user_id: String,
    pub phone_e164: String,
    pub code_hash: String,
    pub client_ip: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The range of numbers `phone_e164` is in, for the fraud guard.
    pub phone_range: Option<String>,
}

/// Replaces the user's open codes with a new one.
pub async fn replace(
    txn: &impl ConnectionTrait,
    code: NewCode,
    now: DateTime<Utc>,
) -> Result<CodeRow, DbErr> {
    Entity::update_many()
        .col_expr(Column::InvalidatedAt, Expr::value(now))
        .filter(Column::UserId.eq(code.user_id.as_str()))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::InvalidatedAt.is_null())
        .exec(txn)
        .await?;
    pv::ActiveModel {
        user_id: Set(code.user_id),
        phone_e164: Set(code.phone_e164),
        code_hash: Set(code.code_hash),
        client_ip: Set(code.client_ip),
        created_at: Set(now),
        expires_at: Set(code.expires_at),
        attempts: Set(0),
        consumed_at: Set(None),
        invalidated_at: Set(None),
        phone_range: Set(code.phone_range),
        ..Default::default()
    }
    .insert(txn)
    .await
}

/// Voids one code whose text could not be sent; it no longer counts as sent to its range.
pub async fn invalidate(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::InvalidatedAt, Expr::value(now))
        .col_expr(Column::PhoneRange, Expr::value(Option::<String>::None))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The user's newest code that is neither used nor replaced.
pub async fn open(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<CodeRow>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::InvalidatedAt.is_null())
        .order_by_desc(Column::CreatedAt)
        .one(db)
        .await
}

/// Takes one try of an open code, unless `max` are used: one atomic update, so concurrent guesses can
/// never exceed the limit. Returns the tries used so far, counting this one (each of several
/// concurrent guesses is told its own place), or `None` when none was left.
pub async fn take_try(db: &impl ConnectionTrait, id: i64, max: i32) -> Result<Option<i32>, DbErr> {
    let taken = Entity::update_many()
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id))
        .filter(Column::Attempts.lt(max))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::InvalidatedAt.is_null())
        .exec_with_returning(db)
        .await?;
    Ok(taken.first().map(|row| row.attempts))
}

/// Marks an open code used; false when it was used or replaced in the meantime.
pub async fn consume(
    txn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let consumed = Entity::update_many()
        .col_expr(Column::ConsumedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::InvalidatedAt.is_null())
        .exec(txn)
        .await?;
    Ok(consumed.rows_affected == 1)
}

/// Codes sent to `range` since `since`, and how many of them were entered: one count over the
/// `(phone_range, created_at)` index.
pub async fn range_counts(
    db: &impl ConnectionTrait,
    range: &str,
    since: DateTime<Utc>,
) -> Result<(i64, i64), DbErr> {
    use sea_orm::{QuerySelect, sea_query::Func};
    let counted: Option<(i64, i64)> = Entity::find()
        .select_only()
        .column_as(Expr::col(Column::Id).count(), "sent")
        .column_as(
            Expr::expr(Func::count(Expr::col(Column::ConsumedAt))),
            "confirmed",
        )
        .filter(Column::PhoneRange.eq(range))
        .filter(Column::CreatedAt.gt(since))
        .into_tuple()
        .one(db)
        .await?;
    Ok(counted.unwrap_or((0, 0)))
}

/// Per range, the codes made from `from` up to `to`: one sample number (for its country), how many,
/// and how many were entered. Grouped in the database.
pub async fn sent_by_range(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, String, i64, i64)>, DbErr> {
    use sea_orm::{QuerySelect, sea_query::Func};
    Entity::find()
        .select_only()
        .column(Column::PhoneRange)
        .column_as(Expr::col(Column::PhoneE164).max(), "sample")
        .column_as(Expr::col(Column::Id).count(), "sent")
        .column_as(
            Expr::expr(Func::count(Expr::col(Column::ConsumedAt))),
            "confirmed",
        )
        .filter(Column::PhoneRange.is_not_null())
        .filter(Column::CreatedAt.gte(from))
        .filter(Column::CreatedAt.lt(to))
        .group_by(Column::PhoneRange)
        .into_tuple()
        .all(db)
        .await
}
