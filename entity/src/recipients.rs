//! One row per app user: the phone number, its verification, the master switch and the opt-in prompt.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recipients")]
pub struct Model {
    /// The app's user id (the JWT `sub`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// E.164, e.g. `+14155551234`; `None` when the user has no number.
    pub phone_e164: Option<String>,
    pub phone_verified_at: Option<DateTimeUtc>,
    /// The master switch ("allow SMS invitations"); off until the user opts in.
    pub allow_sms: bool,
    /// IANA time zone name pushed by the app; `None` means the configured default.
    pub timezone: Option<String>,
    pub signed_up_at: Option<DateTimeUtc>,
    pub sms_prompt_shown_at: Option<DateTimeUtc>,
    pub sms_prompt_dismissed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The language texts go in, BCP 47 (`en-US`, `es-US`); `None` is the service's default.
    pub locale: Option<String>,
    /// When `sms-notify import` last wrote the row; while `updated_at` equals it, nothing here has
    /// changed the person since and a later import of the old app's data may.
    pub imported_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::sms_preferences::Entity")]
    SmsPreferences,
}

impl Related<super::sms_preferences::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SmsPreferences.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
