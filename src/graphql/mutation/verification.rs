use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{handle, request, require_role, types::recipient::Recipient},
    outbox::Outbox,
    store::countries::CountrySwitch,
    verification::{RangeState, VerificationError, Verifier},
};

impl From<VerificationError> for ApiError {
    fn from(e: VerificationError) -> Self {
        match e {
            VerificationError::RateLimited {
                message,
                retry_after,
            } => ApiError::RateLimited {
                message,
                retry_after_seconds: retry_after.num_seconds().max(1) as u64,
            },
            VerificationError::Blocked(message) => ApiError::VerificationBlocked(message),
            VerificationError::Db(db) => db.into(),
            VerificationError::Internal(why) => ApiError::internal(anyhow::anyhow!(why)),
            other => ApiError::BadUserInput(other.to_string()),
        }
    }
}

/// A code on its way.
#[derive(SimpleObject)]
pub struct PhoneVerification {
    /// The code stops working at this moment (10 minutes after it was made).
    pub expires_at: DateTime<Utc>,
    /// The earliest moment another code can be asked for.
    pub resend_available_at: DateTime<Utc>,
    /// The number the code went to, masked (`+1******1234`).
    pub phone_number_masked: String,
}

#[derive(Default)]
pub struct VerificationMutation;

#[Object]
impl VerificationMutation {
    /// Texts a 6-digit code to the signed-in user's number. A new code replaces the previous one. Limits:
    /// one code a minute, 5 an hour per number, 10 a day per user, 20 an hour per network (each answered
    /// with `RATE_LIMITED` and `retryAfterSeconds`). `VERIFICATION_BLOCKED` when the fraud guard holds
    /// the number's range, codes to its country are switched off, or codes reached the day's ceiling.
    async fn start_phone_verification(&self, ctx: &Context<'_>) -> ApiResult<PhoneVerification> {
        let viewer = require_role(ctx, &[Role::User])?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let started = handle::<Verifier>(ctx)?.start(&viewer.user_id, ip).await?;
        Ok(PhoneVerification {
            expires_at: started.expires_at,
            resend_available_at: started.resend_available_at,
            phone_number_masked: started.phone_masked,
        })
    }

    /// Confirms the code from the text. A wrong code costs one of 5 tries. Success marks the number
    /// verified (and records consent when the master switch is on).
    async fn confirm_phone_verification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 6-digit code from the text.")] code: String,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let profile = handle::<Verifier>(ctx)?
            .confirm(&viewer.user_id, &code, ip)
            .await?;
        Ok(Recipient(profile))
    }

    /// Switches codes (`verification`) or every other text (`messages`) to a country off or on
    /// (admin); an argument left out keeps its value. Holds on every instance at once, without a
    /// restart; `SMS_ALLOWED_COUNTRIES` stays the ceiling, so only its countries can be switched. Each
    /// change is kept with who made it.
    async fn set_country_sending(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An ISO 3166 country code of SMS_ALLOWED_COUNTRIES (US, CA, ...).")]
        country: String,
        #[graphql(desc = "Whether verification codes may go to the country; omitted keeps it.")]
        verification: Option<bool>,
        #[graphql(desc = "Whether every other text may go to the country; omitted keeps it.")]
        messages: Option<bool>,
    ) -> ApiResult<CountrySending> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let outbox = handle::<Outbox>(ctx)?;
        let code = allowed_country(outbox, &country)?;
        let switch = outbox
            .set_country_sending(&code, (verification, messages), &viewer.user_id)
            .await?;
        Ok(switch.into())
    }

    /// Lifts the verification fraud guard for a range of numbers (admin), e.g. `+1212555` (the
    /// country code and the leading digits of an operator's block, as `verificationRange` and the
    /// logs name it): the codes sent there so far no longer count.
    async fn lift_verification_guard(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The held range, as verificationGuard lists it (+1212555).")]
        range: String,
    ) -> ApiResult<VerificationRange> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let range = valid_range(&range)?;
        let state = handle::<Verifier>(ctx)?
            .lift_guard(&range, &viewer.user_id)
            .await?;
        Ok(VerificationRange::new(range, state))
    }
}

/// `country` as an ISO code of `SMS_ALLOWED_COUNTRIES`, or why not.
pub(crate) fn allowed_country(outbox: &Outbox, country: &str) -> ApiResult<String> {
    let code = country.trim().to_ascii_uppercase();
    if outbox
        .allowed_countries()
        .iter()
        .any(|c| c.as_ref() == code)
    {
        Ok(code)
    } else {
        Err(ApiError::bad_input(format!(
            "{country} is not one of the countries texts may go to (SMS_ALLOWED_COUNTRIES: {}); give one of them as an ISO code such as US.",
            outbox
                .allowed_countries()
                .iter()
                .map(|c| c.as_ref())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// A range as the guard names it: `+`, the country code and leading digits.
pub(crate) fn valid_range(range: &str) -> ApiResult<String> {
    let range = range.trim();
    let digits = range.strip_prefix('+').unwrap_or_default();
    if (2..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(range.to_owned())
    } else {
        Err(ApiError::bad_input(
            "A range is + and 2 to 9 digits: the country code and the leading digits of the numbers, e.g. +1212555.",
        ))
    }
}

/// Codes to a country: on or off.
#[derive(SimpleObject)]
pub struct CountrySending {
    /// ISO 3166 code, e.g. `US`.
    pub country: String,
    /// Verification codes may go there.
    pub verification: bool,
    /// Every other text may go there.
    pub messages: bool,
    /// When it was last changed; null if never.
    pub updated_at: Option<DateTime<Utc>>,
    /// Who changed it last (the admin token's subject); null if never.
    pub updated_by: Option<String>,
}

impl From<CountrySwitch> for CountrySending {
    fn from(s: CountrySwitch) -> Self {
        Self {
            country: s.country,
            verification: s.verification,
            messages: s.messages,
            updated_at: Some(s.updated_at),
            updated_by: Some(s.updated_by),
        }
    }
}

/// What the fraud guard knows of a range of numbers.
#[derive(SimpleObject)]
pub struct VerificationRange {
    /// `+`, the country code and the leading digits: for +1 the area code and exchange.
    pub range: String,
    /// Codes sent there in the guard's window (`VERIFY_GUARD_WINDOW`), since the last lift.
    pub sent: i64,
    /// Of those, the ones entered.
    pub confirmed: i64,
    /// confirmed / sent (1 when none were sent).
    pub conversion: f64,
    /// Whether new codes there are refused now (`VERIFICATION_BLOCKED`).
    pub held: bool,
}

impl VerificationRange {
    pub fn new(range: String, state: RangeState) -> Self {
        Self {
            range,
            sent: state.sent,
            confirmed: state.confirmed,
            conversion: if state.sent == 0 {
                1.0
            } else {
                state.confirmed as f64 / state.sent as f64
            },
            held: state.held,
        }
    }
}
