//! Phone verification: 6-digit codes from a cryptographically secure generator, stored only as argon2id
//! hashes, valid 10 minutes and 5 tries, sent through the pipeline as a transactional message, with
//! per-user, per-number and per-IP limits counted in the database.

use std::sync::{Arc, OnceLock};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use chrono::{DateTime, Duration, Utc};
use entity::{
    phone_verifications::{self as pv},
    sms_log::SmsStatus,
    sms_preferences::ConsentMethod,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};
use tokio::sync::Semaphore;

use crate::{
    AppContext,
    locale::phone,
    outbox::{
        accept::{self as outbox, SendRequest, Target},
        catalogue::Template,
    },
    recipients::{self, ConsentSource},
};

/// How long a code is valid (the text says "expires in 10 minutes").
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Wrong tries before a code dies.
pub const MAX_ATTEMPTS: i32 = 5;

/// argon2id with OWASP's minimum: 19 MiB of memory, 2 passes, 1 lane. A code has a million values and
/// lives 10 minutes, so the hash cannot make a stolen table uncrackable; it makes each guess cost about
/// 14 ms of one core and 19 MiB (measured: `cargo bench --bench verification`), so trying all million
/// codes of one row takes about 4 core-hours, long past the code's 10 minutes, while a check stays cheap
/// for the sign-up flow.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing and checking run on the blocking pool, at most one per core at a time, so that a burst of
/// checks neither blocks the async executor nor claims 19 MiB per request at once.
fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, VerificationError> {
    let _permit = permits()
        .acquire_owned()
        .await
        .map_err(|_| VerificationError::Internal("the hashing pool is closed".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| VerificationError::Internal(format!("hashing task: {e}")))
}

/// The argon2id PHC string of `code`.
pub async fn hash_code(code: String) -> Result<String, VerificationError> {
    off_executor(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(code.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| VerificationError::Internal(format!("hashing: {e}")))
    })
    .await?
}

/// Whether `code` matches `hash`.
pub async fn check_code(code: String, hash: String) -> Result<bool, VerificationError> {
    off_executor(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| VerificationError::Internal(format!("stored hash: {e}")))?;
        Ok(hasher().verify_password(code.as_bytes(), &parsed).is_ok())
    })
    .await?
}

/// A 6-digit code from the thread's CSPRNG (ChaCha, seeded from the operating system).
fn new_code() -> String {
    format!("{:06}", rand::random_range(0..1_000_000u32))
}

#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    #[error("Set a phone number first (setPhoneNumber), then ask for a code.")]
    NoPhone,
    #[error("{0} is already verified.")]
    AlreadyVerified(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// The pipeline refused the text; the sentence says why, for the user.
    #[error("{0}")]
    NotSendable(String),
    #[error("The code is the 6 digits from the text message, e.g. 123456.")]
    Malformed,
    #[error("No code is waiting to be confirmed; ask for one with startPhoneVerification.")]
    NoPendingCode,
    #[error("This code has expired; ask for a new one.")]
    Expired,
    #[error("This code was tried too many times; ask for a new one.")]
    TooManyAttempts,
    #[error(
        "That code is not right; {remaining} {} left.",
        if *remaining == 1 { "try" } else { "tries" }
    )]
    WrongCode { remaining: i32 },
    #[error("That code is not right, and it was the last try; ask for a new one.")]
    WrongCodeLastTry,
    #[error("internal: {0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What `startPhoneVerification` answers.
#[derive(Debug, Clone)]
pub struct Started {
    pub expires_at: DateTime<Utc>,
    pub resend_available_at: DateTime<Utc>,
    pub phone_masked: String,
}

fn rate_limited(message: String, until: DateTime<Utc>, now: DateTime<Utc>) -> VerificationError {
    VerificationError::RateLimited {
        message,
        retry_after: (until - now).max(Duration::seconds(1)),
    }
}

/// When the `limit`-th newest code of this key, counted since `since`, stops counting (`None`: under
/// the limit).
async fn window_full(
    db: &impl ConnectionTrait,
    column: pv::Column,
    key: &str,
    since: DateTime<Utc>,
    limit: u32,
    window: Duration,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let recent = pv::Entity::find()
        .filter(column.eq(key))
        .filter(pv::Column::CreatedAt.gt(since))
        .order_by_desc(pv::Column::CreatedAt)
        .paginate(db, u64::from(limit))
        .fetch_page(0)
        .await?;
    if (recent.len() as u32) < limit {
        return Ok(None);
    }
    Ok(recent.last().map(|oldest| oldest.created_at + window))
}

/// Makes and sends a new code for the user's stored number. A new code replaces any earlier one.
#[tracing::instrument(skip(ctx, client_ip))]
pub async fn start(
    ctx: &AppContext,
    user_id: &str,
    client_ip: Option<String>,
) -> Result<Started, VerificationError> {
    let db = &ctx.db;
    let limits = &ctx.config.verification;
    let now = ctx.clock.now();
    let profile = recipients::ensure(db, user_id, now).await?;
    let phone = profile
        .recipient
        .phone_e164
        .clone()
        .ok_or(VerificationError::NoPhone)?;
    if profile.phone_verified() {
        return Err(VerificationError::AlreadyVerified(phone));
    }
    let cooldown = Duration::from_std(limits.resend_cooldown).unwrap_or(Duration::seconds(60));

    // The limits are checked and the new code recorded in one transaction that holds the user's row,
    // so two requests of one user cannot both pass; each limit counts rows in an indexed range.
    let code = new_code();
    let hash = hash_code(code.clone()).await?;
    let txn = db.begin().await?;
    recipients::lock_row(&txn, user_id, now).await?;
    if let Some(last) = pv::Entity::find()
        .filter(pv::Column::UserId.eq(user_id))
        .order_by_desc(pv::Column::CreatedAt)
        .one(&txn)
        .await?
        && last.created_at + cooldown > now
    {
        return Err(rate_limited(
            "A code was just sent; wait a moment before asking for another.".into(),
            last.created_at + cooldown,
            now,
        ));
    }
    let hour = Duration::hours(1);
    let day = Duration::days(1);
    if let Some(until) = window_full(
        &txn,
        pv::Column::PhoneE164,
        &phone,
        now - hour,
        limits.max_per_phone_per_hour,
        hour,
    )
    .await?
    {
        return Err(rate_limited(
            format!(
                "Too many codes were sent to {} in the last hour; try again later.",
                phone::mask(&phone)
            ),
            until,
            now,
        ));
    }
    if let Some(until) = window_full(
        &txn,
        pv::Column::UserId,
        user_id,
        now - day,
        limits.max_per_user_per_day,
        day,
    )
    .await?
    {
        return Err(rate_limited(
            "You asked for too many codes today; try again tomorrow.".into(),
            until,
            now,
        ));
    }
    if let Some(ip) = &client_ip
        && let Some(until) = window_full(
            &txn,
            pv::Column::ClientIp,
            ip,
            now - hour,
            limits.max_per_ip_per_hour,
            hour,
        )
        .await?
    {
        return Err(rate_limited(
            "Too many codes were requested from your network in the last hour; try again later."
                .into(),
            until,
            now,
        ));
    }
    pv::Entity::update_many()
        .col_expr(pv::Column::InvalidatedAt, Expr::value(now))
        .filter(pv::Column::UserId.eq(user_id))
        .filter(pv::Column::ConsumedAt.is_null())
        .filter(pv::Column::InvalidatedAt.is_null())
        .exec(&txn)
        .await?;
    let record = pv::ActiveModel {
        user_id: Set(user_id.to_owned()),
        phone_e164: Set(phone.clone()),
        code_hash: Set(hash),
        client_ip: Set(client_ip),
        created_at: Set(now),
        expires_at: Set(now + CODE_TTL),
        attempts: Set(0),
        consumed_at: Set(None),
        invalidated_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;

    let sent = outbox::enqueue(
        ctx,
        SendRequest::new(
            Target::User(user_id.to_owned()),
            Template::PhoneVerification { code },
            false,
        )
        .related("phone_verification", Some(record.id.to_string())),
    )
    .await
    .map_err(|e| match e {
        outbox::SendError::Db(db) => VerificationError::Db(db),
        other => VerificationError::Internal(other.to_string()),
    })?;
    if sent.status == SmsStatus::Blocked {
        // Nothing was sent: the code must not stay usable, and the user must know why.
        pv::Entity::update_many()
            .col_expr(pv::Column::InvalidatedAt, Expr::value(now))
            .filter(pv::Column::Id.eq(record.id))
            .exec(db)
            .await?;
        let masked = phone::mask(&phone);
        return Err(VerificationError::NotSendable(
            match sent.blocked_reason.as_deref() {
                Some("opted_out") => format!(
                    "{masked} has opted out of our texts (it replied STOP). Text START to our number to opt back in, or use another number."
                ),
                Some("country_not_allowed") => format!(
                    "We cannot send texts to {masked}'s country yet; use a number from a supported country."
                ),
                Some("spend_limit") => {
                    "We cannot send texts right now; try again later.".to_owned()
                }
                other => format!(
                    "The code could not be sent to {masked} ({}).",
                    other.unwrap_or("refused")
                ),
            },
        ));
    }
    tracing::info!(phone = phone::mask(&phone), "verification code sent");
    Ok(Started {
        expires_at: record.expires_at,
        resend_available_at: now + cooldown,
        phone_masked: phone::mask(&phone),
    })
}

/// Checks a code. A wrong code costs one try; the fifth wrong try kills the code. Success verifies the
/// number and, with the master switch on, records consent (method `phone_verification`).
#[tracing::instrument(skip(ctx, code))]
pub async fn confirm(
    ctx: &AppContext,
    user_id: &str,
    code: &str,
    client_ip: Option<String>,
) -> Result<recipients::Profile, VerificationError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerificationError::Malformed);
    }
    let db = &ctx.db;
    let now = ctx.clock.now();
    let profile = recipients::ensure(db, user_id, now).await?;
    let pending = pv::Entity::find()
        .filter(pv::Column::UserId.eq(user_id))
        .filter(pv::Column::ConsumedAt.is_null())
        .filter(pv::Column::InvalidatedAt.is_null())
        .order_by_desc(pv::Column::CreatedAt)
        .one(db)
        .await?
        .filter(|p| Some(&p.phone_e164) == profile.recipient.phone_e164.as_ref())
        .ok_or(VerificationError::NoPendingCode)?;
    if pending.expires_at <= now {
        return Err(VerificationError::Expired);
    }
    // Take a try before checking: one atomic update, so concurrent guesses can never exceed the limit.
    // It returns the count it wrote, so each of several concurrent guesses is told its own place.
    let taken = pv::Entity::update_many()
        .col_expr(pv::Column::Attempts, Expr::col(pv::Column::Attempts).add(1))
        .filter(pv::Column::Id.eq(pending.id))
        .filter(pv::Column::Attempts.lt(MAX_ATTEMPTS))
        .filter(pv::Column::ConsumedAt.is_null())
        .filter(pv::Column::InvalidatedAt.is_null())
        .exec_with_returning(db)
        .await?;
    let Some(tries_used) = taken.first().map(|row| row.attempts) else {
        return Err(VerificationError::TooManyAttempts);
    };
    if !check_code(code.to_owned(), pending.code_hash.clone()).await? {
        let remaining = MAX_ATTEMPTS - tries_used;
        return Err(if remaining <= 0 {
            VerificationError::WrongCodeLastTry
        } else {
            VerificationError::WrongCode { remaining }
        });
    }

    let txn = db.begin().await?;
    let consumed = pv::Entity::update_many()
        .col_expr(pv::Column::ConsumedAt, Expr::value(now))
        .filter(pv::Column::Id.eq(pending.id))
        .filter(pv::Column::ConsumedAt.is_null())
        .filter(pv::Column::InvalidatedAt.is_null())
        .exec(&txn)
        .await?;
    if consumed.rows_affected == 0 {
        // Replaced or used by a concurrent request in the meantime.
        return Err(VerificationError::NoPendingCode);
    }
    let verified = entity::recipients::Entity::update_many()
        .col_expr(
            entity::recipients::Column::PhoneVerifiedAt,
            Expr::value(now),
        )
        .col_expr(entity::recipients::Column::UpdatedAt, Expr::value(now))
        .filter(entity::recipients::Column::UserId.eq(user_id))
        .filter(entity::recipients::Column::PhoneE164.eq(pending.phone_e164.as_str()))
        .exec(&txn)
        .await?;
    if verified.rows_affected == 0 {
        return Err(VerificationError::NoPendingCode);
    }
    let profile = recipients::load(&txn, user_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("recipient {user_id}")))?;
    let profile = if profile.recipient.allow_sms {
        recipients::record_consent_given(
            &txn,
            profile,
            &ConsentSource {
                method: ConsentMethod::PhoneVerification,
                ip: client_ip,
            },
            now,
        )
        .await?
    } else {
        profile
    };
    txn.commit().await?;
    tracing::info!(
        phone = phone::mask(&pending.phone_e164),
        "phone number verified"
    );
    Ok(profile)
}
