//! The events a webhook tells of, typed. The capability that makes a change emits its event in the
//! change's own transaction (`emit`): consent (`opt_out.*`), replies (`reply.received`), verification
//! (`verification.succeeded`) and the feed's dispatcher (`message.updated`). The store keeps only
//! what an event becomes: one signed body per endpoint that wants its kind.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use crate::store::{
    MessageRow,
    opt_outs::OptOutSource,
    webhooks::{self as rows, NewEvent},
};

/// The kinds of event an endpoint may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    MessageUpdated,
    ReplyReceived,
    OptOutAdded,
    OptOutRemoved,
    VerificationSucceeded,
    MessageClicked,
}

impl Kind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [Kind; 6] = [
        Kind::MessageUpdated,
        Kind::MessageClicked,
        Kind::ReplyReceived,
        Kind::OptOutAdded,
        Kind::OptOutRemoved,
        Kind::VerificationSucceeded,
    ];

    /// Its name on the wire and in an endpoint's list (`message.updated`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageUpdated => "message.updated",
            Self::ReplyReceived => "reply.received",
            Self::OptOutAdded => "opt_out.added",
            Self::OptOutRemoved => "opt_out.removed",
            Self::VerificationSucceeded => "verification.succeeded",
            Self::MessageClicked => "message.clicked",
        }
    }

    /// The kind of a name on the wire.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One event, with what its body tells.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A message was written or changed status, as the feed read it.
    MessageUpdated(&'a MessageRow),
    /// Someone texted the service's number.
    ReplyReceived {
        from: &'a str,
        to: &'a str,
        body: &'a str,
        keyword: &'a str,
        received_at: DateTime<Utc>,
    },
    /// A number went on the opt-out list.
    OptOutAdded {
        phone: &'a str,
        source: OptOutSource,
    },
    /// A number left the opt-out list.
    OptOutRemoved { phone: &'a str },
    /// A user proved their number with a code.
    VerificationSucceeded { user_id: &'a str, phone: &'a str },
    /// Someone followed a short link of a text (`GET /l/<code>`).
    MessageClicked {
        click: &'a crate::store::links::Click,
        short_url: &'a str,
        clicked_at: DateTime<Utc>,
    },
}

impl Event<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Self::MessageUpdated(_) => Kind::MessageUpdated,
            Self::ReplyReceived { .. } => Kind::ReplyReceived,
            Self::OptOutAdded { .. } => Kind::OptOutAdded,
            Self::OptOutRemoved { .. } => Kind::OptOutRemoved,
            Self::VerificationSucceeded { .. } => Kind::VerificationSucceeded,
            Self::MessageClicked { .. } => Kind::MessageClicked,
        }
    }

    /// The event as it is fanned out at `now`: its id (a change of the feed has its own,
    /// `msg_<stamp>_<message id>`, so a change read twice is one event), the Standard Webhooks body
    /// and whom it is about (an erasure finds its copies by them).
    pub fn at(&self, now: DateTime<Utc>) -> NewEvent {
        let kind = self.kind().as_str();
        match *self {
            Self::MessageUpdated(m) => NewEvent::with_id(
                format!("msg_{}_{}", m.change_seq, m.id),
                kind,
                message_data(m),
                now,
            )
            .about(m.user_id.as_deref(), Some(&m.to_phone)),
            Self::ReplyReceived {
                from,
                to,
                body,
                keyword,
                received_at,
            } => {
                let data = serde_json::json!({
                    "from": from,
                    "to": to,
                    "body": body,
                    "keyword": keyword.to_ascii_uppercase(),
                    "receivedAt": received_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                });
                NewEvent::new(kind, data, now).about(None, Some(from))
            }
            Self::OptOutAdded { phone, source } => {
                let source = sea_orm::ActiveEnum::to_value(&source).to_ascii_uppercase();
                let data = serde_json::json!({ "phoneNumber": phone, "source": source });
                NewEvent::new(kind, data, now).about(None, Some(phone))
            }
            Self::OptOutRemoved { phone } => {
                let data = serde_json::json!({ "phoneNumber": phone });
                NewEvent::new(kind, data, now).about(None, Some(phone))
            }
            Self::VerificationSucceeded { user_id, phone } => {
                let data = serde_json::json!({ "userId": user_id, "phoneNumber": phone });
                NewEvent::new(kind, data, now).about(Some(user_id), Some(phone))
            }
            Self::MessageClicked {
                click,
                short_url,
                clicked_at,
            } => {
                let data = serde_json::json!({
                    "messageId": click.message_id.to_string(),
                    "messageType": click.message_type.to_ascii_uppercase(),
                    "userId": click.user_id,
                    "url": click.url,
                    "shortUrl": short_url,
                    "clicks": click.clicks,
                    "clickedAt": clicked_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                });
                NewEvent::new(kind, data, now)
                    .about(click.user_id.as_deref(), Some(&click.to_phone))
            }
        }
    }
}

/// The body of `message.updated`.
fn message_data(m: &MessageRow) -> serde_json::Value {
    let status = sea_orm::ActiveEnum::to_value(&m.status).to_ascii_uppercase();
    serde_json::json!({
        "id": m.id.to_string(),
        "status": status,
        "messageType": m.message_type_label().to_ascii_uppercase(),
        "userId": m.user_id,
        "cost": m.cost_micros.map(|c| crate::billing::micros_to_dollars(c).to_string()),
        "errorCode": m.error_code,
        "errorMessage": m.error_message,
        "relatedObjectType": m.related_object_type,
        "relatedObjectId": m.related_object_id,
        "createdAt": m.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

/// Emits `events` in the caller's transaction: one pending delivery per enabled endpoint that wants
/// each one's kind. Returns how many deliveries were written.
pub async fn emit(
    db: &impl ConnectionTrait,
    events: &[Event<'_>],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let events: Vec<NewEvent> = events.iter().map(|e| e.at(now)).collect();
    rows::emit(db, &events, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name_and_reads_back() {
        let names: std::collections::HashSet<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("message.deleted"), None);
    }

    #[test]
    fn a_body_names_its_kind_and_its_subject() {
        let now = chrono::Utc::now();
        let event = Event::OptOutAdded {
            phone: "+12125550101",
            source: OptOutSource::Keyword,
        }
        .at(now);
        let body: serde_json::Value = serde_json::from_str(&event.payload).expect("json");
        assert_eq!(body["type"], "opt_out.added");
        assert_eq!(body["data"]["source"], "KEYWORD");
        assert_eq!(event.subject, (None, Some("+12125550101".to_owned())));
        assert!(event.id.starts_with("evt_"));
    }
}
