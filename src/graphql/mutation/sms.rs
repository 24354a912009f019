use async_graphql::{Context, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::bulk::{BattleResultsInput, SendAnswer},
        types::sms::{
            AchievementUnlockedInput, BattleInvitationInput, BattleReminderInput,
            BattleResultInput, DirectMessageInput, SecurityAlertInput, SendSmsInput, SmsLog,
            StreakAlertInput,
        },
    },
    outbox::{Outbox, SendError, SendRequest, accept::is_settled},
};

use super::asks::{self, Ask};

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Db(db) => db.into(),
            SendError::Internal(cause) => ApiError::internal(anyhow::anyhow!(cause)),
            SendError::Conflict(why) => ApiError::Conflict(why),
            SendError::Unavailable => ApiError::unavailable(),
            other => ApiError::BadUserInput(other.to_string()),
        }
    }
}

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The request of an ask made ready to send: its moment, whether it may wait for a digest, and its
/// idempotency key scoped to the caller and the mutation.
fn prepare(
    outbox: &Outbox,
    viewer: &crate::auth::Viewer,
    ask: Ask,
) -> ApiResult<(&'static str, SendRequest, bool)> {
    let Ask {
        operation,
        mut request,
        send_async,
        idempotency_key,
        send_at,
    } = ask;
    request.send_at = asks::scheduled(send_at, outbox.now())?;
    request.hold_for_digest = send_async;
    if let Some(key) = idempotency_key {
        let key = key.trim();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(ApiError::bad_input(format!(
                "idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters."
            )));
        }
        // Scoped to the caller and the mutation: another caller's key, or the same key on another
        // mutation, is another message.
        let caller = format!("{}:{}", viewer.role.as_str(), viewer.user_id);
        request.dedupe_key = Some(format!("api:{caller}:{operation}:{key}"));
    }
    Ok((operation, request, send_async))
}

/// What every send mutation shares: authorisation, the idempotency key, and `sendAsync: false` waiting
/// for the outcome.
async fn send(ctx: &Context<'_>, ask: Ask) -> ApiResult<SmsLog> {
    let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
    let outbox = handle::<Outbox>(ctx)?;
    let (operation, request, send_async) = prepare(outbox, viewer, ask)?;
    let row = outbox.enqueue(request).await?;
    let detail = format!(
        "{} {}",
        row.message_type_label(),
        sea_orm::ActiveEnum::to_value(&row.status)
    );
    super::super::audit_admin(ctx, viewer, (operation, &row.id.to_string()), Some(detail)).await?;
    if send_async || is_settled(row.status) {
        return Ok(SmsLog(row));
    }
    Ok(SmsLog(outbox.wait_for_outcome(row.id).await?))
}

/// Most participants one `sendBattleResults` takes.
const MAX_RESULTS: usize = 100;

/// `sendBattleResults`: every participant's result decided and written in one batch, each answered in
/// its place.
async fn send_results(ctx: &Context<'_>, input: BattleResultsInput) -> ApiResult<Vec<SendAnswer>> {
    let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
    let outbox = handle::<Outbox>(ctx)?;
    let n = input.results.len();
    if n == 0 || n > MAX_RESULTS {
        return Err(ApiError::bad_input(format!(
            "results: 1 to {MAX_RESULTS} participants per battle (this one has {n})."
        )));
    }
    let (mut answers, mut requests, mut slots) = (Vec::with_capacity(n), Vec::new(), Vec::new());
    for (index, result) in input.results.into_iter().enumerate() {
        let user_id = result.user_id.clone();
        let single = BattleResultInput {
            user_id: result.user_id,
            battle_topic: input.battle_topic.clone(),
            result_summary: result.result_summary,
            result_link: input.result_link.clone(),
            battle_id: Some(input.battle_id.clone()),
            send_async: true,
            idempotency_key: result.idempotency_key,
            send_at: input.send_at,
        };
        let error = match asks::battle_result(single).and_then(|a| prepare(outbox, viewer, a)) {
            Ok((_, request, _)) => {
                slots.push(index);
                requests.push(request);
                None
            }
            Err(e) => Some(e.into()),
        };
        answers.push(SendAnswer {
            index: index as i32,
            user_id,
            message: None,
            error,
        });
    }
    for (slot, result) in slots.into_iter().zip(outbox.enqueue_many(requests).await?) {
        match result {
            Ok(enqueued) => answers[slot].message = Some(SmsLog(enqueued.row)),
            Err(e) => answers[slot].error = Some(ApiError::from(e).into()),
        }
    }
    let detail = Some(format!("{n} results"));
    let battle = input.battle_id.0;
    super::super::audit_admin(ctx, viewer, ("sendBattleResults", &battle), detail).await?;
    Ok(answers)
}

#[derive(Default)]
pub struct SmsMutation;

/// Sends, for the app's back end (role service) and admins. Each returns the `SmsLog` row: `PENDING`
/// when queued, `BLOCKED` with `blockedReason` when policy refused it (nothing is sent), or with
/// `sendAsync: false` the outcome of the first attempt. Invalid input is `BAD_USER_INPUT` and writes
/// nothing. `previewSms` and `previewTemplate` tell what a send would do and cost, writing nothing.
#[Object]
impl SmsMutation {
    /// A free text to a user or a number.
    async fn send_sms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The text, its recipient and how to send it.")] input: SendSmsInput,
    ) -> ApiResult<SmsLog> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        send(ctx, asks::text(ctx, input)?).await
    }

    /// A friend challenged someone. To a number that belongs to no user, it is sent only when the
    /// inviter's own phone is verified, the number is not opted out, and it got no invitation in the last
    /// 24 hours. Invitations to one person within `SMS_DIGEST_WINDOW` go as one text (a digest).
    async fn send_battle_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who invites whom to what.")] input: BattleInvitationInput,
    ) -> ApiResult<SmsLog> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        send(ctx, asks::battle_invitation(ctx, input)?).await
    }

    /// A battle was judged. Results to one person within `SMS_DIGEST_WINDOW` go as one text.
    async fn send_battle_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose battle ended, and how.")] input: BattleResultInput,
    ) -> ApiResult<SmsLog> {
        send(ctx, asks::battle_result(input)?).await
    }

    /// A battle was judged: every participant's result in one call (1 to 100), each with its own
    /// answer in its place (the message, or the error that refused that participant alone) and its
    /// own idempotency key. Results to one person within `SMS_DIGEST_WINDOW` go as one text.
    async fn send_battle_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The battle and each participant's result.")] input: BattleResultsInput,
    ) -> ApiResult<Vec<SendAnswer>> {
        send_results(ctx, input).await
    }

    /// A battle deadline is near.
    async fn send_battle_reminder(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose deadline is near.")] input: BattleReminderInput,
    ) -> ApiResult<SmsLog> {
        send(ctx, asks::battle_reminder(ctx, input)?).await
    }

    /// A streak is about to end.
    async fn send_streak_alert(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose streak is about to end.")] input: StreakAlertInput,
    ) -> ApiResult<SmsLog> {
        send(ctx, asks::streak_alert(input)?).await
    }

    /// Someone wrote to a user who is offline. The text of the message is never sent.
    async fn send_direct_message_notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who wrote to whom (never the text itself).")] input: DirectMessageInput,
    ) -> ApiResult<SmsLog> {
        send(ctx, asks::direct_message(input)?).await
    }

    /// A user unlocked an achievement.
    async fn send_achievement_unlocked(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who unlocked what.")] input: AchievementUnlockedInput,
    ) -> ApiResult<SmsLog> {
        send(ctx, asks::achievement_unlocked(input)?).await
    }

    /// Something happened to a user's account. Transactional: it skips the master switch and
    /// categories, but goes only to a verified number that has not opted out.
    async fn send_security_alert(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose account, and where to look.")] input: SecurityAlertInput,
    ) -> ApiResult<SmsLog> {
        send(ctx, asks::security_alert(input)?).await
    }
}
