//! Append-only history of every consent given or revoked: the TCPA record. `sms_preferences` holds
//! only the current state; this table keeps the proof of each change (when, how, from where, which number).

use sea_orm::entity::prelude::*;

pub use super::sms_preferences::ConsentMethod;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ConsentAction {
    #[sea_orm(string_value = "given")]
    Given,
    #[sea_orm(string_value = "revoked")]
    Revoked,
    /// The person was erased: their number in the earlier events became a keyed hash.
    #[sea_orm(string_value = "erased")]
    Erased,
}

impl ConsentAction {
    /// The stored name (`given`), as the consent export writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Revoked => "revoked",
            Self::Erased => "erased",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    pub action: ConsentAction,
    /// How consent was given; for a revocation, where it was revoked.
    pub method: ConsentMethod,
    /// The number the consent covers, E.164, when the user had one; `None` once the person is erased.
    pub phone_e164: Option<String>,
    pub ip: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// The disclosure the person was shown (its version and the SHA-256 of its text).
    pub disclosure_version: Option<String>,
    pub disclosure_sha256: Option<String>,
    pub user_agent: Option<String>,
    /// The page of the app the consent was given on.
    pub page: Option<String>,
    /// After an erasure: the number's keyed hash (HMAC-SHA256, hex) and its last four digits.
    pub phone_hash: Option<String>,
    pub phone_last4: Option<String>,
    /// When the person's next event was written (the retention purge counts from it).
    pub superseded_at: Option<DateTimeUtc>,
    /// Imported from the old app by `sms-notify import` at this time (`occurred_at` is the old app's).
    pub imported_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
