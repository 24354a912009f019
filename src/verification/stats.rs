//! `verificationStats`: codes sent, entered and refused per country or range of numbers over a period,
//! from the codes' own rows (grouped in the database) and the log's refusals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::Verifier;
use crate::{
    locale::phone,
    store::{BlockedReason, history, verifications as codes},
};

/// How the report is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Country,
    Range,
}

/// One bucket of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    /// The country's ISO code, or the range (`+1212555`).
    pub key: String,
    pub sent: i64,
    pub confirmed: i64,
    /// Refused codes by reason.
    pub refused: BTreeMap<&'static str, (BlockedReason, i64)>,
}

impl Bucket {
    pub fn refused_total(&self) -> i64 {
        self.refused.values().map(|(_, n)| n).sum()
    }
}

fn key_of(phone_e164: &str, range: Option<&str>, grouping: Grouping) -> String {
    match grouping {
        Grouping::Country => {
            phone::region_of(phone_e164).map_or_else(|| "unknown".to_owned(), |c| c.as_ref().into())
        }
        Grouping::Range => range
            .map(str::to_owned)
            .or_else(|| phone::range_of(phone_e164))
            .unwrap_or_else(|| "unknown".to_owned()),
    }
}

impl Verifier {
    /// Codes made, entered and refused from `from` up to `to`, by country or range, the busiest first.
    pub async fn stats(
        &self,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        grouping: Grouping,
    ) -> Result<Vec<Bucket>, DbErr> {
        let db = &self.db;
        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        for (range, sample, sent, confirmed) in codes::sent_by_range(db, from, to).await? {
            let key = key_of(&sample, Some(&range), grouping);
            let bucket = buckets.entry(key.clone()).or_insert_with(|| Bucket {
                key,
                ..Bucket::default()
            });
            bucket.sent += sent;
            bucket.confirmed += confirmed;
        }
        for (to_phone, reason, n) in history::refused_codes(db, from, to).await? {
            let key = key_of(&to_phone, None, grouping);
            let bucket = buckets.entry(key.clone()).or_insert_with(|| Bucket {
                key,
                ..Bucket::default()
            });
            bucket
                .refused
                .entry(reason.as_str())
                .or_insert((reason, 0))
                .1 += n;
        }
        let mut out: Vec<Bucket> = buckets.into_values().collect();
        out.sort_by(|a, b| {
            (b.sent + b.refused_total())
                .cmp(&(a.sent + a.refused_total()))
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }
}
