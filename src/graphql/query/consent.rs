use async_graphql::{
    Context, ID, Object,
    connection::{Connection, OpaqueCursor},
};
use chrono::{DateTime, Utc};

use super::sms::{connection, page};
use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::types::privacy::{ConsentDisclosure, RetentionStatus},
    graphql::{handle, require_role, types::recipient::ConsentMethod},
    inbound::Inbound,
    locale::phone,
    privacy::Privacy,
    recipients::Recipients,
};

#[derive(Default)]
pub struct ConsentQuery;

/// Whether consent was given or revoked.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConsentAction {
    /// Consent was given (the modal, the settings page, a verified number with texts on, START).
    Given,
    /// Consent was revoked (the settings page, STOP).
    Revoked,
    /// The person was erased: the events before keep the number only as its keyed hash.
    Erased,
}

/// One consent given or revoked: the record a business keeps for the TCPA.
pub struct ConsentEvent(pub crate::store::consent::ConsentEvent);

/// One consent given or revoked: the record a business keeps for the TCPA.
#[Object]
impl ConsentEvent {
    /// The record's id (increasing).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Whose consent it is.
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    /// Given, revoked, or closed by an erasure.
    async fn action(&self) -> ConsentAction {
        match self.0.action {
            crate::store::consent::ConsentAction::Given => ConsentAction::Given,
            crate::store::consent::ConsentAction::Revoked => ConsentAction::Revoked,
            crate::store::consent::ConsentAction::Erased => ConsentAction::Erased,
        }
    }

    /// How consent was given, or where it was revoked.
    async fn method(&self) -> ConsentMethod {
        self.0.method.into()
    }

    /// The number the consent covered, E.164; null after the person was erased (see phoneLast4).
    async fn phone_number(&self) -> Option<&str> {
        self.0.phone_e164.as_deref()
    }

    /// After an erasure, the last four digits of the number the consent covered. Searching by
    /// `phone` still finds these events (by the number's keyed hash).
    async fn phone_last4(&self) -> Option<&str> {
        self.0.phone_last4.as_deref()
    }

    /// The version of the consent disclosure the person was shown.
    async fn disclosure_version(&self) -> Option<&str> {
        self.0.disclosure_version.as_deref()
    }

    /// SHA-256 of that disclosure's text, lowercase hex.
    async fn disclosure_sha256(&self) -> Option<&str> {
        self.0.disclosure_sha256.as_deref()
    }

    /// The browser's User-Agent when consent was given in the app.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// The page of the app consent was given on, as the app named it.
    async fn page(&self) -> Option<&str> {
        self.0.page.as_deref()
    }

    /// The client's address when it was given in the app.
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }

    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// When the record was imported from the app's earlier system (`sms-notify import`); null for a
    /// consent recorded here. `occurredAt` is then the earlier system's time.
    async fn imported_at(&self) -> Option<DateTime<Utc>> {
        self.0.imported_at
    }
}

/// Where a number's opt-out came from.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OptOutSource {
    /// The person texted STOP (or another opt-out keyword) to the service's number.
    Keyword,
    /// AWS reported the number as opted out when a send was tried.
    Provider,
    /// An operator put it on the list.
    Admin,
    /// The old app's list, brought in by `sms-notify import`.
    Imported,
}

/// A number on the opt-out list: no text goes to it until the person texts START.
pub struct SmsOptOut(pub crate::store::opt_outs::OptOut);

/// A number on the opt-out list: no text goes to it until the person texts START.
#[Object]
impl SmsOptOut {
    /// E.164.
    async fn phone_number(&self) -> &str {
        &self.0.phone_e164
    }

    /// How it got on the list.
    async fn source(&self) -> OptOutSource {
        use crate::store::opt_outs::OptOutSource as Stored;
        match self.0.source {
            Stored::Keyword => OptOutSource::Keyword,
            Stored::Provider => OptOutSource::Provider,
            Stored::Admin => OptOutSource::Admin,
            Stored::Imported => OptOutSource::Imported,
        }
    }

    /// Since when.
    async fn opted_out_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[Object]
impl ConsentQuery {
    /// A published consent disclosure (any signed-in role): the one of `version`, or without it the
    /// latest, to show in the opt-in modal and name in smsOptIn. Null when none is published.
    async fn consent_disclosure(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The version to read; without it, the latest published.")] version: Option<
            String,
        >,
    ) -> ApiResult<Option<ConsentDisclosure>> {
        require_role(ctx, &[Role::User, Role::Service, Role::Admin])?;
        let found = handle::<Recipients>(ctx)?
            .disclosure(version.as_deref().map(str::trim))
            .await?;
        Ok(found.map(ConsentDisclosure))
    }

    /// What is kept and for how long, and the retention purge's last run (admin).
    async fn retention_status(&self, ctx: &Context<'_>) -> ApiResult<RetentionStatus> {
        require_role(ctx, &[Role::Admin])?;
        let privacy = handle::<Privacy>(ctx)?;
        let periods = privacy.periods();
        let days = |d: std::time::Duration| d.as_secs_f64() / 86_400.0;
        Ok(RetentionStatus {
            body_retention_days: days(periods.body),
            consent_retention_days: days(periods.consent),
            webhook_dedup_retention_days: days(periods.sns_dedup),
            scan_run_retention_days: days(periods.scan_runs),
            schedule: privacy.schedule().map(str::to_owned),
            last_run: privacy.last_run().await?.map(Into::into),
        })
    }

    /// Whether a number (any usual writing) is on the opt-out list (admin): null when it is not.
    async fn sms_opt_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The number, in any usual writing.")] phone: String,
    ) -> ApiResult<Option<SmsOptOut>> {
        require_role(ctx, &[Role::Admin])?;
        let region = handle::<Recipients>(ctx)?.default_region();
        let phone =
            phone::normalize(&phone, region).map_err(|e| ApiError::bad_input(e.to_string()))?;
        let row = handle::<Inbound>(ctx)?.opt_out(&phone).await?;
        Ok(row.map(SmsOptOut))
    }

    /// Consent given and revoked (admin), newest first, as a cursor connection: narrowed to a user, a
    /// number (any usual writing; an erased person's events are found by its keyed hash) and a time range (`from` inclusive, `to` exclusive). The same
    /// records export as CSV at `GET /admin/consent.csv?from=YYYY-MM-DD&to=YYYY-MM-DD`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::super::page_items(first) * child_complexity")]
    async fn consent_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this user's records.")] user_id: Option<ID>,
        #[graphql(
            desc = "Only records of this number (any usual writing), erased people's included."
        )]
        phone: Option<String>,
        #[graphql(desc = "Only records at or after this moment.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Only records before this moment; must be after `from`.")] to: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "How many records to return: 1 to 100, default 20.")] first: Option<i32>,
        #[graphql(desc = "The endCursor of the previous page, to read the next (older) one.")]
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, ConsentEvent>> {
        require_role(ctx, &[Role::Admin])?;
        let recipients = handle::<Recipients>(ctx)?;
        let (first, before_id) = page(first, after)?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ApiError::bad_input("`from` must be before `to`."));
        }
        let phone = match phone {
            Some(p) => {
                let e164 = phone::normalize(&p, recipients.default_region())
                    .map_err(|e| ApiError::bad_input(e.to_string()))?;
                let (hash, _) = handle::<Privacy>(ctx)?.pseudonym(&e164);
                Some((e164.into_string(), hash))
            }
            None => None,
        };
        let filter = crate::recipients::ConsentFilter {
            user_id: user_id.map(|id| id.0),
            phone,
            from,
            to,
        };
        let rows = recipients
            .consent_events(&filter, before_id, first as u64 + 1)
            .await?;
        Ok(connection(rows, first, before_id, |row| {
            (row.id, ConsentEvent(row))
        }))
    }
}
