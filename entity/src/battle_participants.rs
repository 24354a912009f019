//! Who is in a battle and whether they have submitted their entry for the current turn.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "battle_participants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub battle_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub submitted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::battles::Entity",
        from = "Column::BattleId",
        to = "super::battles::Column::BattleId",
        on_delete = "Cascade"
    )]
    Battle,
}

impl Related<super::battles::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Battle.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
