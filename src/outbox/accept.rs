//! Accepting messages: render, load the facts, decide (`policy::decide`), build the rows and write them
//! (`store::messages::insert_batch`). Every decision leaves a row: a refused message is `BLOCKED`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::{
    catalogue::{Brand, Language, MAX_SEGMENTS, Template},
    facts::Facts,
    shaping::{self, Shaped},
};
use crate::config::SavingsConfig;
use crate::{
    billing,
    locale::phone::{self, PhoneError},
    store::{
        BlockedReason, MessageRow, SmsStatus,
        messages::{self as rows, Limits},
    },
};

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An app user: their stored number and preferences apply.
    User(String),
    /// A number; when it belongs to a user, that user's preferences apply.
    Phone(phone::E164),
}

/// Where a message comes from: what its dedupe key means, whom it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A caller of the API (the app's back end, an admin): a dedupe key is the caller's idempotency
    /// key, so a repeat must be the same request or it is refused (`Conflict`) rather than answered
    /// with another message's row.
    Api,
    /// The service itself (a reminder scan, a verification code): a key names what is sent (a
    /// reminder whose text, the time left, differs between runs) and a repeat is answered with the
    /// first row.
    Service,
    /// An answer to a keyword the number just texted (STOP's confirmation, HELP's text): it may go to
    /// a number on the opt-out list, as carriers require.
    KeywordAnswer,
    /// An admin's retry of this message, the first of its line (`retrySms`).
    Retry { of: i64 },
}

/// How long a message is worth sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Its type's default (`policy::valid_until`).
    Default,
    /// Until this moment, wherever it is scheduled.
    Until(DateTime<Utc>),
    /// For this long from when it goes (`validForSeconds`): a scheduled send carries it along.
    For(chrono::Duration),
}

impl Validity {
    /// The moment it ends, for a message going at `goes`; `None` for the type's default.
    pub fn ends(self, goes: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Default => None,
            Self::Until(at) => Some(at),
            Self::For(span) => Some(goes + span),
        }
    }
}

/// A request to send one message.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub template: Template,
    /// Promotional messages carry the STOP footer and need consent and an enabled category.
    pub promotional: bool,
    pub target: Target,
    pub origin: Origin,
    /// For a battle invitation: who invites (their phone must be verified to invite a stranger).
    pub inviter_user_id: Option<String>,
    pub related: Option<(String, String)>,
    /// A repeat with the same key returns the first row and sends nothing (what else it means is
    /// the origin's).
    pub dedupe_key: Option<String>,
    /// What a promotion does inside the recipient's quiet hours.
    pub quiet: QuietPolicy,
    pub validity: Validity,
    /// Refused before policy (the verification fraud guard, the codes' daily ceiling): written
    /// `BLOCKED` with this reason, so the log keeps the refusal.
    pub refused: Option<BlockedReason>,
    /// A scheduled send: it waits until then, and the rules of time are decided for that moment.
    pub send_at: Option<DateTime<Utc>>,
    /// The W3C `traceparent` of the request that asked for it (only while traces are exported; the
    /// outbox takes the caller's span's when this is `None`).
    pub trace_parent: Option<String>,
    /// Addresses in the text become short links (`SMS_LINK_SHORTENING`); a sender may keep them.
    pub shorten_links: bool,
    /// A battle invitation or result may wait for a digest (`SMS_DIGEST_WINDOW`); off for a caller
    /// that waits for the outcome (`sendAsync: false`).
    pub hold_for_digest: bool,
    /// The language to write it in; `None`: the person's (`Recipient.locale`), else for a number
    /// nobody owns the language of the last text it got, else English.
    pub language: Option<Language>,
}

impl SendRequest {
    /// A message of `origin` with no inviter, no related object, no dedupe key, deferred in quiet
    /// hours, valid for its type's default.
    pub fn new(origin: Origin, target: Target, template: Template, promotional: bool) -> Self {
        Self {
            template,
            promotional,
            target,
            origin,
            inviter_user_id: None,
            related: None,
            dedupe_key: None,
            quiet: QuietPolicy::Defer,
            validity: Validity::Default,
            refused: None,
            send_at: None,
            trace_parent: None,
            shorten_links: true,
            hold_for_digest: true,
            language: None,
        }
    }

    /// The message is worth sending until `at`, not its type's default.
    pub fn valid_until(mut self, at: DateTime<Utc>) -> Self {
        self.validity = Validity::Until(at);
        self
    }

    /// Until when it is worth sending when accepted at `now`; `None` for its type's default.
    pub fn ends(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.validity.ends(self.send_at.unwrap_or(now))
    }

    /// The row it was retried from, for a retry.
    pub fn retry_of(&self) -> Option<i64> {
        match self.origin {
            Origin::Retry { of } => Some(of),
            _ => None,
        }
    }

    /// Records the object the message is about (`battle`, `b42`), when there is one.
    pub fn related(mut self, kind: &str, id: Option<String>) -> Self {
        self.related = id.map(|id| (kind.to_owned(), id));
        self
    }
}

/// The dedupe key's prefix of an answer to a keyword (`keyword_answer:<inbound id>`): how the claim
/// knows the row may reach a number on the opt-out list.
pub const KEYWORD_ANSWER_KEY: &str = "keyword_answer:";

/// What happens to a promotional message asked for inside the recipient's quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuietPolicy {
    /// Queued for the end of the quiet hours (messages the app sends now).
    #[default]
    Defer,
    /// Recorded as blocked with `quiet_hours` (scheduled reminders, whose moment has passed).
    Block,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("No user '{0}' is known to the SMS service; push the user with upsertRecipient first.")]
    UnknownUser(String),
    #[error(transparent)]
    InvalidPhone(#[from] PhoneError),
    #[error("The message body is empty; write the text to send.")]
    EmptyBody,
    #[error(
        "The message is {segments} segments long; the limit is {MAX_SEGMENTS} (about 1,530 plain characters, or 670 with emoji or non-Latin letters)."
    )]
    TooLong { segments: u32 },
    #[error("{0}")]
    Invalid(String),
    /// An idempotency key used before for a different message.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The database is out of reach or busy: nothing was written; try again shortly.
    #[error("the database is unavailable")]
    Unavailable,
    /// Something inside the pipeline failed (a batch that stopped, a row that could not be read
    /// back): the cause is logged, the caller is told to try again.
    #[error("internal: {0}")]
    Internal(String),
}

impl SendError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

pub use super::validate::blank;
pub(super) use super::validate::validate;

/// A message's row, and whether this call created it (or found it by its dedupe key).
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub row: MessageRow,
    pub created: bool,
}

pub type Answer = Result<Enqueued, SendError>;

/// A request that passed validation, with its text as it would go.
pub(super) struct Accepted {
    pub(super) index: usize,
    pub(super) request: SendRequest,
    pub(super) shaped: Shaped,
    /// The language `shaped` is written in.
    pub(super) language: Language,
}

impl Accepted {
    /// The answer to a request whose key already has `row`: that row, unless the key is a client's
    /// idempotency key and `row` is another message (`Conflict`).
    fn answer_with(&self, row: &MessageRow, shaping: (&Brand, &SavingsConfig)) -> Answer {
        if self.request.origin == Origin::Api && !self.is(row, shaping) {
            return Err(SendError::Conflict(
                "This idempotencyKey was used for a different message; use a new key for a new message, or repeat the first request exactly."
                    .into(),
            ));
        }
        Ok(Enqueued {
            row: row.clone(),
            created: false,
        })
    }

    /// Whether `row` is this request's message: the same type, recipient, text and related object.
    fn is(&self, row: &MessageRow, (brand, settings): (&Brand, &SavingsConfig)) -> bool {
        let request = &self.request;
        // The row may be written in another language than this request would be now.
        let language = Language::stored(row.locale.as_deref());
        let in_its_language = (language != self.language).then(|| {
            let request = &self.request;
            let shaping = (brand, settings, language);
            shaping::render(
                &request.template,
                request.promotional,
                shaping,
                request.shorten_links,
            )
        });
        let recipient = match &request.target {
            Target::User(id) => row.user_id.as_deref() == Some(id.as_str()),
            Target::Phone(e164) => row.to_phone == e164.as_str(),
        };
        recipient
            && row.message_type == request.template.message_type()
            && row.promotional == request.promotional
            && shaping::same_text(
                &row.body,
                in_its_language.as_ref().unwrap_or(&self.shaped),
                settings,
            )
            && request
                .related
                .as_ref()
                .map(|(t, i)| (t.as_str(), i.as_str()))
                == row
                    .related_object_type
                    .as_deref()
                    .zip(row.related_object_id.as_deref())
    }
}

/// The answers of a batch, one per request, filled in as the batch goes.
struct Answers {
    slots: Vec<Option<Answer>>,
    /// Rows by dedupe key: found before the batch, or written by it.
    known: HashMap<String, MessageRow>,
    /// Requests that repeat a key earlier in the same batch: answered with that one's row.
    repeats: Vec<Accepted>,
    /// How texts are shaped (a repeat is compared by its text before its links were shortened).
    settings: SavingsConfig,
    brand: Brand,
}

impl Answers {
    fn set(&mut self, index: usize, answer: Answer) {
        self.slots[index] = Some(answer);
    }

    fn finish(mut self) -> Vec<Answer> {
        for repeat in std::mem::take(&mut self.repeats) {
            let key = repeat.request.dedupe_key.as_deref().unwrap_or_default();
            let answer = match self.known.get(key) {
                Some(row) => repeat.answer_with(row, (&self.brand, &self.settings)),
                None => Err(SendError::Invalid(
                    "an earlier message with this idempotency key was refused".into(),
                )),
            };
            self.slots[repeat.index] = Some(answer);
        }
        self.slots
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(SendError::internal("not processed"))))
            .collect()
    }
}

/// Renders, decides and records a batch of messages with a fixed number of queries, whatever its size:
/// one for idempotency keys, three for the people and numbers it is about (`Facts::load`), and one
/// write transaction (`store::messages::insert_batch`). This is how scans enqueue what they find;
/// `enqueue` is a batch of one. Each request gets its own answer: a row (pending or blocked) or the
/// reason its input is invalid (nothing is written for it).
#[tracing::instrument(skip_all, fields(batch = requests.len()))]
pub async fn enqueue_many(
    outbox: &super::Outbox,
    requests: Vec<SendRequest>,
) -> Result<Vec<Answer>, DbErr> {
    let now = outbox.now();
    let brand = Brand {
        app_name: outbox.sms.app_name.clone(),
        frontend_url: outbox.sms.frontend_url.clone(),
    };
    let keys = requests
        .iter()
        .filter_map(|r| r.dedupe_key.clone())
        .collect();
    let known = rows::find_by_dedupe_keys(&outbox.db, keys).await?;
    let mut answers = Answers {
        slots: (0..requests.len()).map(|_| None).collect(),
        known: known
            .into_iter()
            .filter_map(|row| Some((row.dedupe_key.clone()?, row)))
            .collect(),
        repeats: Vec::new(),
        settings: outbox.sms.savings.clone(),
        brand: brand.clone(),
    };
    let fresh = triage(requests, &mut answers);
    let asked: Vec<&SendRequest> = fresh.iter().map(|(_, r)| r).collect();
    let facts = Facts::load(&outbox.db, &asked, now).await?;
    let mut messages = Vec::with_capacity(fresh.len());
    let mut owners = Vec::with_capacity(fresh.len());
    for (index, request) in fresh {
        // Written once, in the person's language.
        let language = facts.language_for(&request);
        let shaping = (&brand, &answers.settings);
        let item = match super::language::write(index, request, language, shaping) {
            Ok(item) => item,
            Err(error) => {
                answers.set(index, Err(error));
                continue;
            }
        };
        match facts.message(outbox, &item, &brand, now) {
            Ok(message) => {
                messages.push(message);
                owners.push(item);
            }
            Err(error) => answers.set(item.index, Err(error)),
        }
    }
    outbox.hold_for_digests(&mut messages, now).await?;
    let costs = &outbox.costs;
    let limits = Limits {
        user_daily_limit: costs.user_daily_limit,
        monthly_limit: outbox.cap.monthly_limit(),
        transactional_reserve: outbox.cap.transactional_reserve(),
        code_daily_limit: Some(outbox.code_daily_limit()),
        link_retention: chrono::Duration::from_std(outbox.sms.savings.link_retention)
            .unwrap_or(chrono::Duration::days(90)),
        inviter_cap: costs.inviter_cap,
    };
    let written = super::writes::write(outbox, messages, limits, now).await?;
    if let Some(standing) = written.standing {
        let month = billing::month_of(now);
        billing::warn_thresholds(&outbox.db, &month, limits.monthly_limit, standing).await?;
    }
    let mut queued = false;
    for (item, row) in owners.into_iter().zip(written.rows) {
        let answer = settle(outbox, &mut answers, &item, row).await?;
        queued |= answer
            .as_ref()
            .is_ok_and(|e| e.created && e.row.status == SmsStatus::Pending);
        answers.set(item.index, answer);
    }
    if queued {
        outbox.signals.work_queued();
    }
    Ok(answers.finish())
}

/// `enqueue_many` for the group commit, where requests of many callers share a batch: a batch that
/// fails whole (one request's row refused by the database) is decided again one request at a time, so
/// that the failure stays with the request that caused it. A database that cannot be reached fails
/// the batch at once: trying each request alone would only wait longer.
pub async fn enqueue_isolating(
    outbox: &super::Outbox,
    requests: Vec<SendRequest>,
) -> Result<Vec<Answer>, DbErr> {
    if requests.len() < 2 {
        return enqueue_many(outbox, requests).await;
    }
    let error = match enqueue_many(outbox, requests.clone()).await {
        Ok(answers) => return Ok(answers),
        Err(error) if crate::store::unavailable(&error) => return Err(error),
        Err(error) => error,
    };
    tracing::warn!(%error, batch = requests.len(), "a batch failed whole; deciding its requests one by one");
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        answers.push(match enqueue_many(outbox, vec![request]).await {
            Ok(mut one) => one
                .pop()
                .unwrap_or_else(|| Err(SendError::internal("no answer"))),
            Err(error) => Err(SendError::Db(error)),
        });
    }
    Ok(answers)
}

/// Answers what needs no database: a key already known, a key repeated in the batch (both compared
/// by their text, written here), input that is invalid. Returns the rest, to be written once the
/// language of each is known (`language::write`).
fn triage(requests: Vec<SendRequest>, answers: &mut Answers) -> Vec<(usize, SendRequest)> {
    let mut keys_in_batch = HashSet::new();
    let mut fresh = Vec::new();
    for (index, request) in requests.into_iter().enumerate() {
        if let Err(e) = validate(&request.template) {
            answers.set(index, Err(e));
            continue;
        }
        let Some(key) = request.dedupe_key.clone() else {
            fresh.push((index, request));
            continue;
        };
        let known = answers.known.contains_key(&key);
        if !known && keys_in_batch.insert(key.clone()) {
            fresh.push((index, request));
            continue;
        }
        // Written in the language asked for (or English); `Accepted::is` writes it again in the
        // language of the row it is compared with when that differs.
        let language = request.language.unwrap_or_default();
        let item = match super::language::write(
            index,
            request,
            language,
            (&answers.brand, &answers.settings),
        ) {
            Ok(item) => item,
            Err(error) => {
                answers.set(index, Err(error));
                continue;
            }
        };
        match answers.known.get(&key) {
            Some(row) => {
                let answer = item.answer_with(row, (&answers.brand, &answers.settings));
                answers.set(index, answer);
            }
            None => answers.repeats.push(item),
        }
    }
    fresh
}

/// The answer for a written message (or one whose key raced in from another request after the
/// look-up: answered with the row that won), with its metrics and log line.
async fn settle(
    outbox: &super::Outbox,
    answers: &mut Answers,
    item: &Accepted,
    row: Option<MessageRow>,
) -> Result<Answer, DbErr> {
    let Some(row) = row else {
        let key = item.request.dedupe_key.clone().unwrap_or_default();
        let found = rows::find_by_dedupe_keys(&outbox.db, vec![key.clone()])
            .await?
            .pop();
        return Ok(match found {
            Some(row) => {
                // Repeats of the key later in this batch are answered with the row that won.
                let answer = item.answer_with(&row, (&answers.brand, &answers.settings));
                answers.known.insert(key, row);
                answer
            }
            None => Err(SendError::internal("its row could not be read back")),
        });
    };
    let kind = row.message_type_label();
    let outcome = if row.status == SmsStatus::Blocked {
        "blocked"
    } else {
        "queued"
    };
    outbox
        .metrics
        .messages
        .with_label_values(&[kind.as_str(), outcome])
        .inc();
    match row.blocked_reason {
        Some(reason) => {
            outbox
                .metrics
                .blocked
                .with_label_values(&[reason.as_str()])
                .inc();
            tracing::info!(
                id = row.id,
                to = phone::mask(&row.to_phone),
                reason = reason.as_str(),
                "message blocked"
            );
        }
        None => tracing::info!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            segments = row.segments,
            "message queued"
        ),
    }
    if let Some(key) = &row.dedupe_key {
        answers.known.insert(key.clone(), row.clone());
    }
    Ok(Ok(Enqueued { row, created: true }))
}

/// Whether a status is final (nothing more will happen without a delivery receipt).
pub fn is_settled(status: SmsStatus) -> bool {
    super::lifecycle::settled(status)
}
