//! The app's facts about its users (`upsertRecipient`, `upsertRecipients`): checked one by one, then
//! written for one user in their own transaction, or for up to 1,000 in one.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};

use super::{RecipientError, RecipientFacts};
use crate::{
    locale::phone,
    store::recipients::{self as rows, Profile, RecipientChange},
};

/// Most users one `upsertRecipients` takes.
pub const MAX_BULK: usize = 1_000;

/// Facts checked and in the store's terms.
#[derive(Debug, Clone)]
pub struct Checked {
    pub user_id: String,
    change: RecipientChange,
    /// `Some(true)`: the app proved the number; `Some(false)`: it is not proven.
    verified: Option<bool>,
}

impl Checked {
    /// Whether the change moves the person's time zone (a pending streak alert moves with it).
    pub fn zone_changed(&self) -> bool {
        self.change.timezone.is_some()
    }
}

/// Checks `facts` as the API states them; nothing is written.
pub fn check(
    facts: RecipientFacts,
    region: phonenumber::country::Id,
) -> Result<Checked, RecipientError> {
    let user_id = facts.user_id.trim().to_owned();
    if user_id.is_empty() || user_id.chars().count() > 128 || user_id.chars().any(char::is_control)
    {
        return Err(RecipientError::Invalid(
            "userId must be the app's user id: 1 to 128 characters.".into(),
        ));
    }
    let timezone = match facts.timezone.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(name) => {
            let tz: chrono_tz::Tz = name
                .parse()
                .map_err(|_| RecipientError::InvalidTimezone(name.to_owned()))?;
            Some(Some(tz.name().to_owned()))
        }
    };
    let locale = match facts.locale.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(tag) => Some(Some(
            crate::locale::texts::Language::parse(tag)
                .map_err(|e| RecipientError::Invalid(format!("locale: {e}.")))?
                .tag()
                .to_owned(),
        )),
    };
    let phone = match facts.phone.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(number) => Some(Some(phone::normalize(number, region)?.into_string())),
    };
    if facts.phone_verified == Some(true) && phone == Some(None) {
        return Err(RecipientError::Invalid(
            "phoneVerified: true needs a phoneNumber (an empty one clears the number).".into(),
        ));
    }
    Ok(Checked {
        user_id,
        change: RecipientChange {
            phone,
            timezone,
            signed_up_at: facts.signed_up_at,
            locale,
            ..Default::default()
        },
        verified: facts.phone_verified,
    })
}

/// Applies checked facts to a profile read in `txn` (its row held).
pub async fn apply(
    txn: &impl ConnectionTrait,
    profile: &mut Profile,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<(), RecipientError> {
    let mut change = checked.change.clone();
    // The same number again keeps its proof; only a different one starts unproven.
    if change.phone.as_ref() == Some(&profile.recipient.phone_e164) {
        change.phone = None;
    }
    let touched = change.phone.is_some()
        || change
            .timezone
            .as_ref()
            .is_some_and(|t| *t != profile.recipient.timezone)
        || change
            .locale
            .as_ref()
            .is_some_and(|l| *l != profile.recipient.locale)
        || change
            .signed_up_at
            .is_some_and(|s| Some(s) != profile.recipient.signed_up_at);
    if touched {
        profile.recipient = rows::update(txn, &profile.recipient, change, now).await?;
    }
    match (checked.verified, profile.recipient.phone_e164.clone()) {
        (Some(true), Some(number)) if profile.recipient.phone_verified_at.is_none() => {
            rows::mark_verified(txn, &checked.user_id, &number, now).await?;
            profile.recipient.phone_verified_at = Some(now);
        }
        (Some(false), _) if profile.recipient.phone_verified_at.is_some() => {
            profile.recipient = rows::unverify(txn, &profile.recipient, now).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Writes `checked` for one user in a transaction of their own.
pub async fn upsert_one<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<Profile, RecipientError> {
    let (txn, mut profile) = rows::begin_locked(db, &checked.user_id, now).await?;
    apply(&txn, &mut profile, checked, now).await?;
    txn.commit().await?;
    Ok(profile)
}

/// Writes every user's facts in `txn`: the users not seen before created with their facts in one
/// statement each for their rows, preferences and proven numbers; every other row held in key order
/// and written as it changes. A user named twice gets both changes, in order.
pub async fn upsert_many(
    txn: &impl ConnectionTrait,
    checked: &[Checked],
    now: DateTime<Utc>,
) -> Result<Vec<Profile>, RecipientError> {
    let ids: Vec<&str> = checked.iter().map(|c| c.user_id.as_str()).collect();
    let known = rows::load_many(txn, ids.iter().copied()).await?;
    let mut seen = std::collections::HashSet::new();
    let first: Vec<rows::FirstFacts> = checked
        .iter()
        .filter(|c| !known.contains_key(&c.user_id) && seen.insert(c.user_id.as_str()))
        .map(Checked::first_facts)
        .collect();
    let created = rows::create_many(txn, &first, now).await?;
    // The people created here are this transaction's own; the others are held and read again.
    let others: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !created.contains_key(*id))
        .collect();
    rows::lock_rows(txn, others.iter().copied()).await?;
    let mut profiles = rows::load_many(txn, others.iter().copied()).await?;
    let created: std::collections::HashSet<String> = created
        .into_iter()
        .map(|(user_id, profile)| {
            profiles.insert(user_id.clone(), profile);
            user_id
        })
        .collect();
    let mut written = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(checked.len());
    for c in checked {
        let profile = profiles
            .get_mut(&c.user_id)
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("recipient {}", c.user_id)))?;
        // Created with these very facts just now: nothing more to write for its first mention.
        if !(created.contains(&c.user_id) && written.insert(c.user_id.as_str())) {
            apply(txn, profile, c, now).await?;
        }
        out.push(profile.clone());
    }
    Ok(out)
}

impl Checked {
    /// The facts as a new person's row carries them.
    fn first_facts(&self) -> rows::FirstFacts {
        let set = |v: &Option<Option<String>>| v.clone().flatten();
        let phone = set(&self.change.phone);
        rows::FirstFacts {
            user_id: self.user_id.clone(),
            verified: phone.is_some() && self.verified == Some(true),
            phone,
            timezone: set(&self.change.timezone),
            locale: set(&self.change.locale),
            signed_up_at: self.change.signed_up_at,
        }
    }
}
