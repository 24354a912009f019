use crate::store::consent::ConsentMethod as DbConsentMethod;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    error::ApiResult,
    graphql::handle,
    locale::{local_time::Locale, zones::ZoneSource},
    recipients::{self, Recipients},
};

/// How the user consented to texts (TCPA record).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConsentMethod {
    /// The SMS opt-in modal.
    OptInModal,
    /// The master switch on the notification settings page.
    SettingsPage,
    /// Confirming a phone verification code with the master switch on.
    PhoneVerification,
    /// Recorded by the app's back end.
    Api,
    /// A keyword texted to the service's number: STOP revokes, START gives consent again.
    SmsKeyword,
    /// The person's data was erased (`deleteRecipient`): the history ends here.
    Erasure,
}

impl From<DbConsentMethod> for ConsentMethod {
    fn from(m: DbConsentMethod) -> Self {
        match m {
            DbConsentMethod::OptInModal => Self::OptInModal,
            DbConsentMethod::SettingsPage => Self::SettingsPage,
            DbConsentMethod::PhoneVerification => Self::PhoneVerification,
            DbConsentMethod::Api => Self::Api,
            DbConsentMethod::SmsKeyword => Self::SmsKeyword,
            DbConsentMethod::Erasure => Self::Erasure,
        }
    }
}

/// What the user answered in the opt-in modal.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SmsOptInAction {
    /// Turn texts on: sets the master switch and records consent.
    OptIn,
    /// Never show the modal again.
    Dismiss,
    /// Ask again in 24 hours.
    RemindLater,
}

impl From<SmsOptInAction> for recipients::OptInAction {
    fn from(a: SmsOptInAction) -> Self {
        match a {
            SmsOptInAction::OptIn => Self::OptIn,
            SmsOptInAction::Dismiss => Self::Dismiss,
            SmsOptInAction::RemindLater => Self::RemindLater,
        }
    }
}

/// A user's SMS settings: the phone number, the master switch, categories and consent.
pub struct Recipient(pub recipients::Profile);

/// Where a recipient's time zone came from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimezoneSource {
    /// The app pushed it (`upsertRecipient`).
    App,
    /// The phone number's North American area code.
    AreaCode,
    /// The phone number's country (and region, where the country spans several zones).
    Country,
    /// Nothing said where the user is: `DEFAULT_TIMEZONE`.
    Default,
}

impl Recipient {
    fn locale(&self, ctx: &Context<'_>) -> ApiResult<Locale> {
        Ok(handle::<Recipients>(ctx)?.locale(&self.0))
    }
}

/// A user's SMS settings: the phone number, the master switch, categories and consent.
#[Object]
impl Recipient {
    /// The app's user id.
    async fn user_id(&self) -> ID {
        ID(self.0.recipient.user_id.clone())
    }

    /// The phone number in E.164 (`+14155551234`), or null when none is set.
    async fn phone_number(&self) -> Option<&str> {
        self.0.recipient.phone_e164.as_deref()
    }

    /// Whether the number has been proven with a verification code.
    async fn phone_verified(&self) -> bool {
        self.0.phone_verified()
    }

    /// When the number was verified.
    async fn phone_verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.recipient.phone_verified_at
    }

    /// The master switch: no promotional text is sent while it is off.
    async fn allow_sms_invitations(&self) -> bool {
        self.0.recipient.allow_sms
    }

    /// IANA time zone used for quiet hours and reminders: the one the app pushed; else the phone
    /// number's (its area code in North America, its country elsewhere); else the service's default.
    /// `timezoneSource` says which.
    async fn timezone(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(self.locale(ctx)?.primary().name().to_owned())
    }

    /// Every zone the user may be in: one, except for a number whose area code spans two zones (the
    /// Florida panhandle, parts of Texas, Indiana, ...). A promotion waits until it is daytime in all.
    async fn timezones(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        Ok(self
            .locale(ctx)?
            .zones
            .iter()
            .map(|tz| tz.name().to_owned())
            .collect())
    }

    /// Where `timezone` came from.
    async fn timezone_source(&self, ctx: &Context<'_>) -> ApiResult<TimezoneSource> {
        Ok(match self.locale(ctx)?.source {
            ZoneSource::App => TimezoneSource::App,
            ZoneSource::AreaCode => TimezoneSource::AreaCode,
            ZoneSource::Country => TimezoneSource::Country,
            ZoneSource::Default => TimezoneSource::Default,
        })
    }

    /// When the user signed up to the app, as pushed by the app's back end.
    async fn signed_up_at(&self) -> Option<DateTime<Utc>> {
        self.0.recipient.signed_up_at
    }

    /// The language the person's texts go in, BCP 47 (`en-US` unless set to another supported one:
    /// `es-US`). Keyword answers go in the keyword's language (`ALTO`, `AYUDA`: Spanish).
    #[graphql(name = "locale")]
    async fn language(&self) -> &'static str {
        crate::locale::texts::Language::stored(self.0.recipient.locale.as_deref()).tag()
    }

    /// Per-category toggles, the consent record and the person's own rules.
    async fn preferences(&self, ctx: &Context<'_>) -> ApiResult<SmsPreferences> {
        let p = &self.0.preferences;
        let recipients = handle::<Recipients>(ctx)?;
        let now = recipients.now();
        let costs = &handle::<crate::outbox::Outbox>(ctx)?.costs;
        let operator = recipients::rules::Operator {
            federal: recipients.federal_quiet(),
            daily_limit: costs.user_daily_limit,
            caps: &costs.frequency_caps,
            inviter: costs.inviter_cap,
        };
        let effective =
            recipients::rules::effective(&self.0, &recipients.locale(&self.0), &operator, now);
        Ok(SmsPreferences {
            effective_rules: effective.into_iter().map(Into::into).collect(),
            frequency_caps: recipients::caps::decode(p.frequency_caps.as_deref())
                .into_iter()
                .map(|(t, c)| FrequencyCap {
                    message_type: t.into(),
                    count: i32::try_from(c.count).unwrap_or(i32::MAX),
                    period_hours: i32::try_from(c.hours).unwrap_or(i32::MAX),
                })
                .collect(),
            quiet_hours: recipients::rules::own_quiet(p).map(|q| QuietHoursWindow {
                start: q.start.format("%H:%M").to_string(),
                end: q.end.format("%H:%M").to_string(),
            }),
            snooze: p
                .snoozed_until
                .filter(|until| *until > now)
                .map(|until| SmsSnooze {
                    until,
                    message_types: recipients::rules::decode_types(p.snoozed_types.as_deref())
                        .into_iter()
                        .map(Into::into)
                        .collect(),
                }),
            sms_battle_invitations: p.battle_invitations,
            sms_battle_results: p.battle_results,
            sms_battle_reminders: p.battle_reminders,
            sms_streak_alerts: p.streak_alerts,
            sms_direct_messages: p.direct_messages,
            sms_achievements: p.achievements,
            has_consent: p.has_consent(),
            consent_given_at: p.consent_given_at.filter(|_| p.has_consent()),
            consent_method: p.consent_method.filter(|_| p.has_consent()).map(Into::into),
            consent_revoked_at: p.consent_revoked_at,
        })
    }

    /// Whether the front end should show the SMS opt-in modal now. Not for a user who already opted in,
    /// not within 3 minutes of sign-up, never after a dismissal, and not again within 24 hours of being
    /// shown. Answering `showPrompt: true` records that the modal was shown.
    async fn opt_in_status(&self, ctx: &Context<'_>) -> ApiResult<SmsOptInStatus> {
        let recipients = handle::<Recipients>(ctx)?;
        let mut profile = self.0.clone();
        let show = recipients.take_prompt(&mut profile).await?;
        Ok(SmsOptInStatus {
            show_prompt: show,
            already_opted_in: profile.opted_in(),
            phone_number: profile.recipient.phone_e164.clone(),
            phone_verified: profile.phone_verified(),
        })
    }
}

/// A user's SMS categories and consent.
#[derive(SimpleObject)]
pub struct SmsPreferences {
    /// Texts when a friend challenges the user.
    pub sms_battle_invitations: bool,
    /// Texts when a battle is judged.
    pub sms_battle_results: bool,
    /// Texts when a battle's deadline is near.
    pub sms_battle_reminders: bool,
    /// Texts when a streak is about to end.
    pub sms_streak_alerts: bool,
    /// Texts when someone writes to the user.
    pub sms_direct_messages: bool,
    /// Texts when the user unlocks an achievement.
    pub sms_achievements: bool,
    /// Consent to receive texts was given and not revoked since.
    pub has_consent: bool,
    /// When the current consent was given (null without consent).
    pub consent_given_at: Option<DateTime<Utc>>,
    /// How the current consent was given (null without consent).
    pub consent_method: Option<ConsentMethod>,
    /// When consent was last revoked, if ever.
    pub consent_revoked_at: Option<DateTime<Utc>>,
    /// The person's own quiet hours, local in their time zone, on top of the law's 8am to 9pm (and
    /// their state's): no promotional text inside them. Null when they set none.
    pub quiet_hours: Option<QuietHoursWindow>,
    /// Promotional texts snoozed until a time (`snoozeSms`); null when none is running.
    pub snooze: Option<SmsSnooze>,
    /// Every rule that applies to the person's promotional texts, with where it comes from (the law,
    /// their state, the operator, themselves) and a sentence to show: the settings page can say
    /// "texts from 8am to 9pm; your quiet hours 10pm to 10am; streak alerts snoozed until ...".
    pub effective_rules: Vec<EffectiveRule>,
    /// The person's own frequency caps (`frequencyCaps`), each at most as loose as the operator's.
    pub frequency_caps: Vec<FrequencyCap>,
}

/// At most `count` texts of a type in any `periodHours` hours.
#[derive(SimpleObject, Debug, Clone)]
pub struct FrequencyCap {
    /// The promotional type it caps.
    pub message_type: super::sms::MessageType,
    /// How many texts, at most (at least 1).
    pub count: i32,
    /// In how many hours (1 to 720).
    pub period_hours: i32,
}

/// A cap of the person's own: at most `count` texts of a type in any `periodHours` hours. Never above
/// the operator's cap of the type: as many or fewer texts, over as long a period or longer.
#[derive(InputObject, Debug, Clone)]
pub struct FrequencyCapInput {
    /// The promotional type to cap.
    pub message_type: super::sms::MessageType,
    /// How many texts, at most (at least 1; turn the category off for none).
    pub count: i32,
    /// In how many hours (1 to 720; 24 when omitted).
    #[graphql(default = 24)]
    pub period_hours: i32,
}

/// What a rule is about.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RuleKind {
    /// A window of local time without promotional texts.
    QuietHours,
    /// At most so many promotional texts in a period.
    Limit,
    /// Promotional texts of some types paused until a time.
    Snooze,
    /// A category, or with the master switch every promotional text, turned off.
    Off,
}

/// Whose rule it is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RuleSource {
    /// Federal law (the TCPA's 8am to 9pm, `QUIET_HOURS`).
    Law,
    /// The law of the state of the person's number (`SMS_STATE_RULES`).
    State,
    /// The operator of the service (`SMS_USER_DAILY_LIMIT`).
    Operator,
    /// The person (their settings, quiet hours and snooze).
    Person,
}

/// One rule that applies to a person's promotional texts.
#[derive(SimpleObject, Debug, Clone)]
pub struct EffectiveRule {
    /// What it is about.
    pub kind: RuleKind,
    /// Whose rule it is.
    pub source: RuleSource,
    /// A sentence a settings page can show as it is.
    pub description: String,
    /// For quiet hours: the window without texts, local in the person's zone.
    pub quiet_hours: Option<QuietHoursWindow>,
    /// For a limit: how many texts.
    pub limit: Option<i32>,
    /// For a limit: in how many hours.
    pub period_hours: Option<i32>,
    /// The types it covers; empty: every promotional type.
    pub message_types: Vec<super::sms::MessageType>,
    /// For a snooze: when it ends.
    pub until: Option<DateTime<Utc>>,
}

impl From<recipients::rules::EffectiveRule> for EffectiveRule {
    fn from(r: recipients::rules::EffectiveRule) -> Self {
        use recipients::rules::{RuleKind as K, RuleSource as S};
        Self {
            kind: match r.kind {
                K::QuietHours => RuleKind::QuietHours,
                K::Limit => RuleKind::Limit,
                K::Snooze => RuleKind::Snooze,
                K::Off => RuleKind::Off,
            },
            source: match r.source {
                S::Law => RuleSource::Law,
                S::State => RuleSource::State,
                S::Operator => RuleSource::Operator,
                S::Person => RuleSource::Person,
            },
            description: r.description,
            quiet_hours: r.quiet.map(|q| QuietHoursWindow {
                start: q.start.format("%H:%M").to_string(),
                end: q.end.format("%H:%M").to_string(),
            }),
            limit: r.limit.map(|(n, _)| i32::try_from(n).unwrap_or(i32::MAX)),
            period_hours: r.limit.map(|(_, h)| i32::try_from(h).unwrap_or(i32::MAX)),
            message_types: r.message_types.into_iter().map(Into::into).collect(),
            until: r.until,
        }
    }
}

/// A daily window of local time, `HH:MM` to `HH:MM` (over midnight when the end is earlier).
#[derive(SimpleObject, Debug, Clone)]
pub struct QuietHoursWindow {
    /// When it begins, `HH:MM` local.
    pub start: String,
    /// When it ends, `HH:MM` local.
    pub end: String,
}

/// A window of local time to set: `HH:MM` to `HH:MM` (over midnight when the end is earlier; never of
/// zero length).
#[derive(InputObject, Debug, Clone)]
pub struct QuietHoursInput {
    /// When it begins, `HH:MM` local (`22:00`).
    pub start: String,
    /// When it ends, `HH:MM` local (`10:00`).
    pub end: String,
}

/// A snooze of promotional texts.
#[derive(SimpleObject, Debug, Clone)]
pub struct SmsSnooze {
    /// When texts start again; the snooze ends by itself then.
    pub until: DateTime<Utc>,
    /// The types snoozed; empty: every promotional type.
    pub message_types: Vec<super::sms::MessageType>,
}

/// Whether the app should show the SMS opt-in modal now.
#[derive(SimpleObject)]
pub struct SmsOptInStatus {
    /// Show the opt-in modal now.
    pub show_prompt: bool,
    /// The user has a verified phone and the master switch on.
    pub already_opted_in: bool,
    /// The user's number, E.164, if any.
    pub phone_number: Option<String>,
    /// Whether the user proved the number with a code.
    pub phone_verified: bool,
}

/// A partial update of the settings page: omitted fields keep their value.
#[derive(InputObject, Debug)]
pub struct SmsPreferencesInput {
    /// The master switch. Turning it on records consent (method SETTINGS_PAGE); off revokes it.
    pub allow_sms_invitations: Option<bool>,
    /// Texts when a friend challenges the user.
    pub sms_battle_invitations: Option<bool>,
    /// Texts when a battle is judged.
    pub sms_battle_results: Option<bool>,
    /// Texts when a battle's deadline is near.
    pub sms_battle_reminders: Option<bool>,
    /// Texts when a streak is about to end.
    pub sms_streak_alerts: Option<bool>,
    /// Texts when someone writes to the user.
    pub sms_direct_messages: Option<bool>,
    /// Texts when the user unlocks an achievement.
    pub sms_achievements: Option<bool>,
    /// When the master switch is turned on: the version of the consent disclosure the person was
    /// shown (published with publishConsentDisclosure). Required in production.
    pub disclosure_version: Option<String>,
    /// The page of the app the switch was turned on, kept with the consent (up to 512 characters).
    pub page: Option<String>,
    /// The person's own quiet hours, on top of the law's (never loosening them); null clears them.
    pub quiet_hours: async_graphql::MaybeUndefined<QuietHoursInput>,
    /// The language their texts go in, BCP 47 (`en-US`, `es-US`; `es` and other regions of a supported
    /// language are taken as it).
    pub locale: Option<String>,
    /// The person's own frequency caps, replacing theirs (an empty list clears them; omitted keeps
    /// them). Each lowers the operator's cap of the type, never raises it.
    pub frequency_caps: Option<Vec<FrequencyCapInput>>,
}

impl From<&SmsPreferencesInput> for recipients::PreferencesChange {
    fn from(i: &SmsPreferencesInput) -> Self {
        Self {
            allow_sms: i.allow_sms_invitations,
            categories: recipients::CategoryChange {
                battle_invitations: i.sms_battle_invitations,
                battle_results: i.sms_battle_results,
                battle_reminders: i.sms_battle_reminders,
                streak_alerts: i.sms_streak_alerts,
                direct_messages: i.sms_direct_messages,
                achievements: i.sms_achievements,
            },
            // Checked by the mutation (`quiet_hours_change`).
            quiet_hours: None,
            frequency_caps: None,
            // Checked by the mutation.
            locale: None,
        }
    }
}

/// Facts about a user pushed by the app's back end.
#[derive(InputObject, Debug)]
pub struct RecipientInput {
    /// The app's user id (1 to 128 characters).
    pub user_id: ID,
    /// IANA time zone name such as `America/Los_Angeles`; `""` falls back to the service default.
    pub timezone: Option<String>,
    /// When the user signed up (the opt-in modal waits 3 minutes after it).
    pub signed_up_at: Option<DateTime<Utc>>,
    /// The language their texts go in, BCP 47 (`en-US`, `es-US`); `""` is back to English.
    pub locale: Option<String>,
    /// The number in any usual writing (`(212) 555-0101`, `+44 20 7946 0958`); `""` clears it. A
    /// different number than the one held starts unproven unless `phoneVerified` is true.
    pub phone_number: Option<String>,
    /// Whether the app proved the number (its own verification, or the old app's): true marks the
    /// number held (or the one given) verified, false takes the proof away.
    pub phone_verified: Option<bool>,
}

impl From<RecipientInput> for crate::recipients::RecipientFacts {
    fn from(input: RecipientInput) -> Self {
        Self {
            user_id: input.user_id.0,
            timezone: input.timezone,
            signed_up_at: input.signed_up_at,
            locale: input.locale,
            phone: input.phone_number,
            phone_verified: input.phone_verified,
        }
    }
}
