//! What a text becomes before it is counted and priced: rendered (`catalogue`), smart-encoded
//! (`smart`), its links shortened (`links`), with what each step saved.

use super::{
    catalogue::{self, Brand, Rendered, Template},
    links::{self, NewLink},
    smart,
};
use crate::config::SavingsConfig;

/// A text as it goes, with what smart encoding and short links saved on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaped {
    /// The body as it is sent, with its encoding and segments.
    pub rendered: Rendered,
    /// The body before links were shortened (smart-encoded): what a repeated request is compared by.
    pub unshortened: String,
    pub smart_encoded: bool,
    /// Segments smart encoding saved (against the same text as typed).
    pub encoding_saved: u32,
    /// Segments short links saved (against the same text with its addresses).
    pub links_saved: u32,
    /// The short links in `rendered.body`, to be stored with the message.
    pub links: Vec<NewLink>,
}

/// Shapes a body: smart encoding when on, then short links when on and `shorten` (a sender may ask
/// for its addresses as they are). A link is never made longer: when shortening would add a segment
/// (addresses already shorter than a short link), the addresses stay.
pub fn shape(body: Rendered, settings: &SavingsConfig, shorten: bool) -> Shaped {
    let typed_segments = body.segments;
    let (encoded, smart_encoded) = match settings
        .smart_encoding
        .then(|| smart::encode(&body.body))
        .flatten()
    {
        Some(plain) => (catalogue::measure(plain), true),
        None => (body, false),
    };
    let encoding_saved = typed_segments.saturating_sub(encoded.segments);
    let shortened = (settings.link_shortening && shorten)
        .then(|| links::shorten(&encoded.body, &settings.link_base_url))
        .flatten()
        .map(|s| (catalogue::measure(s.body), s.links))
        .filter(|(short, _)| short.segments <= encoded.segments);
    let unshortened = encoded.body.clone();
    let (rendered, links) = match shortened {
        Some((short, links)) => (short, links),
        None => (encoded, Vec::new()),
    };
    let links_saved = catalogue::measure(unshortened.clone())
        .segments
        .saturating_sub(rendered.segments);
    Shaped {
        rendered,
        unshortened,
        smart_encoded,
        encoding_saved,
        links_saved,
        links,
    }
}

/// Renders a template in a language and shapes it.
pub fn render(
    template: &Template,
    promotional: bool,
    (brand, settings, language): (&Brand, &SavingsConfig, catalogue::Language),
    shorten: bool,
) -> Shaped {
    shape(
        catalogue::render_in(template, promotional, brand, language),
        settings,
        shorten,
    )
}

/// Whether a stored body is the text `shaped` describes: the same text, or the same text with its
/// addresses shortened (new codes differ from the stored ones).
pub fn same_text(stored: &str, shaped: &Shaped, settings: &SavingsConfig) -> bool {
    stored == shaped.rendered.body
        || stored == shaped.unshortened
        || (stored.contains(&settings.link_base_url)
            && links::mask_addresses(stored, &settings.link_base_url)
                == links::mask_addresses(&shaped.unshortened, &settings.link_base_url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageType;

    fn settings() -> SavingsConfig {
        SavingsConfig {
            link_base_url: "https://go.allthrive.ai/l".into(),
            ..SavingsConfig::default()
        }
    }

    fn text(body: &str) -> Template {
        Template::Text {
            message_type: MessageType::Other,
            body: body.into(),
        }
    }

    fn brand() -> Brand {
        Brand {
            app_name: "AllThrive".into(),
            frontend_url: "https://allthrive.ai".into(),
        }
    }

    #[test]
    fn both_steps_count_what_they_saved() {
        let invite = Template::BattleInvitation {
            inviter: "Alice".into(),
            topic: "Who\u{2019}s the best haiku writer?".into(),
            link: "/battles/7?invite=3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44".into(),
        };
        let off = SavingsConfig {
            smart_encoding: false,
            link_shortening: false,
            ..settings()
        };
        let typed = render(&invite, true, (&brand(), &off, Default::default()), true);
        assert_eq!(typed.rendered.segments, 3, "{}", typed.rendered.body);
        let shaped = render(
            &invite,
            true,
            (&brand(), &settings(), Default::default()),
            true,
        );
        assert!(shaped.smart_encoded);
        assert_eq!(shaped.rendered.segments, 1, "{}", shaped.rendered.body);
        assert_eq!(shaped.encoding_saved, 1);
        assert_eq!(shaped.links_saved, 1);
        assert_eq!(shaped.links.len(), 1);
        assert!(same_text(
            &shaped.rendered.body,
            &render(
                &invite,
                true,
                (&brand(), &settings(), Default::default()),
                true
            ),
            &settings()
        ));
    }

    #[test]
    fn a_sender_may_keep_its_addresses_and_short_addresses_are_not_made_longer() {
        let long = text(&format!("{} https://allthrive.ai/b/1", "a".repeat(140)));
        let kept = render(
            &long,
            false,
            (&brand(), &settings(), Default::default()),
            false,
        );
        assert!(kept.links.is_empty() && kept.rendered.body.ends_with("/b/1"));
        // Shortening would make it two segments: the address stays.
        let tight = text(&format!("{} https://x.io/1", "a".repeat(140)));
        let shaped = render(
            &tight,
            false,
            (&brand(), &settings(), Default::default()),
            true,
        );
        assert!(shaped.links.is_empty());
        assert_eq!(shaped.rendered.segments, 1);
    }
}
