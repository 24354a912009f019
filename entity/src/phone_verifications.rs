//! Verification codes: only their argon2id hash is stored, with the number they prove.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_verifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    /// The number the code proves (E.164).
    pub phone_e164: String,
    /// argon2id PHC string of the 6-digit code.
    pub code_hash: String,
    /// The address that asked for the code, for the per-IP limit.
    pub client_ip: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Wrong (or pending) checks so far; a code dies at 5.
    pub attempts: i32,
    pub consumed_at: Option<DateTimeUtc>,
    /// Replaced by a newer code, or the user changed their number.
    pub invalidated_at: Option<DateTimeUtc>,
    /// The block of numbers `phone_e164` is in (`+1212555`, `+44770`): the fraud guard counts codes
    /// sent and confirmed per range.
    pub phone_range: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
