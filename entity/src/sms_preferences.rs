//! Per-category toggles and the current TCPA consent of one recipient.

use sea_orm::entity::prelude::*;

/// How a consent to receive texts was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum ConsentMethod {
    #[sea_orm(string_value = "opt_in_modal")]
    OptInModal,
    #[sea_orm(string_value = "settings_page")]
    SettingsPage,
    #[sea_orm(string_value = "phone_verification")]
    PhoneVerification,
    #[sea_orm(string_value = "api")]
    Api,
    /// A keyword texted to the service's number (STOP revokes, START gives consent again).
    #[sea_orm(string_value = "sms_keyword")]
    SmsKeyword,
    /// The person's data was erased (`deleteRecipient`, `sms-notify erase`).
    #[sea_orm(string_value = "erasure")]
    Erasure,
}

impl ConsentMethod {
    /// The stored name (`opt_in_modal`), as the consent export writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptInModal => "opt_in_modal",
            Self::SettingsPage => "settings_page",
            Self::PhoneVerification => "phone_verification",
            Self::Api => "api",
            Self::SmsKeyword => "sms_keyword",
            Self::Erasure => "erasure",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_preferences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub battle_invitations: bool,
    pub battle_results: bool,
    pub battle_reminders: bool,
    pub streak_alerts: bool,
    pub direct_messages: bool,
    pub achievements: bool,
    pub consent_given_at: Option<DateTimeUtc>,
    pub consent_method: Option<ConsentMethod>,
    pub consent_ip: Option<String>,
    pub consent_revoked_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// The person's own quiet hours, local `HH:MM` in their zone, on top of the law's (both or none).
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    /// Promotional texts are snoozed until then (for `snoozed_types`, or all of them when empty).
    pub snoozed_until: Option<DateTimeUtc>,
    /// The snoozed types (`streak_alert,battle_reminder`); empty or null: every promotional type.
    #[sea_orm(column_type = "Text", nullable)]
    pub snoozed_types: Option<String>,
    /// The person's own frequency caps (`streak_alert=1/24,battle_invitation=3/24`: at most N texts of
    /// the type in so many hours), never above the operator's.
    #[sea_orm(column_type = "Text", nullable)]
    pub frequency_caps: Option<String>,
    /// When `sms-notify import` last wrote the row (see `recipients.imported_at`).
    pub imported_at: Option<DateTimeUtc>,
}

impl Model {
    /// Consent counts when it was given and not revoked since.
    pub fn has_consent(&self) -> bool {
        match (self.consent_given_at, self.consent_revoked_at) {
            (Some(_), None) => true,
            (Some(given), Some(revoked)) => given > revoked,
            (None, _) => false,
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::recipients::Entity",
        from = "Column::UserId",
        to = "super::recipients::Column::UserId",
        on_delete = "Cascade"
    )]
    Recipient,
}

impl Related<super::recipients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Recipient.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
