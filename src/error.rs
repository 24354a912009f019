//! The one error policy of the API: every error a client sees carries `extensions.code` and a sentence
//! a person can act on. Internal failures are logged with their chain and reach the client as a generic
//! sentence.

use std::sync::Arc;

use async_graphql::ErrorExtensions;

/// An error a client sees. It is deliberately not `Display`: async-graphql turns any `Display` type into
/// an error without extensions, so only the conversion below can make a client error, and it always sets
/// `extensions.code`.
#[derive(Debug, Clone)]
pub enum ApiError {
    Unauthenticated(String),
    Forbidden(String),
    BadUserInput(String),
    NotFound(String),
    /// The request contradicts an earlier one (an idempotency key reused for another message).
    Conflict(String),
    RateLimited {
        message: String,
        retry_after_seconds: u64,
    },
    /// The SMS provider refused a change the service must make there too (AWS's opt-out list); nothing
    /// was changed on our side.
    ProviderRefused(String),
    /// A verification code refused before it was made: the fraud guard holds the number's range, codes
    /// to its country are switched off, or codes reached the day's ceiling.
    VerificationBlocked(String),
    /// The database cannot be reached, or is busy past a short wait: nothing was done; the client
    /// tries again after `retry_after_seconds`.
    Unavailable {
        message: String,
        retry_after_seconds: u64,
    },
    /// A failure on our side; the cause is logged, never sent.
    Internal(Arc<anyhow::Error>),
}

/// How long a client waits before trying again while the database is unavailable.
pub const UNAVAILABLE_RETRY_SECONDS: u64 = 2;

const INTERNAL_MESSAGE: &str =
    "Something went wrong on our side; the request was not completed. Try again shortly.";

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::VerificationBlocked(_) => "VERIFICATION_BLOCKED",
            Self::ProviderRefused(_) => "PROVIDER_REFUSED",
            Self::Unavailable { .. } => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The sentence the client reads.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::BadUserInput(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::VerificationBlocked(m)
            | Self::ProviderRefused(m)
            | Self::RateLimited { message: m, .. }
            | Self::Unavailable { message: m, .. } => m,
            Self::Internal(_) => INTERNAL_MESSAGE,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(Arc::new(error.into()))
    }

    /// The database is out of reach or busy: nothing was done, try again shortly.
    pub fn unavailable() -> Self {
        Self::Unavailable {
            message: format!(
                "The service cannot reach its database right now; nothing was done. Try again in {UNAVAILABLE_RETRY_SECONDS} seconds."
            ),
            retry_after_seconds: UNAVAILABLE_RETRY_SECONDS,
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::store::unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            return Self::unavailable();
        }
        Self::internal(anyhow::Error::new(error).context("database"))
    }
}

impl From<sea_orm::TransactionError<sea_orm::DbErr>> for ApiError {
    fn from(error: sea_orm::TransactionError<sea_orm::DbErr>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(e)
            | sea_orm::TransactionError::Transaction(e) => e.into(),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        if let ApiError::Internal(source) = &error {
            tracing::error!(error = format!("{source:#}"), "internal error");
        }
        let code = error.code();
        let retry_after = match &error {
            ApiError::RateLimited {
                retry_after_seconds,
                ..
            }
            | ApiError::Unavailable {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(seconds) = retry_after {
                ext.set("retryAfterSeconds", seconds);
            }
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(error: ApiError) -> (String, async_graphql::Value) {
        let gql: async_graphql::Error = error.into();
        let ext = gql
            .extensions
            .as_ref()
            .map(|e| async_graphql::to_value(e).expect("serialisable"))
            .expect("every ApiError sets extensions");
        (gql.message, ext)
    }

    #[test]
    fn every_variant_sets_its_code() {
        for (error, code) in [
            (ApiError::Unauthenticated("x".into()), "UNAUTHENTICATED"),
            (ApiError::Forbidden("x".into()), "FORBIDDEN"),
            (ApiError::BadUserInput("x".into()), "BAD_USER_INPUT"),
            (ApiError::NotFound("x".into()), "NOT_FOUND"),
            (ApiError::Conflict("x".into()), "CONFLICT"),
            (ApiError::internal(anyhow::anyhow!("boom")), "INTERNAL"),
        ] {
            let (_, ext) = extensions(error);
            assert_eq!(ext.to_string(), format!("{{code: \"{code}\"}}"));
        }
    }

    #[test]
    fn rate_limited_says_when_to_retry() {
        let (message, ext) = extensions(ApiError::RateLimited {
            message: "Too many codes.".into(),
            retry_after_seconds: 42,
        });
        assert_eq!(message, "Too many codes.");
        assert_eq!(
            ext.to_string(),
            "{code: \"RATE_LIMITED\", retryAfterSeconds: 42}"
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let (message, _) = extensions(ApiError::from(sea_orm::DbErr::Custom(
            "password=hunter2 connection refused".into(),
        )));
        assert!(!message.contains("hunter2"));
        assert!(message.contains("Try again"));
    }
}
