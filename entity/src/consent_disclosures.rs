//! The texts people are shown when they opt in to texts, by version. Published by admins and kept
//! forever: a consent event names the version and keeps the hash of its text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_disclosures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: String,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    /// SHA-256 of the text, lowercase hex.
    pub text_sha256: String,
    pub published_at: DateTimeUtc,
    /// The admin token's subject.
    pub published_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
