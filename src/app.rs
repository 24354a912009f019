//! The composition root: `Config -> App -> Server`. The only module that sees every part of the
//! service.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tokio_util::sync::CancellationToken;

use crate::{Clock, Config, auth, graphql, http, jobs, metrics, outbox};

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

/// Opens the database of `config` (creating an SQLite file, in WAL mode).
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let is_sqlite = config.database_url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .max_connections(if is_sqlite { 8 } else { 20 })
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL with NORMAL sync is durable across process crashes and needs no fsync per commit;
            // writers wait for each other instead of failing.
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let db = Database::connect(options).await.with_context(|| {
        format!(
            "cannot open the database at DATABASE_URL ({})",
            redact_url(&config.database_url)
        )
    })?;
    if is_sqlite {
        // WAL lets readers work while one writer writes; the setting is stored in the file.
        db.execute_unprepared("PRAGMA journal_mode=WAL;")
            .await
            .context("switching SQLite to WAL mode")?;
    }
    Ok(db)
}

/// Applies pending migrations and creates the rows the service needs.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("applying database migrations")?;
    outbox::gate::ensure(db)
        .await
        .context("creating the send gate")
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
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
        let db = connect(&config).await?;
        migrate(&db).await?;
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

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/sms"),
            "postgres://app:***@db:5432/sms"
        );
        assert_eq!(
            redact_url("sqlite://x.db?mode=rwc"),
            "sqlite://x.db?mode=rwc"
        );
    }
}
