//! `consent_events` and the consent columns of `sms_preferences`: every consent given or revoked, kept
//! append-only as the TCPA proof, and the current state beside the preferences.

use chrono::{DateTime, Utc};
pub use entity::consent_events::{ConsentAction, ConsentMethod, Model as ConsentEvent};
use entity::{consent_events, sms_preferences};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use super::recipients::{PreferencesRow, Profile};

/// Where a consent change came from.
#[derive(Debug, Clone)]
pub struct ConsentSource {
    pub method: ConsentMethod,
    pub ip: Option<String>,
}

/// Records a consent given or revoked at `now`: the current state on the preferences and an event in
/// the append-only history, with the number it covered.
pub async fn record(
    txn: &impl ConnectionTrait,
    profile: &Profile,
    action: ConsentAction,
    source: &ConsentSource,
    now: DateTime<Utc>,
) -> Result<PreferencesRow, DbErr> {
    let mut prefs = profile.preferences.clone().into_active_model();
    match action {
        ConsentAction::Given => {
            prefs.consent_given_at = Set(Some(now));
            prefs.consent_method = Set(Some(source.method));
            prefs.consent_ip = Set(source.ip.clone());
            prefs.consent_revoked_at = Set(None);
        }
        ConsentAction::Revoked => prefs.consent_revoked_at = Set(Some(now)),
    }
    prefs.updated_at = Set(now);
    let prefs: sms_preferences::Model = prefs.update(txn).await?;
    consent_events::ActiveModel {
        user_id: Set(profile.recipient.user_id.clone()),
        action: Set(action),
        method: Set(source.method),
        phone_e164: Set(profile.recipient.phone_e164.clone()),
        ip: Set(source.ip.clone()),
        occurred_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(prefs)
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
        mut query: sea_orm::Select<consent_events::Entity>,
    ) -> sea_orm::Select<consent_events::Entity> {
        use consent_events::Column;
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
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ConsentFilter,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<consent_events::Model>, DbErr> {
    use consent_events::{Column, Entity};
    let mut query = filter.apply(Entity::find());
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// Consent records in time order, `page` at a time after `after_id`, for the export.
pub async fn in_order(
    db: &impl ConnectionTrait,
    filter: &ConsentFilter,
    after: Option<(DateTime<Utc>, i64)>,
    page: u64,
) -> Result<Vec<consent_events::Model>, DbErr> {
    use consent_events::{Column, Entity};
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
