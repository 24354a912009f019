//! `savings_rollup`: what smart encoding, short links and digests saved on the texts that went out,
//! per UTC day of the send, message type and feature, added in the transaction that records the sends.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{savings_rollup, sms_log};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Statement};

use super::placeholder;

/// A row of the savings rollup: a day, a message type, a feature, and what it saved.
pub use entity::savings_rollup::Model as SavingsRow;

/// A feature that saves money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    SmartEncoding,
    ShortLinks,
    Digests,
}

impl Feature {
    pub const ALL: [Feature; 3] = [Self::SmartEncoding, Self::ShortLinks, Self::Digests];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SmartEncoding => "smart_encoding",
            Self::ShortLinks => "short_links",
            Self::Digests => "digests",
        }
    }
}

/// What one feature saved: texts it made cheaper (for digests, texts not sent), segments, and their
/// price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Saved {
    pub texts: i64,
    pub segments: i64,
    pub cost_micros: i64,
}

/// What a sent text saved, by feature: the segments saved at the text's own price per segment.
pub fn of(row: &sms_log::Model) -> Vec<(Feature, Saved)> {
    let segments = i64::from(row.segments.max(1));
    let price = row.estimated_cost_micros.or(row.cost_micros).unwrap_or(0);
    let at_price = |saved: i64| price * saved / segments;
    let mut out = Vec::new();
    for (feature, saved) in [
        (Feature::SmartEncoding, i64::from(row.encoding_saved)),
        (Feature::ShortLinks, i64::from(row.links_saved)),
    ] {
        if saved > 0 {
            let cost_micros = at_price(saved);
            out.push((
                feature,
                Saved {
                    texts: 1,
                    segments: saved,
                    cost_micros,
                },
            ));
        }
    }
    if row.carried > 1 {
        let saved = i64::from(row.carried_segments) - i64::from(row.segments);
        out.push((
            Feature::Digests,
            Saved {
                texts: i64::from(row.carried) - 1,
                segments: saved.max(0),
                cost_micros: at_price(saved.max(0)),
            },
        ));
    }
    out
}

/// Adds what `rows`, sent at `now`, saved: one statement, none when they saved nothing.
pub async fn add(
    txn: &impl ConnectionTrait,
    rows: &[&sms_log::Model],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let day = super::rollup::day_of(now);
    let mut merged: BTreeMap<(String, Feature), Saved> = BTreeMap::new();
    for row in rows {
        for (feature, saved) in of(row) {
            let entry = merged
                .entry((row.message_type_label(), feature))
                .or_default();
            entry.texts += saved.texts;
            entry.segments += saved.segments;
            entry.cost_micros += saved.cost_micros;
        }
    }
    if merged.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut tuples = Vec::new();
    for ((message_type, feature), saved) in merged {
        let base = values.len();
        values.extend([
            day.clone().into(),
            message_type.into(),
            feature.as_str().into(),
            saved.texts.into(),
            saved.segments.into(),
            saved.cost_micros.into(),
        ]);
        let params: Vec<String> = (1..=6).map(|i| placeholder(backend, base + i)).collect();
        tuples.push(format!("({})", params.join(", ")));
    }
    let sql = format!(
        "INSERT INTO savings_rollup (day, message_type, feature, texts, segments, cost_micros) VALUES {} \
         ON CONFLICT (day, message_type, feature) DO UPDATE SET \
         texts = savings_rollup.texts + excluded.texts, \
         segments = savings_rollup.segments + excluded.segments, \
         cost_micros = savings_rollup.cost_micros + excluded.cost_micros",
        tuples.join(", ")
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// The savings rows of the UTC days from `from` up to `to` (exclusive).
pub async fn rows(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<savings_rollup::Model>, DbErr> {
    let last = to - chrono::Duration::nanoseconds(1);
    savings_rollup::Entity::find()
        .filter(savings_rollup::Column::Day.gte(super::rollup::day_of(from)))
        .filter(savings_rollup::Column::Day.lte(super::rollup::day_of(last)))
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_saves_at_its_own_price_per_segment() {
        let mut row = super::super::sample_row();
        row.segments = 1;
        row.estimated_cost_micros = Some(7_500);
        row.encoding_saved = 1;
        row.links_saved = 1;
        let saved = of(&row);
        assert_eq!(saved.len(), 2);
        assert!(
            saved
                .iter()
                .all(|(_, s)| s.segments == 1 && s.cost_micros == 7_500 && s.texts == 1)
        );
        row.encoding_saved = 0;
        row.links_saved = 0;
        row.carried = 3;
        row.carried_segments = 5;
        row.segments = 2;
        row.estimated_cost_micros = Some(15_000);
        assert_eq!(
            of(&row),
            vec![(
                Feature::Digests,
                Saved {
                    texts: 2,
                    segments: 3,
                    cost_micros: 22_500
                }
            )]
        );
    }
}
