//! Phone verification: 6-digit codes from a cryptographically secure generator, stored only as argon2id
//! hashes, valid 10 minutes and 5 tries, sent through the pipeline as a transactional message, with
//! per-user, per-number and per-IP limits counted in the database.

pub mod feedback;
mod guard;
pub mod stats;

pub use guard::{BLOCKED_SENTENCE, RangeState};

use std::sync::{Arc, OnceLock};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{DbErr, TransactionTrait};
use tokio::sync::Semaphore;

use crate::{
    config::VerificationConfig,
    locale::phone,
    outbox::{Outbox, SendError, SendRequest, Target, catalogue::Template},
    recipients::{self, ConsentMethod, ConsentSource},
    store::{
        BlockedReason, SmsStatus, recipients as recipient_rows,
        verifications::{self as codes, CountedBy, NewCode},
    },
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

/// The verification handle: codes out through the outbox, checked against their hashes.
#[derive(Clone)]
pub struct Verifier {
    db: crate::store::db::Db,
    clock: Arc<dyn crate::Clock>,
    /// Where codes are sent.
    outbox: Outbox,
    limits: VerificationConfig,
    /// Codes hashed by this handle: what a request that was not refused early costs.
    hashed: Arc<std::sync::atomic::AtomicU64>,
}

impl Verifier {
    pub fn new(outbox: Outbox, limits: VerificationConfig) -> Self {
        Self {
            db: outbox.db.clone(),
            clock: outbox.clock.clone(),
            outbox,
            limits,
            hashed: Arc::default(),
        }
    }

    /// How many codes this handle hashed (argon2 runs once per code made).
    pub fn codes_hashed(&self) -> u64 {
        self.hashed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes and sends a new code for the user's stored number (see `start`).
    pub async fn start(
        &self,
        user_id: &str,
        client_ip: Option<String>,
    ) -> Result<Started, VerificationError> {
        start(self, user_id, client_ip).await
    }

    /// Counts a code's outcome in `sms_verification_codes_total`, by country (an allowed one, else
    /// `other`, so the label takes no value from outside).
    pub(crate) fn count(&self, phone_e164: &str, outcome: &str) {
        let country = phone::region_of(phone_e164)
            .filter(|c| self.outbox.allowed_countries().contains(c))
            .map_or_else(|| "other".to_owned(), |c| c.as_ref().to_owned());
        self.outbox
            .metrics
            .verification_codes
            .with_label_values(&[country.as_str(), outcome])
            .inc();
    }

    /// Checks a code (see `confirm`).
    pub async fn confirm(
        &self,
        user_id: &str,
        code: &str,
        client_ip: Option<String>,
    ) -> Result<recipients::Profile, VerificationError> {
        confirm(self, user_id, code, client_ip).await
    }
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
    /// Refused before a code was made (the fraud guard, a country switched off, the day's ceiling).
    #[error("{0}")]
    Blocked(String),
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

/// Refuses a new code while a limit is reached: one a minute per user, then per number, per user and
/// per client IP in their windows. Runs inside the transaction that records the code.
async fn check_limits(
    txn: &impl sea_orm::ConnectionTrait,
    limits: &crate::config::VerificationConfig,
    (user_id, phone, client_ip): (&str, &str, Option<&str>),
    now: DateTime<Utc>,
) -> Result<(), VerificationError> {
    let cooldown = Duration::from_std(limits.resend_cooldown).unwrap_or(Duration::seconds(60));
    if let Some(last) = codes::latest(txn, user_id).await?
        && last.created_at + cooldown > now
    {
        return Err(rate_limited(
            "A code was just sent; wait a moment before asking for another.".into(),
            last.created_at + cooldown,
            now,
        ));
    }
    let hour = (now - Duration::hours(1), Duration::hours(1));
    let day = (now - Duration::days(1), Duration::days(1));
    let masked = phone::mask(phone);
    let checks = [
        (
            CountedBy::Phone,
            Some(phone),
            hour,
            limits.max_per_phone_per_hour,
            format!("Too many codes were sent to {masked} in the last hour; try again later."),
        ),
        (
            CountedBy::User,
            Some(user_id),
            day,
            limits.max_per_user_per_day,
            "You asked for too many codes today; try again tomorrow.".to_owned(),
        ),
        (
            CountedBy::ClientIp,
            client_ip,
            hour,
            limits.max_per_ip_per_hour,
            "Too many codes were requested from your network in the last hour; try again later."
                .to_owned(),
        ),
    ];
    for (by, key, window, limit, message) in checks {
        if let Some(key) = key
            && let Some(until) = codes::window_full(txn, by, key, window, limit).await?
        {
            return Err(rate_limited(message, until, now));
        }
    }
    Ok(())
}

/// The sentence for a code whose text the pipeline refused.
fn not_sendable(reason: Option<BlockedReason>, phone: &str) -> VerificationError {
    let masked = phone::mask(phone);
    VerificationError::NotSendable(match reason {
        Some(BlockedReason::OptedOut) => format!(
            "{masked} has opted out of our texts (it replied STOP). Text START to our number to opt back in, or use another number."
        ),
        Some(BlockedReason::CountryNotAllowed) => format!(
            "We cannot send texts to {masked}'s country yet; use a number from a supported country."
        ),
        Some(BlockedReason::SpendLimit) => {
            "We cannot send texts right now; try again later.".to_owned()
        }
        Some(
            BlockedReason::FraudGuard
            | BlockedReason::VerificationCeiling
            | BlockedReason::CountryPaused,
        ) => return VerificationError::Blocked(BLOCKED_SENTENCE.to_owned()),
        other => format!(
            "The code could not be sent to {masked} ({}).",
            other.map_or("refused", BlockedReason::as_str)
        ),
    })
}

/// Makes and sends a new code for the user's stored number. A new code replaces any earlier one.
#[tracing::instrument(skip(verifier, client_ip))]
async fn start(
    verifier: &Verifier,
    user_id: &str,
    client_ip: Option<String>,
) -> Result<Started, VerificationError> {
    let db = &verifier.db;
    let now = verifier.clock.now();
    let profile = recipients::ensure(db, user_id, now).await?;
    let phone = profile
        .recipient
        .phone_e164
        .clone()
        .ok_or(VerificationError::NoPhone)?;
    if profile.phone_verified() {
        return Err(VerificationError::AlreadyVerified(phone));
    }
    // Cheap refusals first, before argon2 runs: the limits (read here, and again below where they
    // hold), the country switch, the fraud guard, the day's ceiling for codes.
    let limits = &verifier.limits;
    let early = check_limits(db, limits, (user_id, &phone, client_ip.as_deref()), now).await;
    if early.is_err() {
        verifier.count(&phone, "rate_limited");
    }
    early?;
    verifier.refuse_early(user_id, &phone, now).await?;
    // The limits are checked and the new code recorded in one transaction that holds the user's row,
    // so two requests of one user cannot both pass; each limit counts rows in an indexed range.
    let code = new_code();
    verifier
        .hashed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let hash = hash_code(code.clone()).await?;
    let txn = db.begin().await?;
    recipient_rows::lock_row(&txn, user_id, now).await?;
    check_limits(&txn, limits, (user_id, &phone, client_ip.as_deref()), now).await?;
    let new = NewCode {
        user_id: user_id.to_owned(),
        phone_e164: phone.clone(),
        code_hash: hash,
        client_ip,
        expires_at: now + CODE_TTL,
        phone_range: phone::range_of(&phone),
    };
    let record = codes::replace(&txn, new, now).await?;
    txn.commit().await?;
    send_code(verifier, user_id, (&phone, code), &record, now).await
}

/// Sends the code just recorded (`record`) to `phone`; a code the pipeline refuses is invalidated at
/// once and the user told why.
async fn send_code(
    verifier: &Verifier,
    user_id: &str,
    (phone, code): (&str, String),
    record: &codes::CodeRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Started, VerificationError> {
    let db = &verifier.db;
    let sent = verifier
        .outbox
        .enqueue(
            SendRequest::new(
                crate::outbox::Origin::Service,
                Target::User(user_id.to_owned()),
                Template::PhoneVerification { code },
                false,
            )
            .related("phone_verification", Some(record.id.to_string()))
            // A code is worth sending until it expires.
            .valid_until(record.expires_at),
        )
        .await
        .map_err(|e| match e {
            SendError::Db(db) => VerificationError::Db(db),
            other => VerificationError::Internal(other.to_string()),
        })?;
    if sent.status == SmsStatus::Blocked {
        // Nothing was sent: the code must not stay usable, and the user must know why.
        codes::invalidate(db, record.id, now).await?;
        verifier.count(
            phone,
            sent.blocked_reason.map_or("refused", BlockedReason::as_str),
        );
        return Err(not_sendable(sent.blocked_reason, phone));
    }
    feedback::expect_for(db, record.id, sent.id, record.expires_at).await?;
    tracing::info!(phone = phone::mask(phone), "verification code sent");
    verifier.count(phone, "sent");
    let cooldown =
        Duration::from_std(verifier.limits.resend_cooldown).unwrap_or(Duration::seconds(60));
    Ok(Started {
        expires_at: record.expires_at,
        resend_available_at: now + cooldown,
        phone_masked: phone::mask(phone),
    })
}

/// Checks a code. A wrong code costs one try; the fifth wrong try kills the code. Success verifies the
/// number and, with the master switch on, records consent (method `phone_verification`).
#[tracing::instrument(skip(verifier, code))]
async fn confirm(
    verifier: &Verifier,
    user_id: &str,
    code: &str,
    client_ip: Option<String>,
) -> Result<recipients::Profile, VerificationError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerificationError::Malformed);
    }
    let db = &verifier.db;
    let now = verifier.clock.now();
    let profile = recipients::ensure(db, user_id, now).await?;
    let pending = codes::open(db, user_id)
        .await?
        .filter(|p| Some(&p.phone_e164) == profile.recipient.phone_e164.as_ref())
        .ok_or(VerificationError::NoPendingCode)?;
    if pending.expires_at <= now {
        return Err(VerificationError::Expired);
    }
    // Take a try before checking, so concurrent guesses can never exceed the limit.
    let Some(tries_used) = codes::take_try(db, pending.id, MAX_ATTEMPTS).await? else {
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
    // Replaced or used by a concurrent request in the meantime, or the number changed.
    if !codes::consume(&txn, pending.id, now).await?
        || !recipient_rows::mark_verified(&txn, user_id, &pending.phone_e164, now).await?
    {
        return Err(VerificationError::NoPendingCode);
    }
    crate::store::feedback::received(&txn, pending.id, now).await?;
    let event = crate::webhooks::event::Event::VerificationSucceeded {
        user_id,
        phone: &pending.phone_e164,
    };
    crate::webhooks::event::emit(&txn, &[event], now).await?;
    let profile = recipients::load(&txn, user_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("recipient {user_id}")))?;
    let profile = if profile.recipient.allow_sms {
        crate::consent::give(
            &txn,
            profile,
            &ConsentSource::plain(ConsentMethod::PhoneVerification, client_ip),
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
    verifier.count(&pending.phone_e164, "confirmed");
    Ok(profile)
}
