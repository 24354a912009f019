//! The outbox in `sms_log`: accepting a message (render, policy, one row), claiming due rows with a
//! lease, and recording each outcome. Every decision leaves a row.

use chrono::{DateTime, Duration, Utc};
use entity::{
    opt_outs, recipients,
    sms_log::{self, MessageType, SmsStatus},
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, SqlErr, Statement,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use super::{
    catalogue::{self, Brand, MAX_SEGMENTS, Template},
    phone::{self, PhoneError},
    policy::{self, StrangerInvitation},
    provider::{FailureKind, ProviderError},
};
use crate::{AppContext, recipients::Profile};

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

/// The user a number belongs to, preferring one who verified it.
async fn owner_of(db: &impl ConnectionTrait, e164: &str) -> Result<Option<Profile>, DbErr> {
    let mut owners = recipients::Entity::find()
        .filter(recipients::Column::PhoneE164.eq(e164))
        .all(db)
        .await?;
    owners.sort_by_key(|r| r.phone_verified_at.is_none());
    match owners.first() {
        Some(owner) => crate::recipients::load(db, &owner.user_id).await,
        None => Ok(None),
    }
}

pub async fn is_opted_out(db: &impl ConnectionTrait, e164: &str) -> Result<bool, DbErr> {
    Ok(opt_outs::Entity::find_by_id(e164.to_owned())
        .one(db)
        .await?
        .is_some())
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
/// woken), `blocked` with the reason otherwise. Invalid input writes nothing.
#[tracing::instrument(skip(ctx, request), fields(message_type = ?request.template.message_type()))]
pub async fn enqueue(ctx: &AppContext, request: SendRequest) -> Result<sms_log::Model, SendError> {
    let db = &ctx.db;
    let now = ctx.clock.now();
    if let Some(key) = &request.dedupe_key
        && let Some(existing) = find_by_dedupe_key(db, key).await?
    {
        return Ok(existing);
    }
    validate(&request.template)?;
    let brand = Brand {
        app_name: ctx.config.sms.app_name.clone(),
        frontend_url: ctx.config.sms.frontend_url.clone(),
    };
    let rendered = catalogue::render(&request.template, request.promotional, &brand);
    if rendered.segments > MAX_SEGMENTS {
        return Err(SendError::TooLong {
            segments: rendered.segments,
        });
    }
    let message_type = request.template.message_type();

    let (profile, to_phone) = match &request.target {
        Target::User(user_id) => {
            let profile = crate::recipients::load(db, user_id)
                .await?
                .ok_or_else(|| SendError::UnknownUser(user_id.clone()))?;
            let phone = profile.recipient.phone_e164.clone();
            (Some(profile), phone)
        }
        Target::Phone(e164) => (owner_of(db, e164).await?, Some(e164.clone())),
    };
    let country = to_phone.as_deref().and_then(phone::region_of);
    let opted_out = match &to_phone {
        Some(p) => is_opted_out(db, p).await?,
        None => false,
    };
    let stranger_invitation = match (&profile, message_type, &to_phone) {
        (None, MessageType::BattleInvitation, Some(to)) => {
            let inviter_verified = match &request.inviter_user_id {
                Some(inviter) => crate::recipients::load(db, inviter)
                    .await?
                    .is_some_and(|p| p.phone_verified()),
                None => false,
            };
            Some(StrangerInvitation {
                inviter_verified,
                recently_invited: invited_since(db, to, now - Duration::hours(24)).await?,
            })
        }
        _ => None,
    };
    let decision = policy::check(
        &policy::Facts {
            message_type,
            promotional: request.promotional,
            recipient: profile.as_ref(),
            phone: to_phone.as_deref(),
            country,
            opted_out,
            stranger_invitation,
        },
        &ctx.config.sms.allowed_countries,
    );

    let transactional = !request.promotional;
    let (related_type, related_id) = request.related.clone().unzip();
    let row = sms_log::ActiveModel {
        user_id: Set(profile.as_ref().map(|p| p.recipient.user_id.clone())),
        to_phone: Set(to_phone.clone().unwrap_or_default()),
        country: Set(country.map(|c| c.as_ref().to_owned())),
        message_type: Set(message_type),
        promotional: Set(request.promotional),
        priority: Set(if transactional { 0 } else { 1 }),
        body: Set(rendered.body),
        status: Set(if decision.is_ok() {
            SmsStatus::Pending
        } else {
            SmsStatus::Blocked
        }),
        blocked_reason: Set(decision.err().map(|r| r.as_str().to_owned())),
        attempts: Set(0),
        next_attempt_at: Set(decision.is_ok().then_some(now)),
        segments: Set(rendered.segments as i32),
        encoding: Set(rendered.encoding.as_str().to_owned()),
        created_at: Set(now),
        related_object_type: Set(related_type),
        related_object_id: Set(related_id),
        dedupe_key: Set(request.dedupe_key.clone()),
        ..Default::default()
    };
    let row = match row.insert(db).await {
        Ok(row) => row,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            // The same key raced in from another request: answer with the row that won.
            let key = request.dedupe_key.as_deref().unwrap_or_default();
            return find_by_dedupe_key(db, key).await?.ok_or(SendError::Db(e));
        }
        Err(e) => return Err(e.into()),
    };
    match decision {
        Ok(()) => {
            tracing::info!(
                id = row.id,
                to = phone::mask(&row.to_phone),
                segments = row.segments,
                "message queued"
            );
            ctx.signals.work_queued();
        }
        Err(reason) => tracing::info!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            reason = reason.as_str(),
            "message blocked"
        ),
    }
    Ok(row)
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
    Sent,
    /// Back in the queue for another attempt.
    Retrying,
    Failed,
    /// Returned to the queue without using an attempt (throttling, shutdown).
    Released,
    /// Another worker took the message over after this worker's lease expired.
    LeaseLost,
}

pub async fn record_sent(
    db: &impl ConnectionTrait,
    row: &sms_log::Model,
    provider_message_id: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    let result = sms_log::Entity::update_many()
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Sent))
        .col_expr(
            sms_log::Column::ProviderMessageId,
            Expr::value(clip(provider_message_id, 200)),
        )
        .col_expr(sms_log::Column::SentAt, Expr::value(now))
        .col_expr(
            sms_log::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            sms_log::Column::ErrorCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            sms_log::Column::ErrorMessage,
            Expr::value(Option::<String>::None),
        )
        .filter(held(row))
        .exec(db)
        .await?;
    Ok(if result.rows_affected == 1 {
        Outcome::Sent
    } else {
        Outcome::LeaseLost
    })
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
    let step = 2_i64.saturating_pow(attempt.clamp(1, 20) as u32).min(600);
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
        None => update
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Failed))
            .col_expr(
                sms_log::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            ),
    };
    if update.exec(&txn).await?.rows_affected != 1 {
        return Ok(Outcome::LeaseLost);
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
