use async_graphql::{Context, Object, OneofObject};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle,
        mutation::asks::{self, Ask},
        require_role,
        types::{
            savings::SmsPreview,
            sms::{
                AchievementUnlockedInput, BattleInvitationInput, BattleReminderInput,
                BattleResultInput, DirectMessageInput, SecurityAlertInput, SendSmsInput,
                StreakAlertInput,
            },
        },
    },
    outbox::{Outbox, SendError},
};

/// One template send, as its mutation takes it: exactly one field.
#[derive(OneofObject)]
pub enum TemplatePreviewInput {
    /// `sendBattleInvitation`'s input.
    BattleInvitation(BattleInvitationInput),
    /// `sendBattleResult`'s input.
    BattleResult(BattleResultInput),
    /// `sendBattleReminder`'s input.
    BattleReminder(BattleReminderInput),
    /// `sendStreakAlert`'s input.
    StreakAlert(StreakAlertInput),
    /// `sendDirectMessageNotification`'s input.
    DirectMessage(DirectMessageInput),
    /// `sendAchievementUnlocked`'s input.
    AchievementUnlocked(AchievementUnlockedInput),
    /// `sendSecurityAlert`'s input.
    SecurityAlert(SecurityAlertInput),
}

#[derive(Default)]
pub struct PreviewQuery;

/// What a send would do, for the app's back end and admins: the text as it would go, its segments and
/// price, and the verdict, writing nothing.
#[Object]
impl PreviewQuery {
    /// What `sendSms` with this input would send and cost now, and whether it would go now, later or
    /// not at all. Nothing is written or sent. An unknown user is `NOT_FOUND`.
    async fn preview_sms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The input sendSms would take.")] input: SendSmsInput,
    ) -> ApiResult<SmsPreview> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        preview(ctx, asks::text(ctx, input)?).await
    }

    /// What a template mutation (`sendBattleInvitation`, `sendStreakAlert`, ...) with this input would
    /// send and cost now: give its input under the mutation's name, e.g.
    /// `previewTemplate(input: { streakAlert: { userId: "u1", streakCount: 12, actionLink: "/streak" } })`.
    /// Nothing is written or sent.
    async fn preview_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Exactly one template's input.")] input: TemplatePreviewInput,
    ) -> ApiResult<SmsPreview> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        let ask = match input {
            TemplatePreviewInput::BattleInvitation(i) => asks::battle_invitation(ctx, i)?,
            TemplatePreviewInput::BattleResult(i) => asks::battle_result(i)?,
            TemplatePreviewInput::BattleReminder(i) => asks::battle_reminder(ctx, i)?,
            TemplatePreviewInput::StreakAlert(i) => asks::streak_alert(i)?,
            TemplatePreviewInput::DirectMessage(i) => asks::direct_message(i)?,
            TemplatePreviewInput::AchievementUnlocked(i) => asks::achievement_unlocked(i)?,
            TemplatePreviewInput::SecurityAlert(i) => asks::security_alert(i)?,
        };
        preview(ctx, ask).await
    }
}

/// Decides an ask as its send would, at its `sendAt` when it has one.
async fn preview(ctx: &Context<'_>, ask: Ask) -> ApiResult<SmsPreview> {
    let outbox = handle::<Outbox>(ctx)?;
    let mut request = ask.request;
    request.send_at = asks::scheduled(ask.send_at, outbox.now())?;
    request.hold_for_digest = ask.send_async;
    match outbox.preview(request).await {
        Ok(p) => Ok(SmsPreview::new(p, &outbox.savings().link_base_url)),
        Err(SendError::UnknownUser(id)) => Err(ApiError::NotFound(format!(
            "No user '{id}' is known to the SMS service; push the user with upsertRecipient first."
        ))),
        Err(e) => Err(e.into()),
    }
}
