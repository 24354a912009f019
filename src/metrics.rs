//! Prometheus metrics of one instance, served on their own address (`METRICS_ADDR`), never with the API.
//! Names and labels follow Prometheus conventions; no phone number or user id is ever a label.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use sea_orm::DbErr;

/// The instance's metrics, in a registry of its own (tests run many instances in one process).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Messages by type and what became of them: `queued`, `blocked`, `sent`, `failed`, `delivered`,
    /// `undelivered`, `unknown`.
    pub messages: IntCounterVec,
    /// Messages policy refused, by reason.
    pub blocked: IntCounterVec,
    /// Failed provider calls, by the provider's error code.
    pub provider_errors: IntCounterVec,
    /// Verification codes by destination country (an allowed one, else `other`) and outcome: `sent`,
    /// `confirmed`, or the reason a code was refused (`fraud_guard`, `verification_ceiling`,
    /// `country_paused`, `rate_limited`, ...).
    pub verification_codes: IntCounterVec,
    pub provider_call: Histogram,
    /// From the message's creation to the provider's acceptance.
    pub queued_to_sent: Histogram,
    /// SNS deliveries to the webhook, by kind (`event`, `reply`, `subscription`) and outcome.
    pub webhook_deliveries: IntCounterVec,
    pub reminder_scan: HistogramVec,
    /// What reminder scans found, enqueued and skipped.
    pub reminder_messages: IntCounterVec,
    /// Rows the retention purge removed, by kind (`message_body`, `reply_body`, `consent_event`,
    /// `webhook_delivery`, `scan_run`).
    pub retention_purged: IntCounterVec,
    /// People erased, by who asked (`api`, `command`).
    pub erasures: IntCounterVec,
    /// Short links followed, and what smart encoding, short links and digests saved.
    pub savings: SavingsMetrics,
    queue: IntGaugeVec,
    oldest_pending: Gauge,
    paused: Gauge,
    spend: Gauge,
    budget: Gauge,
    up: IntGauge,
}

/// What saves money, counted: short links followed, and the segments and texts each feature saved.
#[derive(Debug, Clone)]
pub struct SavingsMetrics {
    /// Short links followed, by the text's type.
    pub link_clicks: IntCounterVec,
    /// Segments saved on texts sent, by feature (`smart_encoding`, `short_links`, `digests`).
    pub saved_segments: IntCounterVec,
    /// Texts made cheaper (or, for digests, not sent at all), by feature.
    pub saved_texts: IntCounterVec,
}

impl SavingsMetrics {
    fn new(registry: &Registry) -> Self {
        let [link_clicks, saved_segments, saved_texts] = [
            counter(
                registry,
                "sms_link_clicks_total",
                "Short links followed, by the text's message type.",
                &["message_type"],
            ),
            counter(
                registry,
                "sms_saved_segments_total",
                "Segments saved on texts sent, by feature (smart_encoding, short_links, digests).",
                &["feature"],
            ),
            counter(
                registry,
                "sms_saved_texts_total",
                "Texts made cheaper by a feature (for digests: texts not sent at all).",
                &["feature"],
            ),
        ];
        Self {
            link_clicks,
            saved_segments,
            saved_texts,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let latency = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let scan_buckets = vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let scan_opts = HistogramOpts::new(
            "sms_reminder_scan_duration_seconds",
            "How long a reminder scan took.",
        );
        let scan = HistogramVec::new(scan_opts.buckets(scan_buckets), &["kind"]);
        let scan = register(&registry, scan.unwrap_or_else(|e| unreachable!("{e}")));
        let queue_opts = Opts::new(
            "sms_queue_messages",
            "Messages in the outbox now, by state.",
        );
        let queue = IntGaugeVec::new(queue_opts, &["state"]);
        let queue = register(&registry, queue.unwrap_or_else(|e| unreachable!("{e}")));
        let up = IntGauge::new("sms_up", "1 while the instance can read its database.");
        let up = register(&registry, up.unwrap_or_else(|e| unreachable!("{e}")));
        let [
            messages,
            blocked,
            verification_codes,
            provider_errors,
            webhook_deliveries,
            reminder_messages,
            retention_purged,
            erasures,
        ] = Self::counters(&registry);
        Self {
            messages,
            blocked,
            verification_codes,
            provider_errors,
            provider_call: histogram(
                &registry,
                "sms_provider_call_duration_seconds",
                "How long the provider took to answer a send.",
                latency.clone(),
            ),
            queued_to_sent: histogram(
                &registry,
                "sms_queued_to_sent_seconds",
                "From a message's creation to the provider's acceptance.",
                vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 43200.0,
                ],
            ),
            webhook_deliveries,
            reminder_scan: scan,
            reminder_messages,
            retention_purged,
            erasures,
            savings: SavingsMetrics::new(&registry),
            queue,
            oldest_pending: gauge(
                &registry,
                "sms_queue_oldest_pending_age_seconds",
                "How long the oldest due message has waited since it came due (0 when none).",
            ),
            paused: gauge(
                &registry,
                "sms_sending_paused",
                "1 while the provider refuses the account and sending is paused for the whole deployment.",
            ),
            spend: gauge(
                &registry,
                "sms_spend_month_to_date_dollars",
                "Reserved against this month's budget (UTC calendar month).",
            ),
            budget: gauge(
                &registry,
                "sms_budget_monthly_dollars",
                "The month's budget (SMS_MONTHLY_SPEND_LIMIT_USD).",
            ),
            up,
            registry,
        }
    }

    /// The counters, in the order `new` takes them.
    fn counters(registry: &Registry) -> [IntCounterVec; 8] {
        [
            counter(
                registry,
                "sms_messages_total",
                "Messages by type and what became of them.",
                &["type", "status"],
            ),
            counter(
                registry,
                "sms_blocked_total",
                "Messages policy refused, by reason.",
                &["reason"],
            ),
            counter(
                registry,
                "sms_verification_codes_total",
                "Verification codes by destination country and outcome (sent, confirmed, or why refused).",
                &["country", "outcome"],
            ),
            counter(
                registry,
                "sms_provider_errors_total",
                "Failed provider calls, by error code.",
                &["code"],
            ),
            counter(
                registry,
                "sms_webhook_deliveries_total",
                "SNS deliveries to /webhooks/sns, by kind and outcome.",
                &["kind", "outcome"],
            ),
            counter(
                registry,
                "sms_reminder_messages_total",
                "What reminder scans found, enqueued and skipped.",
                &["kind", "outcome"],
            ),
            counter(
                registry,
                "sms_retention_purged_total",
                "Rows the retention purge removed, by kind.",
                &["kind"],
            ),
            counter(
                registry,
                "sms_erasures_total",
                "People erased, by who asked (api, command).",
                &["via"],
            ),
        ]
    }

    /// The metrics in Prometheus' text format, with the gauges read from the database now (a few
    /// indexed queries).
    pub async fn render(
        &self,
        db: &sea_orm::DatabaseConnection,
        now: chrono::DateTime<chrono::Utc>,
        monthly_limit: i64,
    ) -> String {
        match self.refresh(db, now, monthly_limit).await {
            Ok(()) => self.up.set(1),
            Err(error) => {
                tracing::warn!(%error, "metrics: the database did not answer");
                self.up.set(0);
            }
        }
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "metrics: encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    async fn refresh(
        &self,
        db: &sea_orm::DatabaseConnection,
        now: chrono::DateTime<chrono::Utc>,
        monthly_limit: i64,
    ) -> Result<(), DbErr> {
        let queue = crate::store::history::queue_state(db, now).await?;
        self.queue
            .with_label_values(&["pending"])
            .set(queue.pending);
        self.queue
            .with_label_values(&["sending"])
            .set(queue.sending);
        // The longest a message has waited since it came due (one held for quiet hours is not waiting).
        self.oldest_pending.set(queue.oldest_due.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        }));
        let paused = crate::store::gate::state(db).await?.account.is_some();
        self.paused.set(if paused { 1.0 } else { 0.0 });
        let reserved = crate::billing::reserved(db, &crate::billing::month_of(now)).await?;
        self.spend
            .set(reserved as f64 / crate::billing::MICROS as f64);
        self.budget
            .set(monthly_limit as f64 / crate::billing::MICROS as f64);
        Ok(())
    }
}
/// Adds a collector to the registry; the names are fixed here, so a clash is a bug.
fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> C {
    registry
        .register(Box::new(collector.clone()))
        .unwrap_or_else(|e| unreachable!("a metric registered twice: {e}"));
    collector
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("{name}: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| unreachable!("{name}: {e}"));
    c
}
fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| unreachable!("{name}: {e}"));
    registry
        .register(Box::new(h.clone()))
        .unwrap_or_else(|e| unreachable!("{name}: {e}"));
    h
}
fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::new(name, help).unwrap_or_else(|e| unreachable!("{name}: {e}"));
    registry
        .register(Box::new(g.clone()))
        .unwrap_or_else(|e| unreachable!("{name}: {e}"));
    g
}
