//! What each send mutation asks for, built from its input: the request and how to send it. The
//! mutations send it (`sms::send`); the previews (`previewSms`, `previewTemplate`) decide it without
//! writing anything.

use async_graphql::{Context, ID};
use chrono::{DateTime, Utc};

use crate::{
    error::{ApiError, ApiResult},
    graphql::{
        handle,
        types::sms::{
            AchievementUnlockedInput, BattleInvitationInput, BattleReminderInput,
            BattleResultInput, DirectMessageInput, MessageType, SecurityAlertInput, SendSmsInput,
            StreakAlertInput,
        },
    },
    locale::phone,
    outbox::{
        Origin, Outbox, SendError, SendRequest, Target, Validity,
        catalogue::{Template, is_transactional},
    },
    recipients::Recipients,
};

/// How far ahead a message may be scheduled (`sendAt`).
const MAX_SCHEDULE_DAYS: i64 = 35;

/// A `sendAt` checked against `now`: in the future, and at most 35 days ahead.
pub(crate) fn scheduled(
    send_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(at) = send_at else {
        return Ok(None);
    };
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
    Ok(Some(at))
}

/// The range of `validForSeconds`: a minute to AWS's longest time to live, 72 hours.
const VALID_FOR_SECONDS: std::ops::RangeInclusive<i32> = 60..=259_200;

/// A send as a mutation asks for it.
pub(crate) struct Ask {
    /// The mutation's name, which scopes its idempotency keys.
    pub operation: &'static str,
    pub request: SendRequest,
    pub send_async: bool,
    pub idempotency_key: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
}

impl Ask {
    fn new(
        operation: &'static str,
        request: SendRequest,
        send_async: bool,
        (idempotency_key, send_at): (Option<String>, Option<DateTime<Utc>>),
    ) -> Self {
        Self {
            operation,
            request,
            send_async,
            idempotency_key,
            send_at,
        }
    }
}

pub(super) fn user(id: &ID, field: &str) -> ApiResult<Target> {
    let id = id.trim();
    if id.is_empty() {
        return Err(ApiError::bad_input(format!("{field} must not be empty.")));
    }
    Ok(Target::User(id.to_owned()))
}

/// Exactly one of a number (`phone_field`) and a user (`user_field`).
fn one_target(
    ctx: &Context<'_>,
    (phone_value, user_value): (&Option<String>, &Option<ID>),
    (phone_field, user_field): (&str, &str),
) -> ApiResult<Target> {
    match (phone_value, user_value) {
        (Some(to), None) => Ok(Target::Phone(
            phone::normalize(to, handle::<Recipients>(ctx)?.default_region())
                .map_err(SendError::from)?,
        )),
        (None, Some(id)) => user(id, user_field),
        _ => Err(ApiError::bad_input(format!(
            "Give exactly one of `{phone_field}` (a phone number) and `{user_field}`."
        ))),
    }
}

/// `sendSms`.
pub(crate) fn text(ctx: &Context<'_>, input: SendSmsInput) -> ApiResult<Ask> {
    let target = one_target(ctx, (&input.to, &input.user_id), ("to", "userId"))?;
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
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new("sendSms", request, input.send_async, how))
}

/// `sendBattleInvitation`.
pub(crate) fn battle_invitation(ctx: &Context<'_>, input: BattleInvitationInput) -> ApiResult<Ask> {
    let target = one_target(
        ctx,
        (&input.to_phone, &input.to_user_id),
        ("toPhone", "toUserId"),
    )?;
    let template = Template::BattleInvitation {
        inviter: input.inviter_name,
        topic: input.battle_topic,
        link: input.invitation_link,
    };
    let mut request = SendRequest::new(Origin::Api, target, template, true)
        .related("battle_invitation", input.invitation_id.map(|id| id.0));
    request.inviter_user_id = Some(input.inviter_user_id.0);
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new(
        "sendBattleInvitation",
        request,
        input.send_async,
        how,
    ))
}

/// `sendBattleResult`.
pub(crate) fn battle_result(input: BattleResultInput) -> ApiResult<Ask> {
    let template = Template::BattleResult {
        topic: input.battle_topic,
        summary: input.result_summary,
        link: input.result_link,
    };
    let request = SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
        .related("battle", input.battle_id.map(|id| id.0));
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new("sendBattleResult", request, input.send_async, how))
}

/// `sendBattleReminder`.
pub(crate) fn battle_reminder(ctx: &Context<'_>, input: BattleReminderInput) -> ApiResult<Ask> {
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
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new(
        "sendBattleReminder",
        request,
        input.send_async,
        how,
    ))
}

/// `sendStreakAlert`.
pub(crate) fn streak_alert(input: StreakAlertInput) -> ApiResult<Ask> {
    let days = u32::try_from(input.streak_count)
        .ok()
        .filter(|d| *d >= 1)
        .ok_or_else(|| ApiError::bad_input("streakCount must be at least 1."))?;
    let template = Template::StreakAlert {
        days,
        link: input.action_link,
    };
    let request = SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true);
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new("sendStreakAlert", request, input.send_async, how))
}

/// `sendDirectMessageNotification`.
pub(crate) fn direct_message(input: DirectMessageInput) -> ApiResult<Ask> {
    let template = Template::DirectMessage {
        sender: input.sender_name,
        link: input.link,
    };
    let request = SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
        .related("direct_message", input.message_id.map(|id| id.0));
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new(
        "sendDirectMessageNotification",
        request,
        input.send_async,
        how,
    ))
}

/// `sendAchievementUnlocked`.
pub(crate) fn achievement_unlocked(input: AchievementUnlockedInput) -> ApiResult<Ask> {
    let template = Template::AchievementUnlocked {
        name: input.achievement_name,
        link: input.link,
    };
    let request = SendRequest::new(Origin::Api, user(&input.user_id, "userId")?, template, true)
        .related("achievement", input.achievement_id.map(|id| id.0));
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new(
        "sendAchievementUnlocked",
        request,
        input.send_async,
        how,
    ))
}

/// `sendSecurityAlert`.
pub(crate) fn security_alert(input: SecurityAlertInput) -> ApiResult<Ask> {
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
    let how = (input.idempotency_key, input.send_at);
    Ok(Ask::new(
        "sendSecurityAlert",
        request,
        input.send_async,
        how,
    ))
}
