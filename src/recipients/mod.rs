//! Recipients and their SMS preferences: the phone number, the master switch, per-category toggles,
//! TCPA consent and the opt-in prompt. Every change that touches consent writes a `consent_events` row in
//! the same transaction.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};

pub mod bulk;
pub mod caps;
pub mod rules;

pub use crate::store::recipients::CategoryChange;
pub use crate::store::{
    consent::{
        ConsentAction, ConsentEvent, ConsentFilter, ConsentMethod, ConsentProof, ConsentSource,
    },
    disclosures::Disclosure,
    recipients::Profile,
};
use crate::{
    Clock,
    locale::{
        local_time::{Locale, LocaleRules},
        phone::{self, PhoneError},
    },
    reminders::facts::Facts,
    store::{
        consent,
        recipients::{self as rows, RecipientChange, begin_locked},
    },
};

/// Why a disclosure was not published.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    #[error(
        "Version '{0}' is published with another text, and a published text never changes: publish the new text under a new version."
    )]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// No prompt within this long of sign-up: let the user look around first.
pub const PROMPT_GRACE_AFTER_SIGNUP: Duration = Duration::minutes(3);
/// A prompt that was shown (or deferred) is not shown again for this long.
pub const PROMPT_REPEAT_AFTER: Duration = Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error(transparent)]
    InvalidPhone(#[from] PhoneError),
    #[error("'{0}' is not an IANA time zone name such as America/New_York or Asia/Kathmandu")]
    InvalidTimezone(String),
    #[error(
        "No consent disclosure has the version '{0}': publish it first (publishConsentDisclosure), or name one that is published."
    )]
    UnknownDisclosure(String),
    #[error(
        "disclosureVersion is required: name the version of the consent text the person was shown (consentDisclosure gives the latest)."
    )]
    DisclosureRequired,
    /// A rule of the person's own that cannot be (a snooze in the past, over 90 days, of codes).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The recipient of `user_id`, created with default preferences on first sight.
pub use rows::{ensure, load};

/// Sets (or with `""` clears) the user's phone number. A different number loses its verification.
#[tracing::instrument(skip(db, input))]
pub async fn set_phone<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    input: &str,
    default_region: phonenumber::country::Id,
    now: DateTime<Utc>,
) -> Result<Profile, RecipientError> {
    let new_phone = if input.trim().is_empty() {
        None
    } else {
        Some(phone::normalize(input, default_region)?.into_string())
    };
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    if profile.recipient.phone_e164 != new_phone {
        let change = RecipientChange {
            phone: Some(new_phone.clone()),
            ..Default::default()
        };
        profile.recipient = rows::update(&txn, &profile.recipient, change, now).await?;
        tracing::info!(
            phone = new_phone.as_deref().map(phone::mask).unwrap_or_default(),
            "phone number changed"
        );
    }
    txn.commit().await?;
    Ok(profile)
}

/// What the user did with the opt-in modal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptInAction {
    OptIn,
    Dismiss,
    RemindLater,
}

/// Applies the user's answer to the opt-in modal.
#[tracing::instrument(skip(db))]
pub async fn answer_opt_in<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    action: OptInAction,
    (ip, proof): (Option<String>, ConsentProof),
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    let mut change = RecipientChange::default();
    match action {
        OptInAction::OptIn => {
            change.allow_sms = Some(true);
            if !profile.preferences.has_consent() {
                let source = ConsentSource {
                    method: ConsentMethod::OptInModal,
                    ip,
                    proof,
                };
                profile = crate::consent::give(&txn, profile, &source, now).await?;
            }
        }
        OptInAction::Dismiss => change.prompt_dismissed_at = Some(now),
        OptInAction::RemindLater => change.prompt_shown_at = Some(now),
    }
    profile.recipient = rows::update(&txn, &profile.recipient, change, now).await?;
    txn.commit().await?;
    Ok(profile)
}

/// A partial update of the settings page: `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct PreferencesChange {
    /// The master switch; consent goes with it.
    pub allow_sms: Option<bool>,
    pub categories: CategoryChange,
    /// Their own quiet hours (checked by `rules::quiet_hours`); `Some(None)` clears them.
    pub quiet_hours: Option<Option<crate::locale::quiet::QuietHours>>,
    /// Their own frequency caps (checked by `caps::check_own`), replacing theirs.
    pub frequency_caps: Option<Vec<(crate::store::MessageType, caps::Cap)>>,
    /// The language their texts go in.
    pub locale: Option<crate::locale::texts::Language>,
}

/// Updates the master switch and categories. Turning the master switch on records consent
/// (`settings_page`); turning it off revokes it.
#[tracing::instrument(skip(db))]
pub async fn update_preferences<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    change: PreferencesChange,
    (ip, proof): (Option<String>, ConsentProof),
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    let source = ConsentSource {
        method: ConsentMethod::SettingsPage,
        ip,
        proof,
    };
    match change.allow_sms {
        Some(true) if !profile.preferences.has_consent() => {
            profile = crate::consent::give(&txn, profile, &source, now).await?;
        }
        Some(false) if profile.preferences.has_consent() => {
            profile = crate::consent::revoke(&txn, profile, &source, now).await?;
        }
        _ => {}
    }
    let switch = change
        .allow_sms
        .filter(|allow| *allow != profile.recipient.allow_sms);
    let locale = change
        .locale
        .map(|l| l.tag().to_owned())
        .filter(|tag| profile.recipient.locale.as_deref() != Some(tag));
    if switch.is_some() || locale.is_some() {
        let row_change = RecipientChange {
            allow_sms: switch,
            locale: locale.map(Some),
            ..Default::default()
        };
        profile.recipient = rows::update(&txn, &profile.recipient, row_change, now).await?;
    }
    profile.preferences =
        rows::update_categories(&txn, &profile.preferences, change.categories, now).await?;
    let own = rows::OwnRulesChange {
        quiet: change.quiet_hours.map(|q| {
            q.map(|q| {
                (
                    q.start.format("%H:%M").to_string(),
                    q.end.format("%H:%M").to_string(),
                )
            })
        }),
        snooze: None,
        caps: change.frequency_caps.map(|c| caps::encode(&c)),
    };
    profile.preferences = rows::update_own_rules(&txn, &profile.preferences, own, now).await?;
    txn.commit().await?;
    Ok(profile)
}

/// Snoozes the person's promotional texts of `types` (all of them when empty) until `until`, or ends
/// the snooze (`None`).
pub async fn snooze<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    snooze: Option<(DateTime<Utc>, Vec<crate::store::MessageType>)>,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    let change = rows::OwnRulesChange {
        quiet: None,
        snooze: Some(snooze.map(|(until, types)| (until, rules::encode_types(&types)))),
        caps: None,
    };
    profile.preferences = rows::update_own_rules(&txn, &profile.preferences, change, now).await?;
    txn.commit().await?;
    Ok(profile)
}

/// Facts about a user that the app's back end pushes.
#[derive(Debug, Clone, Default)]
pub struct RecipientFacts {
    pub user_id: String,
    /// IANA name; `Some("")` clears it (back to the configured default).
    pub timezone: Option<String>,
    pub signed_up_at: Option<DateTime<Utc>>,
    /// BCP 47 (`es-US`); `Some("")` clears it (back to English).
    pub locale: Option<String>,
    /// The number in any usual writing; `Some("")` clears it. A different number starts unproven.
    pub phone: Option<String>,
    /// Whether the app proved the number (its own verification, or the old app's).
    pub phone_verified: Option<bool>,
}

/// Whether the opt-in modal should be shown now, by the product's rules.
pub fn prompt_due(profile: &Profile, now: DateTime<Utc>) -> bool {
    let r = &profile.recipient;
    let signed_up = r.signed_up_at.unwrap_or(r.created_at);
    !profile.opted_in()
        && r.sms_prompt_dismissed_at.is_none()
        && now - signed_up >= PROMPT_GRACE_AFTER_SIGNUP
        && r.sms_prompt_shown_at
            .is_none_or(|shown| now - shown >= PROMPT_REPEAT_AFTER)
}

/// Decides whether to show the opt-in modal now and, when it is shown, records when. Of two requests
/// at the same moment (two tabs), only one is told to show it.
#[tracing::instrument(skip(db, profile), fields(user_id = %profile.recipient.user_id))]
pub async fn take_prompt(
    db: &impl ConnectionTrait,
    profile: &mut Profile,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if !prompt_due(profile, now) {
        return Ok(false);
    }
    let shown_before = now - PROMPT_REPEAT_AFTER;
    if rows::take_prompt(db, &profile.recipient.user_id, now, shown_before).await? {
        profile.recipient.sms_prompt_shown_at = Some(now);
        Ok(true)
    } else {
        Ok(false)
    }
}

/// The recipients' handle: the settings people change about themselves and the facts the app pushes
/// about them, with the workflows they start (a new number or zone moves a pending streak alert).
#[derive(Clone)]
pub struct Recipients {
    db: crate::store::db::Db,
    clock: std::sync::Arc<dyn Clock>,
    /// Region of numbers written without `+` (`DEFAULT_PHONE_REGION`).
    default_region: phonenumber::country::Id,
    locale_rules: std::sync::Arc<LocaleRules>,
    facts: Facts,
    /// Production: an opt-in must name the disclosure the person was shown.
    require_disclosure: bool,
}

/// What the app says about where an opt-in was given: the disclosure's version, the page, the browser.
#[derive(Debug, Clone, Default)]
pub struct OptInContext {
    pub ip: Option<String>,
    pub disclosure_version: Option<String>,
    pub page: Option<String>,
    pub user_agent: Option<String>,
}

impl Recipients {
    pub fn new(
        (db, clock): (crate::store::db::Db, std::sync::Arc<dyn Clock>),
        default_region: phonenumber::country::Id,
        (locale_rules, facts): (std::sync::Arc<LocaleRules>, Facts),
        require_disclosure: bool,
    ) -> Self {
        Self {
            db,
            clock,
            default_region,
            locale_rules,
            facts,
            require_disclosure,
        }
    }

    /// The proof an opt-in keeps: the named disclosure (which must be published, and in production
    /// must be named when `giving` consent), the page and the browser.
    async fn proof(
        &self,
        context: OptInContext,
        giving: bool,
    ) -> Result<(Option<String>, ConsentProof), RecipientError> {
        let disclosure = match context.disclosure_version {
            Some(version) => {
                let found = crate::store::disclosures::get(&self.db, &version).await?;
                let found = found.ok_or(RecipientError::UnknownDisclosure(version))?;
                Some((found.version, found.text_sha256))
            }
            None if giving && self.require_disclosure => {
                return Err(RecipientError::DisclosureRequired);
            }
            None => None,
        };
        let clip = |s: Option<String>| s.map(|s| s.chars().take(512).collect::<String>());
        let proof = ConsentProof {
            disclosure,
            user_agent: clip(context.user_agent),
            page: clip(context.page),
        };
        Ok((context.ip, proof))
    }

    /// Publishes a consent disclosure text under `version` for `by`. A version is published once:
    /// the same text again is answered with the stored one; another text is refused
    /// (`DisclosureConflict`).
    pub async fn publish_disclosure(
        &self,
        version: &str,
        text: &str,
        by: &str,
    ) -> Result<Disclosure, DisclosureError> {
        let sha = sha256_hex(text.as_bytes());
        let txn = self.db.begin().await?;
        let (stored, published) = crate::store::disclosures::publish(
            &txn,
            Disclosure {
                version: version.to_owned(),
                text: text.to_owned(),
                text_sha256: sha.clone(),
                published_at: self.clock.now(),
                published_by: by.to_owned(),
            },
        )
        .await?;
        if stored.text_sha256 != sha {
            return Err(DisclosureError::Conflict(version.to_owned()));
        }
        if published {
            let action = crate::store::audit::NewAction {
                actor: by,
                action: "publish_consent_disclosure",
                target: version,
                note: None,
                detail: Some(format!("sha256 {sha}")),
            };
            crate::store::audit::record(&txn, action, self.clock.now()).await?;
        }
        txn.commit().await?;
        Ok(stored)
    }

    /// The disclosure of `version`, or the latest published one.
    pub async fn disclosure(&self, version: Option<&str>) -> Result<Option<Disclosure>, DbErr> {
        match version {
            Some(v) => crate::store::disclosures::get(&self.db, v).await,
            None => crate::store::disclosures::latest(&self.db).await,
        }
    }

    /// The region numbers without `+` are read in.
    pub fn default_region(&self) -> phonenumber::country::Id {
        self.default_region
    }

    /// Where a recipient is, and which quiet hours hold there.
    pub fn locale(&self, profile: &Profile) -> Locale {
        let r = &profile.recipient;
        self.locale_rules
            .locale(r.timezone.as_deref(), r.phone_e164.as_deref())
    }

    /// The recipient of `user_id`, created with default preferences on first sight.
    pub async fn ensure(&self, user_id: &str) -> Result<Profile, DbErr> {
        ensure(&self.db, user_id, self.clock.now()).await
    }

    /// The recipient of `user_id`, if the service has seen them.
    pub async fn load(&self, user_id: &str) -> Result<Option<Profile>, DbErr> {
        load(&self.db, user_id).await
    }

    /// Sets (or with `""` clears) the user's number. Without a zone from the app the number says where
    /// the user is, so a pending streak alert follows it to the new number's local evening.
    pub async fn set_phone(&self, user_id: &str, input: &str) -> Result<Profile, RecipientError> {
        let profile = set_phone(
            &self.db,
            user_id,
            input,
            self.default_region,
            self.clock.now(),
        )
        .await?;
        if profile.recipient.timezone.is_none() {
            self.facts.reschedule_streak(user_id).await?;
        }
        Ok(profile)
    }

    /// Applies the user's answer to the opt-in modal; an opt-in keeps the disclosure shown.
    pub async fn answer_opt_in(
        &self,
        user_id: &str,
        action: OptInAction,
        context: OptInContext,
    ) -> Result<Profile, RecipientError> {
        let proof = self.proof(context, action == OptInAction::OptIn).await?;
        Ok(answer_opt_in(&self.db, user_id, action, proof, self.clock.now()).await?)
    }

    /// Updates the master switch and categories (consent with the switch, keeping the disclosure
    /// shown when it is turned on).
    pub async fn update_preferences(
        &self,
        user_id: &str,
        change: PreferencesChange,
        context: OptInContext,
    ) -> Result<Profile, RecipientError> {
        let proof = self.proof(context, change.allow_sms == Some(true)).await?;
        Ok(update_preferences(&self.db, user_id, change, proof, self.clock.now()).await?)
    }

    /// Creates or updates a recipient from the app's facts; a new zone moves a pending streak alert.
    pub async fn upsert(&self, facts: RecipientFacts) -> Result<Profile, RecipientError> {
        let checked = bulk::check(facts, self.default_region)?;
        let profile = bulk::upsert_one(&self.db, &checked, self.clock.now()).await?;
        if checked.zone_changed() {
            self.facts.reschedule_streak(&checked.user_id).await?;
        }
        Ok(profile)
    }

    /// `upsert` for up to `bulk::MAX_BULK` users in one transaction: each answer in its input's place,
    /// the facts that fail their checks refused alone (nothing of theirs written).
    pub async fn upsert_many(
        &self,
        all: Vec<RecipientFacts>,
    ) -> Result<Vec<Result<Profile, RecipientError>>, RecipientError> {
        let checked: Vec<Result<bulk::Checked, RecipientError>> = all
            .into_iter()
            .map(|f| bulk::check(f, self.default_region))
            .collect();
        let valid: Vec<bulk::Checked> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok().cloned())
            .collect();
        let now = self.clock.now();
        let txn = self.db.write().await?;
        let mut written = bulk::upsert_many(&*txn, &valid, now).await?.into_iter();
        txn.commit().await?;
        for c in valid.iter().filter(|c| c.zone_changed()) {
            self.facts.reschedule_streak(&c.user_id).await?;
        }
        Ok(checked
            .into_iter()
            .map(|c| {
                c.and_then(|_| {
                    written.next().ok_or_else(|| {
                        RecipientError::Db(DbErr::Custom("a profile went missing".into()))
                    })
                })
            })
            .collect())
    }

    /// Snoozes the user's promotional texts of `types` (all when empty) until `until` (in the future, at
    /// most 90 days ahead), or ends the snooze (`None`).
    pub async fn snooze(
        &self,
        user_id: &str,
        snooze: Option<(DateTime<Utc>, Vec<crate::store::MessageType>)>,
    ) -> Result<Profile, RecipientError> {
        let now = self.clock.now();
        if let Some((until, types)) = &snooze {
            if *until <= now {
                return Err(RecipientError::Invalid(
                    "until is not in the future: give when texts should start again.".into(),
                ));
            }
            if *until > now + Duration::days(rules::MAX_SNOOZE_DAYS) {
                return Err(RecipientError::Invalid(format!(
                    "A snooze lasts at most {} days; pick an earlier until.",
                    rules::MAX_SNOOZE_DAYS
                )));
            }
            if types
                .iter()
                .any(|t| crate::outbox::catalogue::is_transactional(*t))
            {
                return Err(RecipientError::Invalid(
                    "Verification codes and security alerts cannot be snoozed: they keep the account safe.".into(),
                ));
            }
        }
        Ok(self::snooze(&self.db, user_id, snooze, now).await?)
    }

    /// The federal quiet hours (`QUIET_HOURS`), for the rules a settings page shows.
    pub fn federal_quiet(&self) -> Option<crate::locale::quiet::QuietHours> {
        self.locale_rules.quiet_hours
    }

    /// The service's clock: what "now" is for a person's snooze.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether to show the opt-in modal now; when it is shown, records when.
    pub async fn take_prompt(&self, profile: &mut Profile) -> Result<bool, DbErr> {
        take_prompt(&self.db, profile, self.clock.now()).await
    }

    /// Consent records, newest first, paged by id.
    pub async fn consent_events(
        &self,
        filter: &ConsentFilter,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ConsentEvent>, DbErr> {
        consent::list(&self.db, filter, before_id, limit).await
    }

    /// Consent records in time order, `page` at a time after `after`, for the export.
    pub async fn consent_events_in_order(
        &self,
        filter: &ConsentFilter,
        after: Option<(DateTime<Utc>, i64)>,
        page: u64,
    ) -> Result<Vec<ConsentEvent>, DbErr> {
        consent::in_order(&self.db, filter, after, page).await
    }
}
