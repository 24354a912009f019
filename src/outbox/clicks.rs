//! Following a short link: one click recorded (with its `message.clicked` webhooks, in the same
//! transaction) and the address it stands for.

use sea_orm::DbErr;

use super::{Outbox, links};
use crate::{store, webhooks::event};

impl Outbox {
    /// Records one click on `code` and returns the address to send the browser to; `None` for a code
    /// that is malformed, unknown or expired (nothing is written).
    pub async fn follow_link(&self, code: &str) -> Result<Option<String>, DbErr> {
        if !links::is_code(code) {
            return Ok(None);
        }
        let now = self.now();
        let txn = self.db.write().await?;
        let Some(click) = store::links::click(&txn, code, now).await? else {
            return Ok(None);
        };
        let short_url = format!("{}/{code}", self.sms.savings.link_base_url);
        let clicked = event::Event::MessageClicked {
            click: &click,
            short_url: &short_url,
            clicked_at: now,
        };
        event::emit(&txn, &[clicked], now).await?;
        txn.commit().await?;
        self.metrics
            .savings
            .link_clicks
            .with_label_values(&[click.message_type.as_str()])
            .inc();
        tracing::info!(
            message = click.message_id,
            clicks = click.clicks,
            "short link followed"
        );
        Ok(Some(click.url))
    }
}
