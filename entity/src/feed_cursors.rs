//! Where each durable reader of the change feed has read up to (the webhook dispatcher): the stamp and
//! the message id of the last change it took. One row per reader, written once per batch it takes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The `change_seq` of the last change read.
    pub seq: i64,
    /// The message id of the last change read (changes of one stamp go in id order).
    pub last_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
