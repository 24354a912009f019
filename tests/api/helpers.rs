//! Starts the real service on port 0 against a database of its own, and talks to it over HTTP.

use std::{net::SocketAddr, sync::Arc};

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use sms_notify::{
    App, Config, Handles, ManualClock, Server,
    auth::{JwtKeys, Role},
    outbox::provider::SmsProvider,
};
use tokio_util::sync::CancellationToken;

use crate::support::postgres;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(engine: Engine)` once on SQLite and once on PostgreSQL, as the tests
/// `name::sqlite` and `name::postgres`. The bodies are plain functions beside the list, so `rustfmt`
/// formats them: `storage_tests!(first_test, second_test);`
#[macro_export]
macro_rules! storage_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Engine::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::helpers::postgres_ready() {
                        super::$name($crate::helpers::Engine::Postgres).await
                    }
                }
            }
        )+
    };
}

/// Whether PostgreSQL tests can run. Under `CI=true` a missing PostgreSQL fails the test instead of
/// skipping it: CI must exercise both engines.
pub fn postgres_ready() -> bool {
    match postgres::admin_url() {
        Ok(_) => true,
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI=true but PostgreSQL tests cannot run: {why}");
            }
            eprintln!("skipping the PostgreSQL variant: {why}");
            false
        }
    }
}

/// The moment every test starts at, unless it sets the clock.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("a valid time")
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// Every capability's handle: tests drive the outbox, scans and receipts through them.
    pub handles: Handles,
    /// The outbox's workers, with the app's provider: tests run them by hand (`run_outbox`).
    pub workers: sms_notify::outbox::worker::Workers,
    pub config: Arc<Config>,
    pub clock: Arc<ManualClock>,
    pub db: DatabaseConnection,
    pub http: reqwest::Client,
    pub jwt: JwtKeys,
    pub server: Option<Server>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn(engine: Engine) -> Self {
        Self::spawn_with(engine, |_| {}).await
    }

    /// Starts the service with a development configuration changed by `configure`.
    pub async fn spawn_with(engine: Engine, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_custom(engine, configure, |_| None).await
    }

    /// A second instance of the service on this one's database and clock (and settings): what a
    /// deployment of several instances looks like.
    pub async fn another_instance(&self) -> Self {
        let config = (*self.config).clone();
        let app = App::build_with(config, self.clock.clone(), None)
            .await
            .expect("the second instance builds");
        Self::serve(app, self.clock.clone(), None).await
    }

    /// Starts the service with `configure`d settings and, when `provider` gives one, that provider.
    /// Tests that drive the outbox themselves set `config.sms.workers = 0`.
    pub async fn spawn_custom(
        engine: Engine,
        configure: impl FnOnce(&mut Config),
        provider: impl FnOnce(&Config) -> Option<Arc<dyn SmsProvider>>,
    ) -> Self {
        init_test_logs();
        let (url, dir) = match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                (url, Some(dir))
            }
            Engine::Postgres => (postgres::fresh_database().await, None),
        };
        let mut config = Config::for_database(url);
        // Digests hold battle invitations and results for a window the tests' manual clock never
        // closes by itself: tests of digests turn them on.
        config.sms.savings.digest_window = None;
        configure(&mut config);
        let custom_provider = provider(&config);
        let clock = Arc::new(ManualClock::new(start_time()));
        let app = App::build_with(config, clock.clone(), custom_provider)
            .await
            .expect("the app builds");
        Self::serve(app, clock, dir).await
    }

    /// Starts `app` on a free loopback port.
    async fn serve(app: App, clock: Arc<ManualClock>, dir: Option<tempfile::TempDir>) -> Self {
        let handles = app.handles.clone();
        let workers = app.workers();
        let config = app.config.clone();
        let db = app.handles.db.clone();
        let jwt = app.jwt.clone();
        let server = app
            .start(
                "127.0.0.1:0".parse().expect("addr"),
                CancellationToken::new(),
            )
            .await
            .expect("the server starts");
        Self {
            addr: server.addr,
            handles,
            workers,
            config,
            clock,
            db,
            http: reqwest::Client::new(),
            jwt,
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A token for `user` with `role`, valid for an hour of real time.
    pub fn token(&self, user: &str, role: Role) -> String {
        let now = Utc::now();
        self.jwt
            .issue(user, role, now, now + Duration::hours(1))
            .expect("sign a token")
    }

    /// A token for `user` with `role` that expired an hour ago.
    pub fn expired_token(&self, user: &str, role: Role) -> String {
        let now = Utc::now();
        self.jwt
            .issue(
                user,
                role,
                now - Duration::hours(2),
                now - Duration::hours(1),
            )
            .expect("sign a token")
    }

    /// Posts a GraphQL request with an optional raw `Authorization` header; returns the JSON body.
    pub async fn post_graphql(
        &self,
        authorization: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("the request is sent");
        assert_eq!(
            response.status(),
            200,
            "GraphQL answers 200 even with errors"
        );
        response.json().await.expect("a JSON body")
    }

    /// A GraphQL request as `user` with `role`.
    pub async fn graphql_as(&self, user: &str, role: Role, query: &str, variables: Value) -> Value {
        let header = format!("Bearer {}", self.token(user, role));
        self.post_graphql(Some(&header), query, variables).await
    }

    /// A GraphQL request as the app user `user`.
    pub async fn as_user(&self, user: &str, query: &str, variables: Value) -> Value {
        self.graphql_as(user, Role::User, query, variables).await
    }

    /// A GraphQL request as the app's back end.
    pub async fn as_service(&self, query: &str, variables: Value) -> Value {
        self.graphql_as("app-backend", Role::Service, query, variables)
            .await
    }

    /// A GraphQL request as an operator (role admin).
    pub async fn as_graphql_admin(&self, query: &str, variables: Value) -> Value {
        self.graphql_as("ops", Role::Admin, query, variables).await
    }

    /// How many rows `table` has.
    pub async fn db_count(&self, table: &str) -> u64 {
        use sea_orm::ConnectionTrait;
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n") as u64
    }

    /// Runs one worker pass over the outbox now.
    pub async fn run_outbox(&self) -> sms_notify::outbox::worker::BatchReport {
        self.workers
            .run_once(&CancellationToken::new())
            .await
            .expect("a worker pass")
    }

    /// One worker pass in the background (for a test that watches what happens meanwhile).
    pub fn run_outbox_in_background(
        &self,
    ) -> tokio::task::JoinHandle<sms_notify::outbox::worker::BatchReport> {
        let workers = self.workers.clone();
        tokio::spawn(async move {
            workers
                .run_once(&CancellationToken::new())
                .await
                .expect("a worker pass")
        })
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("clean stop");
        }
    }
}

/// A user who can receive promotions: a verified number, the master switch on, consent recorded.
/// Gives `user` the number `phone` (not verified).
pub async fn set_phone(app: &TestApp, user: &str, phone: &str) {
    data(
        &app.as_user(
            user,
            "mutation($p: String!) { setPhoneNumber(phoneNumber: $p) { userId } }",
            json!({ "p": phone }),
        )
        .await,
    );
}

pub async fn opted_in_user(app: &TestApp, user: &str, phone: &str) {
    set_phone(app, user, phone).await;
    crate::recipients::verify_phone(app, user).await;
    data(
        &app.as_user(
            user,
            "mutation { smsOptIn(action: OPT_IN) { userId } }",
            json!({}),
        )
        .await,
    );
}

/// The `data` of a response that must have no errors.
pub fn data(response: &Value) -> &Value {
    assert!(
        response.get("errors").is_none(),
        "unexpected errors: {response:#}"
    );
    &response["data"]
}

/// The `extensions.code` of the first error, which must be there.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {response:#}"))
}

pub fn error_message(response: &Value) -> &str {
    response["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error message: {response:#}"))
}

fn init_test_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
