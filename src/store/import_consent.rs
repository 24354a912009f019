//! `sms-notify import`'s preferences: the category switches and the consent the old app held. Each
//! consent given or revoked there becomes an event here with its original time, marked imported, once
//! (a second run finds it); the current state follows the file unless something here is newer.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{consent_events, sms_preferences};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

use super::{
    consent::{ConsentAction, ConsentMethod},
    import::{Outcome, untouched},
    import_writes::{self as writes, NewEvent, Settings},
};

/// One person's preferences and consent as the old app held them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPreferences {
    pub user_id: String,
    /// Invitations, results, reminders, streaks, direct messages, achievements; `None`: not in the file.
    pub categories: [Option<bool>; 6],
    pub consent_given_at: Option<DateTime<Utc>>,
    pub consent_method: Option<ConsentMethod>,
    pub consent_ip: Option<String>,
    pub consent_revoked_at: Option<DateTime<Utc>>,
}

impl ImportedPreferences {
    /// The consent's last change in the file.
    fn consent_changed_at(&self) -> Option<DateTime<Utc>> {
        self.consent_given_at.max(self.consent_revoked_at)
    }

    /// The events the file's consent stands for, oldest first.
    fn events(&self) -> Vec<(ConsentAction, DateTime<Utc>)> {
        let mut events: Vec<_> = [
            self.consent_given_at.map(|at| (ConsentAction::Given, at)),
            self.consent_revoked_at
                .map(|at| (ConsentAction::Revoked, at)),
        ]
        .into_iter()
        .flatten()
        .collect();
        events.sort_by_key(|(_, at)| *at);
        events
    }
}

/// A person here as the import compares them: their number, when the service first saw them, and
/// their preferences (`None` where they have no row yet: the defaults).
#[derive(Debug)]
struct Here {
    user_id: String,
    phone_e164: Option<String>,
    created_at: DateTime<Utc>,
    stored: Option<StoredPreferences>,
}

impl Here {
    /// The preferences as they are, or the defaults (every category on, no consent).
    fn settings(&self) -> Settings {
        match &self.stored {
            Some(p) => Settings {
                categories: [
                    p.battle_invitations,
                    p.battle_results,
                    p.battle_reminders,
                    p.streak_alerts,
                    p.direct_messages,
                    p.achievements,
                ],
                consent_given_at: p.consent_given_at,
                consent_method: p.consent_method,
                consent_ip: p.consent_ip.clone(),
                consent_revoked_at: p.consent_revoked_at,
            },
            None => Settings {
                categories: [true; 6],
                consent_given_at: None,
                consent_method: None,
                consent_ip: None,
                consent_revoked_at: None,
            },
        }
    }

    /// Whether the person's preferences ever held a consent (only then can events be here).
    fn had_consent(&self) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|p| p.consent_given_at.is_some() || p.consent_revoked_at.is_some())
    }

    /// Whether nothing here changed the preferences since the import (or since they were created).
    fn untouched(&self) -> bool {
        self.stored
            .as_ref()
            .is_none_or(|p| untouched(p.updated_at, p.imported_at, self.created_at))
    }
}

/// Imports preferences and consent for people already here (imported first): one read of the
/// people, one of their events, one upsert of the changed preferences and one insert of the events.
pub async fn preferences(
    txn: &impl ConnectionTrait,
    rows: &[ImportedPreferences],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    let people = here(txn, rows.iter().map(|r| r.user_id.as_str())).await?;
    // Only a person whose preferences ever held a consent can have events here (a fresh import
    // reads none).
    let with_history = people.values().filter(|p| p.had_consent());
    let events = events_of(txn, with_history.map(|p| p.user_id.as_str())).await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut upserts = Vec::new();
    let mut new_events = Vec::new();
    let mut seen = HashSet::new();
    for row in rows {
        let Some(person) = people.get(&row.user_id) else {
            outcomes.push(Outcome::Refused(format!(
                "no person '{}' here: import their row of people first",
                row.user_id
            )));
            continue;
        };
        if !seen.insert(row.user_id.as_str()) {
            outcomes.push(Outcome::Refused(
                "a second row for this person in the same file: the first was imported".into(),
            ));
            continue;
        }
        let here = events.get(&row.user_id).map(Vec::as_slice).unwrap_or(&[]);
        let added = missing_events(person, row, here);
        supersede_older(txn, here, &added).await?;
        let (outcome, upsert) = decide(person, row, here, !added.is_empty());
        new_events.extend(added);
        upserts.extend(upsert.map(|settings| (person.user_id.as_str(), settings)));
        outcomes.push(outcome);
    }
    // Rows here are updated in place; a person without preferences yet gets a row.
    let (present, absent): (Vec<_>, Vec<_>) = upserts
        .into_iter()
        .partition(|(user_id, _)| people.get(*user_id).is_some_and(|p| p.stored.is_some()));
    if !present.is_empty() {
        writes::update_preferences(txn, present, now).await?;
    }
    if !absent.is_empty() {
        writes::insert_preferences(txn, absent, now).await?;
    }
    if !new_events.is_empty() {
        writes::insert_events(txn, new_events, now).await?;
    }
    Ok(outcomes)
}

/// A preferences row as the import compares it.
#[derive(Debug, FromQueryResult)]
struct StoredPreferences {
    user_id: String,
    updated_at: DateTime<Utc>,
    imported_at: Option<DateTime<Utc>>,
    battle_invitations: bool,
    battle_results: bool,
    battle_reminders: bool,
    streak_alerts: bool,
    direct_messages: bool,
    achievements: bool,
    consent_given_at: Option<DateTime<Utc>>,
    consent_method: Option<ConsentMethod>,
    consent_ip: Option<String>,
    consent_revoked_at: Option<DateTime<Utc>>,
}

/// The people of a batch as the import compares them, by user id: the columns it compares, read by
/// key from each table. Not a join: PostgreSQL plans a batch's join as a scan of every preferences
/// row (a hash join), which grows with each batch a million-person import writes.
async fn here<'a>(
    txn: &impl ConnectionTrait,
    user_ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Here>, DbErr> {
    use entity::recipients::{Column as R, Entity as Recipients};
    use sms_preferences::Column as P;
    let ids: Vec<&str> = user_ids.collect();
    let mut stored: HashMap<String, StoredPreferences> = sms_preferences::Entity::find()
        .select_only()
        .columns([P::UserId, P::UpdatedAt, P::ImportedAt, P::BattleInvitations])
        .columns([
            P::BattleResults,
            P::BattleReminders,
            P::StreakAlerts,
            P::DirectMessages,
        ])
        .columns([
            P::Achievements,
            P::ConsentGivenAt,
            P::ConsentMethod,
            P::ConsentIp,
        ])
        .column(P::ConsentRevokedAt)
        .filter(P::UserId.is_in(ids.iter().copied()))
        .into_model::<StoredPreferences>()
        .all(txn)
        .await?
        .into_iter()
        .map(|p| (p.user_id.clone(), p))
        .collect();
    let people: Vec<(String, Option<String>, DateTime<Utc>)> = Recipients::find()
        .select_only()
        .columns([R::UserId, R::PhoneE164, R::CreatedAt])
        .filter(R::UserId.is_in(ids))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(people
        .into_iter()
        .map(|(user_id, phone_e164, created_at)| {
            let here = Here {
                stored: stored.remove(&user_id),
                user_id: user_id.clone(),
                phone_e164,
                created_at,
            };
            (user_id, here)
        })
        .collect())
}

/// What becomes of one person's preferences, and what to write when they change.
fn decide(
    person: &Here,
    row: &ImportedPreferences,
    here: &[consent_events::Model],
    events_added: bool,
) -> (Outcome, Option<Settings>) {
    let current = person.settings();
    let free = person.untouched();
    let mut next = current.clone();
    let mut kept = Vec::new();
    let mut switches = current.categories;
    for (i, wanted) in row.categories.iter().enumerate() {
        if let Some(w) = wanted {
            switches[i] = *w;
        }
    }
    if switches != current.categories {
        if free {
            next.categories = switches;
        } else {
            kept.push("the category switches (the person changed them here)".to_owned());
        }
    }
    let consent_here = here
        .iter()
        .filter(|e| e.imported_at.is_none())
        .map(|e| e.occurred_at)
        .max();
    let consent_differs = (current.consent_given_at, current.consent_revoked_at)
        != (row.consent_given_at, row.consent_revoked_at)
        || (row.consent_given_at.is_some() && current.consent_method != row.consent_method);
    if consent_differs && row.consent_changed_at().is_some() {
        match consent_here.filter(|h| Some(*h) > row.consent_changed_at()) {
            Some(newer) => kept.push(format!(
                "the consent (changed here at {}, after the old app's)",
                newer.to_rfc3339()
            )),
            None => {
                next.consent_given_at = row.consent_given_at;
                next.consent_method = row
                    .consent_method
                    .filter(|_| row.consent_given_at.is_some());
                next.consent_ip = row.consent_ip.clone();
                next.consent_revoked_at = row.consent_revoked_at;
            }
        }
    }
    let changed = next != current;
    let outcome = if !kept.is_empty() {
        Outcome::Kept(format!("newer here: {} kept", kept.join("; ")))
    } else if changed {
        // The first preferences a person gets (theirs were the defaults, without consent).
        let first = current.consent_given_at.is_none()
            && current.consent_revoked_at.is_none()
            && current.categories == [true; 6];
        if first {
            Outcome::Imported
        } else {
            Outcome::Updated
        }
    } else if events_added {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    };
    (outcome, changed.then_some(next))
}

/// The imported events a row stands for that are not here yet, chained to each other and to the
/// person's events here by `superseded_at` (an event is superseded by the next one in time).
fn missing_events(
    person: &Here,
    row: &ImportedPreferences,
    here: &[consent_events::Model],
) -> Vec<NewEvent> {
    let wanted = row.events();
    let mut times: Vec<DateTime<Utc>> = here.iter().map(|e| e.occurred_at).collect();
    times.extend(wanted.iter().map(|(_, at)| *at));
    times.sort();
    let method = row.consent_method.unwrap_or(ConsentMethod::Api);
    wanted
        .into_iter()
        .filter(|(action, at)| {
            !here
                .iter()
                .any(|e| e.imported_at.is_some() && e.action == *action && e.occurred_at == *at)
        })
        .map(|(action, at)| NewEvent {
            user_id: person.user_id.clone(),
            action,
            method,
            phone_e164: person.phone_e164.clone(),
            ip: row
                .consent_ip
                .clone()
                .filter(|_| action == ConsentAction::Given),
            occurred_at: at,
            superseded_at: times.iter().find(|t| **t > at).copied(),
        })
        .collect()
}

/// The person's newest event here, when an imported one is newer, is superseded by it.
async fn supersede_older(
    txn: &impl ConnectionTrait,
    here: &[consent_events::Model],
    added: &[NewEvent],
) -> Result<(), DbErr> {
    let Some(newest) = here.iter().find(|e| e.superseded_at.is_none()) else {
        return Ok(());
    };
    let next = added
        .iter()
        .map(|a| a.occurred_at)
        .filter(|at| *at > newest.occurred_at)
        .min();
    if let Some(at) = next {
        consent_events::Entity::update_many()
            .col_expr(consent_events::Column::SupersededAt, Expr::value(at))
            .filter(consent_events::Column::Id.eq(newest.id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Every consent event of `user_ids`, oldest first, by person.
async fn events_of<'a>(
    txn: &impl ConnectionTrait,
    user_ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Vec<consent_events::Model>>, DbErr> {
    let ids: Vec<&str> = user_ids.into_iter().collect();
    let mut out: HashMap<String, Vec<consent_events::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for event in consent_events::Entity::find()
        .filter(consent_events::Column::UserId.is_in(ids))
        .order_by_asc(consent_events::Column::OccurredAt)
        .all(txn)
        .await?
    {
        out.entry(event.user_id.clone()).or_default().push(event);
    }
    Ok(out)
}

/// For each of `numbers`, when consent was last given here (not imported) to it: a START after an
/// old opt-out wins over it.
pub(super) async fn last_given_here(
    txn: &impl ConnectionTrait,
    numbers: &[&str],
) -> Result<HashMap<String, DateTime<Utc>>, DbErr> {
    let mut out: HashMap<String, DateTime<Utc>> = HashMap::new();
    if numbers.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Option<String>, DateTime<Utc>)> = consent_events::Entity::find()
        .select_only()
        .column(consent_events::Column::PhoneE164)
        .column(consent_events::Column::OccurredAt)
        .filter(consent_events::Column::PhoneE164.is_in(numbers.iter().copied()))
        .filter(consent_events::Column::Action.eq(ConsentAction::Given))
        .filter(consent_events::Column::ImportedAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    for (phone, at) in rows {
        if let Some(phone) = phone {
            let entry = out.entry(phone).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    Ok(out)
}
