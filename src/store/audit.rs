//! `admin_actions`: the audit trail of admins' writes, appended in the transaction of the write it
//! records where the write has one, and read newest first by id.

use chrono::{DateTime, Utc};
use entity::admin_actions::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use entity::admin_actions::Model as ActionRow;

/// One admin write, as it is kept.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub note: Option<&'a str>,
    pub detail: Option<String>,
}

fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Appends `action`.
pub async fn record(
    db: &impl ConnectionTrait,
    action: NewAction<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::insert(admin_actions::ActiveModel {
        actor: Set(clip(action.actor, 128).to_owned()),
        action: Set(clip(action.action, 64).to_owned()),
        target: Set(clip(action.target, 256).to_owned()),
        note: Set(action.note.map(str::to_owned)),
        detail: Set(action.detail),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The erasure's part: actions whose target is `number` name its keyed hash instead. Returns how many.
pub async fn mask_target(
    txn: &impl ConnectionTrait,
    number: &str,
    hash: &str,
) -> Result<u64, DbErr> {
    Ok(Entity::update_many()
        .col_expr(
            Column::Target,
            sea_orm::sea_query::Expr::value(format!("erased:{hash}")),
        )
        .filter(Column::Target.eq(number))
        .exec(txn)
        .await?
        .rows_affected)
}

/// Up to `limit` actions with ids below `before_id`, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<ActionRow>, DbErr> {
    let mut query = Entity::find();
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}
