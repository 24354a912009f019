//! The outbox in `sms_log`: accepting a message (render, policy, one row), claiming due rows with a
//! lease, and recording each outcome. Every decision leaves a row.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{
    opt_outs, recipients,
    sms_log::{self, MessageType, SmsStatus},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use super::{
    catalogue::{self, Brand, MAX_SEGMENTS, Template},
    policy::{self, StrangerInvitation},
    provider::{FailureKind, ProviderError},
};
use crate::{
    AppContext, billing as cost,
    locale::phone::{self, PhoneError},
    recipients::Profile,
};

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An app user: their stored number and preferences apply.
    User(String),
    /// A number in E.164; when it belongs to a user, that user's preferences apply.
    Phone(String),
}

/// A request to send one message.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub template: Template,
    /// Promotional messages carry the STOP footer and need consent and an enabled category.
    pub promotional: bool,
    pub target: Target,
    /// For a battle invitation: who invites (their phone must be verified to invite a stranger).
    pub inviter_user_id: Option<String>,
    pub related: Option<(String, String)>,
    /// A repeat with the same key returns the first row and sends nothing.
    pub dedupe_key: Option<String>,
    /// What a promotion does inside the recipient's quiet hours.
    pub quiet: QuietPolicy,
    /// An answer to a keyword the number just texted (STOP's confirmation, HELP's text): it may go to
    /// a number on the opt-out list, as carriers require.
    pub keyword_answer: bool,
}

impl SendRequest {
    /// A message with no inviter, no related object, no dedupe key, deferred in quiet hours.
    pub fn new(target: Target, template: Template, promotional: bool) -> Self {
        Self {
            template,
            promotional,
            target,
            inviter_user_id: None,
            related: None,
            dedupe_key: None,
            quiet: QuietPolicy::Defer,
            keyword_answer: false,
        }
    }

    /// Records the object the message is about (`battle`, `b42`), when there is one.
    pub fn related(mut self, kind: &str, id: Option<String>) -> Self {
        self.related = id.map(|id| (kind.to_owned(), id));
        self
    }
}

/// What happens to a promotional message asked for inside the recipient's quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuietPolicy {
    /// Queued for the end of the quiet hours (messages the app sends now).
    #[default]
    Defer,
    /// Recorded as blocked with `quiet_hours` (scheduled reminders, whose moment has passed).
    Block,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("No user '{0}' is known to the SMS service; push the user with upsertRecipient first.")]
    UnknownUser(String),
    #[error(transparent)]
    InvalidPhone(#[from] PhoneError),
    #[error("The message body is empty; write the text to send.")]
    EmptyBody,
    #[error(
        "The message is {segments} segments long; the limit is {MAX_SEGMENTS} (about 1,530 plain characters, or 670 with emoji or non-Latin letters)."
    )]
    TooLong { segments: u32 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The longest a single template input may be.
const MAX_FIELD_CHARS: usize = 500;

fn require(field: &str, value: &str) -> Result<(), SendError> {
    if value.trim().is_empty() {
        return Err(SendError::Invalid(format!("{field} must not be empty.")));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(SendError::Invalid(format!(
            "{field} is longer than {MAX_FIELD_CHARS} characters."
        )));
    }
    Ok(())
}

fn validate(template: &Template) -> Result<(), SendError> {
    match template {
        Template::BattleInvitation {
            inviter,
            topic,
            link,
        } => {
            require("inviterName", inviter)?;
            require("battleTopic", topic)?;
            require("invitationLink", link)
        }
        Template::BattleResult {
            topic,
            summary,
            link,
        } => {
            require("battleTopic", topic)?;
            require("resultSummary", summary)?;
            require("resultLink", link)
        }
        Template::BattleReminder {
            topic,
            time_remaining,
            link,
        } => {
            require("battleTopic", topic)?;
            require("timeRemaining", time_remaining)?;
            require("battleLink", link)
        }
        Template::StreakAlert { days, link } => {
            if *days == 0 {
                return Err(SendError::Invalid("streakCount must be at least 1.".into()));
            }
            require("actionLink", link)
        }
        Template::PhoneVerification { code } => require("code", code),
        Template::DirectMessage { sender, link } => {
            require("senderName", sender)?;
            require("link", link)
        }
        Template::AchievementUnlocked { name, link } => {
            require("achievementName", name)?;
            require("link", link)
        }
        Template::SecurityAlert { what, link } => {
            require("what", what)?;
            require("link", link)
        }
        Template::Text { body, .. } if body.trim().is_empty() => Err(SendError::EmptyBody),
        Template::Text { .. } => Ok(()),
    }
}

/// Adds a number to the opt-out list (idempotent).
pub async fn add_opt_out(
    db: &impl ConnectionTrait,
    e164: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    opt_outs::Entity::insert(opt_outs::ActiveModel {
        phone_e164: Set(e164.to_owned()),
        source: Set(source.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(opt_outs::Column::PhoneE164)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn find_by_dedupe_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<sms_log::Model>, DbErr> {
    sms_log::Entity::find()
        .filter(sms_log::Column::DedupeKey.eq(key))
        .one(db)
        .await
}

/// Renders, decides and records one message: `pending` when the policy allows it (the workers are
/// woken), `blocked` with the reason otherwise. Invalid input writes nothing. Calls that arrive together
/// share one transaction (`group_commit`).
pub async fn enqueue(ctx: &AppContext, request: SendRequest) -> Result<sms_log::Model, SendError> {
    ctx.signals
        .group_commit
        .enqueue(ctx, request)
        .await
        .map(|e| e.row)
}

/// A message's row, and whether this call created it (or found it by its dedupe key).
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub row: sms_log::Model,
    pub created: bool,
}

/// Most rows one INSERT carries (17 columns each, far below both engines' parameter limits).
const INSERT_CHUNK: usize = 200;

/// A request that passed validation, with its rendered body.
struct Accepted {
    index: usize,
    request: SendRequest,
    rendered: catalogue::Rendered,
}

/// Renders, decides and records a batch of messages with a fixed number of queries, whatever its size:
/// one for idempotency keys, one for the users, one for the owners of bare numbers, one for the opt-out
/// list, and one multi-row INSERT per 200 messages, in one transaction. This is how scans enqueue what
/// they find; `enqueue` is a batch of one. Each request gets its own answer: a row (pending or blocked)
/// or the reason its input is invalid (nothing is written for it).
#[tracing::instrument(skip_all, fields(batch = requests.len()))]
pub async fn enqueue_many(
    ctx: &AppContext,
    requests: Vec<SendRequest>,
) -> Result<Vec<Result<Enqueued, SendError>>, DbErr> {
    let db = &ctx.db;
    let now = ctx.clock.now();
    let brand = Brand {
        app_name: ctx.config.sms.app_name.clone(),
        frontend_url: ctx.config.sms.frontend_url.clone(),
    };
    let mut answers: Vec<Option<Result<Enqueued, SendError>>> =
        (0..requests.len()).map(|_| None).collect();

    // Idempotency: a key seen before answers with its first row.
    let keys: Vec<String> = requests
        .iter()
        .filter_map(|r| r.dedupe_key.clone())
        .collect();
    let mut known: HashMap<String, sms_log::Model> = HashMap::new();
    if !keys.is_empty() {
        for row in sms_log::Entity::find()
            .filter(sms_log::Column::DedupeKey.is_in(keys))
            .all(db)
            .await?
        {
            if let Some(key) = row.dedupe_key.clone() {
                known.insert(key, row);
            }
        }
    }

    let mut accepted = Vec::new();
    let mut keys_in_batch = HashSet::new();
    let mut repeats = Vec::new();
    for (index, request) in requests.into_iter().enumerate() {
        if let Some(key) = &request.dedupe_key {
            if let Some(row) = known.get(key) {
                answers[index] = Some(Ok(Enqueued {
                    row: row.clone(),
                    created: false,
                }));
                continue;
            }
            if !keys_in_batch.insert(key.clone()) {
                // The same key twice in one batch: answered with the first one's row below.
                repeats.push((index, key.clone()));
                continue;
            }
        }
        if let Err(e) = validate(&request.template) {
            answers[index] = Some(Err(e));
            continue;
        }
        let rendered = catalogue::render(&request.template, request.promotional, &brand);
        if rendered.segments > MAX_SEGMENTS {
            answers[index] = Some(Err(SendError::TooLong {
                segments: rendered.segments,
            }));
            continue;
        }
        accepted.push(Accepted {
            index,
            request,
            rendered,
        });
    }

    // Everyone the batch is about, in three queries.
    let user_ids: HashSet<&str> = accepted
        .iter()
        .flat_map(|a| {
            let target = match &a.request.target {
                Target::User(id) => Some(id.as_str()),
                Target::Phone(_) => None,
            };
            target
                .into_iter()
                .chain(a.request.inviter_user_id.as_deref())
        })
        .collect();
    let mut profiles = crate::recipients::load_many(db, user_ids.into_iter()).await?;
    let bare_numbers: HashSet<&str> = accepted
        .iter()
        .filter_map(|a| match &a.request.target {
            Target::Phone(p) => Some(p.as_str()),
            Target::User(_) => None,
        })
        .collect();
    let owners = owners_of(db, bare_numbers.into_iter()).await?;
    for owner in owners.values() {
        profiles
            .entry(owner.recipient.user_id.clone())
            .or_insert_with(|| owner.clone());
    }
    let all_numbers: HashSet<String> = accepted
        .iter()
        .filter_map(|a| match &a.request.target {
            Target::Phone(p) => Some(p.clone()),
            Target::User(id) => profiles
                .get(id)
                .and_then(|p| p.recipient.phone_e164.clone()),
        })
        .collect();
    let opted_out: HashSet<String> = if all_numbers.is_empty() {
        HashSet::new()
    } else {
        opt_outs::Entity::find()
            .filter(opt_outs::Column::PhoneE164.is_in(all_numbers))
            .all(db)
            .await?
            .into_iter()
            .map(|o| o.phone_e164)
            .collect()
    };

    let costs = &ctx.config.costs;

    let mut rows = Vec::new();
    let mut caps = Vec::new();
    let mut row_owner = Vec::new();
    for item in accepted {
        let message_type = item.request.template.message_type();
        let (profile, to_phone) = match &item.request.target {
            Target::User(id) => match profiles.get(id) {
                Some(p) => (Some(p), p.recipient.phone_e164.clone()),
                None => {
                    answers[item.index] = Some(Err(SendError::UnknownUser(id.clone())));
                    continue;
                }
            },
            Target::Phone(e164) => (
                owners
                    .get(e164)
                    .and_then(|o| profiles.get(&o.recipient.user_id)),
                Some(e164.clone()),
            ),
        };
        let country = to_phone.as_deref().and_then(phone::region_of);
        let stranger_invitation = match (profile, message_type, &to_phone) {
            (None, MessageType::BattleInvitation, Some(to)) => Some(StrangerInvitation {
                inviter_verified: item
                    .request
                    .inviter_user_id
                    .as_ref()
                    .and_then(|i| profiles.get(i))
                    .is_some_and(|p| p.phone_verified()),
                recently_invited: invited_since(db, to, now - Duration::hours(24)).await?,
            }),
            _ => None,
        };
        let mut due_at = now;
        let mut quiet_zone = None;
        let mut state_cap = None;
        let decision = policy::check(
            &policy::Facts {
                message_type,
                promotional: item.request.promotional,
                recipient: profile,
                phone: to_phone.as_deref(),
                country,
                // Only a transactional answer to a keyword may reach a number on the list.
                opted_out: (item.request.promotional || !item.request.keyword_answer)
                    && to_phone.as_ref().is_some_and(|p| opted_out.contains(p)),
                stranger_invitation,
            },
            &ctx.config.sms.allowed_countries,
        )
        .and_then(|()| {
            if !item.request.promotional {
                return Ok(());
            }
            // Quiet hours in every zone the recipient may be in, and the state's rule.
            let locale = ctx.config.locale(
                profile.and_then(|p| p.recipient.timezone.as_deref()),
                to_phone.as_deref(),
            );
            state_cap = locale.state_rule.as_ref().map(|r| r.daily_cap);
            match locale.window(now) {
                None => {
                    quiet_zone = Some(locale.deciding_zone(now));
                    Ok(())
                }
                Some(window) => {
                    quiet_zone = Some(window.zone);
                    match item.request.quiet {
                        QuietPolicy::Defer => {
                            due_at = window.end;
                            Ok(())
                        }
                        QuietPolicy::Block => Err(policy::BlockedReason::QuietHours),
                    }
                }
            }
        });
        // The daily limit and the budget are decided in the insert transaction (`insert_rows`), where
        // concurrent senders take their turns.
        let price = country
            .and_then(|c| {
                costs
                    .prices
                    .iter()
                    .find(|(id, _)| *id == c)
                    .map(|(_, p)| *p)
            })
            .or(costs.default_price);
        let decision = decision.and_then(|()| price.ok_or(policy::BlockedReason::NoPrice));
        let decision = decision.map(|price| price * i64::from(item.rendered.segments));
        let (related_type, related_id) = item.request.related.clone().unzip();
        // A code is stored in the clear only while it waits to be sent; the log shows it masked.
        let (body, sensitive_body) =
            match catalogue::redacted(&item.request.template, item.request.promotional, &brand) {
                Some(masked) => (
                    masked.body,
                    decision.is_ok().then(|| item.rendered.body.clone()),
                ),
                None => (item.rendered.body.clone(), None),
            };
        rows.push(sms_log::ActiveModel {
            user_id: Set(profile.map(|p| p.recipient.user_id.clone())),
            to_phone: Set(to_phone.unwrap_or_default()),
            country: Set(country.map(|c| c.as_ref().to_owned())),
            message_type: Set(message_type),
            promotional: Set(item.request.promotional),
            priority: Set(if item.request.promotional { 1 } else { 0 }),
            body: Set(body),
            sensitive_body: Set(sensitive_body),
            status: Set(if decision.is_ok() {
                SmsStatus::Pending
            } else {
                SmsStatus::Blocked
            }),
            blocked_reason: Set(decision.err().map(|r| r.as_str().to_owned())),
            attempts: Set(0),
            next_attempt_at: Set(decision.is_ok().then_some(due_at)),
            cost_micros: Set(decision.ok()),
            estimated_cost_micros: Set(decision.ok()),
            segments: Set(item.rendered.segments as i32),
            encoding: Set(item.rendered.encoding.as_str().to_owned()),
            created_at: Set(now),
            related_object_type: Set(related_type),
            related_object_id: Set(related_id),
            dedupe_key: Set(item.request.dedupe_key.clone()),
            quiet_hours_zone: Set(quiet_zone.map(|z| z.name().to_owned())),
            ..Default::default()
        });
        caps.push(state_cap);
        row_owner.push(item);
    }

    let turn = super::sqlite_turn(ctx).await;
    let inserted = insert_rows(db, rows, &caps, costs, now).await?;
    drop(turn);
    let mut queued = false;
    for (item, row) in row_owner.into_iter().zip(inserted) {
        let created = row.is_some();
        let row = match row {
            Some(row) => row,
            // Its key raced in from another request after the look-up: answer with the row that won.
            None => {
                let key = item.request.dedupe_key.as_deref().unwrap_or_default();
                match find_by_dedupe_key(db, key).await? {
                    Some(row) => row,
                    None => {
                        answers[item.index] = Some(Err(SendError::Invalid(
                            "the message could not be stored".into(),
                        )));
                        continue;
                    }
                }
            }
        };
        if created {
            let kind = sea_orm::ActiveEnum::to_value(&row.message_type);
            let outcome = if row.status == SmsStatus::Blocked {
                "blocked"
            } else {
                "queued"
            };
            ctx.metrics
                .messages
                .with_label_values(&[kind.as_str(), outcome])
                .inc();
            if let Some(reason) = &row.blocked_reason {
                ctx.metrics
                    .blocked
                    .with_label_values(&[reason.as_str()])
                    .inc();
            }
        }
        match row.status {
            SmsStatus::Blocked => tracing::info!(
                id = row.id,
                to = phone::mask(&row.to_phone),
                reason = row.blocked_reason.as_deref().unwrap_or_default(),
                "message blocked"
            ),
            _ => {
                queued = true;
                tracing::info!(
                    id = row.id,
                    to = phone::mask(&row.to_phone),
                    segments = row.segments,
                    "message queued"
                );
            }
        }
        if let Some(key) = &row.dedupe_key {
            known.insert(key.clone(), row.clone());
        }
        answers[item.index] = Some(Ok(Enqueued { row, created }));
    }
    for (index, key) in repeats {
        answers[index] = Some(match known.get(&key) {
            Some(row) => Ok(Enqueued {
                row: row.clone(),
                created: false,
            }),
            None => Err(SendError::Invalid(
                "an earlier message with this idempotency key was refused".into(),
            )),
        });
    }
    if queued {
        ctx.signals.work_queued();
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(SendError::Invalid("not processed".into()))))
        .collect())
}

/// The per-user and per-number limits on promotions, decided where concurrent senders take turns.
///
/// Blocks, with `user_daily_limit`, each accepted promotion whose user already has
/// `SMS_USER_DAILY_LIMIT` promotions in the last 24 hours, and with `state_daily_limit` each whose
/// number is under a state rule (`state_caps`, one per row) and already got that many; both count the
/// batch's earlier rows. First it locks what it counts: the users' rows in key order, then an advisory
/// lock per capped number in order (PostgreSQL), or the database's write lock (SQLite), so the counts
/// it reads cannot change before commit.
async fn apply_daily_limits(
    txn: &impl ConnectionTrait,
    rows: &mut [sms_log::ActiveModel],
    state_caps: &[Option<u32>],
    user_limit: u32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let limited = |row: &sms_log::ActiveModel| {
        value(&row.status) == Some(SmsStatus::Pending) && value(&row.promotional) == Some(true)
    };
    let users: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| limited(r))
        .filter_map(|r| value(&r.user_id).flatten())
        .collect();
    let phones: std::collections::BTreeSet<String> = rows
        .iter()
        .zip(state_caps)
        .filter(|(r, cap)| limited(r) && cap.is_some())
        .filter_map(|(r, _)| value(&r.to_phone))
        .collect();
    if users.is_empty() && phones.is_empty() {
        return Ok(());
    }
    crate::recipients::lock_rows(txn, users.iter().map(String::as_str)).await?;
    lock_numbers(txn, &phones).await?;
    let since = now - Duration::hours(24);
    let mut per_user = promotions_per(
        txn,
        sms_log::Column::UserId,
        users.iter().map(String::as_str),
        since,
    )
    .await?;
    let mut per_number = promotions_per(
        txn,
        sms_log::Column::ToPhone,
        phones.iter().map(String::as_str),
        since,
    )
    .await?;
    for (row, cap) in rows.iter_mut().zip(state_caps) {
        if !limited(row) {
            continue;
        }
        if let Some(user) = value(&row.user_id).flatten() {
            let count = per_user.entry(user).or_insert(0);
            if *count >= user_limit {
                block(row, policy::BlockedReason::UserDailyLimit);
                continue;
            }
            *count += 1;
        }
        if let (Some(cap), Some(phone)) = (cap, value(&row.to_phone)) {
            let count = per_number.entry(phone).or_insert(0);
            if *count >= *cap {
                block(row, policy::BlockedReason::StateDailyLimit);
                // Undo the user's count: this one is not sent.
                if let Some(user) = value(&row.user_id).flatten()
                    && let Some(n) = per_user.get_mut(&user)
                {
                    *n -= 1;
                }
                continue;
            }
            *count += 1;
        }
    }
    Ok(())
}

/// Serialises decisions about `phones` until the transaction ends: an advisory lock per number on
/// PostgreSQL (in order, so two transactions never wait in a circle); on SQLite the write lock.
async fn lock_numbers(
    txn: &impl ConnectionTrait,
    phones: &std::collections::BTreeSet<String>,
) -> Result<(), DbErr> {
    if phones.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres {
        return crate::store::take_sqlite_write_lock(txn).await;
    }
    for phone in phones {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [phone.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Promotions (not blocked) since `since` per value of `column` (`UserId` or `ToPhone`), for each of
/// `keys`. One count per key, each an index range on (`column`, `created_at`): written as a single
/// `IN (...)` with `GROUP BY`, PostgreSQL's planner took the `created_at` index when its statistics
/// lagged a fast-growing table, and read the whole last day for every batch (116 ms a batch at 100,000
/// rows, instead of under 1).
async fn promotions_per<'a>(
    db: &impl ConnectionTrait,
    column: sms_log::Column,
    keys: impl Iterator<Item = &'a str>,
    since: DateTime<Utc>,
) -> Result<HashMap<String, u32>, DbErr> {
    let keys: Vec<&str> = keys.collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let param = |n: usize| crate::store::placeholder(backend, n);
    let list = (3..keys.len() + 3)
        .map(|n| format!("({})", param(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH k(key) AS (VALUES {list}) \
         SELECT k.key AS key, (SELECT COUNT(*) FROM sms_log s WHERE s.{column} = k.key \
           AND s.created_at > {since} AND s.promotional = {yes} AND s.status <> 'blocked') AS n \
         FROM k",
        column = sea_orm::IdenStatic::as_str(&column),
        since = param(1),
        yes = param(2),
    );
    let mut values: Vec<sea_orm::Value> = vec![since.into(), true.into()];
    values.extend(keys.into_iter().map(|k| k.to_owned().into()));
    let mut counts = HashMap::new();
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let n: i64 = row.try_get("", "n")?;
        if n > 0 {
            counts.insert(row.try_get::<String>("", "key")?, n as u32);
        }
    }
    Ok(counts)
}

fn value<T: Clone + Into<sea_orm::Value>>(v: &sea_orm::ActiveValue<T>) -> Option<T> {
    match v {
        sea_orm::ActiveValue::Set(x) | sea_orm::ActiveValue::Unchanged(x) => Some(x.clone()),
        sea_orm::ActiveValue::NotSet => None,
    }
}

/// Whether a message may spend the transactional reserve: verification codes and security alerts only.
pub fn may_use_reserve(message_type: MessageType) -> bool {
    matches!(
        message_type,
        MessageType::PhoneVerification | MessageType::SecurityAlert
    )
}

/// Turns an accepted row into one blocked for `reason`.
fn block(row: &mut sms_log::ActiveModel, reason: policy::BlockedReason) {
    row.status = Set(SmsStatus::Blocked);
    row.blocked_reason = Set(Some(reason.as_str().to_owned()));
    row.next_attempt_at = Set(None);
    row.sensitive_body = Set(None);
    row.cost_micros = Set(None);
}

/// Inserts rows in one transaction, a multi-row INSERT ... RETURNING per chunk. In the same
/// transaction each accepted row reserves its cost from the month's budget (transactional messages
/// first, up to the whole limit; promotions only up to the limit less the transactional reserve) and
/// the cost rollup is brought in step. A row whose dedupe key already exists is skipped (`None` in its
/// place) and reserves nothing.
///
/// The month's budget row and the day's rollup rows are the rows every sender touches, so they are
/// touched last, just before commit, and held for as short a time as possible: the rows are inserted
/// first, then the batch reserves its total in one statement. Only when the budget cannot hold it all
/// (near the limit) does each row reserve in turn, and the rows that do not fit are turned `BLOCKED`
/// (`spend_limit`) before anyone can see them.
async fn insert_rows(
    db: &sea_orm::DatabaseConnection,
    mut rows: Vec<sms_log::ActiveModel>,
    state_caps: &[Option<u32>],
    costs: &crate::config::CostConfig,
    now: DateTime<Utc>,
) -> Result<Vec<Option<sms_log::Model>>, DbErr> {
    use sea_orm::QueryTrait;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let month = cost::month_of(now);
    let txn = db.begin().await?;

    apply_daily_limits(&txn, &mut rows, state_caps, costs.user_daily_limit, now).await?;

    let mut out: Vec<Option<sms_log::Model>> = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<sms_log::ActiveModel> = rows.by_ref().take(INSERT_CHUNK).collect();
        let keys: Vec<Option<String>> = chunk
            .iter()
            .map(|r| value(&r.dedupe_key).flatten())
            .collect();
        let mut insert = sms_log::Entity::insert_many(chunk).on_conflict(
            OnConflict::column(sms_log::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        );
        insert.query().returning_all();
        let mut inserted = sms_log::Entity::find()
            .from_raw_sql(insert.build(backend))
            .all(&txn)
            .await?;
        // Ids grow in VALUES order: sorted by id, the rows line up with the chunk, except for skipped
        // duplicates, recognised by their key.
        inserted.sort_by_key(|r| r.id);
        let mut inserted = inserted.into_iter().peekable();
        for key in keys {
            let matches = inserted
                .peek()
                .is_some_and(|row| key.is_none() || row.dedupe_key == key);
            out.push(if matches { inserted.next() } else { None });
        }
    }

    let mut reserved_any = false;
    // Codes and security alerts may spend the whole budget; everything else (promotions and free
    // texts alike) stops where the transactional reserve begins.
    for (reserved_for, cap) in [
        (true, costs.monthly_limit),
        (false, costs.monthly_limit - costs.transactional_reserve),
    ] {
        let charged: Vec<usize> = (0..out.len())
            .filter(|&i| {
                out[i].as_ref().is_some_and(|row| {
                    row.status == SmsStatus::Pending
                        && may_use_reserve(row.message_type) == reserved_for
                        && row.cost_micros.is_some_and(|c| c > 0)
                })
            })
            .collect();
        let cost_of = |i: usize| out[i].as_ref().and_then(|r| r.cost_micros).unwrap_or(0);
        let total: i64 = charged.iter().map(|&i| cost_of(i)).sum();
        if total == 0 {
            continue;
        }
        if cost::reserve(&txn, &month, total, cap).await? {
            reserved_any = true;
            continue;
        }
        // Not all of them fit: in order, each takes what is left, and those that do not fit are blocked.
        let mut refused = Vec::new();
        for i in charged {
            if cost::reserve(&txn, &month, cost_of(i), cap).await? {
                reserved_any = true;
            } else {
                refused.push(i);
            }
        }
        block_inserted(&txn, &mut out, &refused, policy::BlockedReason::SpendLimit).await?;
    }

    let rollup = out
        .iter()
        .flatten()
        .map(|row| {
            let status = if row.status == SmsStatus::Blocked {
                "blocked"
            } else {
                "pending"
            };
            (cost::rollup_key(row, status), cost::measures(row))
        })
        .collect();
    cost::rollup_add(&txn, rollup).await?;
    if reserved_any {
        cost::warn_thresholds(&txn, &month, costs.monthly_limit).await?;
    }
    txn.commit().await?;
    Ok(out)
}

/// What a message that will never be sent (blocked, or failed for good) no longer needs: a next
/// attempt, its code in the clear, a charge.
fn never_sent(
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

/// Turns rows this transaction inserted (`out[i]` for each of `which`) into blocked ones, in the
/// database and in `out`, as `block` does before an insert.
async fn block_inserted(
    txn: &impl ConnectionTrait,
    out: &mut [Option<sms_log::Model>],
    which: &[usize],
    reason: policy::BlockedReason,
) -> Result<(), DbErr> {
    let ids: Vec<i64> = which
        .iter()
        .filter_map(|&i| out[i].as_ref().map(|r| r.id))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    never_sent(
        sms_log::Entity::update_many()
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Blocked))
            .col_expr(
                sms_log::Column::BlockedReason,
                Expr::value(reason.as_str().to_owned()),
            ),
    )
    .filter(sms_log::Column::Id.is_in(ids))
    .exec(txn)
    .await?;
    for &i in which {
        if let Some(row) = out[i].as_mut() {
            row.status = SmsStatus::Blocked;
            row.blocked_reason = Some(reason.as_str().to_owned());
            row.next_attempt_at = None;
            row.sensitive_body = None;
            row.cost_micros = None;
        }
    }
    Ok(())
}

/// The users the numbers belong to, preferring one who verified it.
async fn owners_of<'a>(
    db: &impl ConnectionTrait,
    numbers: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Profile>, DbErr> {
    let numbers: Vec<&str> = numbers.collect();
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let mut owners = recipients::Entity::find()
        .filter(recipients::Column::PhoneE164.is_in(numbers))
        .all(db)
        .await?;
    owners.sort_by_key(|r| r.phone_verified_at.is_none());
    let mut chosen: HashMap<String, String> = HashMap::new();
    for owner in owners {
        if let Some(phone) = owner.phone_e164 {
            chosen.entry(phone).or_insert(owner.user_id);
        }
    }
    let profiles = crate::recipients::load_many(db, chosen.values().map(String::as_str)).await?;
    Ok(chosen
        .into_iter()
        .filter_map(|(phone, user)| profiles.get(&user).map(|p| (phone, p.clone())))
        .collect())
}

/// Whether `to` got a battle invitation (not blocked) since `since`.
async fn invited_since(
    db: &impl ConnectionTrait,
    to: &str,
    since: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(sms_log::Entity::find()
        .filter(sms_log::Column::ToPhone.eq(to))
        .filter(sms_log::Column::MessageType.eq(MessageType::BattleInvitation))
        .filter(sms_log::Column::Status.ne(SmsStatus::Blocked))
        .filter(sms_log::Column::CreatedAt.gt(since))
        .one(db)
        .await?
        .is_some())
}

/// Claims up to `limit` due messages for one worker: pending ones whose time has come and sending ones
/// whose lease expired (their worker died). Transactional messages first. Each claim counts an attempt
/// and holds a lease until `now + lease`. On PostgreSQL, concurrent workers skip each other's rows.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<sms_log::Model>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE sms_log SET status = 'sending', attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id IN (SELECT id FROM sms_log \
                          WHERE status IN ('pending', 'sending') AND next_attempt_at <= $2 \
                          ORDER BY priority, next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING *"
        }
        _ => {
            "UPDATE sms_log SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?1 \
             WHERE id IN (SELECT id FROM sms_log \
                          WHERE status IN ('pending', 'sending') AND next_attempt_at <= ?2 \
                          ORDER BY priority, next_attempt_at LIMIT ?3) \
             RETURNING *"
        }
    };
    let mut claimed = sms_log::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            backend,
            sql,
            [(now + lease).into(), now.into(), (limit as i64).into()],
        ))
        .all(db)
        .await?;
    claimed.sort_by_key(|m| (m.priority, m.id));
    Ok(claimed)
}

/// At most `max` characters of a provider-supplied string, so an unusual answer always fits its column.
fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Narrows an update to the claim a worker holds: same row, still sending, same attempt.
fn held(row: &sms_log::Model) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(sms_log::Column::Id.eq(row.id))
        .add(sms_log::Column::Status.eq(SmsStatus::Sending))
        .add(sms_log::Column::Attempts.eq(row.attempts))
}

/// What became of one claimed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Back in the queue for another attempt.
    Retrying,
    Failed,
    /// Returned to the queue without using an attempt (throttling, shutdown).
    Released,
    /// Another worker took the message over after this worker's lease expired.
    LeaseLost,
}

/// Records several successful sends in one statement (group commit). Returns how many rows were still
/// held by this worker; the others had passed to another worker after a lease expired.
pub async fn record_sent_many<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    sent: &[(&sms_log::Model, String)],
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    if sent.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let param = |n: usize| crate::store::placeholder(backend, n);
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    let mut cases = String::new();
    let mut held = Vec::with_capacity(sent.len());
    let mut ids = Vec::with_capacity(sent.len());
    for (row, provider_id) in sent {
        ids.push(row.id.to_string());
        values.push(clip(provider_id, 200).to_owned().into());
        // Ids and attempts are our own integers, written inline; provider ids are bound.
        cases.push_str(&format!(" WHEN {} THEN {}", row.id, param(values.len())));
        held.push(format!("({}, {})", row.id, row.attempts));
    }
    let sql = format!(
        "UPDATE sms_log SET status = 'sent', sent_at = {now}, next_attempt_at = NULL, \
         sensitive_body = NULL, error_code = NULL, error_message = NULL, \
         provider_message_id = CASE id{cases} END \
         WHERE id IN ({ids}) AND status = 'sending' AND (id, attempts) IN (VALUES {held}) RETURNING id",
        now = param(1),
        ids = ids.join(", "),
        held = held.join(", ")
    );
    let txn = db.begin().await?;
    let updated: std::collections::HashSet<i64> = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<i64>("", "id").ok())
        .collect();
    let mut rollup = Vec::new();
    for (row, _) in sent.iter().filter(|(r, _)| updated.contains(&r.id)) {
        let delta = cost::measures(row);
        rollup.push((cost::rollup_key(row, "pending"), delta.map(|v| -v)));
        rollup.push((cost::rollup_key(row, "sent"), delta));
    }
    cost::rollup_add(&txn, rollup).await?;
    txn.commit().await?;
    Ok(updated.len())
}

/// Puts a claimed message back in the queue at `at` without spending its attempt.
pub async fn release(
    db: &impl ConnectionTrait,
    row: &sms_log::Model,
    at: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    let result = sms_log::Entity::update_many()
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Pending))
        .col_expr(sms_log::Column::Attempts, Expr::value(row.attempts - 1))
        .col_expr(sms_log::Column::NextAttemptAt, Expr::value(at))
        .filter(held(row))
        .exec(db)
        .await?;
    Ok(if result.rows_affected == 1 {
        Outcome::Released
    } else {
        Outcome::LeaseLost
    })
}

/// Exponential backoff with equal jitter: 2 s, 4 s, 8 s ... capped at 10 minutes, each between half and
/// all of its step, so retries of a burst spread out.
pub fn backoff(attempt: i32) -> Duration {
    let step = Ord::min(2_i64.saturating_pow(attempt.clamp(1, 20) as u32), 600);
    let half = step * 500;
    Duration::milliseconds(half + rand::random_range(0..=half))
}

/// Records a failed attempt: retried later, failed for good, or released (throttling).
pub async fn record_failure<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    row: &sms_log::Model,
    error: &ProviderError,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    let retry = match error.kind {
        FailureKind::Throttled { retry_after } => {
            let wait = retry_after
                .and_then(|d| Duration::from_std(d).ok())
                .unwrap_or(Duration::seconds(1));
            super::gate::pause_until(db, (now + wait).timestamp_micros()).await?;
            tracing::warn!(
                pause_ms = wait.num_milliseconds(),
                "provider throttling: pausing sends"
            );
            return release(db, row, now + wait).await;
        }
        FailureKind::Transient if row.attempts < max_attempts as i32 => {
            Some(now + backoff(row.attempts))
        }
        _ => None,
    };
    let txn = db.begin().await?;
    let mut update = sms_log::Entity::update_many()
        .col_expr(sms_log::Column::ErrorCode, Expr::value(error.code.as_str()))
        .col_expr(
            sms_log::Column::ErrorMessage,
            Expr::value(error.message.as_str()),
        )
        .filter(held(row));
    update = match retry {
        Some(at) => update
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Pending))
            .col_expr(sms_log::Column::NextAttemptAt, Expr::value(at)),
        None => {
            never_sent(update.col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Failed)))
        }
    };
    if update.exec(&txn).await?.rows_affected != 1 {
        return Ok(Outcome::LeaseLost);
    }
    if retry.is_none() {
        // Failed for good: nothing is charged, the reservation goes back to the month it came from.
        let charged = row.cost_micros.unwrap_or(0);
        if charged > 0 {
            cost::release(&txn, &cost::month_of(row.created_at), charged).await?;
        }
        let delta = cost::measures(row);
        cost::rollup_add(
            &txn,
            vec![
                (cost::rollup_key(row, "pending"), delta.map(|v| -v)),
                (
                    cost::rollup_key(row, "failed"),
                    [1, i64::from(row.segments), 0, 0],
                ),
            ],
        )
        .await?;
    }
    match error.kind {
        FailureKind::OptedOut => {
            add_opt_out(&txn, &row.to_phone, "provider", now).await?;
            tracing::info!(
                id = row.id,
                to = phone::mask(&row.to_phone),
                "destination opted out with the carrier: added to the opt-out list"
            );
        }
        FailureKind::SpendLimit => tracing::error!(
            alert = "sms_monthly_spend_limit",
            id = row.id,
            "OPERATOR ALERT: the AWS account's monthly SMS spend limit is reached; texts fail until it is raised (AWS Support) or the month ends"
        ),
        _ => {}
    }
    txn.commit().await?;
    Ok(if retry.is_some() {
        Outcome::Retrying
    } else {
        Outcome::Failed
    })
}

/// Whether a status is final (nothing more will happen without a delivery receipt).
pub fn is_settled(status: SmsStatus) -> bool {
    !matches!(status, SmsStatus::Pending | SmsStatus::Sending)
}
