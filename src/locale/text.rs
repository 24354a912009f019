//! What text may be stored and texted: every character but the C0 and C1 control characters other
//! than tab, line feed and carriage return (PostgreSQL refuses a NUL byte in any text column, SQLite
//! takes it; the others have no place in a text, a name or a key). Pure.

/// Whether `c` may be stored.
pub fn storable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || !c.is_control()
}

/// `text` with each character that may not be stored shown as the replacement character (U+FFFD):
/// for what arrives from outside (a phone's reply), which is kept rather than refused.
pub fn storable_text(text: String) -> String {
    if text.chars().all(storable) {
        return text;
    }
    text.chars()
        .map(|c| if storable(c) { c } else { '\u{FFFD}' })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(
            super::storable_text("a\u{0}b\r\nc\u{1b}".into()),
            "a\u{FFFD}b\r\nc\u{FFFD}"
        );
        assert_eq!(super::storable_text("Ñandú 👋".into()), "Ñandú 👋");
    }
}
