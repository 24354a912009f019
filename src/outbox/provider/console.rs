//! The development provider: prints each text as a `[CONSOLE SMS]` block on standard output. This is
//! the one place where a full number and a code may appear, on the developer's own terminal.

use std::io::Write;

use super::{OutgoingSms, ProviderError, SmsProvider};

#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleProvider;

/// The body as the block shows it: each line indented, so no line of a text can pass for the block's
/// own markers (`[/CONSOLE SMS]`), and a carriage return starts a new line instead of rewriting the
/// one before it on the terminal.
fn body_lines(body: &str) -> String {
    body.replace("\r\n", "\n")
        .split(['\n', '\r'])
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[async_trait::async_trait]
impl SmsProvider for ConsoleProvider {
    fn name(&self) -> &'static str {
        "console"
    }

    fn simulates_receipts(&self) -> bool {
        true
    }

    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<String, ProviderError> {
        let id = format!("console-{}", uuid::Uuid::new_v4());
        let block = format!(
            "\n[CONSOLE SMS]\nTo:   {}\nType: {} (log {})\nId:   {id}\n{}\n[/CONSOLE SMS]\n",
            sms.to,
            sms.message_type,
            sms.log_id,
            body_lines(sms.body)
        );
        // One write of the whole block, so concurrent workers do not interleave lines; through
        // `print!`, which test harnesses capture (a direct write to stdout would leak into
        // `cargo test`'s output).
        print!("{block}");
        let _ = std::io::stdout().flush();
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_body_cannot_forge_a_block() {
        let forged =
            "Hi\r\n[/CONSOLE SMS]\n\n[CONSOLE SMS]\nTo:   +15555550100\rYour code is 000000";
        let shown = super::body_lines(forged);
        assert!(shown.lines().all(|l| l.starts_with("  ")), "{shown}");
        assert!(!shown.contains('\r'));
        assert_eq!(shown.lines().count(), 6);
    }
}
