//! The `sms-notify` command: parses the command line and calls the library.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use sms_notify::{App, Config, Stopped, SystemClock, auth::Role, config::LogFormat};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// SMS notification backend: GraphQL API, durable sending pipeline, reminder engine.
///
/// Settings come from the environment (DATABASE_URL, LISTEN_ADDR, JWT_SECRET, ...); see the README.
#[derive(Parser, Debug)]
#[command(name = "sms-notify", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Migrate the database, then serve the GraphQL API (the default command).
    Serve,
    /// Print every setting the service reads (secrets hidden) and every problem with them; exits 2
    /// when there is one. The service runs the same checks when it starts.
    CheckConfig,
    /// Apply pending database migrations and exit.
    Migrate {
        /// Apply nothing: list the migrations not yet applied and exit non-zero while there are any
        /// (a deployment's new tasks wait on it until one of them has migrated).
        #[arg(long)]
        check: bool,
    },
    /// Print the GraphQL schema (SDL): the content of schema.graphql.
    Schema,
    /// Ask the service running on LISTEN_ADDR whether it is alive (`GET /healthz`); exits 0 when it
    /// answers 200 within 3 seconds, 1 otherwise. The container image's HEALTHCHECK runs it (the
    /// image has no shell and no curl).
    Healthcheck,
    /// Run a reminder scan now (battles or streaks) and print what it found, queued and skipped.
    Scan {
        #[arg(value_enum)]
        kind: ScanKind,
    },
    /// Act as if NUMBER texted TEXT to the service's number (local work with the console provider):
    /// STOP, START, HELP or anything else, handled as a reply that arrived from AWS.
    SimulateReply {
        /// The number the text comes from, in any usual writing.
        #[arg(long)]
        from: String,
        /// What the person texted, e.g. STOP.
        text: String,
    },
    /// Erase a person: profile, preferences, codes and waiting messages go; messages stay for
    /// accounting without text or number; consent events keep a keyed hash of the number (prints what
    /// was done, table by table, as JSON).
    Erase {
        /// The app's user id of the person to erase.
        #[arg(long)]
        user: String,
    },
    /// Run the retention purge now (texts, replies and records past their periods) and print what it
    /// removed, as JSON.
    Purge,
    /// Import the old app's data: people, preferences (with consent), opt-outs and history, from
    /// files named by kind (`people.csv`, `preferences.jsonl`, ...) or folders of them. Safe to run
    /// again: rows already here are unchanged. Exits 3 when rows were refused or kept (see the file
    /// of refused rows), 2 when a file is not in a known shape (nothing is written then).
    Import {
        /// Files (`people.csv`, `opt_outs.jsonl`, ...) or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Read and check everything, print what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where refused rows go: `<kind>.<name>` beside this path (`people.refused.csv`).
        #[arg(long, default_value = "refused.csv")]
        refused: PathBuf,
        /// Rows per transaction (1 to 1,000).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000))]
        batch: u32,
    },
    /// Check the AWS account the service sends through (SMS_PROVIDER=aws).
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Print a signed bearer token for GraphiQL and scripts, made with JWT_SECRET.
    Token {
        /// The user id the token speaks for (its `sub` claim). Needed for a user's token; an admin's
        /// defaults to `admin`, the back end's to `backend`.
        #[arg(long)]
        user: Option<String>,
        /// What the token may do: `user` (own settings), `service` (the app's back end), `admin`.
        #[arg(long, value_enum)]
        role: Role,
        /// How long the token is valid, e.g. 15m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Print the operator's console address with the token in it (`http://<LISTEN_ADDR>/admin#token=...`)
        /// instead of the bare token. The token rides in the fragment, which browsers never send.
        #[arg(long)]
        url: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AwsCommand {
    /// Print a checklist of the account: each origination identity's status and registration, the
    /// spend limit, the configuration set's SNS event destination, and with --to a DryRun send; each
    /// refused call names the IAM permission to grant. Exits non-zero when something needs doing.
    Check {
        /// A destination for a DryRun send (validated by AWS, not delivered, not charged).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ScanKind {
    /// Participants of active battles whose deadline is near and who have not submitted.
    Battles,
    /// Users whose streak ends at their local midnight.
    Streaks,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", sms_notify::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    if let Command::Healthcheck = command {
        return healthcheck();
    }
    let env = |name: &str| std::env::var(name).ok();
    if let Command::CheckConfig = command {
        let report = sms_notify::config::check::check(env);
        print!("{}", report.render());
        return if report.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(_) => {
            // Every problem at once, each said once, not only the first.
            for problem in sms_notify::config::check::check(env).problems {
                eprintln!("sms-notify: invalid configuration: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let exporting = match init_tracing(config.log_format, &config.telemetry) {
        Ok(exporting) => exporting,
        Err(error) => {
            eprintln!("sms-notify: {error:#}");
            return ExitCode::from(2);
        }
    };
    warn_about_log_filter();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("sms-notify: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let format = config.log_format;
    let outcome = runtime.block_on(run(command, config));
    // Whatever a stop past its grace left running is not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    if let Some(exporting) = exporting {
        // The spans still buffered go out before the process ends.
        exporting.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Said once: as a JSON event for log pipelines, as a sentence at a terminal.
            match format {
                LogFormat::Json => {
                    tracing::error!(error = format!("{error:#}"), "sms-notify stopped")
                }
                LogFormat::Text => eprintln!("sms-notify: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// `sms-notify healthcheck`: `GET /healthz` on LISTEN_ADDR (its loopback when it listens on every
/// address).
fn healthcheck() -> ExitCode {
    let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let Ok(mut addr) = listen.trim().parse::<std::net::SocketAddr>() else {
        eprintln!("sms-notify healthcheck: LISTEN_ADDR '{listen}' is not a socket address");
        return ExitCode::FAILURE;
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{addr}/healthz");
    let asked = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        client.get(&url).send().await?.error_for_status()
    };
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(asked).map_err(|e| e.to_string()));
    match answer {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sms-notify healthcheck: {url}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How a person runs this command: `cargo run --` in a checkout (where `cargo run` set `CARGO`), else
/// the installed `sms-notify`.
fn command_name() -> &'static str {
    if std::env::var_os("CARGO").is_some() {
        "cargo run --"
    } else {
        "sms-notify"
    }
}

/// Warns when `RUST_LOG` cannot be read, or sets no level for the service's own events (a typo such
/// as `sms=debug` would otherwise silently turn them all off).
fn warn_about_log_filter() {
    let Ok(filter) = std::env::var("RUST_LOG") else {
        return;
    };
    // Said on standard error directly: a filter that silences the service would silence a log line.
    if EnvFilter::try_new(&filter).is_err() {
        eprintln!("sms-notify: RUST_LOG '{filter}' is not a log filter; using the default");
        return;
    }
    let ours = filter.split(',').map(str::trim).any(|directive| {
        let target = directive.split(['=', '[']).next().unwrap_or_default();
        let is_level = ["trace", "debug", "info", "warn", "error", "off"]
            .contains(&target.to_ascii_lowercase().as_str());
        directive.is_empty() || is_level || target.starts_with("sms_notify")
    });
    if !ours {
        eprintln!(
            "sms-notify: RUST_LOG '{filter}' sets no level for sms-notify's own events (target sms_notify), so they are off; add e.g. sms_notify=info"
        );
    }
}

/// Logs (and, with `OTEL_EXPORTER_OTLP_ENDPOINT`, traces): the exporter to shut down at exit.
fn init_tracing(
    format: LogFormat,
    telemetry: &sms_notify::telemetry::TelemetryConfig,
) -> anyhow::Result<Option<sms_notify::telemetry::Exporting>> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(sms_notify::DEFAULT_LOG_FILTER));
    let (traces, exporting) = match sms_notify::telemetry::layer(telemetry)
        .context("OTEL_EXPORTER_OTLP_ENDPOINT: cannot set up the trace exporter")?
    {
        Some((layer, exporting)) => (Some(layer), Some(exporting)),
        None => (None, None),
    };
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    match format {
        // Logs go to standard error; standard output carries what a command prints (the scan's JSON,
        // a token, the console provider's texts).
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init(),
        // Colour only for a person at a terminal: a file or a pipe gets plain text.
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    Ok(exporting)
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate { check: true } => migrate_check(&config).await,
        Command::Migrate { check: false } => {
            let db = sms_notify::connect(&config.database_url).await?;
            sms_notify::migrate(&db).await?;
            println!(
                "migrations applied to {}",
                sms_notify::redact_url(config.database_url.expose_secret())
            );
            Ok(())
        }
        Command::Token {
            user,
            role,
            ttl,
            url,
        } => token(&config, (user, role), ttl, url),
        Command::Scan { kind } => scan(config, kind).await,
        Command::SimulateReply { from, text } => simulate_reply(config, &from, &text).await,
        Command::Erase { user } => erase(config, &user).await,
        Command::Import {
            paths,
            dry_run,
            refused,
            batch,
        } => {
            // Every file's shape is checked before anything is written.
            let sources = sms_notify::import::open_all(&paths).unwrap_or_else(|e| {
                eprintln!("sms-notify import: {e}");
                std::process::exit(2)
            });
            let app = quiet_app(config).await?;
            let how = (dry_run, refused, batch as usize);
            std::process::exit(sms_notify::import::command(&app, sources, how).await?)
        }
        Command::Purge => purge(config).await,
        Command::Aws {
            command: AwsCommand::Check { to },
        } => aws_check(config, to.as_deref()).await,
        // Both are answered before the configuration is read (`main`).
        Command::Schema | Command::CheckConfig | Command::Healthcheck => Ok(()),
    }
}

/// `sms-notify token`: prints a signed token (or the console's address with it).
fn token(
    config: &Config,
    (user, role): (Option<String>, Role),
    ttl: std::time::Duration,
    url: bool,
) -> anyhow::Result<()> {
    let user = match (user, role) {
        (Some(user), _) => user,
        (None, Role::Admin) => "admin".to_owned(),
        (None, Role::Service) => "backend".to_owned(),
        (None, Role::User) => {
            anyhow::bail!("a user's token speaks for one user: add --user USER_ID")
        }
    };
    if config.jwt_secret_is_default {
        eprintln!("note: signed with the development secret (JWT_SECRET is not set)");
    }
    let keys = sms_notify::auth::JwtKeys::new(&config.jwt_secret);
    let now = chrono::Utc::now();
    let ttl = chrono::Duration::from_std(ttl).context("--ttl is too long")?;
    let token = keys
        .issue(&user, role, now, now + ttl)
        .context("signing the token")?;
    if url {
        println!(
            "{}",
            sms_notify::http::console_url(config.listen_addr, &token)
        );
    } else {
        println!("{token}");
    }
    Ok(())
}

/// `sms-notify scan`: runs a reminder scan now and prints what it did as JSON.
async fn scan(config: Config, kind: ScanKind) -> anyhow::Result<()> {
    let app = quiet_app(config).await?;
    let kind = match kind {
        ScanKind::Battles => sms_notify::reminders::ReminderKind::Battles,
        ScanKind::Streaks => sms_notify::reminders::ReminderKind::Streaks,
    };
    let run = app.handles.scans.run(kind).await?;
    println!(
        "{}",
        serde_json::json!({
            "kind": kind.as_str(),
            "found": run.report.found,
            "enqueued": run.report.enqueued,
            "skipped": run.report.skipped,
            "startedAt": run.started_at,
            "finishedAt": run.finished_at,
        })
    );
    Ok(())
}

/// `sms-notify erase`: erases a person and prints what went, table by table, as JSON.
async fn erase(config: Config, user: &str) -> anyhow::Result<()> {
    let app = quiet_app(config).await?;
    let Some(erased) = app.handles.privacy.erase(user, "cli", "command").await? else {
        anyhow::bail!(
            "the service holds no profile of user '{user}': nothing to erase (erased already, or never seen)"
        );
    };
    println!(
        "{}",
        serde_json::json!({
            "userId": user,
            "numbers": erased.numbers.len(),
            "messagesCancelled": erased.messages_cancelled,
            "messagesScrubbed": erased.messages_scrubbed,
            "verificationsDeleted": erased.verifications_deleted,
            "consentEventsPseudonymized": erased.consent_events_pseudonymized,
            "repliesScrubbed": erased.replies_scrubbed,
            "webhookDeliveriesScrubbed": erased.webhook_deliveries_scrubbed,
            "adminActionsMasked": erased.admin_actions_masked,
            "streaksDeleted": erased.streaks_deleted,
            "battleParticipationsDeleted": erased.battle_participations_deleted,
        })
    );
    Ok(())
}

/// `sms-notify purge`: runs the retention purge now and prints what it removed as JSON.
async fn purge(config: Config) -> anyhow::Result<()> {
    let app = quiet_app(config).await?;
    let run = app
        .handles
        .privacy
        .purge(sms_notify::privacy::Trigger::Command)
        .await?;
    println!(
        "{}",
        serde_json::json!({
            "messageBodies": run.message_bodies,
            "replyBodies": run.reply_bodies,
            "consentEvents": run.consent_events,
            "webhookDeliveries": run.webhook_deliveries,
            "scanRuns": run.scan_runs,
            "outboundWebhooks": run.outbound_webhooks,
            "verifications": run.verifications,
            "startedAt": run.started_at,
            "finishedAt": run.finished_at,
        })
    );
    Ok(())
}

/// The service built for a one-off command: migrated, with no workers and no scans of its own.
async fn quiet_app(mut config: Config) -> anyhow::Result<App> {
    config.sms.workers = 0;
    config.reminders.enabled = false;
    App::build(config, Arc::new(SystemClock)).await
}

/// `migrate --check`: the migrations not yet applied, read without writing (not even the migrations'
/// own table); an error while any is pending.
async fn migrate_check(config: &Config) -> anyhow::Result<()> {
    let db = sms_notify::connect(&config.database_url).await?;
    let pending = sms_notify::store::pending_migrations(&db).await?;
    let url = sms_notify::redact_url(config.database_url.expose_secret());
    if pending.is_empty() {
        println!("no migration pending on {url}");
        return Ok(());
    }
    println!("{} migrations pending on {url}:", pending.len());
    for name in &pending {
        println!("  {name}");
    }
    anyhow::bail!(
        "{} migrations pending: run `sms-notify migrate` (or start one task with `sms-notify serve`)",
        pending.len()
    )
}

async fn aws_check(config: Config, to: Option<&str>) -> anyhow::Result<()> {
    if config.sms.provider != sms_notify::config::ProviderKind::Aws {
        anyhow::bail!("sms-notify aws check checks the AWS account: set SMS_PROVIDER=aws");
    }
    let to = to
        .map(|to| sms_notify::locale::phone::normalize(to, config.default_phone_region))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let provider = sms_notify::outbox::provider::from_config(&config.sms).await;
    let report = provider.account(to.as_deref()).await;
    println!(
        "AWS End User Messaging SMS in {} (SMS_PROVIDER=aws)",
        config.sms.aws_region
    );
    print!("{}", report.checklist());
    if !report.healthy() {
        anyhow::bail!("the AWS account is not ready to send: see the checklist above");
    }
    Ok(())
}

async fn simulate_reply(config: Config, from: &str, text: &str) -> anyhow::Result<()> {
    if config.sms.provider != sms_notify::config::ProviderKind::Console {
        anyhow::bail!(
            "simulate-reply is for local work with SMS_PROVIDER=console; real replies come from AWS through /webhooks/sns"
        );
    }
    let from = sms_notify::locale::phone::normalize(from, config.default_phone_region)
        .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to = config
        .sms
        .origination_identity
        .clone()
        .unwrap_or_else(|| "console".to_owned());
    let mut config = config;
    config.sms.workers = 0;
    config.reminders.enabled = false;
    let app = App::build(config, Arc::new(SystemClock)).await?;
    let reply = sms_notify::inbound::replies::InboundReply {
        from: from.into_string(),
        to,
        body: text.to_owned(),
        inbound_message_id: Some(format!("console-{}", uuid::Uuid::new_v4())),
        received_at: chrono::Utc::now(),
    };
    let outcome = app.handles.inbound.handle_reply(None, &reply).await?;
    println!(
        "{}",
        serde_json::json!({
            "keyword": outcome.keyword.as_str().to_uppercase(),
            "consentRevokedOrGiven": outcome.consent_changed,
            "cancelledPromotions": outcome.cancelled,
            "answerQueued": outcome.answer_log_id,
        })
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret_is_default {
        tracing::warn!(
            "JWT_SECRET is not set: using the development secret. Never do this in production (APP_ENV=production refuses it)."
        );
    }
    let addr = config.listen_addr;
    let grace = config.shutdown_grace;
    let database = sms_notify::redact_url(config.database_url.expose_secret());
    let app = App::build(config, Arc::new(SystemClock)).await?;
    let server = app.start(addr, CancellationToken::new()).await?;
    tracing::info!(addr = %server.addr, database, "sms-notify is listening");
    println!("GraphiQL playground: http://{}/graphql", server.addr);
    println!(
        "Operator's console:  http://{}/admin (open it with: {} token --role admin --url)",
        server.addr,
        command_name()
    );
    shutdown_signal().await;
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        "shutting down: finishing requests and provider calls in flight, handing queued texts back"
    );
    match server.stop_within(grace).await? {
        Stopped::Clean => tracing::info!("stopped"),
        Stopped::GraceExceeded => tracing::warn!(
            "SHUTDOWN_GRACE ran out before everything stopped; exiting (unfinished texts are retried once their lease expires)"
        ),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
