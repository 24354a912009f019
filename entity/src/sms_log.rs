//! The audit trail of every message decision AND the outbox the workers send from.

use sea_orm::entity::prelude::*;

/// What a message is about. Stored as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum MessageType {
    #[sea_orm(string_value = "battle_invitation")]
    BattleInvitation,
    #[sea_orm(string_value = "battle_result")]
    BattleResult,
    #[sea_orm(string_value = "battle_reminder")]
    BattleReminder,
    #[sea_orm(string_value = "streak_alert")]
    StreakAlert,
    #[sea_orm(string_value = "phone_verification")]
    PhoneVerification,
    #[sea_orm(string_value = "direct_message")]
    DirectMessage,
    #[sea_orm(string_value = "achievement_unlocked")]
    AchievementUnlocked,
    #[sea_orm(string_value = "security_alert")]
    SecurityAlert,
    #[sea_orm(string_value = "other")]
    Other,
}

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SmsStatus {
    /// Accepted, waiting for a worker (or for its next attempt).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Claimed by a worker; `next_attempt_at` is when its lease expires.
    #[sea_orm(string_value = "sending")]
    Sending,
    #[sea_orm(string_value = "sent")]
    Sent,
    #[sea_orm(string_value = "delivered")]
    Delivered,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "undelivered")]
    Undelivered,
    /// Sent, and no final delivery receipt came within 72 hours (as AWS itself reports then).
    #[sea_orm(string_value = "unknown")]
    Unknown,
    /// Refused by policy; never sent. `blocked_reason` says why.
    #[sea_orm(string_value = "blocked")]
    Blocked,
    /// Its time passed before it could be sent (`expires_at`): never sent, nothing charged.
    #[sea_orm(string_value = "expired")]
    Expired,
    /// An admin cancelled it before it was sent: never sent, nothing charged.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Carried by a digest (`digest_id`): the digest is the text that was sent; this request was not
    /// sent on its own and costs nothing.
    #[sea_orm(string_value = "digested")]
    Digested,
}

/// Why a message was refused and never sent. Stored as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(64))")]
pub enum BlockedReason {
    /// The recipient has no phone number.
    #[sea_orm(string_value = "no_phone")]
    NoPhone,
    /// The number was never proven with a verification code.
    #[sea_orm(string_value = "phone_not_verified")]
    PhoneNotVerified,
    /// The master switch (`allowSmsInvitations`) is off.
    #[sea_orm(string_value = "sms_disabled")]
    SmsDisabled,
    /// No valid consent (never given, or revoked).
    #[sea_orm(string_value = "no_consent")]
    NoConsent,
    /// The user turned this category off.
    #[sea_orm(string_value = "category_disabled")]
    CategoryDisabled,
    /// The number replied STOP, or the carrier reports it opted out.
    #[sea_orm(string_value = "opted_out")]
    OptedOut,
    /// The destination country is not in `SMS_ALLOWED_COUNTRIES`.
    #[sea_orm(string_value = "country_not_allowed")]
    CountryNotAllowed,
    /// An invitation to a stranger's number needs an inviter with a verified phone.
    #[sea_orm(string_value = "inviter_not_verified")]
    InviterNotVerified,
    /// That number already got an invitation in the last 24 hours.
    #[sea_orm(string_value = "recently_invited")]
    RecentlyInvited,
    /// A scheduled promotion fell inside the recipient's quiet hours, too late to send it before them.
    #[sea_orm(string_value = "quiet_hours")]
    QuietHours,
    /// The user already got `SMS_USER_DAILY_LIMIT` promotions in the last 24 hours.
    #[sea_orm(string_value = "user_daily_limit")]
    UserDailyLimit,
    /// The number's state caps promotions per number per 24 hours (`SMS_STATE_RULES`), and it had them.
    #[sea_orm(string_value = "state_daily_limit")]
    StateDailyLimit,
    /// No price is configured for the destination country (and no default price).
    #[sea_orm(string_value = "no_price")]
    NoPrice,
    /// The message would take the month's spending past the limit (or into the transactional reserve).
    #[sea_orm(string_value = "spend_limit")]
    SpendLimit,
    /// A verification code to a range of numbers whose codes are sent and never entered (SMS pumping):
    /// the fraud guard holds it.
    #[sea_orm(string_value = "fraud_guard")]
    FraudGuard,
    /// Codes reached their share of the month's budget for the UTC day (`VERIFY_DAILY_SPEND_SHARE`).
    #[sea_orm(string_value = "verification_ceiling")]
    VerificationCeiling,
    /// An admin switched texts (or codes) to the destination's country off (`setCountrySending`).
    #[sea_orm(string_value = "country_paused")]
    CountryPaused,
    /// The person changed their number after the text was queued, and it could not follow them
    /// (a code for the old number, or a new number in another country): never sent to the old one.
    #[sea_orm(string_value = "phone_changed")]
    PhoneChanged,
    /// A scheduled promotion fell inside the person's own quiet hours (`quietHours`), too late to send
    /// it before them. (Others wait for them to end.)
    #[sea_orm(string_value = "own_quiet_hours")]
    OwnQuietHours,
    /// The person snoozed texts of this type (`snoozeSms`) until a time not yet come.
    #[sea_orm(string_value = "snoozed")]
    Snoozed,
    /// The person already got as many texts of this type in the period as a cap allows: the
    /// operator's (`SMS_FREQUENCY_CAPS`) or their own, lower one (`frequencyCaps`).
    #[sea_orm(string_value = "frequency_cap")]
    FrequencyCap,
    /// The inviter already invited this number as often as `SMS_INVITER_CAP` allows in its period.
    #[sea_orm(string_value = "inviter_cap")]
    InviterCap,
}

impl BlockedReason {
    /// The stored name (`opted_out`), as logs and metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPhone => "no_phone",
            Self::PhoneNotVerified => "phone_not_verified",
            Self::SmsDisabled => "sms_disabled",
            Self::NoConsent => "no_consent",
            Self::CategoryDisabled => "category_disabled",
            Self::OptedOut => "opted_out",
            Self::CountryNotAllowed => "country_not_allowed",
            Self::InviterNotVerified => "inviter_not_verified",
            Self::RecentlyInvited => "recently_invited",
            Self::QuietHours => "quiet_hours",
            Self::UserDailyLimit => "user_daily_limit",
            Self::StateDailyLimit => "state_daily_limit",
            Self::NoPrice => "no_price",
            Self::SpendLimit => "spend_limit",
            Self::FraudGuard => "fraud_guard",
            Self::VerificationCeiling => "verification_ceiling",
            Self::CountryPaused => "country_paused",
            Self::PhoneChanged => "phone_changed",
            Self::OwnQuietHours => "own_quiet_hours",
            Self::Snoozed => "snoozed",
            Self::FrequencyCap => "frequency_cap",
            Self::InviterCap => "inviter_cap",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Option<String>,
    pub to_phone: String,
    /// ISO region of `to_phone` (`US`), when it has one.
    pub country: Option<String>,
    pub message_type: MessageType,
    /// Promotional messages carry the STOP footer and need consent; transactional ones go first.
    pub promotional: bool,
    /// Claim order: 0 for transactional, 1 for promotional.
    pub priority: i16,
    /// The text as shown in the log: a verification code is masked here.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// The text actually sent when it differs from `body` (it carries a code): kept only until the
    /// message is settled, then cleared.
    #[sea_orm(column_type = "Text", nullable)]
    pub sensitive_body: Option<String>,
    pub status: SmsStatus,
    pub blocked_reason: Option<BlockedReason>,
    pub attempts: i32,
    /// When a pending message is due; while sending, when the worker's lease expires.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// Until when the message is worth sending; a queued message past it becomes `expired`.
    pub expires_at: Option<DateTimeUtc>,
    /// What copies of this text sent by an attempt whose outcome was unclear cost (their receipts
    /// found it by the service's id in the provider's context); part of `cost_micros`.
    pub duplicate_cost_micros: Option<i64>,
    /// For an admin's retry: the message it sends again.
    pub retry_of: Option<i64>,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    pub segments: i32,
    pub encoding: String,
    /// What the message costs in millionths of a US dollar (exact; no floating point money). Null for a
    /// message that is not charged (blocked, failed).
    pub cost_micros: Option<i64>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub related_object_type: Option<String>,
    pub related_object_id: Option<String>,
    /// Unique when set: scheduled messages and API idempotency keys.
    pub dedupe_key: Option<String>,
    /// For a promotion: the recipient's time zone that decided its quiet hours (held until they end
    /// there, or sent because it was daytime in every zone of the number).
    pub quiet_hours_zone: Option<String>,
    /// The price estimated when the message was accepted (segments times the configured price);
    /// `cost_micros` becomes what AWS charged once a receipt says so (`priced_at`).
    pub estimated_cost_micros: Option<i64>,
    pub priced_at: Option<DateTimeUtc>,
    /// Of `cost_micros` once priced: the carrier fees AWS passed on (`totalCarrierFee`).
    pub carrier_fee_micros: Option<i64>,
    /// When the text was removed (retention or erasure); the body is empty from then on.
    pub body_purged_at: Option<DateTimeUtc>,
    /// The change feed's stamp of the last status written (see `store::feed`): changes are read in
    /// `(change_seq, id)` order.
    pub change_seq: i64,
    /// The W3C `traceparent` of the request that asked for the message, kept only while traces are
    /// exported: the send and the receipt join that trace.
    pub trace_parent: Option<String>,
    /// Characters GSM-7 can carry were put in place of typographic ones (`SMS_SMART_ENCODING`).
    pub smart_encoded: bool,
    /// Segments smart encoding saved on this text.
    pub encoding_saved: i32,
    /// Segments short links saved on this text.
    pub links_saved: i32,
    /// For a request carried by a digest (`digested`): the digest's row.
    pub digest_id: Option<i64>,
    /// A battle invitation or result waiting for its digest window to close.
    pub digest_hold: bool,
    /// What a digest needs of a held request (JSON: who, what, the link).
    #[sea_orm(column_type = "Text", nullable)]
    pub digest_part: Option<String>,
    /// For a digest: how many requests it carried, and their segments had they gone one by one.
    pub carried: i32,
    pub carried_segments: i32,
    /// The language the text went in (BCP 47): a keyword from a number without an account is answered
    /// in the language of its last text.
    pub locale: Option<String>,
    /// For a battle invitation: the inviter's user id (the per-inviter cap counts by it).
    pub inviter_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The message type's stored name (`battle_invitation`), as metrics label it.
    pub fn message_type_label(&self) -> String {
        sea_orm::ActiveEnum::to_value(&self.message_type)
    }
}
