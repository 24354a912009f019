//! `consent_events` and the consent columns of `sms_preferences`: every consent given or revoked, kept
//! append-only as the TCPA proof, and the current state beside the preferences.

use chrono::{DateTime, Utc};
pub use entity::consent_events::{ConsentAction, ConsentMethod, Model as ConsentEvent};
use entity::{consent_events, sms_preferences};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::recipients::{PreferencesRow, Profile};

/// Where a consent change came from.
#[derive(Debug, Clone)]
pub struct ConsentSource {
    pub method: ConsentMethod,
    pub ip: Option<String>,
    pub proof: ConsentProof,
}

/// What proves an opt-in given in the app: the disclosure shown, the browser, the page.
#[derive(Debug, Clone, Default)]
pub struct ConsentProof {
    /// The published disclosure's version and the SHA-256 of its text.
    pub disclosure: Option<(String, String)>,
    pub user_agent: Option<String>,
    pub page: Option<String>,
}

impl ConsentSource {
    /// A source with no proof beyond its method and address.
    pub fn plain(method: ConsentMethod, ip: Option<String>) -> Self {
        Self {
            method,
            ip,
            proof: ConsentProof::default(),
        }
    }
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
        ConsentAction::Revoked | ConsentAction::Erased => prefs.consent_revoked_at = Set(Some(now)),
    }
    prefs.updated_at = Set(now);
    let prefs: sms_preferences::Model = prefs.update(txn).await?;
    append(
        txn,
        &profile.recipient.user_id,
        action,
        source,
        profile.recipient.phone_e164.clone(),
        now,
    )
    .await?;
    Ok(prefs)
}

/// Appends an event to `user_id`'s history; their previous newest event is superseded from `now`.
async fn append(
    txn: &impl ConnectionTrait,
    user_id: &str,
    action: ConsentAction,
    source: &ConsentSource,
    phone: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use consent_events::Column;
    consent_events::Entity::update_many()
        .col_expr(Column::SupersededAt, Expr::value(now))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::SupersededAt.is_null())
        .exec(txn)
        .await?;
    let (version, sha256) = source.proof.disclosure.clone().unzip();
    consent_events::ActiveModel {
        user_id: Set(user_id.to_owned()),
        action: Set(action),
        method: Set(source.method),
        phone_e164: Set(phone),
        ip: Set(source.ip.clone()),
        occurred_at: Set(now),
        disclosure_version: Set(version),
        disclosure_sha256: Set(sha256),
        user_agent: Set(source.proof.user_agent.clone()),
        page: Set(source.proof.page.clone()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// The erasure's part: `user_id`'s events keep their proof but not the number, which becomes its keyed
/// hash and last four digits (`numbers` maps each number to them), and a final `erased` event closes the
/// history. Returns how many events were rewritten.
pub async fn pseudonymize(
    txn: &impl ConnectionTrait,
    user_id: &str,
    numbers: &[(String, String, String)],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use consent_events::Column;
    let mut rewritten = 0;
    for (phone, hash, last4) in numbers {
        rewritten += consent_events::Entity::update_many()
            .col_expr(Column::PhoneE164, Expr::value(Option::<String>::None))
            .col_expr(Column::PhoneHash, Expr::value(hash.clone()))
            .col_expr(Column::PhoneLast4, Expr::value(last4.clone()))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::PhoneE164.eq(phone.as_str()))
            .exec(txn)
            .await?
            .rows_affected;
    }
    let source = ConsentSource::plain(ConsentMethod::Erasure, None);
    append(txn, user_id, ConsentAction::Erased, &source, None, now).await?;
    if let Some((_, hash, last4)) = numbers.first() {
        consent_events::Entity::update_many()
            .col_expr(Column::PhoneHash, Expr::value(hash.clone()))
            .col_expr(Column::PhoneLast4, Expr::value(last4.clone()))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::SupersededAt.is_null())
            .exec(txn)
            .await?;
    }
    Ok(rewritten)
}

/// The erasure's last part: `user_id`'s events are filed under `pseudonym` (a keyed hash of the id)
/// from now on, so their proof stays together without naming the person.
pub async fn rename_user(
    txn: &impl ConnectionTrait,
    user_id: &str,
    pseudonym: &str,
) -> Result<u64, DbErr> {
    use consent_events::Column;
    Ok(consent_events::Entity::update_many()
        .col_expr(Column::UserId, Expr::value(pseudonym))
        .filter(Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected)
}

/// Deletes, `batch` at a time, the events past `cutoff` that no longer prove anything current: one
/// superseded before `cutoff`, or a person's last event that ended their consent (revoked, erased)
/// before it. A person's standing consent is never deleted, however old. Returns how many went.
pub async fn purge(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    use consent_events::Column;
    super::in_batches(|| async {
        let superseded: Vec<i64> = consent_events::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::SupersededAt.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        let ended: Vec<i64> = consent_events::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::SupersededAt.is_null())
            .filter(Column::Action.ne(ConsentAction::Given))
            .filter(Column::OccurredAt.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        let ids: Vec<i64> = superseded.into_iter().chain(ended).collect();
        Ok(consent_events::Entity::delete_many()
            .filter(Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}

/// Which consent records to read.
#[derive(Debug, Clone, Default)]
pub struct ConsentFilter {
    pub user_id: Option<String>,
    /// The number, E.164, with its keyed hash: an erased person's events are found by it too.
    pub phone: Option<(String, String)>,
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
        if let Some((phone, hash)) = &self.phone {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(Column::PhoneE164.eq(phone.as_str()))
                    .add(Column::PhoneHash.eq(hash.as_str())),
            );
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
