//! Reading the SMS log: newest first, filtered, paged by id (each page is one indexed range scan).

use chrono::{DateTime, Utc};
use entity::sms_log::{self, MessageType, SmsStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub status: Option<SmsStatus>,
    pub message_type: Option<MessageType>,
    pub user_id: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// Up to `limit` rows matching `filter` with ids below `before_id`, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &LogFilter,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<sms_log::Model>, DbErr> {
    let mut query = sms_log::Entity::find();
    if let Some(status) = filter.status {
        query = query.filter(sms_log::Column::Status.eq(status));
    }
    if let Some(message_type) = filter.message_type {
        query = query.filter(sms_log::Column::MessageType.eq(message_type));
    }
    if let Some(user) = &filter.user_id {
        query = query.filter(sms_log::Column::UserId.eq(user.as_str()));
    }
    if let Some(phone) = &filter.phone {
        query = query.filter(sms_log::Column::ToPhone.eq(phone.as_str()));
    }
    if let Some(after) = filter.created_after {
        query = query.filter(sms_log::Column::CreatedAt.gte(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(sms_log::Column::CreatedAt.lt(before));
    }
    if let Some(id) = before_id {
        query = query.filter(sms_log::Column::Id.lt(id));
    }
    query
        .order_by_desc(sms_log::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<sms_log::Model>, DbErr> {
    sms_log::Entity::find_by_id(id).one(db).await
}

/// The delivery events of a message, oldest first (an indexed range: `sms_events (sms_log_id, id)`).
pub async fn events(
    db: &impl ConnectionTrait,
    log_id: i64,
) -> Result<Vec<entity::sms_events::Model>, DbErr> {
    entity::sms_events::Entity::find()
        .filter(entity::sms_events::Column::SmsLogId.eq(log_id))
        .order_by_asc(entity::sms_events::Column::Id)
        .all(db)
        .await
}

/// Replies, newest first, optionally from one number, paged by id (an indexed range).
pub async fn replies(
    db: &impl ConnectionTrait,
    from: Option<&str>,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<entity::sms_replies::Model>, DbErr> {
    use entity::sms_replies::{Column, Entity};
    let mut query = Entity::find();
    if let Some(from) = from {
        query = query.filter(Column::FromPhone.eq(from));
    }
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// Which consent records to read.
#[derive(Debug, Clone, Default)]
pub struct ConsentFilter {
    pub user_id: Option<String>,
    pub phone: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl ConsentFilter {
    fn apply(
        &self,
        mut query: sea_orm::Select<entity::consent_events::Entity>,
    ) -> sea_orm::Select<entity::consent_events::Entity> {
        use entity::consent_events::Column;
        if let Some(user) = &self.user_id {
            query = query.filter(Column::UserId.eq(user.as_str()));
        }
        if let Some(phone) = &self.phone {
            query = query.filter(Column::PhoneE164.eq(phone.as_str()));
        }
        if let Some(from) = self.from {
            query = query.filter(Column::OccurredAt.gte(from));
        }
        if let Some(to) = self.to {
            query = query.filter(Column::OccurredAt.lt(to));
        }
        query
    }
}

/// Consent records, newest first, paged by id (the TCPA proof of every consent given or revoked).
pub async fn consent_events(
    db: &impl ConnectionTrait,
    filter: &ConsentFilter,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<entity::consent_events::Model>, DbErr> {
    use entity::consent_events::{Column, Entity};
    let mut query = filter.apply(Entity::find());
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// Consent records in time order, `page` at a time after `after_id`, for the export.
pub async fn consent_events_in_order(
    db: &impl ConnectionTrait,
    filter: &ConsentFilter,
    after: Option<(DateTime<Utc>, i64)>,
    page: u64,
) -> Result<Vec<entity::consent_events::Model>, DbErr> {
    use entity::consent_events::{Column, Entity};
    use sea_orm::Condition;
    let mut query = filter.apply(Entity::find());
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any().add(Column::OccurredAt.gt(at)).add(
                Condition::all()
                    .add(Column::OccurredAt.eq(at))
                    .add(Column::Id.gt(id)),
            ),
        );
    }
    query
        .order_by_asc(Column::OccurredAt)
        .order_by_asc(Column::Id)
        .limit(page)
        .all(db)
        .await
}
