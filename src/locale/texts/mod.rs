//! The words of every text, per language: the templates, the STOP footer, the answers to STOP, START
//! and HELP, a digest's phrases and the language's own keywords. One file per language (`en.rs`,
//! `es.rs`); adding one is a file like them, its line in `LANGUAGES`, and a test that its texts fill
//! and count (`tests` below runs over every language).

mod en;
mod es;

/// Every language texts can go in; the first is the default.
static LANGUAGES: &[&Texts] = &[&en::TEXTS, &es::TEXTS];

/// The words of one language. Placeholders are `{name}`, filled by `fill`.
#[derive(Debug)]
pub struct Texts {
    /// BCP 47 tag, as stored and shown (`es-US`).
    pub tag: &'static str,
    /// The language's own name for itself.
    pub name: &'static str,
    /// `{app}`, `{inviter}`, `{topic}`, `{link}`.
    pub battle_invitation: &'static str,
    /// `{app}`, `{topic}`, `{summary}`, `{link}`.
    pub battle_result: &'static str,
    /// `{app}`, `{time_remaining}`, `{topic}`, `{link}`.
    pub battle_reminder: &'static str,
    /// `{app}`, `{days}`, `{link}`.
    pub streak_alert: &'static str,
    /// `{app}`, `{code}`.
    pub phone_verification: &'static str,
    /// `{app}`, `{sender}`, `{link}`.
    pub direct_message: &'static str,
    /// `{app}`, `{name}`, `{link}`.
    pub achievement_unlocked: &'static str,
    /// `{app}`, `{what}`, `{link}`.
    pub security_alert: &'static str,
    /// The last line of every promotional text (CTIA): how to stop.
    pub stop_footer: &'static str,
    /// The answers to STOP, START (`{app}`) and HELP (`{app}`, `{contact}`).
    pub stop_answer: &'static str,
    pub start_answer: &'static str,
    pub help_answer: &'static str,
    /// A digest's head: one inviter, several (`{app}`, `{who}`, `{n}`), results (`{app}`, `{n}`).
    pub digest_invitations_one: &'static str,
    pub digest_invitations: &'static str,
    pub digest_results: &'static str,
    /// Who invited: two (`{a}`, `{b}`), more (`{a}`, `{n}` others), nobody named.
    pub digest_two: &'static str,
    pub digest_many: &'static str,
    pub digest_friends: &'static str,
    /// Items that did not fit (`{n}`), and the digest's last words (`{link}`).
    pub digest_more: &'static str,
    pub digest_accept: &'static str,
    pub digest_see_results: &'static str,
    /// Units of a time left (`1 hour 5 minutes`): one, several.
    pub hours: (&'static str, &'static str),
    pub minutes: (&'static str, &'static str),
    /// The language's own keywords, beside the carriers' standard ones every language recognises.
    pub stop_words: &'static [&'static str],
    pub start_words: &'static [&'static str],
    pub help_words: &'static [&'static str],
}

/// A language texts go in: one of `LANGUAGES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Language(usize);

impl Language {
    /// The default: `en-US`.
    pub const DEFAULT: Language = Language(0);

    /// Every supported language.
    pub fn all() -> impl Iterator<Item = Language> {
        (0..LANGUAGES.len()).map(Language)
    }

    pub fn texts(self) -> &'static Texts {
        LANGUAGES[self.0]
    }

    /// The BCP 47 tag (`es-US`).
    pub fn tag(self) -> &'static str {
        self.texts().tag
    }

    /// A BCP 47 tag as people and browsers write it (`es-US`, `es`, `ES-mx`): the supported language
    /// of its primary subtag.
    pub fn parse(tag: &str) -> Result<Language, String> {
        let tag = tag.trim();
        let wellformed = !tag.is_empty()
            && tag.len() <= 35
            && tag.split(['-', '_']).all(|part| {
                !part.is_empty()
                    && part.len() <= 8
                    && part.chars().all(|c| c.is_ascii_alphanumeric())
            });
        let supported = || {
            LANGUAGES
                .iter()
                .map(|t| t.tag)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !wellformed {
            return Err(format!(
                "'{tag}' is not a language tag such as es-US (supported: {})",
                supported()
            ));
        }
        let primary = |t: &str| {
            t.split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        LANGUAGES
            .iter()
            .position(|t| primary(t.tag) == primary(tag))
            .map(Language)
            .ok_or_else(|| {
                format!(
                    "texts are not written in '{tag}' yet (supported: {})",
                    supported()
                )
            })
    }

    /// A stored tag read back; the default for none (or one no longer supported).
    pub fn stored(tag: Option<&str>) -> Language {
        tag.and_then(|t| Language::parse(t).ok())
            .unwrap_or_default()
    }

    /// The language whose own keyword `word` (upper case) is, if any.
    pub fn of_keyword(word: &str) -> Option<(Language, Keyword)> {
        Language::all().find_map(|language| {
            let texts = language.texts();
            let kind = if texts.stop_words.contains(&word) {
                Keyword::Stop
            } else if texts.start_words.contains(&word) {
                Keyword::Start
            } else if texts.help_words.contains(&word) {
                Keyword::Help
            } else {
                return None;
            };
            Some((language, kind))
        })
    }
}

/// What a language's own keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
}

/// A time left written in English as the reminder engine writes it (`2 hours 5 minutes`, `1 minute`)
/// in `language`'s units; any other text is kept as it is.
pub fn time_left(text: &str, language: Language) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if language == Language::DEFAULT || words.is_empty() || !words.len().is_multiple_of(2) {
        return text.to_owned();
    }
    let t = language.texts();
    let mut out = Vec::with_capacity(words.len());
    for pair in words.chunks(2) {
        let Ok(n) = pair[0].parse::<u64>() else {
            return text.to_owned();
        };
        let (one, many) = match pair[1] {
            "hour" | "hours" => t.hours,
            "minute" | "minutes" => t.minutes,
            _ => return text.to_owned(),
        };
        out.push(format!("{n} {}", if n == 1 { one } else { many }));
    }
    out.join(" ")
}

/// Fills a pattern's `{name}` placeholders in one pass (a value that itself contains `{...}` is kept
/// as it is); an unknown placeholder is left as written.
pub fn fill(pattern: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(pattern.len() + 64);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) if values.iter().any(|(n, _)| *n == name) => {
                let value = values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .unwrap_or_default();
                out.push_str(value);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
