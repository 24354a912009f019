//! Replies: every text to our number is kept; STOP, START and HELP act on it (CTIA, and the FCC's 2024
//! rule that consent may be revoked by any reasonable means).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use serde::Deserialize;

use super::receipts::SnsDelivery;
use crate::{
    consent,
    locale::{
        phone,
        texts::{self, Language},
    },
    outbox::{SendError, SendRequest, Target, catalogue::Template},
    store::{
        messages,
        receipts::{self as rows, NewReply},
    },
    webhooks::event::{self, Event},
};

/// A text someone sent to our number (the `Message` of an SNS notification from two-way SMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReply {
    /// The person's number in E.164, or the sender as the carrier gave it when it is not a number
    /// (a short code, a name).
    pub from: String,
    /// Our number.
    pub to: String,
    pub body: String,
    pub inbound_message_id: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReply {
    origination_number: String,
    destination_number: String,
    #[serde(default)]
    message_body: String,
    #[serde(default)]
    inbound_message_id: Option<String>,
}

impl InboundReply {
    /// The sender as the edge read it (`parse`): its number in E.164, or as the carrier gave it
    /// when it is none (a short code), so that a STOP from it still lists what texted.
    pub fn sender(&self) -> phone::E164 {
        phone::E164::stored(self.from.clone())
    }

    /// Reads an inbound text; `received_at` is the SNS message's time.
    /// The sender's number is normalised to E.164 (numbers without `+` in `region`), so a STOP
    /// matches the number it was sent to however AWS wrote it; one that is no number is kept as it
    /// came.
    pub fn parse(
        json: &str,
        received_at: DateTime<Utc>,
        region: phonenumber::country::Id,
    ) -> Result<Self, String> {
        let raw: RawReply =
            serde_json::from_str(json).map_err(|e| format!("not an inbound text: {e}"))?;
        let from = phone::normalize(&raw.origination_number, region)
            .map_or_else(|_| raw.origination_number.trim().to_owned(), String::from);
        // What a phone sent is kept, but a byte no engine can store (PostgreSQL refuses NUL) is
        // shown as the replacement character, so one odd text never fails the notification.
        let storable = crate::locale::text::storable_text;
        Ok(Self {
            from: storable(from),
            to: storable(raw.destination_number),
            body: storable(raw.message_body),
            inbound_message_id: raw.inbound_message_id.map(storable),
            received_at,
        })
    }
}

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
    None,
}

impl Keyword {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Help => "help",
            Self::None => "none",
        }
    }
}

/// The keyword of a reply: the CTIA and AWS opt-out, opt-in and help words, in any case, with spaces
/// and punctuation around them ("Stop!", " stop. ", "Opt out").
pub fn keyword_of(body: &str) -> Keyword {
    keyword_and_language(body).0
}

/// The keyword of a reply and, for a language's own keyword (`ALTO`, `AYUDA`), that language: its
/// answer goes in it. The carriers' standard words belong to every language (the Spanish footer names
/// STOP too); their answer goes in the person's language.
pub fn keyword_and_language(body: &str) -> (Keyword, Option<Language>) {
    let word: String = body
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let keyword = match word.as_str() {
        // AWS's opt-out keywords, so the app's consent and AWS's list agree; and the CTIA words
        // that plainly revoke (the FCC's 2024 rule: any reasonable means), which put the number on
        // the service's own list too, the safe side of any difference.
        "ARRET" | "CANCEL" | "END" | "OPT-OUT" | "OPTOUT" | "QUIT" | "REMOVE" | "STOP" | "TD"
        | "UNSUBSCRIBE" | "STOPALL" | "STOP ALL" | "REVOKE" | "OPT OUT" => Keyword::Stop,
        // AWS's opt-in keywords exactly: a word AWS does not take as opting in must not take the
        // number off the service's list while AWS still refuses it.
        "START" | "UNSTOP" => Keyword::Start,
        "HELP" | "INFO" => Keyword::Help,
        other => {
            return match Language::of_keyword(other) {
                Some((language, kind)) => (
                    match kind {
                        texts::Keyword::Stop => Keyword::Stop,
                        texts::Keyword::Start => Keyword::Start,
                        texts::Keyword::Help => Keyword::Help,
                    },
                    Some(language),
                ),
                None => (Keyword::None, None),
            };
        }
    };
    (keyword, None)
}

/// What a reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOutcome {
    pub duplicate: bool,
    pub keyword: Keyword,
    /// Users whose consent was revoked (STOP) or given again (START).
    pub consent_changed: Vec<String>,
    /// Pending promotions to the number that STOP cancelled.
    pub cancelled: usize,
    /// The id of the answer queued (a confirmation or the help text), when one was sent.
    pub answer_log_id: Option<i64>,
}

/// Handles a reply: stored always; STOP puts the number on the opt-out list, revokes the consent of
/// every user with that number (method `SMS_KEYWORD`, at the reply's time) and cancels the number's
/// pending promotions; START takes it off the list and gives consent again to users whose master
/// switch is on; HELP is answered. With `SMS_SELF_MANAGED_OPT_OUTS` the service answers STOP and START
/// with a confirmation and HELP with the help text; otherwise AWS answers keywords itself.
#[tracing::instrument(name = "sms.reply", skip_all, fields(from = %phone::mask(&reply.from), trace_id = tracing::field::Empty))]
pub async fn handle_reply(
    inbound: &super::Inbound,
    sns: Option<SnsDelivery<'_>>,
    reply: &InboundReply,
) -> Result<ReplyOutcome, DbErr> {
    crate::telemetry::record_trace_id(&tracing::Span::current());
    let now = inbound.clock.now();
    let (keyword, language) = keyword_and_language(&reply.body);
    let mut outcome = ReplyOutcome {
        duplicate: false,
        keyword,
        consent_changed: Vec::new(),
        cancelled: 0,
        answer_log_id: None,
    };
    let txn = inbound.db.write().await?;
    if !rows::begin_delivery(&txn, sns.map(|s| (s.message_id, s.topic_arn)), now).await? {
        outcome.duplicate = true;
        return Ok(outcome);
    }
    let kept = NewReply {
        from_phone: &reply.from,
        to_number: &reply.to,
        body: &reply.body,
        keyword: keyword.as_str(),
        inbound_message_id: reply.inbound_message_id.as_deref(),
        received_at: reply.received_at,
    };
    rows::insert_reply(&txn, kept).await?;
    let event = Event::ReplyReceived {
        from: &reply.from,
        to: &reply.to,
        body: &reply.body,
        keyword: keyword.as_str(),
        received_at: reply.received_at,
    };
    event::emit(&txn, &[event], reply.received_at).await?;
    match keyword {
        Keyword::Stop => stop(&txn, reply, &mut outcome).await?,
        Keyword::Start => {
            let changed = consent::start(&txn, &reply.sender(), reply.received_at).await?;
            outcome.consent_changed.extend(changed);
        }
        Keyword::Help | Keyword::None => {}
    }
    txn.commit().await?;
    if keyword == Keyword::Stop {
        wait_for_sends_in_flight(inbound, &reply.from).await?;
    }
    tracing::info!(
        keyword = keyword.as_str(),
        consent_changed = outcome.consent_changed.len(),
        cancelled = outcome.cancelled,
        "reply received"
    );
    outcome.answer_log_id = answer_keyword(inbound, sns, reply, (keyword, language)).await?;
    Ok(outcome)
}

/// With self-managed opt-outs, answers STOP and START with a confirmation and HELP with the help text
/// (allowed to a number that just opted out, once per inbound message); the answer's log id. It goes
/// in the keyword's language (`ALTO`: Spanish), else in the person's (the number's owner's, or the
/// language of the last text the number got).
async fn answer_keyword(
    inbound: &super::Inbound,
    sns: Option<SnsDelivery<'_>>,
    reply: &InboundReply,
    (keyword, language): (Keyword, Option<Language>),
) -> Result<Option<i64>, DbErr> {
    let sms = &inbound.sms;
    let answer = match keyword {
        _ if !sms.self_managed_opt_outs => None,
        Keyword::Stop => Some(texts::Keyword::Stop),
        Keyword::Start => Some(texts::Keyword::Start),
        Keyword::Help => Some(texts::Keyword::Help),
        Keyword::None => None,
    };
    if let Some(answer) = answer {
        let id = reply
            .inbound_message_id
            .as_deref()
            .or(sns.map(|s| s.message_id))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let mut request = SendRequest::new(
            crate::outbox::Origin::KeywordAnswer,
            Target::Phone(reply.sender()),
            Template::KeywordAnswer {
                keyword: answer,
                contact: sms.help_contact.clone(),
            },
            false,
        );
        request.language = language;
        // A keyword's answer names the help address as it is: carriers review it word for word.
        request.shorten_links = false;
        // The key marks the answer as one, so the claim lets it reach a number on the list too.
        request.dedupe_key = Some(format!("{}{id}", crate::outbox::accept::KEYWORD_ANSWER_KEY));
        return match inbound.answers.enqueue(request).await {
            Ok(row) => Ok(Some(row.id)),
            Err(SendError::Db(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "the keyword answer could not be queued");
                Ok(None)
            }
        };
    }
    Ok(None)
}

/// STOP: the number goes on the opt-out list and its owners lose their consent (`consent::stop`),
/// and the number's queued promotions are blocked with their budget given back.
async fn stop(
    txn: &impl sea_orm::ConnectionTrait,
    reply: &InboundReply,
    outcome: &mut ReplyOutcome,
) -> Result<(), DbErr> {
    let changed = consent::stop(txn, &reply.sender(), reply.received_at).await?;
    outcome.consent_changed.extend(changed);
    let pending = messages::pending_promotions(txn, &reply.from).await?;
    outcome.cancelled = messages::block_opted_out(txn, &pending).await?;
    Ok(())
}

/// Once STOP is recorded, promotions to the number that a worker claimed before it (and checked
/// against the list then) may still be on their way to the provider. The STOP is answered only after
/// they are recorded, so that no promotion reaches the provider after the answer; workers that claim
/// later see the number on the list. Bounded by the send timeout and a little more.
async fn wait_for_sends_in_flight(inbound: &super::Inbound, phone: &str) -> Result<(), DbErr> {
    let deadline = tokio::time::Instant::now() + inbound.sms.send_timeout + Duration::from_secs(2);
    while messages::promotions_in_flight(&inbound.db, phone).await? > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                to = phone::mask(phone),
                "STOP recorded while a promotion to the number is still with a worker"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_in_any_writing() {
        for stop in [
            "STOP",
            "stop",
            " Stop! ",
            "StopAll",
            "unsubscribe",
            "CANCEL.",
            "end",
            "Quit",
            "revoke",
            "optout",
            "Opt out",
            "opt-out",
            "arret",
            "TD",
            "Remove",
        ] {
            assert_eq!(keyword_of(stop), Keyword::Stop, "{stop}");
        }
        for start in ["START", "unstop", "Unstop!"] {
            assert_eq!(keyword_of(start), Keyword::Start, "{start}");
        }
        for help in ["HELP", "help?", "Info"] {
            assert_eq!(keyword_of(help), Keyword::Help, "{help}");
        }
        for other in [
            "Stop sending me battle invites please",
            "yes please",
            "Yes",
            "",
            "🙂",
            "stopp",
        ] {
            assert_eq!(keyword_of(other), Keyword::None, "{other}");
        }
    }
}
