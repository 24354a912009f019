//! What saves money, as GraphQL shows it: short links, the price of a text before it is sent, and what
//! smart encoding, short links and digests saved.

use async_graphql::{Context, Enum, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{error::ApiResult, graphql::handle, outbox::Outbox, store::MessageRow};

/// A short link in a text: `shortUrl` answers with a redirect to `url` and counts the click.
#[derive(SimpleObject, Debug, Clone)]
pub struct SmsLink {
    /// The address the text stood for.
    pub url: String,
    /// What the text carries instead (`SMS_LINK_BASE_URL/<code>`).
    pub short_url: String,
    /// Times it was followed (every request counts; who clicked is never recorded).
    pub clicks: i32,
    /// The first click, if any.
    pub first_clicked_at: Option<DateTime<Utc>>,
    /// The latest click, if any.
    pub last_clicked_at: Option<DateTime<Utc>>,
    /// After this the short link answers 404 (`SMS_LINK_RETENTION`).
    pub expires_at: DateTime<Utc>,
}

/// The links of a text; no query for a text without our short links.
pub(super) async fn links_of(ctx: &Context<'_>, row: &MessageRow) -> ApiResult<Vec<SmsLink>> {
    let outbox = handle::<Outbox>(ctx)?;
    let base = &outbox.sms.savings.link_base_url;
    if !row.body.contains(base.as_str()) {
        return Ok(Vec::new());
    }
    let links = crate::store::links::of_messages(&outbox.db(), vec![row.id]).await?;
    Ok(links
        .into_iter()
        .map(|l| SmsLink {
            short_url: format!("{base}/{}", l.code),
            url: l.url,
            clicks: l.clicks,
            first_clicked_at: l.first_clicked_at,
            last_clicked_at: l.last_clicked_at,
            expires_at: l.expires_at,
        })
        .collect())
}

/// What would happen to a text asked for now.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum PreviewVerdict {
    /// It would be queued and sent at once.
    Send,
    /// It would be queued and held until `deferredUntil` (quiet hours, a schedule, a digest window).
    Defer,
    /// It would be refused (`blockedReason`); nothing would be sent.
    Block,
}

/// What one feature saved: texts it made cheaper (for digests: texts not sent at all), the segments
/// and the dollars, against the same texts without it.
#[derive(SimpleObject, Debug, Clone, Default, PartialEq, Eq)]
pub struct Saving {
    /// Texts the feature made cheaper (for digests: texts not sent at all).
    pub texts: i64,
    /// Segments saved.
    pub segments: i64,
    /// US dollars, at each text's own price per segment.
    pub cost: Decimal,
}

impl Saving {
    fn add(&mut self, row: &crate::store::savings::SavingsRow) {
        self.texts += row.texts;
        self.segments += row.segments;
        self.cost += crate::billing::micros_to_dollars(row.cost_micros);
    }
}

/// What each feature saved in one bucket (a day, a message type).
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct SavingsBucket {
    /// A UTC day (YYYY-MM-DD) or a message type (BATTLE_INVITATION).
    pub key: String,
    /// What smart encoding saved in the bucket.
    pub smart_encoding: Saving,
    /// What short links saved in the bucket.
    pub short_links: Saving,
    /// What digests saved in the bucket.
    pub digests: Saving,
}

impl SavingsBucket {
    fn add(&mut self, row: &crate::store::savings::SavingsRow) {
        match row.feature.as_str() {
            "smart_encoding" => self.smart_encoding.add(row),
            "short_links" => self.short_links.add(row),
            _ => self.digests.add(row),
        }
    }
}

/// What smart encoding, short links and digests saved on the texts sent in the range (counted on the
/// day each text went out), against what the same texts would have cost without them.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct CostSavings {
    /// Typographic characters replaced by GSM-7 ones (`SMS_SMART_ENCODING`).
    pub smart_encoding: Saving,
    /// Addresses replaced by short links (`SMS_LINK_SHORTENING`).
    pub short_links: Saving,
    /// Invitations and results to one person sent as one text (`SMS_DIGEST_WINDOW`).
    pub digests: Saving,
    /// The three together.
    pub total: Saving,
    /// By UTC day of the send, oldest first.
    pub by_day: Vec<SavingsBucket>,
    /// By message type.
    pub by_message_type: Vec<SavingsBucket>,
}

impl CostSavings {
    pub fn from_rows(rows: &[crate::store::savings::SavingsRow]) -> Self {
        let mut all = SavingsBucket::default();
        let mut total = Saving::default();
        let mut days: std::collections::BTreeMap<&str, SavingsBucket> = Default::default();
        let mut types: std::collections::BTreeMap<&str, SavingsBucket> = Default::default();
        for row in rows {
            all.add(row);
            total.add(row);
            days.entry(&row.day).or_default().add(row);
            types.entry(&row.message_type).or_default().add(row);
        }
        let keyed = |(key, mut bucket): (&str, SavingsBucket)| {
            bucket.key = key.to_owned();
            bucket
        };
        Self {
            smart_encoding: all.smart_encoding,
            short_links: all.short_links,
            digests: all.digests,
            total,
            by_day: days.into_iter().map(keyed).collect(),
            by_message_type: types
                .into_iter()
                .map(|(k, b)| {
                    let mut b = keyed((k, b));
                    b.key = b.key.to_ascii_uppercase();
                    b
                })
                .collect(),
        }
    }
}

/// A text as it would go now, its price and what would happen to it; nothing was written.
#[derive(SimpleObject, Debug, Clone)]
pub struct SmsPreview {
    /// The body as it would be sent: rendered, smart-encoded, links shortened (the codes shown are
    /// examples: a send makes new ones).
    pub body: String,
    /// Billed parts of `body`.
    pub segments: i32,
    /// `GSM-7` or `UCS-2`.
    pub encoding: String,
    /// Segments times the destination's price (US dollars); null without a number or a price.
    pub estimated_cost: Option<Decimal>,
    /// Whether it would go now, later, or not at all.
    pub verdict: PreviewVerdict,
    /// For `DEFER`: when it would go (the end of quiet hours, its `sendAt`, a digest window's close).
    pub deferred_until: Option<DateTime<Utc>>,
    /// For `BLOCK`: why.
    pub blocked_reason: Option<super::sms::BlockedReason>,
    /// Whether smart encoding changed the text.
    pub smart_encoded: bool,
    /// Segments smart encoding and short links saved on it.
    pub saved_segments: i32,
    /// The addresses that would become short links.
    pub links: Vec<PreviewLink>,
    /// The destination's country (`US`), when there is a number.
    pub country: Option<String>,
}

/// An address a text would carry as a short link.
#[derive(SimpleObject, Debug, Clone)]
pub struct PreviewLink {
    /// The address as written.
    pub url: String,
    /// An example: a send makes its own code.
    pub short_url: String,
}

impl SmsPreview {
    pub fn new(p: crate::outbox::Preview, base: &str) -> Self {
        use crate::outbox::PreviewOutcome as O;
        let (verdict, deferred_until, blocked_reason) = match p.outcome {
            O::Send => (PreviewVerdict::Send, None, None),
            O::Defer(at) => (PreviewVerdict::Defer, Some(at), None),
            O::Block(reason) => (PreviewVerdict::Block, None, Some(reason.into())),
        };
        Self {
            body: p.shaped.rendered.body,
            segments: p.shaped.rendered.segments as i32,
            encoding: p.shaped.rendered.encoding.as_str().to_owned(),
            estimated_cost: p.cost_micros.map(crate::billing::micros_to_dollars),
            verdict,
            deferred_until,
            blocked_reason,
            smart_encoded: p.shaped.smart_encoded,
            saved_segments: (p.shaped.encoding_saved + p.shaped.links_saved) as i32,
            links: p
                .shaped
                .links
                .into_iter()
                .map(|l| PreviewLink {
                    short_url: format!("{base}/{}", l.code),
                    url: l.url,
                })
                .collect(),
            country: p.country,
        }
    }
}
