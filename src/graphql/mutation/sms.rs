use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::sms::{
            AchievementUnlockedInput, BattleInvitationInput, BattleReminderInput,
            BattleResultInput, DirectMessageInput, MessageType, SecurityAlertInput, SendSmsInput,
            SmsLog, StreakAlertInput,
        },
    },
    locale::phone,
    outbox::{
        Origin, Outbox, SendError, SendRequest, Target, Validity,
        accept::is_settled,
        catalogue::{Template, is_transactional},
    },
    recipients::Recipients,
};

/// How far ahead a message may be scheduled (`sendAt`).
const MAX_SCHEDULE_DAYS: i64 = 35;

/// The range of `validForSeconds`: a minute to AWS's longest time to live, 72 hours.
const VALID_FOR_SECONDS: std::ops::RangeInclusive<i32> = 60..=259_200;

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

fn user(id: &ID, field: &str) -> ApiResult<Target> {
    let id = id.trim();
    if id.is_empty() {
        return Err(ApiError::bad_input(format!("{field} must not be empty.")));
    }
    Ok(Target::User(id.to_owned()))
}

/// What every send mutation shares: authorisation, the idempotency key, and `sendAsync: false` waiting
/// for the outcome.
async fn send(
    ctx: &Context<'_>,
    operation: &str,
    mut request: SendRequest,
    send_async: bool,
    (idempotency_key, send_at): (Option<String>, Option<chrono::DateTime<chrono::Utc>>),
) -> ApiResult<SmsLog> {
    let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
    let outbox = handle::<Outbox>(ctx)?;
    if let Some(at) = send_at {
        let now = outbox.now();
        if at <= now {
            return Err(ApiError::bad_input(
                "sendAt is not in the future: leave it out to send now.",
            ));
        }
        if at > now + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
            return Err(ApiError::bad_input(format!(
                "sendAt is more than {MAX_SCHEDULE_DAYS} days ahead; schedule it nearer the time."
            )));
        }
        request.send_at = Some(at);
    }
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

#[derive(Default)]
pub struct SmsMutation;

/// Sends, for the app's back end (role service) and admins. Each returns the `SmsLog` row: `PENDING`
/// when queued, `BLOCKED` with `blockedReason` when policy refused it (nothing is sent), or with
/// `sendAsync: false` the outcome of the first attempt. Invalid input is `BAD_USER_INPUT` and writes
/// nothing.
#[Object]
impl SmsMutation {
    /// A free text to a user or a number.
    async fn send_sms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The text, its recipient and how to send it.")] input: SendSmsInput,
    ) -> ApiResult<SmsLog> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        let target = match (&input.to, &input.user_id) {
            (Some(to), None) => Target::Phone(
                phone::normalize(to, handle::<Recipients>(ctx)?.default_region())
                    .map_err(SendError::from)?,
            ),
            (None, Some(id)) => user(id, "userId")?,
            _ => {
                return Err(ApiError::bad_input(
                    "Give exactly one of `to` (a phone number) and `userId`.",
                ));
            }
        };
        match input.message_type {
            MessageType::PhoneVerification => {
                return Err(ApiError::bad_input(
                    "Verification codes are sent by startPhoneVerification, not sendSms.",
                ));
            }
            MessageType::SecurityAlert => {
                return Err(ApiError::bad_input(
                    "Security alerts are written by the service, not as free text: use sendSecurityAlert.",
                ));
            }
            _ => {}
        }
        let message_type = input.message_type.into();
        let related = match (input.related_object_type, input.related_object_id) {
            (Some(kind), Some(id)) => Some((kind, id.0)),
            (None, None) => None,
            _ => {
                return Err(ApiError::bad_input(
                    "Give both relatedObjectType and relatedObjectId, or neither.",
                ));
            }
        };
        let template = Template::Text {
            message_type,
            body: input.body,
        };
        let mut request = SendRequest::new(
            Origin::Api,
            target,
            template,
            input.promotional && !is_transactional(message_type),
        );
        request.related = related;
        request.shorten_links = input.shorten_links;
        if let Some(seconds) = input.valid_for_seconds {
            if !VALID_FOR_SECONDS.contains(&seconds) {
                return Err(ApiError::bad_input(
                    "validForSeconds must be from 60 (a minute) to 259200 (72 hours, the longest AWS keeps trying a text).",
                ));
            }
            // It counts from when the text goes, so a scheduled send carries it along.
            request.validity = Validity::For(chrono::Duration::seconds(i64::from(seconds)));
        }
        send(
            ctx,
            "sendSms",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// A friend challenged someone. To a number that belongs to no user, it is sent only when the
    /// inviter's own phone is verified, the number is not opted out, and it got no invitation in the last
    /// 24 hours.
    async fn send_battle_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who invites whom to what.")] input: BattleInvitationInput,
    ) -> ApiResult<SmsLog> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        let target = match (&input.to_phone, &input.to_user_id) {
            (Some(to), None) => Target::Phone(
                phone::normalize(to, handle::<Recipients>(ctx)?.default_region())
                    .map_err(SendError::from)?,
            ),
            (None, Some(id)) => user(id, "toUserId")?,
            _ => {
                return Err(ApiError::bad_input(
                    "Give exactly one of `toPhone` and `toUserId`.",
                ));
            }
        };
        let template = Template::BattleInvitation {
            inviter: input.inviter_name,
            topic: input.battle_topic,
            link: input.invitation_link,
        };
        let mut request = SendRequest::new(Origin::Api, target, template, true)
            .related("battle_invitation", input.invitation_id.map(|id| id.0));
        request.inviter_user_id = Some(input.inviter_user_id.0);
        send(
            ctx,
            "sendBattleInvitation",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// A battle was judged.
    async fn send_battle_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose battle ended, and how.")] input: BattleResultInput,
    ) -> ApiResult<SmsLog> {
        let template = Template::BattleResult {
            topic: input.battle_topic,
            summary: input.result_summary,
            link: input.result_link,
        };
        let request =
            SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
                .related("battle", input.battle_id.map(|id| id.0));
        send(
            ctx,
            "sendBattleResult",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// A battle deadline is near.
    async fn send_battle_reminder(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose deadline is near.")] input: BattleReminderInput,
    ) -> ApiResult<SmsLog> {
        let template = Template::BattleReminder {
            topic: input.battle_topic,
            time_remaining: input.time_remaining,
            link: input.battle_link,
        };
        let mut request =
            SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
                .related("battle", input.battle_id.map(|id| id.0));
        if let Some(deadline) = input.deadline_at {
            if deadline <= handle::<Outbox>(ctx)?.now() {
                return Err(ApiError::bad_input(
                    "deadlineAt has passed: a reminder for it would never be sent.",
                ));
            }
            request = request.valid_until(deadline);
        }
        send(
            ctx,
            "sendBattleReminder",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// A streak is about to end.
    async fn send_streak_alert(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose streak is about to end.")] input: StreakAlertInput,
    ) -> ApiResult<SmsLog> {
        let days = u32::try_from(input.streak_count)
            .ok()
            .filter(|d| *d >= 1)
            .ok_or_else(|| ApiError::bad_input("streakCount must be at least 1."))?;
        let template = Template::StreakAlert {
            days,
            link: input.action_link,
        };
        let request =
            SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true);
        send(
            ctx,
            "sendStreakAlert",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// Someone wrote to a user who is offline. The text of the message is never sent.
    async fn send_direct_message_notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who wrote to whom (never the text itself).")] input: DirectMessageInput,
    ) -> ApiResult<SmsLog> {
        let template = Template::DirectMessage {
            sender: input.sender_name,
            link: input.link,
        };
        let request =
            SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
                .related("direct_message", input.message_id.map(|id| id.0));
        send(
            ctx,
            "sendDirectMessageNotification",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// A user unlocked an achievement.
    async fn send_achievement_unlocked(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who unlocked what.")] input: AchievementUnlockedInput,
    ) -> ApiResult<SmsLog> {
        let template = Template::AchievementUnlocked {
            name: input.achievement_name,
            link: input.link,
        };
        let request =
            SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
                .related("achievement", input.achievement_id.map(|id| id.0));
        send(
            ctx,
            "sendAchievementUnlocked",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }

    /// Something happened to a user's account. Transactional: it skips the master switch and
    /// categories, but goes only to a verified number that has not opted out.
    async fn send_security_alert(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose account, and where to look.")] input: SecurityAlertInput,
    ) -> ApiResult<SmsLog> {
        let template = Template::SecurityAlert {
            what: input.what,
            link: input.link,
        };
        let request = SendRequest::new(
            Origin::Api,
            user(&input.user_id, "userId")?,
            template,
            false,
        );
        send(
            ctx,
            "sendSecurityAlert",
            request,
            input.send_async,
            (input.idempotency_key, input.send_at),
        )
        .await
    }
}
