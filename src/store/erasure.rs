//! A person's erasure, in one transaction across the tables that hold them: what must go goes, what
//! the business must keep (messages for accounting, consent events as legal proof) loses what names
//! the person.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{
    battle_participants, consent_events, phone_verifications, proven_numbers, recipients, sms_log,
    sms_preferences, sms_replies, streaks,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use super::{
    SmsStatus, actions,
    audit::{self, NewAction},
    consent,
};

/// What an erasure did, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The numbers the person had (current and earlier), E.164.
    pub numbers: Vec<String>,
    /// Messages that were waiting to be sent, now `cancelled`.
    pub messages_cancelled: u64,
    /// Messages kept for accounting without their text, number or user.
    pub messages_scrubbed: u64,
    pub verifications_deleted: u64,
    /// Consent events whose number became its keyed hash.
    pub consent_events_pseudonymized: u64,
    /// Replies from the person's numbers, kept without their text or number.
    pub replies_scrubbed: u64,
    /// Webhook deliveries about the person (queued or delivered) rewritten without them.
    pub webhook_deliveries_scrubbed: u64,
    /// Admin actions whose target was one of the person's numbers, now its keyed hash.
    pub admin_actions_masked: u64,
    pub streaks_deleted: u64,
    pub battle_participations_deleted: u64,
}

impl Erased {
    /// One line for the audit trail.
    pub fn summary(&self) -> String {
        format!(
            "{} number(s); messages: {} cancelled, {} kept without text or number; {} verification(s) \
             deleted; {} consent event(s) pseudonymized; {} repl(ies) scrubbed; {} webhook delivery(ies) \
             scrubbed; {} admin action target(s) masked; {} streak(s), {} battle participation(s) deleted",
            self.numbers.len(),
            self.messages_cancelled,
            self.messages_scrubbed,
            self.verifications_deleted,
            self.consent_events_pseudonymized,
            self.replies_scrubbed,
            self.webhook_deliveries_scrubbed,
            self.admin_actions_masked,
            self.streaks_deleted,
            self.battle_participations_deleted
        )
    }
}

/// Erases `user_id` for `actor`, recorded in the audit trail in the same transaction: `None` when the
/// service holds no profile of theirs. `pseudonym` gives each number's keyed hash and last four digits.
pub async fn erase<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    (user_id, actor): (&str, &str),
    pseudonym: impl Fn(&str) -> (String, String),
    now: DateTime<Utc>,
) -> Result<Option<Erased>, DbErr> {
    let txn = db.begin().await?;
    // The recipient's row first, for writing: a send that read the profile holds it until it commits
    // (`messages::insert_batch`), so its message is found below; one after finds no one.
    let Some(recipient) = lock_for_delete(&txn, user_id).await? else {
        return Ok(None);
    };
    let (proven, numbers) = numbers_of(&txn, &recipient).await?;
    let mut erased = Erased {
        numbers: numbers.clone(),
        ..Default::default()
    };
    (erased.messages_cancelled, erased.messages_scrubbed) =
        scrub_messages(&txn, user_id, &proven, now).await?;
    erased.verifications_deleted = phone_verifications::Entity::delete_many()
        .filter(phone_verifications::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    // The current number first: the final event carries its hash.
    let mut ordered = numbers.clone();
    if let Some(current) = &recipient.phone_e164 {
        ordered.retain(|n| n != current);
        ordered.insert(0, current.clone());
    }
    let hashed: Vec<(String, String, String)> = ordered
        .iter()
        .map(|n| {
            let (hash, last4) = pseudonym(n);
            (n.clone(), hash, last4)
        })
        .collect();
    erased.consent_events_pseudonymized =
        consent::pseudonymize(&txn, user_id, &hashed, now).await?;
    erased.replies_scrubbed = scrub_replies(&txn, user_id, &proven, now).await?;
    erased.webhook_deliveries_scrubbed = super::webhooks::erase_subject(
        &txn,
        (user_id, &proven),
        |payload| scrub_payload(payload, user_id, &numbers),
        now,
    )
    .await?;
    // Targets naming one of their numbers (opt-out changes) keep the number's keyed hash only.
    for (number, hash, _) in &hashed {
        erased.admin_actions_masked += audit::mask_target(&txn, number, hash).await?;
    }
    // Consent events keep their proof under a keyed hash of the user id, not the id itself.
    let pseudonymous_id = format!("erased:{}", pseudonym(user_id).0);
    consent::rename_user(&txn, user_id, &pseudonymous_id).await?;
    delete_person(&txn, user_id, &mut erased).await?;
    let action = NewAction {
        actor,
        action: "delete_recipient",
        target: user_id,
        note: None,
        detail: Some(erased.summary()),
    };
    audit::record(&txn, action, now).await?;
    txn.commit().await?;
    Ok(Some(erased))
}

/// The person's numbers: those they proved (now and earlier), which are theirs (texts to them
/// without a user, and replies from them, are theirs too), and every number they had or tried, proven
/// or not (a number they only typed may be someone else's, so only their own rows of it are touched).
async fn numbers_of(
    txn: &impl ConnectionTrait,
    recipient: &recipients::Model,
) -> Result<(Vec<String>, Vec<String>), DbErr> {
    let user_id = recipient.user_id.as_str();
    let mut proven: BTreeSet<String> = recipient
        .phone_e164
        .clone()
        .filter(|_| recipient.phone_verified_at.is_some())
        .into_iter()
        .collect();
    proven.extend(
        proven_numbers::Entity::find()
            .select_only()
            .column(proven_numbers::Column::PhoneE164)
            .filter(proven_numbers::Column::UserId.eq(user_id))
            .into_tuple::<String>()
            .all(txn)
            .await?,
    );
    let mut numbers: BTreeSet<String> = recipient.phone_e164.clone().into_iter().collect();
    numbers.extend(proven.iter().cloned());
    let earlier: Vec<Option<String>> = consent_events::Entity::find()
        .select_only()
        .column(consent_events::Column::PhoneE164)
        .distinct()
        .filter(consent_events::Column::UserId.eq(user_id))
        .into_tuple()
        .all(txn)
        .await?;
    numbers.extend(earlier.into_iter().flatten());
    let tried: Vec<String> = phone_verifications::Entity::find()
        .select_only()
        .column(phone_verifications::Column::PhoneE164)
        .distinct()
        .filter(phone_verifications::Column::UserId.eq(user_id))
        .into_tuple()
        .all(txn)
        .await?;
    numbers.extend(tried);
    Ok((proven.into_iter().collect(), numbers.into_iter().collect()))
}

/// Messages to the person (theirs, and those sent to a number they proved without a user): the waiting
/// ones cancelled, all kept without text, number, user or key. Returns (cancelled, scrubbed).
async fn scrub_messages(
    txn: &(impl ConnectionTrait + TransactionTrait),
    user_id: &str,
    proven: &[String],
    now: DateTime<Utc>,
) -> Result<(u64, u64), DbErr> {
    let theirs = || {
        Condition::any()
            .add(sms_log::Column::UserId.eq(user_id))
            .add(
                Condition::all()
                    .add(sms_log::Column::UserId.is_null())
                    .add(sms_log::Column::ToPhone.is_in(proven.iter().map(String::as_str))),
            )
    };
    let pending: Vec<i64> = sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::Id)
        .filter(theirs())
        .filter(sms_log::Column::Status.eq(SmsStatus::Pending))
        .into_tuple()
        .all(txn)
        .await?;
    use sea_orm::QueryTrait as _;
    // Their texts' short links: the addresses may name them, and a click would say they clicked.
    let their_ids = sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::Id)
        .filter(theirs())
        .into_query();
    entity::sms_links::Entity::delete_many()
        .filter(entity::sms_links::Column::MessageId.in_subquery(their_ids))
        .exec(txn)
        .await?;
    let mut cancelled = 0;
    for id in pending {
        if actions::cancel(txn, id).await?.is_some() {
            cancelled += 1;
        }
    }
    let scrubbed = sms_log::Entity::update_many()
        .col_expr(sms_log::Column::Body, Expr::value(""))
        .col_expr(
            sms_log::Column::SensitiveBody,
            Expr::value(Option::<String>::None),
        )
        .col_expr(sms_log::Column::ToPhone, Expr::value(""))
        .col_expr(sms_log::Column::UserId, Expr::value(Option::<String>::None))
        .col_expr(
            sms_log::Column::DedupeKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            sms_log::Column::BodyPurgedAt,
            Expr::col(sms_log::Column::BodyPurgedAt).if_null(now),
        )
        .filter(theirs())
        .exec(txn)
        .await?
        .rows_affected;
    Ok((cancelled, scrubbed))
}

/// Replies from the numbers the person proved, unless somebody else has the number now: kept without
/// text or number. Returns how many.
async fn scrub_replies(
    txn: &impl ConnectionTrait,
    user_id: &str,
    proven: &[String],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let shared: Vec<String> = recipients::Entity::find()
        .select_only()
        .column(recipients::Column::PhoneE164)
        .filter(recipients::Column::PhoneE164.is_in(proven.iter().map(String::as_str)))
        .filter(recipients::Column::UserId.ne(user_id))
        .into_tuple::<Option<String>>()
        .all(txn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let only_theirs: Vec<&String> = proven.iter().filter(|n| !shared.contains(n)).collect();
    if only_theirs.is_empty() {
        return Ok(0);
    }
    Ok(sms_replies::Entity::update_many()
        .col_expr(sms_replies::Column::Body, Expr::value(""))
        .col_expr(sms_replies::Column::FromPhone, Expr::value(""))
        .col_expr(
            sms_replies::Column::BodyPurgedAt,
            Expr::col(sms_replies::Column::BodyPurgedAt).if_null(now),
        )
        .filter(sms_replies::Column::FromPhone.is_in(only_theirs.into_iter().cloned()))
        .exec(txn)
        .await?
        .rows_affected)
}

/// What goes with the person: their proven numbers, streak, battle participation, preferences and
/// profile.
async fn delete_person(
    txn: &impl ConnectionTrait,
    user_id: &str,
    erased: &mut Erased,
) -> Result<(), DbErr> {
    proven_numbers::Entity::delete_many()
        .filter(proven_numbers::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    erased.streaks_deleted = streaks::Entity::delete_many()
        .filter(streaks::Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    erased.battle_participations_deleted = battle_participants::Entity::delete_many()
        .filter(battle_participants::Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    sms_preferences::Entity::delete_by_id(user_id.to_owned())
        .exec(txn)
        .await?;
    recipients::Entity::delete_by_id(user_id.to_owned())
        .exec(txn)
        .await?;
    Ok(())
}

/// A webhook body without the person: every string of its data that is their user id or one of their
/// numbers becomes null, and texts (`body`) become empty. A body that is not JSON is emptied.
fn scrub_payload(payload: &str, user_id: &str, numbers: &[String]) -> String {
    fn walk(value: &mut serde_json::Value, user_id: &str, numbers: &[String]) {
        match value {
            serde_json::Value::String(s) if s == user_id || numbers.contains(s) => {
                *value = serde_json::Value::Null;
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|v| walk(v, user_id, numbers));
            }
            serde_json::Value::Object(fields) => {
                for (key, v) in fields.iter_mut() {
                    if key == "body" && v.is_string() {
                        *v = serde_json::Value::String(String::new());
                    } else {
                        walk(v, user_id, numbers);
                    }
                }
            }
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(mut body) => {
            if let Some(data) = body.get_mut("data") {
                walk(data, user_id, numbers);
            }
            body.to_string()
        }
        Err(_) => "{}".to_owned(),
    }
}

/// The recipient's row, locked for the rest of the transaction (PostgreSQL; SQLite holds its write
/// lock already).
async fn lock_for_delete(
    txn: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<recipients::Model>, DbErr> {
    let mut query = recipients::Entity::find_by_id(user_id.to_owned());
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(txn).await
}
