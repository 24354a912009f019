//! The accepting side of `sms_log`: a batch of decided messages written in one transaction, with the
//! checks that must hold with the write inside it (the opt-out list, the daily limits, the month's
//! budget) and the cost rollup kept in step.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::sms_log::{self, BlockedReason, MessageType, SmsStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, sea_query::Expr,
};

use super::{
    feed,
    rollup::{RollupStatus, measures, rollup_add, rollup_key},
    spend,
};

/// A message as the outbox decided it, ready to be written.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub user_id: Option<String>,
    /// E.164; empty when the recipient has no number (then `verdict` is a refusal).
    pub to_phone: String,
    pub country: Option<String>,
    pub message_type: MessageType,
    pub promotional: bool,
    /// The text as the log shows it (a code masked).
    pub body: String,
    /// The text to send when it differs from `body`; dropped if the message is refused.
    pub sensitive_body: Option<String>,
    pub segments: i32,
    pub encoding: String,
    pub verdict: Verdict,
    pub related: Option<(String, String)>,
    pub dedupe_key: Option<String>,
    pub quiet_hours_zone: Option<String>,
    /// Promotions per number per 24 hours under the number's state rule, if one applies.
    pub state_cap: Option<u32>,
    /// A transactional answer to a keyword the number just texted: it may reach a number on the
    /// opt-out list, as carriers require.
    pub opt_out_exempt: bool,
    /// Until when it is worth sending.
    pub expires_at: DateTime<Utc>,
    /// An admin's retry: the message it sends again.
    pub retry_of: Option<i64>,
    /// The W3C `traceparent` of the request (only while traces are exported).
    pub trace_parent: Option<String>,
    /// Smart encoding changed the text, and what it and short links saved (segments).
    pub smart_encoded: bool,
    pub encoding_saved: i32,
    pub links_saved: i32,
    /// The short links the text carries, stored with it (none for a refused message).
    pub links: Vec<crate::outbox::links::NewLink>,
    /// What a digest would tell of it (JSON), for a battle invitation or result that may wait for one.
    pub digest_part: Option<String>,
    /// Held until its digest window closes (`outbox::digest`).
    pub digest_hold: bool,
    /// The caps on texts of its type to the person (`recipients::caps`): the operator's and theirs.
    pub caps: Vec<crate::recipients::caps::Cap>,
    /// For a battle invitation: who invited (the inviter cap counts by it).
    pub inviter_id: Option<String>,
    /// The language it is written in (BCP 47).
    pub locale: Option<String>,
}

/// What policy decided before the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Queued: due at `due_at`, reserving `cost_micros` of the budget.
    Accept {
        due_at: DateTime<Utc>,
        cost_micros: i64,
    },
    Block(BlockedReason),
}

/// The limits decided in the write transaction, where concurrent senders take their turns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub user_daily_limit: u32,
    pub monthly_limit: i64,
    pub transactional_reserve: i64,
    /// What verification codes may reserve per UTC day (`VERIFY_DAILY_SPEND_SHARE` of the month).
    pub code_daily_limit: Option<i64>,
    /// How long a text's short links answer (`SMS_LINK_RETENTION`).
    pub link_retention: Duration,
    /// Invitations from one inviter to one number per period (`SMS_INVITER_CAP`).
    pub inviter_cap: Option<crate::recipients::caps::Cap>,
}

/// What a batch wrote: each message's row in order (`None` where its dedupe key already existed and
/// nothing was written), and when budget was reserved the month's standing after it.
#[derive(Debug)]
pub struct Written {
    pub rows: Vec<Option<sms_log::Model>>,
    pub standing: Option<spend::Standing>,
}

/// The rows that already carry one of `keys`.
pub async fn find_by_dedupe_keys(
    db: &impl ConnectionTrait,
    keys: Vec<String>,
) -> Result<Vec<sms_log::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    sms_log::Entity::find()
        .filter(sms_log::Column::DedupeKey.is_in(keys))
        .all(db)
        .await
}

/// Of `numbers`, those that got a battle invitation (not blocked) since `since`: one query.
pub async fn invited_since<'a>(
    db: &impl ConnectionTrait,
    numbers: impl IntoIterator<Item = &'a str>,
    since: DateTime<Utc>,
) -> Result<HashSet<String>, DbErr> {
    let numbers: Vec<&str> = numbers.into_iter().collect();
    if numbers.is_empty() {
        return Ok(HashSet::new());
    }
    use sea_orm::QuerySelect;
    Ok(sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::ToPhone)
        .distinct()
        .filter(sms_log::Column::ToPhone.is_in(numbers))
        .filter(sms_log::Column::MessageType.eq(MessageType::BattleInvitation))
        .filter(sms_log::Column::Status.ne(SmsStatus::Blocked))
        .filter(sms_log::Column::CreatedAt.gt(since))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The language of the last text (not refused) each of `numbers` got, where one was recorded: one
/// statement, each number's newest row by the `(to_phone, created_at)` index.
pub async fn last_locales(
    db: &impl ConnectionTrait,
    numbers: Vec<&str>,
) -> Result<HashMap<String, String>, DbErr> {
    let numbers: std::collections::BTreeSet<&str> = numbers.into_iter().collect();
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let list = (1..=numbers.len())
        .map(|n| format!("({})", super::placeholder(backend, n)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH k(phone) AS (VALUES {list}) \
         SELECT k.phone AS phone, (SELECT s.locale FROM sms_log s WHERE s.to_phone = k.phone \
           AND s.status <> 'blocked' ORDER BY s.created_at DESC, s.id DESC LIMIT 1) AS locale FROM k"
    );
    let values: Vec<sea_orm::Value> = numbers.iter().map(|n| (*n).to_owned().into()).collect();
    let mut out = HashMap::new();
    for row in db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?
    {
        if let Some(locale) = row.try_get::<Option<String>>("", "locale")? {
            out.insert(row.try_get("", "phone")?, locale);
        }
    }
    Ok(out)
}

/// Writes a batch in one transaction. Inside it, before anything is written:
/// - the opt-out list is read again for the accepted messages' numbers (a STOP that committed since
///   the caller looked blocks them, `opted_out`);
/// - the per-user and per-number daily limits are counted under locks (`apply_daily_limits`).
///
/// Then the rows are inserted (a row whose dedupe key exists is skipped), and last, just before
/// commit, the month's budget row and the rollup rows, which every sender touches, are updated once
/// each: the batch reserves its total in one statement, and only near the limit row by row, blocking
/// (`spend_limit`) the rows that do not fit before anyone can see them.
#[tracing::instrument(skip_all, fields(batch = messages.len()))]
pub async fn insert_batch(
    db: &super::db::Db,
    mut messages: Vec<NewMessage>,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<Written, DbErr> {
    if messages.is_empty() {
        return Ok(Written {
            rows: Vec::new(),
            standing: None,
        });
    }
    // SQLite: the writer's turn and the write lock first, so nothing read below can change before
    // commit.
    let txn = db.write().await?;
    let mut found = super::write_checks::read(
        &txn,
        &check_keys(&messages, limits.inviter_cap, now),
        now - Duration::hours(24),
    )
    .await?;
    recheck_recipients(&mut messages, &found.present);
    recheck_opt_outs(&mut messages, &found.listed);
    let recent = found.recent.take().unwrap_or_default();
    super::caps::apply(&mut messages, recent, limits.inviter_cap, now);
    apply_daily_limits(
        &mut messages,
        limits.user_daily_limit,
        found.per_user,
        found.per_number,
    );
    let links: Vec<_> = messages
        .iter_mut()
        .map(|m| std::mem::take(&mut m.links))
        .collect();
    let mut rows = super::inserted::insert_rows(&txn, messages, now, found.stamp).await?;
    // The links of the texts that will go (a refused text's links would never be followed; those the
    // budget refuses below lose theirs with their block). Written before the budget: the month's row
    // is held from its reservation to the commit, and every other batch waits for it meanwhile.
    let links: Vec<_> = rows
        .iter()
        .zip(links)
        .filter_map(|(row, links)| {
            let row = row.as_ref().filter(|r| r.status == SmsStatus::Pending)?;
            Some(links.into_iter().map(move |l| (row.id, l)))
        })
        .flatten()
        .collect();
    if !links.is_empty() {
        super::links::insert(&txn, links, now, now + limits.link_retention).await?;
    }
    let month = spend::month_of(now);
    let standing = super::budget::reserve_budget(&txn, &mut rows, limits, &month).await?;
    if let Some(cap) = limits.code_daily_limit {
        super::code_spend::reserve_codes(
            &txn,
            &mut rows,
            (&month, &super::rollup::day_of(now)),
            cap,
        )
        .await?;
    }
    let rollup = rows
        .iter()
        .flatten()
        .map(|row| (rollup_key(row, row.status.into()), measures(row)))
        .collect();
    rollup_add(&txn, rollup).await?;
    txn.commit().await?;
    Ok(Written { rows, standing })
}

/// Holds the rows of the accepted messages' users until commit (in key order on PostgreSQL, one
/// statement; SQLite's write lock is held already), and blocks (`no_phone`, with neither number nor
/// text kept) those whose user was erased since the caller read them: an erasure waits for this batch
/// and then finds its messages, or this batch finds no one.
fn recheck_recipients(messages: &mut [NewMessage], present: &HashSet<String>) {
    for message in messages.iter_mut() {
        if accepted(message)
            && message
                .user_id
                .as_ref()
                .is_some_and(|u| !present.contains(u))
        {
            block(message, BlockedReason::NoPhone);
            message.to_phone.clear();
            message.body.clear();
            message.sensitive_body = None;
        }
    }
}

/// Blocks (`opted_out`) accepted messages whose number is on the opt-out list now.
fn recheck_opt_outs(messages: &mut [NewMessage], listed: &HashSet<String>) {
    let checked = |m: &NewMessage| accepted(m) && !m.opt_out_exempt && !m.to_phone.is_empty();
    for message in messages.iter_mut() {
        if checked(message) && listed.contains(&message.to_phone) {
            block(message, BlockedReason::OptedOut);
        }
    }
}

/// What the write's checks read for `messages` (`write_checks`).
fn check_keys(
    messages: &[NewMessage],
    inviter_cap: Option<crate::recipients::caps::Cap>,
    now: DateTime<Utc>,
) -> super::write_checks::Keys<'_> {
    let (types, since) = super::caps::wanted(messages, inviter_cap, now);
    let mut keys = super::write_checks::Keys {
        cap_numbers: super::caps::to_lock(messages, inviter_cap),
        caps: Some(super::write_checks::CapsRead {
            phones: super::caps::numbers(messages, inviter_cap),
            types,
            since,
        }),
        ..Default::default()
    };
    for m in messages.iter().filter(|m| accepted(m)) {
        if let Some(user) = m.user_id.as_deref() {
            keys.users.insert(user);
            if m.promotional {
                keys.limited_users.insert(user);
            }
        }
        if !m.opt_out_exempt && !m.to_phone.is_empty() {
            keys.listed.insert(&m.to_phone);
        }
        if m.promotional && m.state_cap.is_some() {
            keys.capped_numbers.insert(&m.to_phone);
        }
    }
    keys
}

fn accepted(message: &NewMessage) -> bool {
    matches!(message.verdict, Verdict::Accept { .. })
}

/// Turns an accepted message into one blocked for `reason`.
fn block(message: &mut NewMessage, reason: BlockedReason) {
    message.verdict = Verdict::Block(reason);
}

/// The per-user and per-number limits on promotions.
///
/// Blocks, with `user_daily_limit`, each accepted promotion whose user already has `user_limit`
/// promotions in the last 24 hours, and with `state_daily_limit` each whose number is under a state
/// rule and already got that many; both count the batch's earlier rows. What it counts is locked: the
/// users' rows (since `recheck_recipients`) and an advisory lock per capped number in order
/// (PostgreSQL), or the database's write lock (SQLite), so the counts cannot change before commit.
fn apply_daily_limits(
    messages: &mut [NewMessage],
    user_limit: u32,
    mut per_user: HashMap<String, u32>,
    mut per_number: HashMap<String, u32>,
) {
    let limited = |m: &NewMessage| accepted(m) && m.promotional;
    for message in messages.iter_mut().filter(|m| limited(m)) {
        let user_count = message
            .user_id
            .as_ref()
            .map(|u| per_user.entry(u.clone()).or_insert(0));
        if let Some(count) = &user_count
            && **count >= user_limit
        {
            block(message, BlockedReason::UserDailyLimit);
            continue;
        }
        if let Some(cap) = message.state_cap {
            let count = per_number.entry(message.to_phone.clone()).or_insert(0);
            if *count >= cap {
                block(message, BlockedReason::StateDailyLimit);
                continue;
            }
            *count += 1;
        }
        if let Some(count) = user_count {
            *count += 1;
        }
    }
}

/// What a message that will never be sent (blocked, or failed for good) no longer needs: a next
/// attempt, its code in the clear, a charge.
pub(super) fn never_sent(
    update: sea_orm::UpdateMany<sms_log::Entity>,
) -> sea_orm::UpdateMany<sms_log::Entity> {
    update
        .col_expr(
            sms_log::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            sms_log::Column::SensitiveBody,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            sms_log::Column::CostMicros,
            Expr::value(Option::<i64>::None),
        )
}

/// Turns rows this transaction inserted (`rows[i]` for each of `which`) into blocked ones, in the
/// database and in `rows`.
pub(super) async fn block_inserted(
    txn: &impl ConnectionTrait,
    rows: &mut [Option<sms_log::Model>],
    which: &[usize],
    reason: BlockedReason,
) -> Result<(), DbErr> {
    let ids: Vec<i64> = which
        .iter()
        .filter_map(|&i| rows[i].as_ref().map(|r| r.id))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    super::links::erase_for(txn, ids.clone()).await?;
    never_sent(feed::stamped(
        sms_log::Entity::update_many()
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Blocked))
            .col_expr(sms_log::Column::BlockedReason, Expr::value(Some(reason))),
        txn.get_database_backend(),
    ))
    .filter(sms_log::Column::Id.is_in(ids))
    .exec(txn)
    .await?;
    for &i in which {
        if let Some(row) = rows[i].as_mut() {
            row.status = SmsStatus::Blocked;
            row.blocked_reason = Some(reason);
            row.next_attempt_at = None;
            row.sensitive_body = None;
            row.cost_micros = None;
        }
    }
    Ok(())
}

/// Blocks (`opted_out`) a number's promotions that wait in the queue, giving back what they reserved
/// of the budget; returns how many. Used by STOP and by the workers' claim check.
pub async fn block_opted_out(
    txn: &impl ConnectionTrait,
    rows: &[sms_log::Model],
) -> Result<usize, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let result = never_sent(feed::stamped(
        sms_log::Entity::update_many()
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Blocked))
            .col_expr(
                sms_log::Column::BlockedReason,
                Expr::value(Some(BlockedReason::OptedOut)),
            ),
        txn.get_database_backend(),
    ))
    .filter(sms_log::Column::Id.is_in(rows.iter().map(|r| r.id)))
    .filter(
        sms_log::Column::Status.is_in(crate::outbox::lifecycle::from(
            crate::outbox::lifecycle::Event::OptedOut,
        )),
    )
    .exec(txn)
    .await?;
    let mut by_month: std::collections::BTreeMap<String, i64> = Default::default();
    let mut rollup = Vec::new();
    for row in rows {
        let charged = row.cost_micros.unwrap_or(0);
        *by_month.entry(spend::month_of(row.created_at)).or_default() += charged;
        let segments = i64::from(row.segments);
        rollup.push((
            rollup_key(row, RollupStatus::Pending),
            [-1, -segments, -charged, 0],
        ));
        rollup.push((rollup_key(row, RollupStatus::Blocked), [1, segments, 0, 0]));
    }
    for (month, micros) in by_month {
        if micros > 0 {
            spend::adjust(txn, &month, -micros).await?;
        }
    }
    rollup_add(txn, rollup).await?;
    Ok(result.rows_affected as usize)
}

/// The number's promotions waiting in the queue, locked until the transaction ends (PostgreSQL; on
/// SQLite the caller holds the write lock).
pub async fn pending_promotions(
    txn: &impl ConnectionTrait,
    phone: &str,
) -> Result<Vec<sms_log::Model>, DbErr> {
    use sea_orm::QuerySelect;
    let mut query = sms_log::Entity::find()
        .filter(sms_log::Column::ToPhone.eq(phone))
        .filter(sms_log::Column::Status.eq(SmsStatus::Pending))
        .filter(sms_log::Column::Promotional.eq(true));
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.all(txn).await
}

/// How many of the number's promotions a worker holds right now (claimed, not yet recorded).
pub async fn promotions_in_flight(db: &impl ConnectionTrait, phone: &str) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    sms_log::Entity::find()
        .filter(sms_log::Column::ToPhone.eq(phone))
        .filter(sms_log::Column::Status.eq(SmsStatus::Sending))
        .filter(sms_log::Column::Promotional.eq(true))
        .count(db)
        .await
}
