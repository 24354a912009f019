use async_graphql::{Context, Object};

use crate::{
    auth::Role,
    error::ApiResult,
    graphql::{
        handle,
        mutation::verification::{CountrySending, VerificationRange, valid_range},
        require_role,
    },
    outbox::Outbox,
    verification::Verifier,
};

#[derive(Default)]
pub struct GuardQuery;

#[Object]
impl GuardQuery {
    /// Every country of `SMS_ALLOWED_COUNTRIES` with its switches (admin): whether codes and other
    /// texts may go there now (`setCountrySending` changes them).
    async fn country_sending(&self, ctx: &Context<'_>) -> ApiResult<Vec<CountrySending>> {
        require_role(ctx, &[Role::Admin])?;
        let switches = handle::<Outbox>(ctx)?.country_sending().await?;
        Ok(switches
            .into_iter()
            .map(|s| {
                let never = s.updated_by.is_empty();
                let mut out = CountrySending::from(s);
                if never {
                    out.updated_at = None;
                    out.updated_by = None;
                }
                out
            })
            .collect())
    }

    /// What the verification fraud guard knows of a range of numbers now (admin): codes sent and
    /// entered in its window, and whether it holds. `range` is `+`, the country code and the leading
    /// digits (for +1 the area code and exchange, `+1212555`; elsewhere three digits, `+44770`).
    async fn verification_range(
        &self,
        ctx: &Context<'_>,
        range: String,
    ) -> ApiResult<VerificationRange> {
        require_role(ctx, &[Role::Admin])?;
        let range = valid_range(&range)?;
        let verifier = handle::<Verifier>(ctx)?;
        let state = verifier
            .range_state(&range, handle::<Outbox>(ctx)?.now())
            .await?;
        Ok(VerificationRange::new(range, state))
    }
}
