use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::privacy::{ConsentDisclosure, Erasure},
    },
    privacy::Privacy,
    recipients::{DisclosureError, Recipients},
};

impl From<DisclosureError> for ApiError {
    fn from(e: DisclosureError) -> Self {
        match e {
            DisclosureError::Conflict(_) => ApiError::Conflict(e.to_string()),
            DisclosureError::Db(db) => db.into(),
        }
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Erases a person (admin or service): their profile, preferences, verification codes, streak and
    /// battle participation go, and their messages still waiting are cancelled. Their messages stay for
    /// accounting (type, status, cost, country, times) without text, number or user id; their consent
    /// events stay for CONSENT_RETENTION as legal proof, the number replaced by a keyed hash and its
    /// last four digits, closed by an ERASED event. The opt-out list keeps their number if it was
    /// there. Recorded in adminActions. NOT_FOUND when the service holds no profile of theirs.
    async fn delete_recipient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app's user id of the person to erase (1 to 128 characters).")]
        user_id: ID,
    ) -> ApiResult<Erasure> {
        let viewer = require_role(ctx, &[Role::Admin, Role::Service])?;
        let user_id = user_id.0.trim();
        if user_id.is_empty() || user_id.len() > 128 {
            return Err(ApiError::bad_input(
                "userId must be the app's user id: 1 to 128 characters.",
            ));
        }
        let erased = handle::<Privacy>(ctx)?
            .erase(user_id, &viewer.user_id, "api")
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "The service holds no profile of user '{user_id}': nothing to erase (erased already, or never seen)."
                ))
            })?;
        Ok(Erasure {
            user_id: user_id.to_owned(),
            erased,
        })
    }

    /// Publishes the text people are shown when they opt in to texts, under `version` (admin). A
    /// published version is kept forever and never changes: publishing it again with the same text
    /// answers the stored one; with another text is refused (CONFLICT). Opt-ins name the version
    /// (smsOptIn's disclosureVersion), and their consent events keep it with the text's SHA-256.
    async fn publish_consent_disclosure(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "1 to 64 characters: letters, digits, '.', '-' or '_' (e.g. 2026-11).")]
        version: String,
        #[graphql(desc = "The disclosure as shown, 1 to 4,000 characters.")] text: String,
    ) -> ApiResult<ConsentDisclosure> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let version = version.trim();
        if version.is_empty()
            || version.len() > 64
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(ApiError::bad_input(
                "version must be 1 to 64 letters, digits, '.', '-' or '_', such as 2026-11.",
            ));
        }
        let length = text.trim().chars().count();
        if length == 0 || length > 4_000 {
            return Err(ApiError::bad_input(format!(
                "text must be the disclosure as shown, 1 to 4,000 characters (this one has {length})."
            )));
        }
        let stored = handle::<Recipients>(ctx)?
            .publish_disclosure(version, &text, &viewer.user_id)
            .await?;
        Ok(ConsentDisclosure(stored))
    }
}
