//! Following a short link: the click recorded (with its `message.clicked` webhooks, in the same
//! transaction) and the address it stands for. Clicks that arrive together share one transaction
//! (`group_commit`), as sends do: a burst of clicks on SQLite's one writer costs one commit, not one
//! each.

use sea_orm::DbErr;

use super::{Outbox, links};
use crate::{
    store::{self, links::Click},
    webhooks::event,
};

impl Outbox {
    /// Records one click on `code` and returns the address to send the browser to; `None` for a code
    /// that is malformed, unknown or expired (nothing is written).
    pub async fn follow_link(&self, code: &str) -> Result<Option<String>, DbErr> {
        if !links::is_code(code) {
            return Ok(None);
        }
        let outbox = self.clone();
        let decide = move |codes: Vec<String>| {
            let outbox = outbox.clone();
            async move { outbox.record_clicks(codes).await }
        };
        let window = self.sms.group_commit_window;
        let click = self
            .clicks
            .submit(code.to_owned(), window, decide)
            .await
            .map_err(|failure| DbErr::Custom(failure.to_string()))?;
        Ok(click.map(|c| c.url))
    }

    /// Records a batch of clicks in one transaction, one answer per code in order.
    async fn record_clicks(&self, codes: Vec<String>) -> Result<Vec<Option<Click>>, DbErr> {
        let now = self.now();
        let txn = self.db.write().await?;
        let mut clicks = Vec::with_capacity(codes.len());
        for code in &codes {
            clicks.push(store::links::click(&txn, code, now).await?);
        }
        let base = &self.sms.savings.link_base_url;
        let short_urls: Vec<String> = codes.iter().map(|c| format!("{base}/{c}")).collect();
        let events: Vec<event::Event<'_>> = clicks
            .iter()
            .zip(&short_urls)
            .filter_map(|(click, short_url)| {
                Some(event::Event::MessageClicked {
                    click: click.as_ref()?,
                    short_url,
                    clicked_at: now,
                })
            })
            .collect();
        event::emit(&txn, &events, now).await?;
        txn.commit().await?;
        for click in clicks.iter().flatten() {
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
        }
        Ok(clicks)
    }
}
