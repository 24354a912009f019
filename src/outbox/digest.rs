//! Digests: battle invitations and battle results to one person within `SMS_DIGEST_WINDOW` go as one
//! text ("Alice and 2 others challenged you to 3 battles: ..."), sent when the window closes.
//!
//! Accepting, a digestible request (an invitation or a result, promotional, neither scheduled nor
//! waited for) is held (`digest_hold`) until the window closes: the first one of a person and type
//! opens it (now + the window), later ones join it (its close). Claiming, the worker that takes a held
//! request locks the person's held requests of that type (`store::digests::lock_held`): alone, the
//! request leaves the hold and goes as it is; with others, one digest row carries them all (each
//! `DIGESTED`, `digestId` its row) and goes instead. A request another worker's digest took is dropped.
//! The digest is a text like any other: quiet hours, the opt-out list, cancelling and retries see one
//! text, and its budget replaces theirs. When it fails for good, the requests fail with it and each can
//! be retried.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use serde::{Deserialize, Serialize};

use super::{
    Outbox,
    catalogue::{self, Brand, Language, Template},
    shaping,
    worker::{BatchReport, Workers},
};
use crate::{
    locale::{phone, texts::fill},
    store::{
        MessageRow, MessageType, digests as rows,
        messages::{NewMessage, Verdict},
    },
};

/// What a digest needs of a held request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The inviter (invitations); empty for results.
    #[serde(default)]
    pub who: String,
    pub topic: String,
    /// The result's summary (results); empty for invitations.
    #[serde(default)]
    pub summary: String,
}

/// Whether a message of this type may wait for a digest.
pub fn digestible(message_type: MessageType) -> bool {
    matches!(
        message_type,
        MessageType::BattleInvitation | MessageType::BattleResult
    )
}

/// The part of a template a digest tells.
pub fn part_of(template: &Template) -> Option<Part> {
    match template {
        Template::BattleInvitation { inviter, topic, .. } => Some(Part {
            who: inviter.trim().to_owned(),
            topic: topic.trim().to_owned(),
            summary: String::new(),
        }),
        Template::BattleResult { topic, summary, .. } => Some(Part {
            who: String::new(),
            topic: topic.trim().to_owned(),
            summary: summary.trim().to_owned(),
        }),
        _ => None,
    }
}

/// The longest a digest runs: two segments of plain text.
const MAX_DIGEST_SEGMENTS: u32 = 2;

/// The text of a digest of `parts` (two or more), with the STOP footer: as many topics as fit in two
/// segments, then how many more.
pub fn compose(
    message_type: MessageType,
    parts: &[Part],
    brand: &Brand,
    language: Language,
) -> catalogue::Rendered {
    let t = language.texts();
    let link = brand.link("/battles");
    let app = brand.app_name.as_str();
    let n = parts.len();
    let count = n.to_string();
    let head = match message_type {
        MessageType::BattleInvitation => {
            let mut names: Vec<&str> = Vec::new();
            for part in parts {
                if !names.contains(&part.who.as_str()) {
                    names.push(&part.who);
                }
            }
            let who = match names.as_slice() {
                [one] => (*one).to_owned(),
                [a, b] => fill(t.digest_two, &[("a", a), ("b", b)]),
                [a, rest @ ..] => fill(t.digest_many, &[("a", a), ("n", &rest.len().to_string())]),
                [] => t.digest_friends.to_owned(),
            };
            let pattern = if names.len() == 1 {
                t.digest_invitations_one
            } else {
                t.digest_invitations
            };
            fill(pattern, &[("app", app), ("who", &who), ("n", &count)])
        }
        _ => fill(t.digest_results, &[("app", app), ("n", &count)]),
    };
    let tail = match message_type {
        MessageType::BattleInvitation => fill(t.digest_accept, &[("link", &link)]),
        _ => fill(t.digest_see_results, &[("link", &link)]),
    };
    let item = |p: &Part| match message_type {
        MessageType::BattleInvitation => format!("\"{}\"", p.topic),
        _ => format!("\"{}\" {}", p.topic, p.summary),
    };
    let separator = match message_type {
        MessageType::BattleInvitation => ", ",
        _ => "; ",
    };
    let build = |shown: usize| {
        let mut items: Vec<String> = parts.iter().take(shown).map(item).collect();
        if shown < n {
            items.push(fill(t.digest_more, &[("n", &(n - shown).to_string())]));
        }
        let listed = if items.is_empty() {
            String::new()
        } else {
            format!(": {}", items.join(separator))
        };
        let said = format!("{head}{listed}");
        let stop = if said.ends_with(['.', '!', '?']) {
            " "
        } else {
            ". "
        };
        let text = Template::Text {
            message_type,
            body: format!("{said}{stop}{tail}"),
        };
        catalogue::render_in(&text, true, brand, language)
    };
    (0..=n)
        .rev()
        .map(build)
        .find(|r| r.segments <= MAX_DIGEST_SEGMENTS)
        .unwrap_or_else(|| build(0))
}

impl Outbox {
    /// Holds the digestible messages of a batch for their window (`NewMessage.digest_hold`): one
    /// query for the windows already open.
    pub(super) async fn hold_for_digests(
        &self,
        messages: &mut [NewMessage],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let Some(window) = self.digest_window() else {
            return Ok(());
        };
        let pairs: Vec<(String, MessageType)> = messages
            .iter()
            .filter(|m| m.digest_part.is_some() && matches!(m.verdict, Verdict::Accept { .. }))
            .map(|m| (m.to_phone.clone(), m.message_type))
            .collect();
        if pairs.is_empty() {
            return Ok(());
        }
        let mut open = rows::open_windows(&self.db, &pairs).await?;
        for message in messages.iter_mut() {
            let Verdict::Accept { due_at, .. } = &mut message.verdict else {
                message.digest_part = None;
                continue;
            };
            if message.digest_part.is_none() {
                continue;
            }
            let key = (
                message.to_phone.clone(),
                sea_orm::ActiveEnum::to_value(&message.message_type),
            );
            // Joins the window open for the person and type, or opens one.
            let closes = *open.entry(key).or_insert(now + window);
            *due_at = (*due_at).max(closes).min(message.expires_at);
            message.digest_hold = true;
        }
        Ok(())
    }

    /// When the window a message to `(phone, type)` would wait for closes; `None` when it would not
    /// wait (digests off, not digestible, no window to join and none to open).
    pub(super) async fn digest_close(
        &self,
        message: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        let Some(window) = self.digest_window() else {
            return Ok(None);
        };
        if message.digest_part.is_none() || message.to_phone.is_empty() {
            return Ok(None);
        }
        let pair = (message.to_phone.clone(), message.message_type);
        let open = rows::open_windows(&self.db, std::slice::from_ref(&pair)).await?;
        Ok(Some(
            open.into_values().next().unwrap_or(now + window).max(now),
        ))
    }

    pub(super) fn digest_window(&self) -> Option<chrono::Duration> {
        self.sms
            .savings
            .digest_window
            .and_then(|w| chrono::Duration::from_std(w).ok())
    }
}

/// Forms the digests of the held requests of a claimed batch (see the module's note): returns the
/// batch with each held request replaced by what goes (itself, alone, or its digest), and without those
/// another worker's digest took.
pub(super) async fn gather(
    workers: &Workers,
    batch: Vec<MessageRow>,
    report: &mut BatchReport,
) -> Result<Vec<MessageRow>, DbErr> {
    if !batch.iter().any(|r| r.digest_hold) {
        return Ok(batch);
    }
    let (held, mut out): (Vec<_>, Vec<_>) = batch.into_iter().partition(|r| r.digest_hold);
    let mut groups: BTreeMap<(String, String), Vec<MessageRow>> = BTreeMap::new();
    for row in held {
        groups
            .entry((row.to_phone.clone(), row.message_type_label()))
            .or_default()
            .push(row);
    }
    for (_, mine) in groups {
        let outbox = &workers.outbox;
        let txn = outbox.db.write().await?;
        let held = rows::lock_held(&txn, &mine[0].to_phone, mine[0].message_type).await?;
        let still: Vec<MessageRow> = mine
            .into_iter()
            .filter(|m| {
                held.iter()
                    .any(|h| h.id == m.id && h.attempts == m.attempts)
            })
            .collect();
        if still.is_empty() {
            // Another worker's digest carried them.
            report.digested += 1;
            continue;
        }
        if held.len() == 1 {
            rows::go_alone(&txn, still[0].id).await?;
            txn.commit().await?;
            out.extend(still.into_iter().map(|mut r| {
                r.digest_hold = false;
                r
            }));
            continue;
        }
        let digest = digest_row(outbox, &held, workers.lease_until());
        let row = rows::carry(&txn, digest.0, &held, outbox.now()).await?;
        if !digest.1.is_empty() {
            let links = digest.1.into_iter().map(|l| (row.id, l)).collect();
            let retention = chrono::Duration::from_std(outbox.sms.savings.link_retention)
                .unwrap_or(chrono::Duration::days(90));
            let now = outbox.now();
            crate::store::links::insert(&txn, links, now, now + retention).await?;
        }
        txn.commit().await?;
        report.digested += held.len();
        tracing::info!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            carried = held.len(),
            segments = row.segments,
            "digest formed"
        );
        out.push(row);
    }
    out.sort_by_key(|m| (m.priority, m.id));
    Ok(out)
}

/// The digest for `held` (two or more requests to one number, of one type), claimed by the caller
/// until `lease_until`, with its short links.
fn digest_row(
    outbox: &Outbox,
    held: &[MessageRow],
    lease_until: DateTime<Utc>,
) -> (rows::NewDigest, Vec<super::links::NewLink>) {
    let first = &held[0];
    let parts: Vec<Part> = held
        .iter()
        .filter_map(|r| serde_json::from_str(r.digest_part.as_deref()?).ok())
        .collect();
    let brand = Brand {
        app_name: outbox.sms.app_name.clone(),
        frontend_url: outbox.sms.frontend_url.clone(),
    };
    let shaped = shaping::shape(
        compose(
            first.message_type,
            &parts,
            &brand,
            Language::stored(first.locale.as_deref()),
        ),
        &outbox.sms.savings,
        true,
    );
    // One segment costs what it cost the requests (one destination).
    let per_segment = first.estimated_cost_micros.unwrap_or(0) / i64::from(first.segments.max(1));
    let digest = rows::NewDigest {
        user_id: held.iter().find_map(|r| r.user_id.clone()),
        cost_micros: per_segment * i64::from(shaped.rendered.segments),
        segments: shaped.rendered.segments as i32,
        encoding: shaped.rendered.encoding.as_str().to_owned(),
        body: shaped.rendered.body,
        smart_encoded: shaped.smart_encoded,
        encoding_saved: shaped.encoding_saved as i32,
        links_saved: shaped.links_saved as i32,
        lease_until,
    };
    (digest, shaped.links)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand() -> Brand {
        Brand {
            app_name: "AllThrive".into(),
            frontend_url: "https://allthrive.ai".into(),
        }
    }

    fn invite(who: &str, topic: &str) -> Part {
        Part {
            who: who.into(),
            topic: topic.into(),
            summary: String::new(),
        }
    }

    #[test]
    fn invitations_name_the_first_inviter_and_count_the_others() {
        let parts = [
            invite("Alice", "Best haiku"),
            invite("Bob", "Limericks"),
            invite("Cy", "Sonnets"),
        ];
        let r = compose(
            MessageType::BattleInvitation,
            &parts,
            &brand(),
            Language::DEFAULT,
        );
        assert_eq!(
            r.body,
            "AllThrive: Alice and 2 others challenged you to 3 battles: \"Best haiku\", \"Limericks\", \"Sonnets\". Accept: https://allthrive.ai/battles\nReply STOP to unsubscribe."
        );
        assert_eq!(r.segments, 1);
        let two = compose(
            MessageType::BattleInvitation,
            &parts[..2],
            &brand(),
            Language::DEFAULT,
        );
        assert!(
            two.body
                .starts_with("AllThrive: Alice and Bob challenged you to 2 battles")
        );
        let same = [invite("Alice", "A"), invite("Alice", "B")];
        let r = compose(
            MessageType::BattleInvitation,
            &same,
            &brand(),
            Language::DEFAULT,
        );
        assert!(
            r.body
                .starts_with("AllThrive: Alice challenged you to 2 battles"),
            "{}",
            r.body
        );
    }

    #[test]
    fn a_long_digest_lists_what_fits_in_two_segments() {
        let parts: Vec<Part> = (0..40)
            .map(|i| {
                invite(
                    &format!("Friend {i}"),
                    &format!("A rather long battle topic number {i}"),
                )
            })
            .collect();
        let r = compose(
            MessageType::BattleInvitation,
            &parts,
            &brand(),
            Language::DEFAULT,
        );
        assert!(r.segments <= 2, "{}", r.body);
        assert!(r.body.contains("more. Accept:"), "{}", r.body);
        assert!(
            r.body
                .contains("Friend 0 and 39 others challenged you to 40 battles")
        );
    }

    #[test]
    fn results_tell_each_summary() {
        let parts = [
            Part {
                who: String::new(),
                topic: "Best haiku".into(),
                summary: "You won 3-2!".into(),
            },
            Part {
                who: String::new(),
                topic: "Limericks".into(),
                summary: "Sam won.".into(),
            },
        ];
        let r = compose(
            MessageType::BattleResult,
            &parts,
            &brand(),
            Language::DEFAULT,
        );
        assert_eq!(
            r.body,
            "AllThrive: 2 of your battles are over: \"Best haiku\" You won 3-2!; \"Limericks\" Sam won. See the results: https://allthrive.ai/battles\nReply STOP to unsubscribe."
        );
    }
}
