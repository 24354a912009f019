//! `country_sending`: the run-time switches per destination country (codes, all other texts). A country
//! without a row is on. Read once per batch of sends (a table of a few rows), so a change holds on every
//! instance at once.

use chrono::{DateTime, Utc};
use entity::country_sending::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};

pub use entity::country_sending::Model as CountrySwitch;

/// Every country with a switch set, by code.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<CountrySwitch>, DbErr> {
    Entity::find().order_by_asc(Column::Country).all(db).await
}

/// The countries with something switched off.
pub async fn switched_off(db: &impl ConnectionTrait) -> Result<Vec<CountrySwitch>, DbErr> {
    Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(Column::Verification.eq(false))
                .add(Column::Messages.eq(false)),
        )
        .all(db)
        .await
}

/// Sets `country`'s switches (a `None` keeps what it was; a new country starts on), recording who.
pub async fn set(
    db: &impl ConnectionTrait,
    country: &str,
    (verification, messages): (Option<bool>, Option<bool>),
    by: &str,
    now: DateTime<Utc>,
) -> Result<CountrySwitch, DbErr> {
    let current = Entity::find_by_id(country).one(db).await?;
    let switch = CountrySwitch {
        country: country.to_owned(),
        verification: verification
            .or(current.as_ref().map(|c| c.verification))
            .unwrap_or(true),
        messages: messages
            .or(current.as_ref().map(|c| c.messages))
            .unwrap_or(true),
        updated_at: now,
        updated_by: by.to_owned(),
    };
    Entity::insert(country_sending::ActiveModel {
        country: Set(switch.country.clone()),
        verification: Set(switch.verification),
        messages: Set(switch.messages),
        updated_at: Set(now),
        updated_by: Set(switch.updated_by.clone()),
    })
    .on_conflict(
        OnConflict::column(Column::Country)
            .update_columns([
                Column::Verification,
                Column::Messages,
                Column::UpdatedAt,
                Column::UpdatedBy,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(switch)
}
