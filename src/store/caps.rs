//! Frequency caps and the per-inviter cap, decided inside the write that accepts a batch
//! (`messages::insert_batch`), where concurrent senders take their turns: on PostgreSQL the people's
//! rows are locked first (as for the daily limit; a number with an owner is sent as theirs) and numbers
//! nobody owns get an advisory lock each, in order; on SQLite the write lock holds everything. Then
//! their texts of the capped types in the longest period are read with the write's other checks
//! (`write_checks`), in the same statement, and counted.
//!
//! A cap counts texts: a request carried by a digest is not one (its digest is), and requests held for
//! a digest window count as the one text they will become. So where digests are on, a battle
//! invitation or result over a cap that can join a digest already waiting is folded into it instead of
//! refused. The per-inviter cap counts invitations, digested or not: five invitations from one friend
//! in one digest are still five.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use entity::sms_log::{BlockedReason, MessageType, SmsStatus};
use sea_orm::{ConnectionTrait, DbErr};

use super::messages::{NewMessage, Verdict};
use crate::recipients::caps::Cap;

/// A recent text to a capped number, as the caps count it.
#[derive(Debug, Clone)]
pub(super) struct Recent {
    pub to_phone: String,
    pub message_type: MessageType,
    pub created_at: DateTime<Utc>,
    pub status: SmsStatus,
    /// Held for a digest window (counts once per number and type).
    pub held: bool,
    pub inviter_id: Option<String>,
}

/// Whether a message is counted by a cap: accepted, with a cap on its type, or an invitation with an
/// inviter while the inviter cap is on.
fn capped(m: &NewMessage, inviter_cap: Option<Cap>) -> bool {
    matches!(m.verdict, Verdict::Accept { .. })
        && !m.to_phone.is_empty()
        && (!m.caps.is_empty() || (inviter_cap.is_some() && invitation_with_inviter(m)))
}

fn invitation_with_inviter(m: &NewMessage) -> bool {
    m.message_type == MessageType::BattleInvitation && m.inviter_id.is_some()
}

/// The numbers whose counts the batch needs.
pub(super) fn numbers(messages: &[NewMessage], inviter_cap: Option<Cap>) -> BTreeSet<&str> {
    messages
        .iter()
        .filter(|m| capped(m, inviter_cap))
        .map(|m| m.to_phone.as_str())
        .collect()
}

/// Of those, the numbers to lock (`write_checks`): a text for a person is already serialised with
/// every other text for them by the lock on their row (a number with an owner is sent as theirs), so
/// only numbers nobody owns need a lock of their own.
pub(super) fn to_lock(messages: &[NewMessage], inviter_cap: Option<Cap>) -> BTreeSet<&str> {
    messages
        .iter()
        .filter(|m| capped(m, inviter_cap) && m.user_id.is_none())
        .map(|m| m.to_phone.as_str())
        .collect()
}

/// A text as `write_checks` reads it: `to_phone`, `message_type`, `status`, `inviter_id`
/// (`\u{1e}` for none) and `created_at` joined by `\u{1f}`, and whether it is held for a digest.
pub(super) fn joined(text: &str, held: bool) -> Option<Recent> {
    let mut parts = text.split('\u{1f}');
    let to_phone = parts.next()?.to_owned();
    let message_type =
        <MessageType as sea_orm::ActiveEnum>::try_from_value(&parts.next()?.to_owned()).ok()?;
    let status =
        <SmsStatus as sea_orm::ActiveEnum>::try_from_value(&parts.next()?.to_owned()).ok()?;
    let inviter_id = Some(parts.next()?)
        .filter(|i| *i != "\u{1e}")
        .map(str::to_owned);
    let at = parts.next()?;
    let created_at = DateTime::parse_from_rfc3339(at)
        .or_else(|_| DateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .ok()?
        .with_timezone(&Utc);
    Some(Recent {
        to_phone,
        message_type,
        created_at,
        status,
        held,
        inviter_id,
    })
}

/// What to read for the batch: the capped types and the start of the longest period.
pub(super) fn wanted(
    messages: &[NewMessage],
    inviter_cap: Option<Cap>,
    now: DateTime<Utc>,
) -> (BTreeSet<String>, DateTime<Utc>) {
    let mut types = BTreeSet::new();
    let mut hours = 0;
    for m in messages.iter().filter(|m| capped(m, inviter_cap)) {
        types.insert(sea_orm::ActiveEnum::to_value(&m.message_type));
        hours = m.caps.iter().map(|c| c.hours).fold(hours, u32::max);
        if let Some(cap) = inviter_cap.filter(|_| invitation_with_inviter(m)) {
            hours = hours.max(cap.hours);
        }
    }
    (types, now - Duration::hours(i64::from(hours)))
}

/// Blocks each accepted message over a cap (`frequency_cap`, `inviter_cap`), counting the batch's
/// earlier messages too. The texts read are grouped by number and type once, so each message looks
/// at its own only.
pub(super) fn apply(
    messages: &mut [NewMessage],
    recent: Vec<Recent>,
    inviter_cap: Option<Cap>,
    now: DateTime<Utc>,
) {
    let mut groups: HashMap<(String, MessageType), Vec<Recent>> = HashMap::new();
    for r in recent {
        groups
            .entry((r.to_phone.clone(), r.message_type))
            .or_default()
            .push(r);
    }
    for message in messages.iter_mut() {
        if !capped(message, inviter_cap) {
            continue;
        }
        let group = groups
            .entry((message.to_phone.clone(), message.message_type))
            .or_default();
        let reason = over(message, group, inviter_cap, now);
        if let Some(reason) = reason {
            message.verdict = Verdict::Block(reason);
            continue;
        }
        group.push(Recent {
            to_phone: message.to_phone.clone(),
            message_type: message.message_type,
            created_at: now,
            status: SmsStatus::Pending,
            held: message.digest_hold,
            inviter_id: message.inviter_id.clone(),
        });
    }
}

/// The cap `message` would go over, if any.
fn over(
    message: &NewMessage,
    recent: &[Recent],
    inviter_cap: Option<Cap>,
    now: DateTime<Utc>,
) -> Option<BlockedReason> {
    let mine =
        |r: &&Recent| r.to_phone == message.to_phone && r.message_type == message.message_type;
    if let Some(cap) = inviter_cap.filter(|_| invitation_with_inviter(message)) {
        let since = now - Duration::hours(i64::from(cap.hours));
        let invited = recent
            .iter()
            .filter(mine)
            .filter(|r| r.inviter_id == message.inviter_id && r.created_at > since)
            .count();
        if invited >= cap.count as usize {
            return Some(BlockedReason::InviterCap);
        }
    }
    // Held requests become one text: a held message joining them adds none.
    let waiting =
        |r: &&Recent| r.held && matches!(r.status, SmsStatus::Pending | SmsStatus::Sending);
    let window_open = recent.iter().filter(mine).any(|r| waiting(&r));
    if message.digest_hold && window_open {
        return None;
    }
    for cap in &message.caps {
        let since = now - Duration::hours(i64::from(cap.hours));
        let texts = recent
            .iter()
            .filter(mine)
            .filter(|r| r.created_at > since && r.status != SmsStatus::Digested && !waiting(r))
            .count()
            + usize::from(window_open);
        if texts >= cap.count as usize {
            return Some(BlockedReason::FrequencyCap);
        }
    }
    None
}

/// What the caps would decide about `message` now, as they stand (no locks): for a preview.
pub async fn preview(
    db: &impl ConnectionTrait,
    message: &NewMessage,
    inviter_cap: Option<Cap>,
    now: DateTime<Utc>,
) -> Result<Option<BlockedReason>, DbErr> {
    let one = std::slice::from_ref(message);
    if !capped(message, inviter_cap) {
        return Ok(None);
    }
    let (types, since) = wanted(one, inviter_cap, now);
    let keys = super::write_checks::Keys {
        caps: Some(super::write_checks::CapsRead {
            phones: numbers(one, inviter_cap),
            types,
            since,
        }),
        ..Default::default()
    };
    let found = super::write_checks::read_unlocked(db, &keys, since).await?;
    let recent = found.recent.unwrap_or_default();
    Ok(over(message, &recent, inviter_cap, now))
}
