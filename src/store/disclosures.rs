//! `consent_disclosures`: the texts people are shown when they opt in, by version, kept forever.

use chrono::{DateTime, Utc};
use entity::consent_disclosures::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use entity::consent_disclosures::Model as Disclosure;

/// Publishes `version` with `text` unless the version exists. Returns the stored disclosure and
/// whether this call published it (false: the version was already there, maybe with another text).
pub async fn publish(
    db: &impl ConnectionTrait,
    disclosure: Disclosure,
) -> Result<(Disclosure, bool), DbErr> {
    let version = disclosure.version.clone();
    let inserted = Entity::insert(consent_disclosures::ActiveModel {
        version: Set(disclosure.version),
        text: Set(disclosure.text),
        text_sha256: Set(disclosure.text_sha256),
        published_at: Set(disclosure.published_at),
        published_by: Set(disclosure.published_by),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(Column::Version)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = get(db, &version)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("disclosure {version}")))?;
    Ok((stored, inserted == 1))
}

/// The disclosure of `version`.
pub async fn get(db: &impl ConnectionTrait, version: &str) -> Result<Option<Disclosure>, DbErr> {
    Entity::find_by_id(version.to_owned()).one(db).await
}

/// The latest published disclosure.
pub async fn latest(db: &impl ConnectionTrait) -> Result<Option<Disclosure>, DbErr> {
    Entity::find()
        .order_by_desc(Column::PublishedAt)
        .order_by_desc(Column::Version)
        .one(db)
        .await
}

/// Up to `limit` disclosures published before `before` (newest first).
pub async fn list(
    db: &impl ConnectionTrait,
    before: Option<DateTime<Utc>>,
    limit: u64,
) -> Result<Vec<Disclosure>, DbErr> {
    let mut query = Entity::find();
    if let Some(at) = before {
        query = query.filter(Column::PublishedAt.lt(at));
    }
    query
        .order_by_desc(Column::PublishedAt)
        .limit(limit)
        .all(db)
        .await
}
