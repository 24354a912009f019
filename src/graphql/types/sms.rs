use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{error::ApiResult, graphql::handle};

/// What a message is about.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::store::MessageType")]
pub enum MessageType {
    /// A friend challenged the user (promotional).
    BattleInvitation,
    /// A battle was judged (promotional).
    BattleResult,
    /// A battle deadline is near (promotional).
    BattleReminder,
    /// A streak is about to end (promotional).
    StreakAlert,
    /// A phone verification code (transactional).
    PhoneVerification,
    /// Someone sent the user a message; the text itself is never included (promotional).
    DirectMessage,
    /// The user unlocked an achievement (promotional).
    AchievementUnlocked,
    /// Something happened to the account (transactional: always sent to a verified phone).
    SecurityAlert,
    /// Anything else (sendSms).
    Other,
}

/// Where a message is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::store::SmsStatus")]
pub enum SmsStatus {
    /// Accepted and queued (or waiting for its next attempt).
    Pending,
    /// A worker is sending it.
    Sending,
    /// The provider accepted it.
    Sent,
    /// The carrier confirmed delivery (a final receipt).
    Delivered,
    /// It could not be sent; see errorCode.
    Failed,
    /// The carrier could not deliver it (a final receipt); see errorCode and events.
    Undelivered,
    /// Sent, but no final receipt came within 72 hours (as AWS itself reports then).
    Unknown,
    /// Policy refused it; see blockedReason. Nothing was sent.
    Blocked,
    /// Its time passed (expiresAt) before it could be sent: never sent, nothing charged.
    Expired,
    /// An admin cancelled it before it was sent (`cancelSms`): never sent, nothing charged.
    Cancelled,
    /// Carried by a digest (`digestId`): one text told the person of this and the other requests
    /// of the window (`SMS_DIGEST_WINDOW`). Not sent on its own, nothing charged.
    Digested,
}

/// Why policy refused a message. A refused message is still in the log, `BLOCKED`; nothing was
/// sent.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::store::BlockedReason")]
pub enum BlockedReason {
    /// The recipient has no phone number.
    NoPhone,
    /// The number was never proven with a verification code.
    PhoneNotVerified,
    /// The recipient's master switch (`allowSmsInvitations`) is off.
    SmsDisabled,
    /// No valid consent: never given, or revoked (a STOP revokes it too).
    NoConsent,
    /// The recipient turned this message's category off.
    CategoryDisabled,
    /// The number is on the opt-out list: it texted STOP, or the carrier reported it opted out.
    OptedOut,
    /// The number's country is not in `SMS_ALLOWED_COUNTRIES`.
    CountryNotAllowed,
    /// An invitation to a number with no account needs an inviter whose own number is verified.
    InviterNotVerified,
    /// The number (with no account) got a battle invitation in the last 24 hours.
    RecentlyInvited,
    /// A scheduled message whose moment fell inside the recipient's quiet hours (`quietHoursZone`
    /// says where), too late to send before them.
    QuietHours,
    /// The recipient already got `SMS_USER_DAILY_LIMIT` promotions in the last 24 hours.
    UserDailyLimit,
    /// The number's state caps promotions per number per 24 hours (`SMS_STATE_RULES`), and it
    /// had them.
    StateDailyLimit,
    /// No price is configured for the number's country (`SMS_PRICES`, `SMS_DEFAULT_PRICE`).
    NoPrice,
    /// The month's budget (`SMS_MONTHLY_SPEND_LIMIT_USD`) cannot pay for it; for anything but codes
    /// and security alerts, the transactional reserve is kept back.
    SpendLimit,
    /// A verification code to a range of numbers whose codes are sent and never entered (SMS
    /// pumping): the fraud guard holds the range (`VERIFY_GUARD_*`).
    FraudGuard,
    /// Codes reached their share of the month's budget for the UTC day (`VERIFY_DAILY_SPEND_SHARE`).
    VerificationCeiling,
    /// An admin switched texts, or codes, to the destination's country off (`setCountrySending`).
    CountryPaused,
    /// The person's number changed after it was queued and it could not follow (a code, another country).
    PhoneChanged,
    /// A scheduled promotion fell inside the person's own quiet hours (`quietHours`), too late to send
    /// before them. Others wait for them to end.
    OwnQuietHours,
    /// The person snoozed texts of this type (`snoozeSms`) until a time not yet come.
    Snoozed,
    /// The person already got as many texts of this type in the period as a cap allows: the
    /// operator's (`SMS_FREQUENCY_CAPS`) or their own, lower one (`frequencyCaps`). Where digests are
    /// on, a battle invitation or result that can join a digest already waiting is folded into it
    /// instead.
    FrequencyCap,
    /// The inviter already invited this person as often as `SMS_INVITER_CAP` allows in its period.
    InviterCap,
}

/// One message decision: the audit trail of the SMS service.
pub struct SmsLog(pub crate::store::MessageRow);

/// One message decision: the audit trail of the SMS service.
#[Object]
impl SmsLog {
    /// The message's id (increasing).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The user the message is for (null for a number that belongs to no user).
    async fn user_id(&self) -> Option<ID> {
        self.0.user_id.clone().map(ID)
    }

    /// The destination in E.164 (empty when the user had no number).
    async fn to_phone(&self) -> &str {
        &self.0.to_phone
    }

    /// ISO country of the destination.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }

    /// What it is about.
    async fn message_type(&self) -> MessageType {
        self.0.message_type.into()
    }

    /// Promotional messages carry the STOP footer and need consent.
    async fn promotional(&self) -> bool {
        self.0.promotional
    }

    /// Where it is in its life.
    async fn status(&self) -> SmsStatus {
        self.0.status.into()
    }

    /// Why policy refused the message; null unless the status is `BLOCKED`.
    async fn blocked_reason(&self) -> Option<BlockedReason> {
        self.0.blocked_reason.map(Into::into)
    }

    /// For a promotion: the recipient's time zone that decided its quiet hours. A text held for the
    /// night names the zone it waits for; one sent at once, the zone whose evening comes first.
    async fn quiet_hours_zone(&self) -> Option<&str> {
        self.0.quiet_hours_zone.as_deref()
    }

    /// The text as rendered (with the STOP footer on promotional messages); empty once it was
    /// removed (see bodyPurgedAt).
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// When the text (and, after an erasure, the number) was removed: SMS_BODY_RETENTION after the
    /// message was written, or when its person was erased. Null while it is kept.
    async fn body_purged_at(&self) -> Option<DateTime<Utc>> {
        self.0.body_purged_at
    }

    /// Billed parts: 160 GSM-7 characters or 70 UCS-2 units for one, 153 or 67 per part beyond.
    async fn segments(&self) -> i32 {
        self.0.segments
    }

    /// Whether smart encoding put GSM-7 characters in place of typographic ones (curly quotes,
    /// dashes, ...) in this text (`SMS_SMART_ENCODING`); `body` is the text as sent.
    async fn smart_encoded(&self) -> bool {
        self.0.smart_encoded
    }

    /// The short links in the text (`SMS_LINK_SHORTENING`), with the addresses they stand for and
    /// their clicks; gone after `SMS_LINK_RETENTION` and with an erasure.
    async fn links(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::savings::SmsLink>> {
        super::savings::links_of(ctx, &self.0).await
    }

    /// For a `DIGESTED` request: the digest that carried it (the text that was sent). For a digest:
    /// null, and `digested` lists what it carried.
    async fn digest_id(&self) -> Option<ID> {
        self.0.digest_id.map(|id| ID(id.to_string()))
    }

    /// For a digest: how many requests it carried (0 for any other text).
    async fn digested(&self) -> i32 {
        self.0.carried
    }

    /// `GSM-7` or `UCS-2`.
    async fn encoding(&self) -> &str {
        &self.0.encoding
    }

    /// What the message costs, in US dollars: what AWS charged once a receipt said so (`costIsActual`:
    /// the message price plus the carrier fees), until then the estimate. Null when nothing is charged
    /// (blocked, or the send failed).
    async fn cost(&self) -> Option<Decimal> {
        self.0.cost_micros.map(crate::billing::micros_to_dollars)
    }

    /// Of an actual `cost`, the carrier fees AWS passed on (`totalCarrierFee`), in US dollars. Null
    /// until a receipt priced the message.
    async fn carrier_fee(&self) -> Option<Decimal> {
        self.0
            .carrier_fee_micros
            .map(crate::billing::micros_to_dollars)
    }

    /// The price estimated when the message was accepted: segments times the destination's price per
    /// segment (`SMS_PRICES`).
    async fn estimated_cost(&self) -> Option<Decimal> {
        self.0
            .estimated_cost_micros
            .map(crate::billing::micros_to_dollars)
    }

    /// Whether `cost` is what AWS charged (from a delivery receipt) rather than the estimate.
    async fn cost_is_actual(&self) -> bool {
        self.0.priced_at.is_some()
    }

    /// What AWS reported about the message, oldest first: queued, pending, delivered, or why not.
    async fn events(&self, ctx: &Context<'_>) -> ApiResult<Vec<SmsEvent>> {
        Ok(handle::<crate::inbound::Inbound>(ctx)?
            .events(self.0.id)
            .await?
            .into_iter()
            .map(SmsEvent)
            .collect())
    }

    /// The id AWS gave the text (as AWS's console and support cases show it).
    async fn provider_message_id(&self) -> Option<&str> {
        self.0.provider_message_id.as_deref()
    }

    /// The provider's error code of the last failed attempt.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }

    /// The provider's words when sending failed.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }

    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// When a pending message is due for its next attempt.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        match self.0.status {
            crate::store::SmsStatus::Pending => self.0.next_attempt_at,
            _ => None,
        }
    }

    /// When it was written (accepted or refused).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the provider accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// For an admin's retry (`retrySms`): the message this one sends again.
    async fn retry_of(&self) -> Option<ID> {
        self.0.retry_of.map(|id| ID(id.to_string()))
    }

    /// Until when the message is worth sending: a code until it expires, a battle reminder until the
    /// deadline, a streak alert until the recipient's midnight, a security alert for an hour, others
    /// `validForSeconds` or `SMS_DEFAULT_VALIDITY`. Not sent by then, it is `EXPIRED`. Null for a
    /// message written before messages had one.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// When the carrier confirmed delivery.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    /// What it is about in the app (battle, invitation, ...).
    async fn related_object_type(&self) -> Option<&str> {
        self.0.related_object_type.as_deref()
    }

    /// The app's id of that object.
    async fn related_object_id(&self) -> Option<ID> {
        self.0.related_object_id.clone().map(ID)
    }
}

pub use super::events::{SmsEvent, SmsReply};

/// Narrows `smsLogs`. All conditions must hold.
#[derive(InputObject, Debug, Default)]
pub struct SmsLogFilter {
    /// Only messages in this status.
    pub status: Option<SmsStatus>,
    /// Only messages of this type.
    pub message_type: Option<MessageType>,
    /// Only this user's messages (a user may name only themselves).
    pub user_id: Option<ID>,
    /// Any usual way of writing the number.
    pub phone: Option<String>,
    /// Created at or after this moment.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this moment.
    pub created_before: Option<DateTime<Utc>>,
    /// The id AWS gave the text (`SendTextMessage`'s `MessageId`, as AWS's console and support cases
    /// show it).
    pub provider_message_id: Option<String>,
}

/// A free text. Exactly one of `to` and `userId`.
#[derive(InputObject, Debug)]
pub struct SendSmsInput {
    /// A phone number (any usual writing); the preferences of the user it belongs to apply.
    pub to: Option<String>,
    /// A user of the app: their verified number and preferences apply.
    pub user_id: Option<ID>,
    /// The text, up to 10 segments; promotions get the STOP footer.
    pub body: String,
    /// What it is about (any but PHONE_VERIFICATION); decides the category toggle.
    #[graphql(default_with = "MessageType::Other")]
    pub message_type: MessageType,
    /// Promotional texts get the STOP footer and need consent; transactional ones do not.
    #[graphql(default = true)]
    pub promotional: bool,
    /// What it is about in the app (battle, invitation, ...), kept with the message.
    pub related_object_type: Option<String>,
    /// The app's id of that object.
    pub related_object_id: Option<ID>,
    /// false: wait (up to SMS_SYNC_WAIT) for the outcome before answering.
    #[graphql(default = true)]
    pub send_async: bool,
    /// A repeat with the same key returns the first SmsLog and sends nothing.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
    /// How long the text is worth sending, in seconds, from 60 to 259200 (72 hours, AWS's longest).
    /// A text not sent by then is never sent (`EXPIRED`); the provider stops trying when it is up.
    /// Default: `SMS_DEFAULT_VALIDITY` (24 hours).
    pub valid_for_seconds: Option<i32>,
    /// Each http(s) address in the text becomes a short link with click counting
    /// (`SMS_LINK_BASE_URL/<code>`; on by default with `SMS_LINK_SHORTENING`); false keeps the
    /// addresses as written.
    #[graphql(default = true)]
    pub shorten_links: bool,
}

/// Exactly one of `toPhone` (a friend who may not be a user yet) and `toUserId`.
#[derive(InputObject, Debug)]
pub struct BattleInvitationInput {
    /// The user who invites (they must have verified their own number).
    pub inviter_user_id: ID,
    /// The inviter's name as the text shows it.
    pub inviter_name: String,
    /// A friend's number (any usual writing), who may have no account.
    pub to_phone: Option<String>,
    /// A user of the app to invite.
    pub to_user_id: Option<ID>,
    /// What the battle is about.
    pub battle_topic: String,
    /// Where the invitation opens (a path or URL).
    pub invitation_link: String,
    /// The app's id of the invitation: one text per invitation, however often this is called.
    pub invitation_id: Option<ID>,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}

/// A battle's result for one participant (promotional).
#[derive(InputObject, Debug)]
pub struct BattleResultInput {
    /// The participant to tell.
    pub user_id: ID,
    /// What the battle was about.
    pub battle_topic: String,
    /// The result in a few words ("You won 3 to 1").
    pub result_summary: String,
    /// Where the result is in the app (a path or URL).
    pub result_link: String,
    /// The app's id of the battle: one result text per battle and user, however often this is called.
    pub battle_id: Option<ID>,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}

/// A reminder that a battle's deadline is near (promotional).
#[derive(InputObject, Debug)]
pub struct BattleReminderInput {
    /// The participant to remind.
    pub user_id: ID,
    /// What the battle is about.
    pub battle_topic: String,
    /// In words, e.g. "45 minutes".
    pub time_remaining: String,
    /// Where the battle is in the app (a path or URL).
    pub battle_link: String,
    /// The app's id of the battle, linked to the message.
    pub battle_id: Option<ID>,
    /// The deadline the reminder is about: the reminder is not sent after it (`EXPIRED`). Default:
    /// `SMS_DEFAULT_VALIDITY` from now.
    pub deadline_at: Option<DateTime<Utc>>,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}

/// A warning that a user's streak ends soon (promotional).
#[derive(InputObject, Debug)]
pub struct StreakAlertInput {
    /// The user whose streak it is.
    pub user_id: ID,
    /// Days in a row so far, as the text says.
    pub streak_count: i32,
    /// Where to keep the streak going (a path or URL).
    pub action_link: String,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}

/// Tells a user someone wrote to them; never carries the message itself.
#[derive(InputObject, Debug)]
pub struct DirectMessageInput {
    /// The user who got the message.
    pub user_id: ID,
    /// Who wrote, as the text names them.
    pub sender_name: String,
    /// Where the message is in the app (a path or URL).
    pub link: String,
    /// The app's id of the message: one text per message, however often this is called.
    pub message_id: Option<ID>,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}

/// An achievement a user unlocked (promotional).
#[derive(InputObject, Debug)]
pub struct AchievementUnlockedInput {
    /// The user who unlocked it.
    pub user_id: ID,
    /// Its name as the user sees it.
    pub achievement_name: String,
    /// Where the app shows it (a path or URL).
    pub link: String,
    /// The app's id of the achievement: with the user, one text per achievement, however often this is called.
    pub achievement_id: Option<ID>,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}

/// Always sent to a verified phone, whatever the user's preferences (never to an opted-out number).
#[derive(InputObject, Debug)]
pub struct SecurityAlertInput {
    /// The user whose account it is.
    pub user_id: ID,
    /// What happened, e.g. "A new sign-in from Firefox on Linux".
    pub what: String,
    /// Where the user can look (a path or URL).
    pub link: String,
    /// true (the default): answer at once with the message PENDING; false: wait up to SMS_SYNC_WAIT
    /// for the first attempt's outcome.
    #[graphql(default = true)]
    pub send_async: bool,
    /// 1 to 128 characters: a repeat with the same key (same caller, same mutation) answers the first
    /// message and sends nothing; the same key for a different message is CONFLICT.
    pub idempotency_key: Option<String>,
    /// Send it then rather than now: it waits `PENDING` until this moment (at most 35 days ahead), and
    /// quiet hours and the other rules of time are decided for it; `cancelSms` can cancel it meanwhile.
    pub send_at: Option<DateTime<Utc>>,
}
