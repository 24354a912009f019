use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{handle, request, require_role, types::recipient::Recipient},
    verification::{VerificationError, Verifier},
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
    /// with `RATE_LIMITED` and `retryAfterSeconds`).
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
        code: String,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let profile = handle::<Verifier>(ctx)?
            .confirm(&viewer.user_id, &code, ip)
            .await?;
        Ok(Recipient(profile))
    }
}
