//! `message_changes`, the change feed the database's triggers write: read in order by `seq`, and purged
//! once every instance has long read it.

use entity::message_changes::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

pub use entity::message_changes::Model as ChangeRow;

/// Up to `limit` changes after `after`, in order.
pub async fn after(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<ChangeRow>, DbErr> {
    Entity::find()
        .filter(Column::Seq.gt(after))
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The newest change's `seq` (0 before any).
pub async fn latest(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(Entity::find()
        .select_only()
        .column_as(Column::Seq.max(), "seq")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0))
}

/// Deletes the changes made before `before_us` (microseconds since the epoch), a batch at a time from
/// the head of the feed: `seq` grows with time, so the oldest are first and no index on the time is
/// needed. Stops at the first change that is recent enough.
pub async fn purge(db: &impl ConnectionTrait, before_us: i64, batch: u64) -> Result<u64, DbErr> {
    let mut deleted = 0;
    loop {
        let head: Vec<(i64, i64, bool)> = Entity::find()
            .select_only()
            .column(Column::Seq)
            .column(Column::ChangedAtUs)
            .column(Column::Webhooked)
            .order_by_asc(Column::Seq)
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        let old: Vec<i64> = head
            .iter()
            // A change whose webhooks are not made yet stays, however old.
            .take_while(|(_, at, hooked)| *at < before_us && *hooked)
            .map(|(seq, _, _)| *seq)
            .collect();
        if old.is_empty() {
            return Ok(deleted);
        }
        let whole_batch = old.len() == head.len();
        deleted += message_changes::Entity::delete_many()
            .filter(Column::Seq.is_in(old))
            .exec(db)
            .await?
            .rows_affected;
        if !whole_batch {
            return Ok(deleted);
        }
    }
}
