//! Signed webhooks, as the Standard Webhooks specification says: admins register endpoints; events
//! (`message.updated` from every change of the message feed, and `reply.received`, `opt_out.added`,
//! `opt_out.removed`, `verification.succeeded` from their own transactions) become one delivery per
//! endpoint in the database; workers post them with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256>`, retry with exponential backoff for up to three days,
//! and disable an endpoint that has failed for three days (an operator alert). Delivery happens off
//! the request: a send never waits for a webhook.

use std::{sync::Arc, time::Duration};

mod address;
pub mod event;
use address::PublicOnly;
pub use address::public;
pub use event::{Event, Kind};

use base64::Engine as _;
use chrono::Utc;
use sea_orm::{DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;

pub use crate::store::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use crate::{
    Clock,
    jobs::{backoff::Backoff, runner::Every},
    stages::InStage,
    store::{
        audit::{self, NewAction},
        db::Db,
        feed::{self, Position},
        webhooks::{self as rows, Attempt, NewEvent, Next},
    },
};

/// How long deliveries are retried.
pub const RETRY_FOR: chrono::Duration = chrono::Duration::days(3);
/// An endpoint failing this long is disabled.
pub const DISABLE_AFTER: chrono::Duration = chrono::Duration::days(3);
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the workers look for work.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// The dispatcher's name in `feed_cursors`.
const FEED_READER: &str = "webhooks";

/// Why an admin's webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    BadUrl(String),
    #[error("No webhook endpoint has the id {0}.")]
    NotFound(i64),
    #[error("No webhook delivery has the id {0}.")]
    DeliveryNotFound(i64),
    /// A replay that would rewrite history or send what must not be sent again.
    #[error("{0}")]
    ReplayRefused(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The webhooks handle.
#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Tests only: endpoints may be plain http and on loopback or private addresses.
    allow_private: bool,
}

/// The delay before the attempt after failed ones: 5 s doubling, at most 12 hours.
pub const RETRY: Backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(12 * 3600));

/// A fresh secret: `whsec_` and the base64 of 32 random bytes.
fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The `webhook-signature` of `body` under `secret`: `v1,` and the base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` with the secret's key.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_default();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

impl Webhooks {
    pub fn new(db: Db, clock: Arc<dyn Clock>, allow_private: bool) -> Self {
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent("sms-notify-webhooks");
        if !allow_private {
            http = http.dns_resolver(Arc::new(PublicOnly));
        }
        let http = http.build().unwrap_or_default();
        Self {
            db,
            clock,
            http,
            allow_private,
        }
    }

    /// An endpoint's address must be https and reach the public internet (not loopback or a private
    /// network), unless the test setting allows them.
    pub async fn check_url(&self, url: &str) -> Result<reqwest::Url, WebhookError> {
        let bad = |why: &str| Err(WebhookError::BadUrl(format!("'{url}' {why}")));
        let Ok(parsed) = reqwest::Url::parse(url.trim()) else {
            return bad("is not an address such as https://example.com/webhooks/sms.");
        };
        if parsed.scheme() != "https" && !(self.allow_private && parsed.scheme() == "http") {
            return bad("must be an https:// address.");
        }
        let Some(host) = parsed.host_str() else {
            return bad("has no host.");
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return bad("carries credentials; put them nowhere in the address.");
        }
        if self.allow_private {
            return Ok(parsed);
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<_> = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => addrs.collect(),
            Err(_) => return bad("does not resolve."),
        };
        if addrs.is_empty() || addrs.iter().any(|a| !public(a.ip())) {
            return bad(
                "reaches a loopback or private address; webhooks go to the public internet.",
            );
        }
        Ok(parsed)
    }

    /// Registers an endpoint for `event_types` (admin `by`); answers it with its secret, shown once.
    pub async fn create_endpoint(
        &self,
        url: &str,
        event_types: &[&str],
        by: &str,
    ) -> Result<(EndpointRow, String), WebhookError> {
        let url = self.check_url(url).await?;
        let secret = new_secret();
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let endpoint =
            rows::create_endpoint(&txn, (url.as_str(), &event_types.join(","), &secret), now)
                .await?;
        let detail = Some(format!("{} for {}", url, event_types.join(", ")));
        let action = NewAction {
            actor: by,
            action: "create_webhook_endpoint",
            target: &endpoint.id.to_string(),
            note: None,
            detail,
        };
        audit::record(&txn, action, now).await?;
        txn.commit().await?;
        Ok((endpoint, secret))
    }

    pub async fn endpoints(&self) -> Result<Vec<EndpointRow>, DbErr> {
        rows::endpoints(&self.db).await
    }

    /// Turns an endpoint on or off for `by`, recorded.
    pub async fn set_enabled(
        &self,
        id: i64,
        enabled: bool,
        by: &str,
    ) -> Result<EndpointRow, WebhookError> {
        let reason = (!enabled).then(|| format!("disabled by {by}"));
        let txn = self.db.begin().await?;
        let endpoint = rows::set_enabled(&txn, id, enabled, reason)
            .await?
            .ok_or(WebhookError::NotFound(id))?;
        let action = NewAction {
            actor: by,
            action: if enabled {
                "enable_webhook_endpoint"
            } else {
                "disable_webhook_endpoint"
            },
            target: &id.to_string(),
            note: None,
            detail: None,
        };
        audit::record(&txn, action, self.clock.now()).await?;
        txn.commit().await?;
        Ok(endpoint)
    }

    /// Gives an endpoint a new secret for `by`; answers it, shown once.
    pub async fn rotate_secret(
        &self,
        id: i64,
        by: &str,
    ) -> Result<(EndpointRow, String), WebhookError> {
        let secret = new_secret();
        let txn = self.db.begin().await?;
        let endpoint = rows::set_secret(&txn, id, &secret)
            .await?
            .ok_or(WebhookError::NotFound(id))?;
        let action = NewAction {
            actor: by,
            action: "rotate_webhook_secret",
            target: &id.to_string(),
            note: None,
            detail: None,
        };
        audit::record(&txn, action, self.clock.now()).await?;
        txn.commit().await?;
        Ok((endpoint, secret))
    }

    /// Deletes an endpoint with its deliveries, for `by`.
    pub async fn delete_endpoint(&self, id: i64, by: &str) -> Result<(), WebhookError> {
        if !rows::delete_endpoint(&self.db, id).await? {
            return Err(WebhookError::NotFound(id));
        }
        let action = NewAction {
            actor: by,
            action: "delete_webhook_endpoint",
            target: &id.to_string(),
            note: None,
            detail: None,
        };
        audit::record(&self.db, action, self.clock.now()).await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first, with their attempts.
    pub async fn deliveries(
        &self,
        endpoint_id: i64,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<DeliveryRow>, DbErr> {
        rows::deliveries(&self.db, endpoint_id, before_id, limit).await
    }

    pub async fn attempts(&self, delivery_id: i64) -> Result<Vec<AttemptRow>, DbErr> {
        rows::attempts(&self.db, delivery_id).await
    }

    /// Sends a delivery again now, under the same event id, for `by`.
    pub async fn replay(&self, id: i64, by: &str) -> Result<DeliveryRow, WebhookError> {
        let now = self.clock.now();
        let found = rows::delivery(&self.db, id)
            .await?
            .ok_or(WebhookError::DeliveryNotFound(id))?;
        if found.erased_at.is_some() {
            return Err(WebhookError::ReplayRefused(format!(
                "Delivery {id} was about a person who has since been erased; it is never sent again."
            )));
        }
        let enabled = rows::endpoint(&self.db, found.endpoint_id)
            .await?
            .is_some_and(|e| e.enabled);
        if !enabled {
            return Err(WebhookError::ReplayRefused(format!(
                "The endpoint of delivery {id} is disabled; fix the receiver and enable the endpoint, then replay."
            )));
        }
        let delivery = rows::replay(&self.db, id, now)
            .await?
            .ok_or(WebhookError::DeliveryNotFound(id))?;
        let action = NewAction {
            actor: by,
            action: "replay_webhook_delivery",
            target: &id.to_string(),
            note: None,
            detail: Some(delivery.event_id.clone()),
        };
        audit::record(&self.db, action, now).await?;
        Ok(delivery)
    }

    /// Makes the `message.updated` webhooks of up to 500 changes of the feed after the dispatcher's
    /// place, in one transaction with its move (instances take turns on the place); returns how many
    /// changes it took. With no endpoint for `message.updated` the place moves to the feed's end
    /// unread.
    pub async fn dispatch(&self) -> Result<usize, DbErr> {
        if !feed::any_unread(&self.db, FEED_READER).await? {
            return Ok(0);
        }
        let now = self.clock.now();
        let txn = self.db.write().await?;
        let from = feed::cursor(&txn, FEED_READER).await?;
        if !rows::wanted(&txn, "message.updated").await? {
            let end = feed::end(&txn).await?;
            if end > from {
                feed::move_cursor(&txn, FEED_READER, end).await?;
            }
            txn.commit().await?;
            return Ok(0);
        }
        let changed = feed::after(&txn, from, 500).await?;
        let Some(last) = changed.last() else {
            return Ok(0);
        };
        let to = Position::of(last);
        let events: Vec<NewEvent> = changed
            .iter()
            .map(|m| event::Event::MessageUpdated(m).at(now))
            .collect();
        rows::emit(&txn, &events, now).await?;
        feed::move_cursor(&txn, FEED_READER, to).await?;
        txn.commit().await?;
        Ok(changed.len())
    }

    /// Posts the deliveries that are due, up to 50; returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, DbErr> {
        let now = self.clock.now();
        let due = rows::claim_due(&self.db, now, chrono::Duration::seconds(60), 50).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let endpoints: std::collections::HashMap<i64, EndpointRow> = rows::endpoints(&self.db)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        for delivery in &due {
            self.attempt(delivery, endpoints.get(&delivery.endpoint_id))
                .await?;
        }
        Ok(due.len())
    }

    /// One attempt of one delivery, recorded with what follows it.
    async fn attempt(
        &self,
        delivery: &DeliveryRow,
        endpoint: Option<&EndpointRow>,
    ) -> Result<(), DbErr> {
        let started = std::time::Instant::now();
        let at = self.clock.now();
        let (status_code, error) = match endpoint {
            None => (None, Some("the endpoint was deleted".to_owned())),
            Some(e) if !e.enabled => (None, Some("the endpoint is disabled".to_owned())),
            Some(e) => self.post(e, delivery).await,
        };
        let ok = status_code.is_some_and(|c| (200..300).contains(&c));
        let next = if ok {
            Next::Delivered
        } else if endpoint.is_none_or(|e| !e.enabled) {
            Next::GiveUp
        } else {
            let retry_at = at + RETRY.after(delivery.attempts + 1);
            if retry_at - delivery.created_at > RETRY_FOR {
                Next::GiveUp
            } else {
                Next::RetryAt(retry_at)
            }
        };
        let attempt = Attempt {
            at,
            status_code,
            error,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        let failing_since = rows::record_attempt(&self.db, delivery, attempt, next).await?;
        if let (Some(since), Some(endpoint)) = (failing_since, endpoint)
            && endpoint.enabled
            && at - since >= DISABLE_AFTER
        {
            let reason = format!(
                "every delivery failed since {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            rows::set_enabled(&self.db, endpoint.id, false, Some(reason)).await?;
            tracing::error!(
                alert = "webhook_endpoint_disabled",
                endpoint = endpoint.id,
                "OPERATOR ALERT: webhook endpoint {} disabled: every delivery failed for {} days; enable it again once it answers",
                endpoint.id,
                DISABLE_AFTER.num_days()
            );
        }
        Ok(())
    }

    /// Posts a delivery: the status code, or what went wrong.
    async fn post(
        &self,
        endpoint: &EndpointRow,
        delivery: &DeliveryRow,
    ) -> (Option<i32>, Option<String>) {
        if let Err(error) = self.check_url(&endpoint.url).await {
            return (None, Some(error.to_string()));
        }
        // The signature's time is the wall clock's: receivers compare it with theirs.
        let timestamp = Utc::now().timestamp();
        let signature = sign(
            &endpoint.secret,
            &delivery.event_id,
            timestamp,
            &delivery.payload,
        );
        let sent = self
            .http
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let code = i32::from(response.status().as_u16());
                let error = (!response.status().is_success())
                    .then(|| format!("the endpoint answered {}", response.status()));
                (Some(code), error)
            }
            Err(e) if e.is_timeout() => (None, Some("no answer within 10 seconds".into())),
            Err(_) => (None, Some("the endpoint could not be reached".into())),
        }
    }

    /// Makes and posts webhooks until `shutdown` (the shared runner: again at once while busy).
    pub async fn run(self, shutdown: CancellationToken) {
        Every::new("webhooks", POLL_EVERY)
            .run(shutdown, || async {
                let (made, posted) = self.run_once().await?;
                Ok(made + posted)
            })
            .await
    }

    /// Makes and posts what is due now (tests and benchmarks drive it by hand).
    pub async fn run_once(&self) -> Result<(usize, usize), DbErr> {
        let made = self.dispatch().stage(crate::stages::Stage::Feed).await?;
        Ok((made, self.deliver_due().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_twelve_hours() {
        assert_eq!(RETRY.after(1).num_seconds(), 5);
        assert_eq!(RETRY.after(2).num_seconds(), 10);
        assert_eq!(RETRY.after(5).num_seconds(), 80);
        assert_eq!(RETRY.after(20).num_seconds(), 12 * 3600);
    }
}
