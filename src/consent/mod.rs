//! Consent, one capability: whether a person and a number may get promotional texts. It owns the
//! opt-out list (STOP, the carrier, an operator), consent given and revoked (the TCPA record, kept
//! append-only with the disclosure shown, `store::consent`), and the webhook events of both. Every path
//! that changes either calls here, inside its own transaction: STOP and START replies, an admin's
//! opt-out actions, the opt-in prompt and the settings page, a verified number, the provider's own
//! opt-out answer. (Erasure rewrites the record in the erasure's one transaction, `store::erasure`,
//! and retention purges it; neither changes whether anyone may be texted.)

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

pub use crate::store::{
    consent::{ConsentAction, ConsentMethod, ConsentProof, ConsentSource},
    opt_outs::{OptOut, OptOutSource},
};
use crate::{
    locale::phone::E164,
    store::{
        consent as record, opt_outs as list,
        recipients::{self as recipient_rows, Profile},
    },
    webhooks::event::{self, Event},
};

/// Puts `phone` on the opt-out list from `source` at `at` (`opt_out.added`); false when it was on it
/// already (its entry keeps its first source and time, and no event is emitted).
pub async fn opt_out(
    db: &impl ConnectionTrait,
    phone: &E164,
    source: OptOutSource,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let added = list::add(db, phone, source, at).await?;
    if added {
        event::emit(db, &[Event::OptOutAdded { phone, source }], at).await?;
    }
    Ok(added)
}

/// Takes `phone` off the opt-out list at `at` (`opt_out.removed`); false when it was not on it.
pub async fn opt_in(
    db: &impl ConnectionTrait,
    phone: &E164,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let removed = list::remove(db, phone).await?;
    if removed {
        event::emit(db, &[Event::OptOutRemoved { phone }], at).await?;
    }
    Ok(removed)
}

/// Records `profile`'s consent given at `at` from `source`, and returns the profile as it is now.
pub async fn give(
    txn: &impl ConnectionTrait,
    mut profile: Profile,
    source: &ConsentSource,
    at: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    profile.preferences = record::record(txn, &profile, ConsentAction::Given, source, at).await?;
    Ok(profile)
}

/// Records `profile`'s consent revoked at `at` from `source`, and returns the profile as it is now.
pub async fn revoke(
    txn: &impl ConnectionTrait,
    mut profile: Profile,
    source: &ConsentSource,
    at: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    profile.preferences = record::record(txn, &profile, ConsentAction::Revoked, source, at).await?;
    Ok(profile)
}

/// The consent source of a keyword texted to the service's number.
fn keyword() -> ConsentSource {
    ConsentSource::plain(ConsentMethod::SmsKeyword, None)
}

/// STOP from `phone` at `at`: the number goes on the list and every user with that number loses their
/// consent (a STOP revokes whatever consent covered the number). Returns the users whose consent
/// changed.
pub async fn stop(
    txn: &impl ConnectionTrait,
    phone: &E164,
    at: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    opt_out(txn, phone, OptOutSource::Keyword, at).await?;
    let owners = recipient_rows::users_with_number(txn, phone, false).await?;
    recipient_rows::lock_rows(txn, owners.iter().map(String::as_str)).await?;
    let mut changed = Vec::new();
    for user in owners {
        if let Some(profile) = recipient_rows::load(txn, &user).await?
            && profile.preferences.has_consent()
        {
            revoke(txn, profile, &keyword(), at).await?;
            changed.push(user);
        }
    }
    Ok(changed)
}

/// START from `phone` at `at`: the number leaves the list, and the users who proved it and whose
/// master switch is on get their consent back. Returns the users whose consent changed.
pub async fn start(
    txn: &impl ConnectionTrait,
    phone: &E164,
    at: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    opt_in(txn, phone, at).await?;
    let owners = recipient_rows::users_with_number(txn, phone, true).await?;
    recipient_rows::lock_rows(txn, owners.iter().map(String::as_str)).await?;
    let mut changed = Vec::new();
    for user in owners {
        if let Some(profile) = recipient_rows::load(txn, &user).await?
            && profile.recipient.allow_sms
            && !profile.preferences.has_consent()
        {
            give(txn, profile, &keyword(), at).await?;
            changed.push(user);
        }
    }
    Ok(changed)
}

/// A number's entry on the opt-out list, if it is on it.
pub async fn entry(db: &impl ConnectionTrait, phone: &E164) -> Result<Option<OptOut>, DbErr> {
    list::get(db, phone).await
}
