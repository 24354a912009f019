//! The facts a batch of messages is decided on: everyone and every number it is about, read in a fixed
//! number of queries, then one `policy::decide` per message.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::{
    Outbox,
    accept::{Accepted, SendError, SendRequest, Target},
    catalogue::{self, Brand, Language},
    policy::{self, StrangerInvitation},
};
use crate::{
    locale::phone,
    store::{
        MessageType, countries,
        messages::{self as rows, NewMessage, Verdict},
        opt_outs,
        recipients::{self as recipient_rows, Profile},
    },
};

/// Everyone and every number a batch is about, read in a fixed number of queries.
pub(super) struct Facts {
    /// Users the batch names (recipients and inviters), and the verified owners of bare numbers.
    profiles: HashMap<String, Profile>,
    /// Bare numbers' verified owners: number -> user.
    owners: HashMap<String, String>,
    opted_out: HashSet<String>,
    /// Numbers without an owner that got a battle invitation in the last 24 hours.
    recently_invited: HashSet<String>,
    paused_countries: PausedCountries,
    /// Numbers without an owner: the language of the last text each got.
    last_language: HashMap<String, Language>,
}

/// Countries an admin switched codes or other texts off for (`setCountrySending`).
#[derive(Debug, Default)]
pub(super) struct PausedCountries {
    codes: HashSet<String>,
    texts: HashSet<String>,
}

impl PausedCountries {
    pub(super) async fn load(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let mut paused = Self::default();
        for switch in countries::switched_off(db).await? {
            if !switch.verification {
                paused.codes.insert(switch.country.clone());
            }
            if !switch.messages {
                paused.texts.insert(switch.country);
            }
        }
        Ok(paused)
    }

    /// Whether texts of `message_type` to `country` are switched off.
    pub(super) fn covers(&self, message_type: MessageType, country: Option<&str>) -> bool {
        let paused = if message_type == MessageType::PhoneVerification {
            &self.codes
        } else {
            &self.texts
        };
        country.is_some_and(|c| paused.contains(c))
    }

    #[cfg(test)]
    pub(super) fn texts_to(country: &str) -> Self {
        Self {
            codes: HashSet::new(),
            texts: HashSet::from([country.to_owned()]),
        }
    }
}

impl Facts {
    pub(super) async fn load(
        db: &impl ConnectionTrait,
        batch: &[&super::SendRequest],
        now: DateTime<Utc>,
    ) -> Result<Self, DbErr> {
        let user_ids = batch.iter().flat_map(|r| {
            let target = match &r.target {
                Target::User(id) => Some(id.as_str()),
                Target::Phone(_) => None,
            };
            target.into_iter().chain(r.inviter_user_id.as_deref())
        });
        // The switches do not depend on whom the batch is for: both reads go at once.
        let (mut profiles, paused_countries) = futures_util::try_join!(
            recipient_rows::load_many(db, user_ids.collect::<HashSet<_>>()),
            PausedCountries::load(db)
        )?;
        let bare = |r: &&super::SendRequest| match &r.target {
            Target::Phone(p) => Some(p.to_string()),
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
            .filter_map(|r| match &r.target {
                Target::Phone(p) => Some(p.as_str()),
                Target::User(id) => profiles
                    .get(id)
                    .and_then(|p| p.recipient.phone_e164.as_deref()),
            })
            .collect();
        let opted_out = opt_outs::among(db, numbers).await?;
        let strangers = batch
            .iter()
            .filter(|r| r.template.message_type() == MessageType::BattleInvitation)
            .filter_map(bare)
            .filter(|p| !owners.contains_key(p))
            .collect::<Vec<_>>();
        let since = now - Duration::hours(24);
        let recently_invited =
            rows::invited_since(db, strangers.iter().map(String::as_str), since).await?;
        // Only requests that do not say their language need it.
        let ownerless: Vec<&str> = batch
            .iter()
            .filter(|r| r.language.is_none())
            .filter_map(|r| match &r.target {
                Target::Phone(p) if !owners.contains_key(p.as_str()) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        let last_language = rows::last_locales(db, ownerless)
            .await?
            .into_iter()
            .map(|(phone, tag)| (phone, Language::stored(Some(&tag))))
            .collect();
        Ok(Self {
            profiles,
            owners,
            opted_out,
            recently_invited,
            paused_countries,
            last_language,
        })
    }

    /// The language `request` goes in: the one it asks for, the person's, the last text's to a number
    /// nobody owns, or the default.
    pub(super) fn language_for(&self, request: &super::SendRequest) -> Language {
        if let Some(language) = request.language {
            return language;
        }
        match self.target(&request.target) {
            Ok((Some(profile), _)) => Language::stored(profile.recipient.locale.as_deref()),
            Ok((None, Some(phone))) => self.last_language.get(&phone).copied().unwrap_or_default(),
            _ => Language::DEFAULT,
        }
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
                    .get(e164.as_str())
                    .and_then(|user| self.profiles.get(user)),
                Some(e164.to_string()),
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
    pub(super) fn message(
        &self,
        outbox: &Outbox,
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
        let opt_out_exempt =
            !request.promotional && request.origin == super::accept::Origin::KeywordAnswer;
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
            segments: item.shaped.rendered.segments,
            valid_until: request.ends(now),
            country_paused: self
                .paused_countries
                .covers(message_type, country.as_ref().map(AsRef::as_ref)),
            refused: request.refused,
            snoozed: request.promotional
                && profile.is_some_and(|p| {
                    crate::recipients::rules::snoozes(
                        &p.preferences,
                        message_type,
                        request.send_at.unwrap_or(now),
                    )
                }),
            own_quiet: profile
                .filter(|_| request.promotional)
                .and_then(|p| crate::recipients::rules::own_quiet(&p.preferences)),
        };
        let rules = policy::Rules {
            allowed_countries: &outbox.sms.allowed_countries,
            prices: &outbox.costs.prices,
            default_price: outbox.costs.default_price,
            default_validity: chrono::Duration::from_std(outbox.sms.default_validity)
                .unwrap_or(chrono::Duration::hours(24)),
        };
        // A scheduled send is decided for its moment: quiet hours, windows, its validity.
        let decision = policy::decide(&facts, &rules, request.send_at.unwrap_or(now));
        // A code is stored in the clear only while it waits to be sent; the log shows it masked.
        let (body, sensitive_body) =
            match catalogue::redacted(&request.template, request.promotional, brand, item.language)
            {
                Some(masked) => (
                    super::shaping::shape(masked, &outbox.sms.savings, false)
                        .rendered
                        .body,
                    Some(item.shaped.rendered.body.clone()),
                ),
                None => (item.shaped.rendered.body.clone(), None),
            };
        Ok(NewMessage {
            user_id: profile.map(|p| p.recipient.user_id.clone()),
            to_phone: to_phone.unwrap_or_default(),
            country: country.map(|c| c.as_ref().to_owned()),
            message_type,
            promotional: request.promotional,
            body,
            sensitive_body,
            segments: item.shaped.rendered.segments as i32,
            encoding: item.shaped.rendered.encoding.as_str().to_owned(),
            smart_encoded: item.shaped.smart_encoded,
            encoding_saved: item.shaped.encoding_saved as i32,
            links_saved: item.shaped.links_saved as i32,
            links: item.shaped.links.clone(),
            // Scheduled texts have their moment, and a caller that waits for the outcome wants it now.
            digest_part: (request.promotional
                && request.hold_for_digest
                && request.send_at.is_none()
                && request.origin == super::accept::Origin::Api)
                .then(|| super::digest::part_of(&request.template))
                .flatten()
                .and_then(|part| serde_json::to_string(&part).ok()),
            digest_hold: false,
            caps: if request.promotional {
                crate::recipients::caps::for_type(
                    &outbox.costs.frequency_caps,
                    &profile
                        .map(|p| {
                            crate::recipients::caps::decode(p.preferences.frequency_caps.as_deref())
                        })
                        .unwrap_or_default(),
                    message_type,
                )
            } else {
                Vec::new()
            },
            inviter_id: request
                .inviter_user_id
                .clone()
                .filter(|_| message_type == crate::store::MessageType::BattleInvitation),
            locale: Some(item.language.tag().to_owned()),
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
            expires_at: decision.expires_at,
            retry_of: request.retry_of(),
            opt_out_exempt,
            trace_parent: request.trace_parent.clone(),
        })
    }
}
