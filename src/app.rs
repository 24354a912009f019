//! The composition root: `Config -> App -> Server`. The only module that sees every part of the
//! service: it builds each capability's handle with just what that capability uses, and hands them to
//! the surfaces (GraphQL, HTTP, the workers, the scheduler).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{
    Clock, Config, auth,
    billing::Billing,
    graphql, http,
    inbound::Inbound,
    jobs,
    live::Live,
    metrics::Metrics,
    outbox::{Outbox, provider::SmsProvider, worker::Workers},
    privacy::Privacy,
    recipients::Recipients,
    reminders::{Scans, facts::Facts},
    store,
    verification::Verifier,
    webhooks::Webhooks,
};

/// Every capability's handle, each cheap to clone. The surfaces take the ones they need; domain code
/// never sees this bag.
#[derive(Clone)]
pub struct Handles {
    pub outbox: Outbox,
    pub inbound: Inbound,
    pub recipients: Recipients,
    pub verifier: Verifier,
    pub facts: Facts,
    pub scans: Scans,
    pub billing: Billing,
    pub privacy: Privacy,
    /// Live updates of messages, for subscriptions.
    pub live: Live,
    /// Signed webhooks to the app's endpoints.
    pub webhooks: Webhooks,
    pub metrics: Arc<Metrics>,
    /// The database, for readiness checks and the metrics' gauges.
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
}

impl Handles {
    /// Builds every handle from `config`.
    pub fn new(config: &Config, clock: Arc<dyn Clock>, db: DatabaseConnection) -> Self {
        let metrics = Arc::new(Metrics::new());
        let locale_rules = Arc::new(config.locale_rules.clone());
        // One handle to the database for every capability: they share SQLite's writer turn.
        let store = store::db::Db::new(db.clone());
        let outbox = Outbox::new(
            (store.clone(), clock.clone(), metrics.clone()),
            config.sms.clone(),
            config.costs.clone(),
            config.locale_rules.clone(),
        );
        let facts = Facts::new(
            store.clone(),
            clock.clone(),
            locale_rules.clone(),
            config.reminders.streak_alert_time,
        );
        Self {
            inbound: Inbound::new(outbox.clone(), config.default_phone_region),
            recipients: Recipients::new(
                (store.clone(), clock.clone()),
                config.default_phone_region,
                (locale_rules, facts.clone()),
                config.app_env == crate::config::AppEnv::Production,
            ),
            live: Live::new(store.clone()),
            webhooks: Webhooks::new(
                store.clone(),
                clock.clone(),
                config.webhook_allow_private_urls,
            ),
            privacy: Privacy::new(
                (store.clone(), clock.clone(), metrics.clone()),
                config.privacy.clone(),
            ),
            verifier: Verifier::new(outbox.clone(), config.verification.clone()),
            scans: Scans::new(outbox.clone(), config.reminders.clone()),
            billing: Billing::new(
                store.clone(),
                clock.clone(),
                config.costs.clone(),
                outbox.spend_cap(),
            ),
            facts,
            outbox,
            metrics,
            db,
            clock,
        }
    }
}

/// The whole service, built and migrated, not yet listening.
pub struct App {
    pub config: Arc<Config>,
    pub handles: Handles,
    pub schema: graphql::AppSchema,
    pub jwt: auth::JwtKeys,
    /// The provider the outbox workers send through (`SMS_PROVIDER`).
    pub provider: Arc<dyn SmsProvider>,
}

impl App {
    /// Connects, migrates and builds the service from `config`, reading time from `clock`.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::build_with(config, clock, None).await
    }

    /// `build`, sending through `provider` rather than `SMS_PROVIDER`'s when one is given (tests aim
    /// the real AWS provider at a loopback server).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        provider: Option<Arc<dyn SmsProvider>>,
    ) -> anyhow::Result<Self> {
        let db = store::connect(&config.database_url).await?;
        store::migrate(&db).await?;
        let provider = match provider {
            Some(provider) => provider,
            None => crate::outbox::provider::from_config(&config.sms).await,
        };
        Ok(Self::with_database(config, clock, db, provider))
    }

    pub fn with_database(
        config: Config,
        clock: Arc<dyn Clock>,
        db: DatabaseConnection,
        provider: Arc<dyn SmsProvider>,
    ) -> Self {
        let jwt = auth::JwtKeys::new(&config.jwt_secret);
        let handles = Handles::new(&config, clock, db);
        let schema = graphql::build_schema(&handles, &config, provider.clone());
        Self {
            config: Arc::new(config),
            handles,
            schema,
            jwt,
            provider,
        }
    }

    /// The outbox's workers, sending through this app's provider.
    pub fn workers(&self) -> Workers {
        Workers::new(
            self.handles.outbox.clone(),
            Arc::new(self.handles.inbound.clone()),
            self.provider.clone(),
        )
    }

    /// Binds `addr` and serves until `shutdown` is cancelled.
    pub async fn start(
        self,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on LISTEN_ADDR {addr}"))?;
        let local_addr = listener.local_addr()?;
        let workers = self.workers();
        let abandon = workers.abandon_calls();
        let mut tasks: Vec<_> = (0..self.config.sms.workers)
            .map(|n| tokio::spawn(workers.clone().run(n, shutdown.child_token())))
            .collect();
        let scheduler = jobs::start(
            self.handles.scans.clone(),
            self.handles.inbound.clone(),
            self.handles.privacy.clone(),
            self.config.reconcile_schedule.clone(),
            shutdown.child_token(),
        )
        .await?;
        tasks.extend(scheduler);
        tasks.push(tokio::spawn(
            self.handles.live.clone().run(shutdown.child_token()),
        ));
        tasks.push(tokio::spawn(
            self.handles.webhooks.clone().run(shutdown.child_token()),
        ));
        tasks.push(
            jobs::spend_limits::start(
                self.handles.outbox.spend_cap(),
                self.provider.clone(),
                shutdown.child_token(),
            )
            .await,
        );
        tasks.push(
            self.handles
                .verifier
                .clone()
                .start_feedback(self.provider.clone(), shutdown.child_token()),
        );
        let metrics_addr = match self.config.metrics_addr {
            Some(addr) => Some(http::metrics::serve(&self.handles, addr, shutdown.clone()).await?),
            None => None,
        };
        let router = http::router(http::HttpState::new(&self, shutdown.clone()));
        let stop = shutdown.clone();
        let handle = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("HTTP server")
        });
        Ok(Server {
            addr: local_addr,
            metrics_addr,
            shutdown,
            abandon,
            handle,
            workers: tasks,
        })
    }
}

/// A running service.
pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served (`METRICS_ADDR`), when it is.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    /// Cancelled near the end of a stop's grace: provider calls still in flight are given up.
    abandon: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// What a stop within a grace period did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Everything finished: requests answered, sends in flight recorded, the rest handed back.
    Clean,
    /// The grace ran out first: the process should exit anyway (what was unfinished is leased and
    /// comes back when the lease expires; calls given up are `UNKNOWN`).
    GraceExceeded,
}

/// The part of a stop's grace kept for writing down what the calls in flight came to: calls still
/// unanswered this long before the end are given up (a fifth of the grace, at most 5 s).
pub fn recording_margin(grace: std::time::Duration) -> std::time::Duration {
    (grace / 5).min(std::time::Duration::from_secs(5))
}

impl Server {
    /// Waits until the server and the workers stop (after the shutdown token is cancelled). Workers
    /// finish the send in flight and hand the rest of their batch back to the queue.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.handle.await.context("server task")?;
        for worker in self.workers {
            worker.await.context("outbox worker")?;
        }
        served
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Stops as an orchestrator's stop asks (`SHUTDOWN_GRACE`): the listener closes and `/readyz`
    /// answers 503 on connections still open, WebSockets are told to reconnect elsewhere, workers
    /// finish the provider calls in flight and hand their unsent messages back at once; calls still
    /// unanswered `recording_margin` before the end are given up and recorded as interrupted; at the
    /// end the wait stops, whatever is left.
    pub async fn stop_within(self, grace: std::time::Duration) -> anyhow::Result<Stopped> {
        self.shutdown.cancel();
        let abandon = self.abandon.clone();
        let give_up_calls = grace.saturating_sub(recording_margin(grace));
        let timer = tokio::spawn(async move {
            tokio::time::sleep(give_up_calls).await;
            abandon.cancel();
        });
        let stopped = match tokio::time::timeout(grace, self.wait()).await {
            Ok(result) => result.map(|()| Stopped::Clean),
            Err(_) => Ok(Stopped::GraceExceeded),
        };
        timer.abort();
        stopped
    }
}
