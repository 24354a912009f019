//! A PostgreSQL for the tests and benchmarks: `TEST_DATABASE_URL` when set, otherwise a throwaway server that the first
//! test process starts from the installed PostgreSQL binaries (kept running for later test processes,
//! its data under the system temp folder). Each test gets a database of its own.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use sea_orm::{ConnectionTrait, Database};

/// The admin URL of the test server, or why there is none.
pub fn admin_url() -> Result<String, String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL")
            && !url.is_empty()
        {
            return Ok(url);
        }
        start_throwaway_server()
    })
    .clone()
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_database() -> String {
    let admin = admin_url().unwrap_or_else(|why| panic!("PostgreSQL unavailable: {why}"));
    let conn = Database::connect(admin.as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    static CLEANED: OnceLock<()> = OnceLock::new();
    if CLEANED.set(()).is_ok() {
        drop_stale_databases(&conn).await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("smsn_test_{now}_{}_{n}", std::process::id());
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = conn.close().await;
    replace_database(&admin, &name)
}

/// Creates (or recreates) the database `name` through `admin`, a superuser URL, and returns its URL
/// with the admin URL's options (`?sslmode=...`) kept.
pub async fn create_database(admin: &str, name: &str) -> Result<String, sea_orm::DbErr> {
    let conn = Database::connect(admin).await?;
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let _ = conn.close().await;
    Ok(replace_database(admin, name))
}

/// How durable the server behind `admin` makes a commit, as a benchmark's figures depend on it:
/// `fsync` and `synchronous_commit`, with "as shipped" when both are on (PostgreSQL's defaults, under
/// which every commit waits for the WAL to reach the disk).
pub async fn durability(admin: &str) -> Result<String, sea_orm::DbErr> {
    let conn = Database::connect(admin).await?;
    let mut settings = Vec::new();
    for name in ["fsync", "synchronous_commit"] {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!("SHOW {name}"),
            ))
            .await?;
        let value = row
            .and_then(|r| r.try_get::<String>("", name).ok())
            .unwrap_or_else(|| "?".into());
        settings.push((name, value));
    }
    let _ = conn.close().await;
    let shipped = settings.iter().all(|(_, v)| v == "on");
    let listed: Vec<String> = settings.iter().map(|(n, v)| format!("{n}={v}")).collect();
    Ok(format!(
        "{}{}",
        listed.join(", "),
        if shipped { " (as shipped)" } else { "" }
    ))
}

pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// Drops databases of earlier runs (older than an hour), so a long-lived server does not fill up.
async fn drop_stale_databases(conn: &sea_orm::DatabaseConnection) {
    let Ok(rows) = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'smsn_test_%'",
        ))
        .await
    else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let created: u64 = name
            .trim_start_matches("smsn_test_")
            .split('_')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 3600 {
            let _ = conn
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Some(PathBuf::from(dir));
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    // The newest major version first.
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = candidates.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary; as root it runs as the `postgres` user, since PostgreSQL refuses root.
fn pg(bin_dir: &Path, tool: &str, args: &[&str], as_postgres: bool) -> Result<(), String> {
    let program = bin_dir.join(tool);
    let output = if as_postgres {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .output()
    } else {
        Command::new(&program).args(args).output()
    }
    .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn start_throwaway_server() -> Result<String, String> {
    let bin = find_bin_dir().ok_or("no PostgreSQL binaries (initdb, pg_ctl) are installed")?;
    let as_postgres = is_root();
    let base = std::env::temp_dir().join(if as_postgres {
        "sms-notify-test-pg-root".to_owned()
    } else {
        format!(
            "sms-notify-test-pg-{}",
            std::env::var("USER").unwrap_or_default()
        )
    });
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    if as_postgres {
        let status = Command::new("chown")
            .args(["postgres:", &base.to_string_lossy()])
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err("cannot hand the test folder to the postgres user".into());
        }
    }
    // One process at a time decides whether to start the server.
    let lock = std::fs::File::create(std::env::temp_dir().join("sms-notify-test-pg.lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("lock: {e}"))?;

    let port_file = base.join("port");
    if let Some(port) = std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    {
        return Ok(url(port));
    }
    let data = base.join("data");
    let data_s = data.to_string_lossy().to_string();
    if !data.join("PG_VERSION").exists() {
        pg(
            &bin,
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            as_postgres,
        )?;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))?;
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=400 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off",
        base.to_string_lossy()
    );
    let log = base.join("server.log").to_string_lossy().to_string();
    let start = || {
        pg(
            &bin,
            "pg_ctl",
            &[
                "-D", &data_s, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
            as_postgres,
        )
    };
    if let Err(first) = start() {
        // A server of an earlier session that died leaves its pid file; with no server answering on
        // its port, it is stale.
        let pid_file = data.join("postmaster.pid");
        if !pid_file.exists() {
            return Err(first);
        }
        let _ = std::fs::remove_file(&pid_file);
        start().map_err(|second| format!("{first}; after removing a stale pid file: {second}"))?;
    }
    std::fs::write(&port_file, port.to_string()).map_err(|e| format!("port file: {e}"))?;
    Ok(url(port))
}

fn url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

#[test]
fn database_names_replace_the_path() {
    assert_eq!(
        replace_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5/x?sslmode=disable"
    );
    assert_eq!(replace_database("postgres://h:5", "x"), "postgres://h:5/x");
}
