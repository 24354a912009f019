//! Smart encoding: characters that have a GSM-7 equivalent (curly quotes and apostrophes, dashes, the
//! ellipsis, Unicode spaces, bullets, full-width forms) replaced by it, so that a text typed on a phone
//! or in an editor travels as GSM-7 (160 characters a segment) instead of UCS-2 (70). The table follows
//! Twilio's published Smart Encoding list and the Unicode confusables of ASCII punctuation. A text is
//! changed only when the result is GSM-7 all through: emoji and letters GSM-7 lacks keep the text UCS-2
//! and untouched, and a text that is GSM-7 already is never changed.

use super::catalogue::{Encoding, segments};

/// What a character becomes in GSM-7, or `None` when it has no equivalent (it stays, and with it the
/// text's UCS-2). The empty string removes an invisible character.
fn equivalent(c: char) -> Option<&'static str> {
    Some(match c {
        // Double quotes.
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}'
        | '\u{2033}' | '\u{2036}' | '\u{02BA}' | '\u{02DD}' | '\u{02EE}' | '\u{301D}'
        | '\u{301E}' | '\u{301F}' | '\u{FF02}' | '\u{275D}' | '\u{275E}' => "\"",
        // Single quotes and apostrophes.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{2035}'
        | '\u{02B9}' | '\u{02BB}' | '\u{02BC}' | '\u{02BD}' | '\u{02BE}' | '\u{02C8}'
        | '\u{02CA}' | '\u{02CB}' | '\u{0060}' | '\u{00B4}' | '\u{FF07}' | '\u{275B}'
        | '\u{275C}' => "'",
        // Dashes, hyphens and minus signs.
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2043}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' | '\u{02D7}' => "-",
        '\u{2026}' => "...",
        '\u{2025}' => "..",
        // Spaces of every width.
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\t' => " ",
        // Invisible characters: zero-width spaces and joiners, the byte-order mark, the soft hyphen.
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => "",
        // Bullets.
        '\u{2022}' | '\u{2023}' | '\u{25E6}' | '\u{2219}' | '\u{00B7}' | '\u{30FB}' => "-",
        '\u{2039}' | '\u{FF1C}' => "<",
        '\u{203A}' | '\u{FF1E}' => ">",
        '\u{2044}' | '\u{2215}' | '\u{FF0F}' => "/",
        '\u{2216}' | '\u{FF3C}' => "\\",
        '\u{02C6}' | '\u{2038}' | '\u{FF3E}' => "^",
        '\u{02DC}' | '\u{FF5E}' => "~",
        '\u{00D7}' => "x",
        '\u{2024}' => ".",
        '\u{2027}' => "-",
        '\u{2028}' | '\u{2029}' | '\u{0085}' => "\n",
        '\u{00A9}' => "(C)",
        '\u{00AE}' => "(R)",
        '\u{2122}' => "TM",
        // Full-width ASCII forms, as Asian keyboards type them.
        '\u{FF40}' => "'",
        '\u{FF01}'..='\u{FF5E}' => return full_width(c),
        _ => return None,
    })
}

/// A full-width form's ASCII letter, digit or sign.
fn full_width(c: char) -> Option<&'static str> {
    const ASCII: &str = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
    let index = (c as u32).checked_sub(0xFF01)? as usize;
    ASCII.get(index..index + 1)
}

/// The body as GSM-7 when every character it lacks has an equivalent; `None` when the body is GSM-7
/// already or cannot become it (it is sent as it is).
pub fn encode(body: &str) -> Option<String> {
    if segments(body).0 == Encoding::Gsm7 {
        return None;
    }
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        if super::catalogue::is_gsm7(c) {
            out.push(c);
        } else {
            out.push_str(equivalent(c)?);
        }
    }
    (segments(&out).0 == Encoding::Gsm7).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typographic_punctuation_becomes_gsm7() {
        let typed = "AllThrive: Don\u{2019}t lose your 12\u{2011}day streak \u{2014} \u{201C}keep it\u{201D}\u{2026}";
        let plain = encode(typed).expect("encoded");
        assert_eq!(
            plain,
            "AllThrive: Don't lose your 12-day streak - \"keep it\"..."
        );
        assert_eq!(segments(typed).0, Encoding::Ucs2);
        assert_eq!(segments(&plain), (Encoding::Gsm7, 1));
        assert_eq!(
            encode("a\u{00A0}b\u{200B}c\u{2022} d"),
            Some("a bc- d".into())
        );
        assert_eq!(
            encode("\u{FF21}\u{FF42}\u{FF43}\u{FF11}"),
            Some("Abc1".into())
        );
    }

    #[test]
    fn emoji_and_letters_gsm7_lacks_leave_the_text_untouched() {
        assert_eq!(encode("Don\u{2019}t stop \u{1F525}"), None);
        assert_eq!(encode("\u{2018}Ж\u{2019}"), None);
        assert_eq!(
            encode("Ma\u{00F1}ana \u{2014} \u{00E1}"),
            None,
            "á is not GSM-7"
        );
    }

    #[test]
    fn a_text_that_is_gsm7_already_never_changes() {
        // Every character of both GSM-7 tables, in many orders and lengths.
        let alphabet: Vec<char> = super::super::catalogue::gsm7_alphabet().collect();
        let mut seed = 0x2545_f491_u64;
        for _ in 0..2_000 {
            let len = (seed % 400) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(encode(&text), None, "{text:?}");
        }
    }

    #[test]
    fn every_replacement_is_gsm7() {
        for code in 0..=0xFFFF_u32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            if let Some(to) = equivalent(c) {
                assert_eq!(segments(to).0, Encoding::Gsm7, "{c:?} -> {to:?}");
            }
        }
    }
}
