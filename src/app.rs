//! The composition root: `Config -> App -> Server`. The only module that sees every part of the
//! service.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{Clock, Config, auth, graphql, http, jobs, metrics, outbox, store};

/// What domain code and resolvers share: the database, the clock, the settings and the signals between
/// the API and the outbox workers.
#[derive(Clone, Debug)]
pub struct AppContext {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub signals: Arc<outbox::Signals>,
    pub metrics: Arc<metrics::Metrics>,
}

/// The whole service, built and migrated, not yet listening.
pub struct App {
    pub context: AppContext,
    pub schema: graphql::AppSchema,
    pub jwt: auth::JwtKeys,
    /// The provider the outbox workers send through (`SMS_PROVIDER`).
    pub provider: Arc<dyn outbox::provider::SmsProvider>,
}

impl App {
    /// Connects, migrates and builds the service from `config`, reading time from `clock`.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = store::connect(&config.database_url).await?;
        store::migrate(&db).await?;
        let provider = outbox::provider::from_config(&config.sms).await;
        Ok(Self::with_database(config, clock, db, provider))
    }

    pub fn with_database(
        config: Config,
        clock: Arc<dyn Clock>,
        db: DatabaseConnection,
        provider: Arc<dyn outbox::provider::SmsProvider>,
    ) -> Self {
        let jwt = auth::JwtKeys::new(&config.jwt_secret);
        let context = AppContext {
            db,
            clock,
            config: Arc::new(config),
            signals: Arc::new(outbox::Signals::default()),
            metrics: Arc::new(metrics::Metrics::new()),
        };
        let schema = graphql::build_schema(context.clone());
        Self {
            context,
            schema,
            jwt,
            provider,
        }
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
        let workers: Vec<_> = (0..self.context.config.sms.workers)
            .map(|n| {
                tokio::spawn(outbox::worker::run(
                    self.context.clone(),
                    self.provider.clone(),
                    n,
                    shutdown.child_token(),
                ))
            })
            .collect();
        let mut workers = workers;
        if self.context.config.reminders.enabled {
            workers.push(jobs::start(self.context.clone(), shutdown.child_token()).await?);
        }
        let metrics_addr = match self.context.config.metrics_addr {
            Some(addr) => {
                Some(http::serve_metrics(self.context.clone(), addr, shutdown.clone()).await?)
            }
            None => None,
        };
        let router = http::router(http::HttpState::new(self));
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
            handle,
            workers,
        })
    }
}

/// A running service.
pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served (`METRICS_ADDR`), when it is.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
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
}
