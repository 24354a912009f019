//! Digests in `sms_log`: battle invitations and results held for a window (`digest_hold`), and the
//! one text that carries them (`carried`), formed by the worker that claims the first of them under a
//! lock on the person's number and type, so that concurrent workers make one digest, never two.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::sms_log::{self, MessageType, SmsStatus};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryTrait, Statement,
};

use super::{
    feed, placeholder,
    rollup::{RollupStatus, measures, rollup_add, rollup_key},
    spend,
};

/// The condition of the partial index of held requests (`idx_sms_log_digest_hold`), word for word.
const HELD: &str = "digest_hold = TRUE AND status IN ('pending', 'sending')";

/// The requests held for `(phone, message_type)` now, oldest first, with the decisions about them
/// serialised until the transaction ends (an advisory lock and the rows' locks on PostgreSQL; the write
/// lock on SQLite).
pub async fn lock_held(
    txn: &impl ConnectionTrait,
    phone: &str,
    message_type: MessageType,
) -> Result<Vec<sms_log::Model>, DbErr> {
    let backend = txn.get_database_backend();
    let kind: String = sea_orm::ActiveEnum::to_value(&message_type);
    if backend == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 29))",
            [format!("digest:{phone}:{kind}").into()],
        ))
        .await?;
    }
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT * FROM sms_log WHERE to_phone = {} AND message_type = {} AND {HELD} ORDER BY id{lock}",
        placeholder(backend, 1),
        placeholder(backend, 2)
    );
    sms_log::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            backend,
            sql,
            [phone.into(), kind.into()],
        ))
        .all(txn)
        .await
}

/// The close of the open windows of these `(phone, type)` pairs: the latest due time of each one's
/// held requests.
pub async fn open_windows(
    db: &impl ConnectionTrait,
    pairs: &[(String, MessageType)],
) -> Result<BTreeMap<(String, String), DateTime<Utc>>, DbErr> {
    let mut out = BTreeMap::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let backend = db.get_database_backend();
    let phones: Vec<&str> = pairs.iter().map(|(p, _)| p.as_str()).collect();
    let list = (1..=phones.len())
        .map(|i| placeholder(backend, i))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT to_phone, message_type, MAX(next_attempt_at) AS closes FROM sms_log \
         WHERE to_phone IN ({list}) AND {HELD} GROUP BY to_phone, message_type"
    );
    let values: Vec<sea_orm::Value> = phones.into_iter().map(Into::into).collect();
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let closes: Option<DateTime<Utc>> = row.try_get("", "closes")?;
        if let Some(closes) = closes {
            out.insert(
                (
                    row.try_get("", "to_phone")?,
                    row.try_get("", "message_type")?,
                ),
                closes,
            );
        }
    }
    Ok(out)
}

/// A held request leaves the hold: it goes alone (nobody else's request came in its window).
pub async fn go_alone(txn: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    let sql = format!(
        "UPDATE sms_log SET digest_hold = FALSE WHERE id = {}",
        placeholder(txn.get_database_backend(), 1)
    );
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        sql,
        [id.into()],
    ))
    .await?;
    Ok(())
}

/// A digest's row as it will be sent, claimed by the worker that forms it.
#[derive(Debug, Clone)]
pub struct NewDigest {
    pub user_id: Option<String>,
    pub body: String,
    pub segments: i32,
    pub encoding: String,
    pub cost_micros: i64,
    /// What smart encoding put in place, and what it and short links saved.
    pub smart_encoded: bool,
    pub encoding_saved: i32,
    pub links_saved: i32,
    /// When the worker's claim expires.
    pub lease_until: DateTime<Utc>,
}

impl NewDigest {
    /// The row, for `carried` (oldest first: the first names the number, country and zone).
    fn row(self, carried: &[sms_log::Model], now: DateTime<Utc>) -> sms_log::ActiveModel {
        let first = &carried[0];
        sms_log::ActiveModel {
            user_id: Set(self.user_id),
            to_phone: Set(first.to_phone.clone()),
            country: Set(first.country.clone()),
            message_type: Set(first.message_type),
            promotional: Set(true),
            priority: Set(1),
            body: Set(self.body),
            status: Set(SmsStatus::Sending),
            attempts: Set(1),
            next_attempt_at: Set(Some(self.lease_until)),
            expires_at: Set(carried.iter().filter_map(|r| r.expires_at).min()),
            cost_micros: Set(Some(self.cost_micros)),
            estimated_cost_micros: Set(Some(self.cost_micros)),
            segments: Set(self.segments),
            encoding: Set(self.encoding),
            created_at: Set(now),
            quiet_hours_zone: Set(first.quiet_hours_zone.clone()),
            locale: Set(first.locale.clone()),
            trace_parent: Set(first.trace_parent.clone()),
            dedupe_key: Set(Some(format!("digest:{}", first.id))),
            smart_encoded: Set(self.smart_encoded),
            encoding_saved: Set(self.encoding_saved),
            links_saved: Set(self.links_saved),
            carried: Set(carried.len() as i32),
            carried_segments: Set(carried.iter().map(|r| r.segments).sum()),
            ..Default::default()
        }
    }
}

/// Writes the digest (`digest`: its row as it will be sent, claimed by the caller) and moves `carried`
/// (all held, locked by `lock_held`) to `digested` pointing at it: their reservations released, the
/// digest's made, the rollup moved. Returns the digest's row.
pub async fn carry(
    txn: &impl ConnectionTrait,
    digest: NewDigest,
    carried: &[sms_log::Model],
    now: DateTime<Utc>,
) -> Result<sms_log::Model, DbErr> {
    let mut digest = digest.row(carried, now);
    let backend = txn.get_database_backend();
    if backend == DbBackend::Sqlite {
        digest.change_seq = Set(feed::next_stamp(txn).await?);
    }
    let mut insert = sms_log::Entity::insert(digest);
    insert.query().returning_all();
    let row = sms_log::Entity::find()
        .from_raw_sql(insert.build(backend))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    let ids = carried
        .iter()
        .map(|r| r.id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE sms_log SET status = 'digested', digest_id = {digest}, digest_hold = FALSE, \
         next_attempt_at = NULL, cost_micros = NULL, change_seq = {stamp} WHERE id IN ({ids}) AND {HELD}",
        digest = row.id,
        stamp = feed::stamp_sql(backend),
    );
    txn.execute_unprepared(&sql).await?;
    let mut by_month: BTreeMap<String, i64> = BTreeMap::new();
    let mut rollup = Vec::new();
    for request in carried {
        let cost = request.cost_micros.unwrap_or(0);
        *by_month
            .entry(spend::month_of(request.created_at))
            .or_default() -= cost;
        rollup.push((
            rollup_key(request, RollupStatus::Pending),
            measures(request).map(|v| -v),
        ));
        rollup.push((
            rollup_key(request, SmsStatus::Digested.into()),
            [1, i64::from(request.segments), 0, 0],
        ));
    }
    *by_month.entry(spend::month_of(now)).or_default() += row.cost_micros.unwrap_or(0);
    for (month, micros) in by_month {
        if micros != 0 {
            spend::adjust(txn, &month, micros).await?;
        }
    }
    rollup.push((rollup_key(&row, RollupStatus::Pending), measures(&row)));
    rollup_add(txn, rollup).await?;
    Ok(row)
}

/// The requests a digest that failed for good carried fail with it (`DigestFailed`), with its error:
/// each can be retried (`retrySms`). Returns how many.
pub async fn fail_carried(
    txn: &impl ConnectionTrait,
    digest: &sms_log::Model,
    (code, message): (&str, &str),
) -> Result<u64, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let update = feed::stamped(sms_log::Entity::update_many(), txn.get_database_backend())
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Failed))
        .col_expr(
            sms_log::Column::ErrorCode,
            Expr::value(Some(code.to_owned())),
        )
        .col_expr(
            sms_log::Column::ErrorMessage,
            Expr::value(Some(format!(
                "the digest that carried it (message {}) failed: {message}",
                digest.id
            ))),
        )
        .filter(sms_log::Column::DigestId.eq(digest.id))
        .filter(sms_log::Column::Status.eq(SmsStatus::Digested));
    let carried: Vec<sms_log::Model> = sms_log::Entity::find()
        .filter(sms_log::Column::DigestId.eq(digest.id))
        .filter(sms_log::Column::Status.eq(SmsStatus::Digested))
        .all(txn)
        .await?;
    let n = update.exec(txn).await?.rows_affected;
    let rollup = carried
        .iter()
        .flat_map(|r| {
            let m = [1, i64::from(r.segments), 0, 0];
            [
                (rollup_key(r, SmsStatus::Digested.into()), m.map(|v| -v)),
                (rollup_key(r, RollupStatus::Failed), m),
            ]
        })
        .collect();
    rollup_add(txn, rollup).await?;
    Ok(n)
}
