//! Accepting messages: render, load the facts, decide (`policy::decide`), build the rows and write them
//! (`store::messages::insert_batch`). Every decision leaves a row: a refused message is `BLOCKED`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::{
    catalogue::{self, Brand, MAX_SEGMENTS, Template},
    policy::{self, StrangerInvitation},
};
use crate::{
    billing,
    locale::phone::{self, PhoneError},
    store::{
        MessageRow, MessageType, SmsStatus,
        messages::{self as rows, Limits, NewMessage, Verdict},
        opt_outs,
        recipients::{self as recipient_rows, Profile},
    },
};

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An app user: their stored number and preferences apply.
    User(String),
    /// A number in E.164; when it belongs to a user, that user's preferences apply.
    Phone(String),
}

/// A request to send one message.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub template: Template,
    /// Promotional messages carry the STOP footer and need consent and an enabled category.
    pub promotional: bool,
    pub target: Target,
    /// For a battle invitation: who invites (their phone must be verified to invite a stranger).
    pub inviter_user_id: Option<String>,
    pub related: Option<(String, String)>,
    /// A repeat with the same key returns the first row and sends nothing.
    pub dedupe_key: Option<String>,
    /// What a promotion does inside the recipient's quiet hours.
    pub quiet: QuietPolicy,
    /// An answer to a keyword the number just texted (STOP's confirmation, HELP's text): it may go to
    /// a number on the opt-out list, as carriers require.
    pub keyword_answer: bool,
}

impl SendRequest {
    /// A message with no inviter, no related object, no dedupe key, deferred in quiet hours.
    pub fn new(target: Target, template: Template, promotional: bool) -> Self {
        Self {
            template,
            promotional,
            target,
            inviter_user_id: None,
            related: None,
            dedupe_key: None,
            quiet: QuietPolicy::Defer,
            keyword_answer: false,
        }
    }

    /// Records the object the message is about (`battle`, `b42`), when there is one.
    pub fn related(mut self, kind: &str, id: Option<String>) -> Self {
        self.related = id.map(|id| (kind.to_owned(), id));
        self
    }
}

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
    #[error(transparent)]
    Db(#[from] DbErr),
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

/// The longest a single template input may be.
const MAX_FIELD_CHARS: usize = 500;

fn require(field: &str, value: &str) -> Result<(), SendError> {
    if value.trim().is_empty() {
        return Err(SendError::Invalid(format!("{field} must not be empty.")));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(SendError::Invalid(format!(
            "{field} is longer than {MAX_FIELD_CHARS} characters."
        )));
    }
    Ok(())
}

fn validate(template: &Template) -> Result<(), SendError> {
    match template {
        Template::BattleInvitation {
            inviter,
            topic,
            link,
        } => {
            require("inviterName", inviter)?;
            require("battleTopic", topic)?;
            require("invitationLink", link)
        }
        Template::BattleResult {
            topic,
            summary,
            link,
        } => {
            require("battleTopic", topic)?;
            require("resultSummary", summary)?;
            require("resultLink", link)
        }
        Template::BattleReminder {
            topic,
            time_remaining,
            link,
        } => {
            require("battleTopic", topic)?;
            require("timeRemaining", time_remaining)?;
            require("battleLink", link)
        }
        Template::StreakAlert { days, link } => {
            if *days == 0 {
                return Err(SendError::Invalid("streakCount must be at least 1.".into()));
            }
            require("actionLink", link)
        }
        Template::PhoneVerification { code } => require("code", code),
        Template::DirectMessage { sender, link } => {
            require("senderName", sender)?;
            require("link", link)
        }
        Template::AchievementUnlocked { name, link } => {
            require("achievementName", name)?;
            require("link", link)
        }
        Template::SecurityAlert { what, link } => {
            require("what", what)?;
            require("link", link)
        }
        Template::Text { body, .. } if body.trim().is_empty() => Err(SendError::EmptyBody),
        Template::Text { .. } => Ok(()),
    }
}

/// A message's row, and whether this call created it (or found it by its dedupe key).
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub row: MessageRow,
    pub created: bool,
}

pub type Answer = Result<Enqueued, SendError>;

/// A request that passed validation, with its rendered body.
struct Accepted {
    index: usize,
    request: SendRequest,
    rendered: catalogue::Rendered,
}

/// The answers of a batch, one per request, filled in as the batch goes.
struct Answers {
    slots: Vec<Option<Answer>>,
    /// Rows by dedupe key: found before the batch, or written by it.
    known: HashMap<String, MessageRow>,
    /// Requests that repeat a key earlier in the same batch: answered with that one's row.
    repeats: Vec<(usize, String)>,
}

impl Answers {
    fn set(&mut self, index: usize, answer: Answer) {
        self.slots[index] = Some(answer);
    }

    fn finish(mut self) -> Vec<Answer> {
        for (index, key) in std::mem::take(&mut self.repeats) {
            let answer = match self.known.get(&key) {
                Some(row) => Ok(Enqueued {
                    row: row.clone(),
                    created: false,
                }),
                None => Err(SendError::Invalid(
                    "an earlier message with this idempotency key was refused".into(),
                )),
            };
            self.slots[index] = Some(answer);
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
    };
    let accepted = triage(requests, &mut answers, &brand);
    let facts = Facts::load(&outbox.db, &accepted, now).await?;
    let mut messages = Vec::with_capacity(accepted.len());
    let mut owners = Vec::with_capacity(accepted.len());
    for item in accepted {
        match facts.message(outbox, &item, &brand, now) {
            Ok(message) => {
                messages.push(message);
                owners.push(item);
            }
            Err(error) => answers.set(item.index, Err(error)),
        }
    }
    let costs = &outbox.costs;
    let limits = Limits {
        user_daily_limit: costs.user_daily_limit,
        monthly_limit: costs.monthly_limit,
        transactional_reserve: costs.transactional_reserve,
    };
    let turn = outbox.sqlite_turn().await;
    let written = rows::insert_batch(&outbox.db, messages, limits, now).await?;
    drop(turn);
    if written.reserved {
        billing::warn_thresholds(&outbox.db, &billing::month_of(now), costs.monthly_limit).await?;
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

/// Answers what needs no database: a key already known, a key repeated in the batch, input that is
/// invalid or too long. Returns the rest, rendered.
fn triage(requests: Vec<SendRequest>, answers: &mut Answers, brand: &Brand) -> Vec<Accepted> {
    let mut keys_in_batch = HashSet::new();
    let mut accepted = Vec::new();
    for (index, request) in requests.into_iter().enumerate() {
        if let Some(key) = &request.dedupe_key {
            if let Some(row) = answers.known.get(key) {
                let row = row.clone();
                answers.set(
                    index,
                    Ok(Enqueued {
                        row,
                        created: false,
                    }),
                );
                continue;
            }
            if !keys_in_batch.insert(key.clone()) {
                answers.repeats.push((index, key.clone()));
                continue;
            }
        }
        if let Err(e) = validate(&request.template) {
            answers.set(index, Err(e));
            continue;
        }
        let rendered = catalogue::render(&request.template, request.promotional, brand);
        if rendered.segments > MAX_SEGMENTS {
            let segments = rendered.segments;
            answers.set(index, Err(SendError::TooLong { segments }));
            continue;
        }
        accepted.push(Accepted {
            index,
            request,
            rendered,
        });
    }
    accepted
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
        let found = rows::find_by_dedupe_keys(&outbox.db, vec![key])
            .await?
            .pop();
        return Ok(match found {
            Some(row) => Ok(Enqueued {
                row,
                created: false,
            }),
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

/// Everyone and every number a batch is about, read in a fixed number of queries.
struct Facts {
    /// Users the batch names (recipients and inviters), and the verified owners of bare numbers.
    profiles: HashMap<String, Profile>,
    /// Bare numbers' verified owners: number -> user.
    owners: HashMap<String, String>,
    opted_out: HashSet<String>,
    /// Numbers without an owner that got a battle invitation in the last 24 hours.
    recently_invited: HashSet<String>,
}

impl Facts {
    async fn load(
        db: &impl ConnectionTrait,
        batch: &[Accepted],
        now: DateTime<Utc>,
    ) -> Result<Self, DbErr> {
        let user_ids = batch.iter().flat_map(|a| {
            let target = match &a.request.target {
                Target::User(id) => Some(id.as_str()),
                Target::Phone(_) => None,
            };
            target
                .into_iter()
                .chain(a.request.inviter_user_id.as_deref())
        });
        let mut profiles = recipient_rows::load_many(db, user_ids.collect::<HashSet<_>>()).await?;
        let bare = |a: &Accepted| match &a.request.target {
            Target::Phone(p) => Some(p.clone()),
            Target::User(_) => None,
        };
        let bare_numbers: HashSet<String> = batch.iter().filter_map(bare).collect();
        let mut owners = HashMap::new();
        for (phone, owner) in
            recipient_rows::verified_owners(db, bare_numbers.iter().map(String::as_str)).await?
        {
            owners.insert(phone, owner.recipient.user_id.clone());
            profiles
                .entry(owner.recipient.user_id.clone())
                .or_insert(owner);
        }
        let numbers: HashSet<&str> = batch
            .iter()
            .filter_map(|a| match &a.request.target {
                Target::Phone(p) => Some(p.as_str()),
                Target::User(id) => profiles
                    .get(id)
                    .and_then(|p| p.recipient.phone_e164.as_deref()),
            })
            .collect();
        let opted_out = opt_outs::among(db, numbers).await?;
        let strangers = batch
            .iter()
            .filter(|a| a.request.template.message_type() == MessageType::BattleInvitation)
            .filter_map(bare)
            .filter(|p| !owners.contains_key(p))
            .collect::<Vec<_>>();
        let since = now - Duration::hours(24);
        let recently_invited =
            rows::invited_since(db, strangers.iter().map(String::as_str), since).await?;
        Ok(Self {
            profiles,
            owners,
            opted_out,
            recently_invited,
        })
    }

    /// Who a message is for, and the number it goes to; `UnknownUser` for a user the service has
    /// never seen. A bare number is its verified owner's, or nobody's.
    fn target(&self, target: &Target) -> Result<(Option<&Profile>, Option<String>), SendError> {
        Ok(match target {
            Target::User(id) => {
                let p = self
                    .profiles
                    .get(id)
                    .ok_or_else(|| SendError::UnknownUser(id.clone()))?;
                (Some(p), p.recipient.phone_e164.clone())
            }
            Target::Phone(e164) => (
                self.owners
                    .get(e164)
                    .and_then(|user| self.profiles.get(user)),
                Some(e164.clone()),
            ),
        })
    }

    /// For a battle invitation to a number nobody owns: whether the inviter may invite a stranger,
    /// and whether the number was invited in the last 24 hours.
    fn stranger_invitation(
        &self,
        request: &SendRequest,
        profile: Option<&Profile>,
        to: Option<&str>,
    ) -> Option<StrangerInvitation> {
        let to = to?;
        if profile.is_some() || request.template.message_type() != MessageType::BattleInvitation {
            return None;
        }
        Some(StrangerInvitation {
            inviter_verified: request
                .inviter_user_id
                .as_ref()
                .and_then(|i| self.profiles.get(i))
                .is_some_and(|p| p.phone_verified()),
            recently_invited: self.recently_invited.contains(to),
        })
    }

    /// The message to write for one request, decided by policy; `UnknownUser` for a user the service
    /// has never seen.
    fn message(
        &self,
        outbox: &super::Outbox,
        item: &Accepted,
        brand: &Brand,
        now: DateTime<Utc>,
    ) -> Result<NewMessage, SendError> {
        let request = &item.request;
        let message_type = request.template.message_type();
        let (profile, to_phone) = self.target(&request.target)?;
        let country = to_phone.as_deref().and_then(phone::region_of);
        let stranger_invitation = self.stranger_invitation(request, profile, to_phone.as_deref());
        let locale = request.promotional.then(|| {
            outbox.locale_rules.locale(
                profile.and_then(|p| p.recipient.timezone.as_deref()),
                to_phone.as_deref(),
            )
        });
        // Only a transactional answer to a keyword may reach a number on the list.
        let opt_out_exempt = !request.promotional && request.keyword_answer;
        let facts = policy::Facts {
            message_type,
            promotional: request.promotional,
            recipient: profile,
            phone: to_phone.as_deref(),
            country,
            opted_out: !opt_out_exempt
                && to_phone
                    .as_ref()
                    .is_some_and(|p| self.opted_out.contains(p)),
            stranger_invitation,
            locale: locale.as_ref(),
            quiet: request.quiet,
            segments: item.rendered.segments,
        };
        let rules = policy::Rules {
            allowed_countries: &outbox.sms.allowed_countries,
            prices: &outbox.costs.prices,
            default_price: outbox.costs.default_price,
        };
        let decision = policy::decide(&facts, &rules, now);
        // A code is stored in the clear only while it waits to be sent; the log shows it masked.
        let (body, sensitive_body) =
            match catalogue::redacted(&request.template, request.promotional, brand) {
                Some(masked) => (masked.body, Some(item.rendered.body.clone())),
                None => (item.rendered.body.clone(), None),
            };
        Ok(NewMessage {
            user_id: profile.map(|p| p.recipient.user_id.clone()),
            to_phone: to_phone.unwrap_or_default(),
            country: country.map(|c| c.as_ref().to_owned()),
            message_type,
            promotional: request.promotional,
            body,
            sensitive_body,
            segments: item.rendered.segments as i32,
            encoding: item.rendered.encoding.as_str().to_owned(),
            verdict: match decision.verdict {
                Ok((due_at, cost_micros)) => Verdict::Accept {
                    due_at,
                    cost_micros,
                },
                Err(reason) => Verdict::Block(reason),
            },
            related: request.related.clone(),
            dedupe_key: request.dedupe_key.clone(),
            quiet_hours_zone: decision.quiet_zone.map(|z| z.name().to_owned()),
            state_cap: decision.state_cap,
            opt_out_exempt,
        })
    }
}

/// Exponential backoff with equal jitter: 2 s, 4 s, 8 s ... capped at 10 minutes, each between half and
/// all of its step, so retries of a burst spread out.
pub fn backoff(attempt: i32) -> Duration {
    let step = Ord::min(2_i64.saturating_pow(attempt.clamp(1, 20) as u32), 600);
    let half = step * 500;
    Duration::milliseconds(half + rand::random_range(0..=half))
}

/// Whether a status is final (nothing more will happen without a delivery receipt).
pub fn is_settled(status: SmsStatus) -> bool {
    !matches!(status, SmsStatus::Pending | SmsStatus::Sending)
}
