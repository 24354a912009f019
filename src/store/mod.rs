//! The only code that names entities and tables: one file per table group. Everything else asks
//! through these functions, and sees rows through the types re-exported here.
//!
//! Checks that must hold with a write (the opt-out list, the daily limits, the month's budget) run
//! inside that write's transaction, here. The few statements written as SQL text say why beside them.

pub mod actions;
pub mod audit;
pub mod budget;
pub mod caps;
pub mod code_spend;
pub mod consent;
pub mod countries;
pub mod db;
pub mod digests;
pub mod disclosures;
pub mod erasure;
pub mod feed;
pub mod feedback;
mod first_seen;
pub mod gate;
pub mod guard;
pub mod history;
pub mod import;
mod import_consent;
mod import_writes;
mod inserted;
pub mod lease;
pub mod links;
pub mod messages;
pub mod opt_outs;
pub mod queue;
pub mod receipts;
pub mod recipients;
pub mod reminders;
pub mod retention;
pub mod rollup;
pub mod savings;
pub mod spend;
pub mod verifications;
pub mod webhooks;
pub mod write_checks;

use std::time::Duration;

use anyhow::Context as _;
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use secrecy::{ExposeSecret, SecretString};

pub use entity::{
    battles::BattleStatus,
    reminder_runs::ScanKind,
    sms_log::{BlockedReason, MessageType, Model as MessageRow, SmsStatus},
};

/// Runs `step` (one batch: select a batch of rows, act on them) until a batch changes nothing, and
/// sums what they changed. Each batch is its own short statement.
pub(crate) async fn in_batches<F, Fut>(mut step: F) -> Result<u64, sea_orm::DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sea_orm::DbErr>>,
{
    let mut total = 0;
    loop {
        match step().await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

/// Whether `error` says the database is unavailable rather than that it refused a statement: no
/// connection could be had, the one in hand broke, the server is shutting down, or (SQLite) it stayed
/// busy past the wait. Such a request did nothing and may be tried again as it is.
pub fn unavailable(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error as SqlxError};
    let sqlx = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        SqlxError::Io(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08...), shutting down or starting (57P01-57P03).
            // SQLite: SQLITE_BUSY and its extended codes (a snapshot gone stale, recovery, timeout).
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "5" | "261" | "517" | "773"
                )
        }),
        _ => false,
    }
}

/// The `n`-th bind parameter: `$n` on PostgreSQL, `?n` on SQLite.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// A multi-row `VALUES` list: `rows` groups of `per_row` bind parameters, numbered on from `first` on
/// PostgreSQL, plain `?` on SQLite (which binds them faster than numbered ones).
pub fn value_groups(backend: DbBackend, first: usize, per_row: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(rows * (per_row * 6 + 4));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..per_row {
            if col > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("${}", first + row * per_row + col)),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// The file of an SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`); `None` for an in-memory one.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Checks that PostgreSQL's address answers, so an unreachable server is reported as that (with the
/// address) at once, instead of as the pool's timeout after ten seconds.
async fn reach_postgres(database_url: &str) -> anyhow::Result<()> {
    let Ok(url) = reqwest::Url::parse(database_url) else {
        return Ok(());
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Ok(()); // a Unix socket: the driver says what is wrong
    };
    let port = url.port().unwrap_or(5432);
    let reached = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await;
    match reached {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => anyhow::bail!("cannot reach PostgreSQL at {host}:{port}: {error}"),
        Err(_) => {
            anyhow::bail!("cannot reach PostgreSQL at {host}:{port}: no answer within 5 seconds")
        }
    }
}

/// How long a request waits for a PostgreSQL connection before it is answered `UNAVAILABLE`.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens the database at `database_url`: an SQLite file (created, with its folder, in WAL mode) or a
/// PostgreSQL server.
pub async fn connect(database_url: &SecretString) -> anyhow::Result<DatabaseConnection> {
    let database_url = database_url.expose_secret();
    let is_sqlite = database_url.starts_with("sqlite:");
    if let Some(file) = sqlite_file(database_url)
        && let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).with_context(|| {
            format!(
                "cannot create the folder {} of the SQLite file in DATABASE_URL",
                folder.display()
            )
        })?;
    }
    if !is_sqlite {
        reach_postgres(database_url).await?;
    }
    let mut options = ConnectOptions::new(database_url.to_owned());
    options
        .max_connections(if is_sqlite { 8 } else { 20 })
        .connect_timeout(Duration::from_secs(10))
        // A request waits this long for a connection before it is answered UNAVAILABLE: a server
        // that is down fails fast. SQLite's connections are all local; there it only queues.
        .acquire_timeout(if is_sqlite {
            Duration::from_secs(10)
        } else {
            POSTGRES_ACQUIRE_TIMEOUT
        })
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL with NORMAL sync is durable across process crashes and needs no fsync per commit;
            // writers wait for each other instead of failing.
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let db = Database::connect(options).await.with_context(|| {
        format!(
            "cannot open the database at DATABASE_URL ({})",
            redact_url(database_url)
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
    gate::ensure(db).await.context("creating the send gate")
}

/// The names of the migrations not yet applied, in order, read without writing (a database that never
/// ran one has every migration pending).
pub async fn pending_migrations(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    Ok(migration::Migrator::get_pending_migrations_read_only(db)
        .await
        .context("reading which migrations are applied")?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
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

/// A new text whose dedupe key exists already is not inserted. The key's unique index holds only the
/// rows that have a key, so the conflict target names its condition.
pub(crate) fn dedupe_key_taken() -> sea_orm::sea_query::OnConflict {
    sea_orm::sea_query::OnConflict::column(entity::sms_log::Column::DedupeKey)
        .target_and_where(sea_orm::ExprTrait::is_not_null(
            sea_orm::sea_query::Expr::col(entity::sms_log::Column::DedupeKey),
        ))
        .do_nothing()
        .to_owned()
}

/// A message row for unit tests: a sent-to-be promotion of one segment.
#[cfg(test)]
pub(crate) fn sample_row() -> MessageRow {
    MessageRow {
        id: 1,
        user_id: Some("u1".into()),
        to_phone: "+14155551234".into(),
        country: Some("US".into()),
        message_type: MessageType::StreakAlert,
        promotional: true,
        priority: 1,
        body: "hi".into(),
        sensitive_body: None,
        status: SmsStatus::Sending,
        blocked_reason: None,
        attempts: 1,
        next_attempt_at: None,
        expires_at: None,
        duplicate_cost_micros: None,
        retry_of: None,
        provider_message_id: None,
        error_code: None,
        error_message: None,
        segments: 1,
        encoding: "GSM-7".into(),
        cost_micros: Some(8_300),
        created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        sent_at: None,
        delivered_at: None,
        related_object_type: None,
        related_object_id: None,
        dedupe_key: None,
        quiet_hours_zone: None,
        estimated_cost_micros: Some(8_300),
        priced_at: None,
        carrier_fee_micros: None,
        body_purged_at: None,
        change_seq: 0,
        trace_parent: None,
        smart_encoded: false,
        encoding_saved: 0,
        links_saved: 0,
        digest_id: None,
        digest_hold: false,
        digest_part: None,
        carried: 0,
        carried_segments: 0,
        locale: None,
        inviter_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn sqlite_urls_name_their_file() {
        use std::path::PathBuf;
        assert_eq!(
            super::sqlite_file("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(
            super::sqlite_file("sqlite:x.db"),
            Some(PathBuf::from("x.db"))
        );
        assert_eq!(
            super::sqlite_file("sqlite:///tmp/a/b.db"),
            Some(PathBuf::from("/tmp/a/b.db"))
        );
        assert_eq!(super::sqlite_file("sqlite::memory:"), None);
        assert_eq!(super::sqlite_file("postgres://h/db"), None);
    }

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
