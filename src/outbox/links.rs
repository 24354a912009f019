//! Short links: each `http(s)` address in a text replaced by `SMS_LINK_BASE_URL/<code>`, a random code
//! (10 base62 characters, about 8 x 10^17 of them: never guessed, never reused) that `GET /l/<code>`
//! answers with a 302 to the address, counting the click.

use linkify::{LinkFinder, LinkKind};

/// Characters of a code.
pub const CODE_LEN: usize = 10;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A link a text carries: its code and the address it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub code: String,
    pub url: String,
}

/// A body with its links shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortened {
    pub body: String,
    pub links: Vec<NewLink>,
}

/// A new random code.
pub fn new_code() -> String {
    (0..CODE_LEN)
        .map(|_| BASE62[rand::random_range(0..BASE62.len())] as char)
        .collect()
}

/// Whether `code` has a code's shape (so a request for anything else is refused before a look-up).
pub fn is_code(code: &str) -> bool {
    code.len() == CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The `http(s)` addresses of a body, as byte ranges (a sentence's closing punctuation is not part of
/// the address).
fn find(body: &str) -> Vec<(usize, usize)> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(true);
    finder
        .links(body)
        .filter(|l| {
            let s = l.as_str();
            s.starts_with("http://") || s.starts_with("https://")
        })
        .map(|l| (l.start(), l.end()))
        .collect()
}

/// The body with each address replaced by `<base>/<code>` of a new code; `None` without addresses (or
/// where every address is already one of our short links).
pub fn shorten(body: &str, base: &str) -> Option<Shortened> {
    let prefix = format!("{base}/");
    let mut out = String::with_capacity(body.len());
    let mut links = Vec::new();
    let mut at = 0;
    for (start, end) in find(body) {
        let url = &body[start..end];
        if url.starts_with(&prefix) {
            continue;
        }
        let code = new_code();
        out.push_str(&body[at..start]);
        out.push_str(&prefix);
        out.push_str(&code);
        links.push(NewLink {
            code,
            url: url.to_owned(),
        });
        at = end;
    }
    if links.is_empty() {
        return None;
    }
    out.push_str(&body[at..]);
    Some(Shortened { body: out, links })
}

/// The body with each address, short link or not, masked as `<base>/*`: how a repeated request's
/// text, whose new codes would differ, is compared with the stored one.
pub fn mask_addresses(body: &str, base: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (start, end) in find(body) {
        out.push_str(&body[at..start]);
        out.push_str(base);
        out.push_str("/*");
        at = end;
    }
    out.push_str(&body[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://go.allthrive.ai/l";

    #[test]
    fn every_address_is_replaced_and_punctuation_stays() {
        let body = "Accept: https://allthrive.ai/battles/7?invite=3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44. Or http://x.io/a, see (https://allthrive.ai/help)!";
        let s = shorten(body, BASE).expect("links");
        assert_eq!(s.links.len(), 3);
        assert_eq!(
            s.links[0].url,
            "https://allthrive.ai/battles/7?invite=3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44"
        );
        assert_eq!(s.links[1].url, "http://x.io/a");
        assert_eq!(s.links[2].url, "https://allthrive.ai/help");
        let expected = format!(
            "Accept: {BASE}/{}. Or {BASE}/{}, see ({BASE}/{})!",
            s.links[0].code, s.links[1].code, s.links[2].code
        );
        assert_eq!(s.body, expected);
        assert!(s.links.iter().all(|l| is_code(&l.code)));
        assert_ne!(s.links[0].code, s.links[1].code);
    }

    #[test]
    fn no_address_no_change() {
        assert_eq!(shorten("Your code is 123456. allthrive.ai", BASE), None);
        let short = format!("See {BASE}/AbCdEf1234");
        assert_eq!(shorten(&short, BASE), None, "already short");
    }

    #[test]
    fn masks_compare_a_repeat_with_the_stored_text() {
        let body = "Accept: https://allthrive.ai/battles/7 now";
        let stored = shorten(body, BASE).expect("a link").body;
        assert_eq!(mask_addresses(&stored, BASE), mask_addresses(body, BASE));
        assert_eq!(mask_addresses(body, BASE), format!("Accept: {BASE}/* now"));
    }

    #[test]
    fn codes_have_the_shape() {
        assert!(is_code("0123456789"));
        assert!(!is_code("012345678"));
        assert!(!is_code("01234567-9"));
    }
}
