//! Text no engine can store, refused at the edge: PostgreSQL refuses a NUL byte in any text column
//! (SQLite takes it), and the other control characters have no place in a text, a name or a key (a
//! bare carriage return rewrites a terminal line; an escape sequence repaints it). Tabs and line
//! breaks are text. Every string of a request, in its variables and in the document itself, is
//! checked before anything runs, so one caller's bad byte never reaches a batch shared with others.

use async_graphql::{Name, Value, Variables};

use crate::locale::text::storable;

/// The first character of `text` that may not be stored.
fn first_unstorable(text: &str) -> Option<char> {
    text.chars().find(|c| !storable(*c))
}

/// The sentence for a string with an unstorable character at `path`.
fn refusal(path: &str, c: char) -> String {
    format!(
        "{path} contains the control character U+{:04X}, which cannot be stored or texted; remove it and send the request again.",
        c as u32
    )
}

/// Checks every string of `variables` (by path, `$input.inviterName`) and of the document's own text.
pub fn check(query: &str, variables: &Variables) -> Result<(), String> {
    for (name, value) in variables.iter() {
        check_value(&format!("${name}"), value)?;
    }
    if let Some(c) = first_unstorable(query) {
        return Err(refusal("The query", c));
    }
    Ok(())
}

fn check_value(path: &str, value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) => match first_unstorable(s) {
            Some(c) => Err(refusal(path, c)),
            None => Ok(()),
        },
        Value::List(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_value(&format!("{path}[{i}]"), v)),
        Value::Object(fields) => fields.iter().try_for_each(|(k, v): (&Name, &Value)| {
            if let Some(c) = first_unstorable(k.as_str()) {
                return Err(refusal(path, c));
            }
            check_value(&format!("{path}.{k}"), v)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(json: serde_json::Value) -> Variables {
        Variables::from_json(json)
    }

    #[test]
    fn control_characters_are_refused_with_their_place() {
        let ok =
            vars(serde_json::json!({ "i": { "body": "Line one\nLine two\ttab\r\n", "n": 3 } }));
        assert_eq!(check("{ me { userId } }", &ok), Ok(()));
        let nul = vars(serde_json::json!({ "i": { "inviterName": "Mal\u{0}lory" } }));
        assert_eq!(
            check("{ me { userId } }", &nul),
            Err("$i.inviterName contains the control character U+0000, which cannot be stored or texted; remove it and send the request again.".into())
        );
        let escape = vars(serde_json::json!({ "keys": ["a", "b\u{1b}[2J"] }));
        assert!(check("{ me { userId } }", &escape).is_err_and(|e| e.starts_with("$keys[1] ")));
        let c1 = vars(serde_json::json!({ "k": "\u{85}" }));
        assert!(check("{ x }", &c1).is_err());
        assert!(
            check(
                "mutation { sendSms(input: { body: \"a\u{0}\" }) { id } }",
                &Variables::default()
            )
            .is_err()
        );
        // Letters, emoji and zero-width joiners are text.
        let text = vars(serde_json::json!({ "b": "Ñandú 👩‍👩‍👧 — “quoted”" }));
        assert_eq!(check("{ x }", &text), Ok(()));
    }
}
