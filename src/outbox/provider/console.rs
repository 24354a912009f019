//! The development provider: prints each text as a `[CONSOLE SMS]` block on standard output. This is
//! the one place where a full number and a code may appear, on the developer's own terminal.

use std::io::Write;

use super::{OutgoingSms, ProviderError, SmsProvider};

#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleProvider;

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
            sms.to, sms.message_type, sms.log_id, sms.body
        );
        // One write of the whole block, so concurrent workers do not interleave lines; through
        // `print!`, which test harnesses capture (a direct write to stdout would leak into
        // `cargo test`'s output).
        print!("{block}");
        let _ = std::io::stdout().flush();
        Ok(id)
    }
}
