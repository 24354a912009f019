//! The command line as a newcomer meets it: what it creates, and each fatal error said once, plainly.

use std::process::{Command, Output};

fn sms_notify(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sms-notify"));
    command
        .args(args)
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("sms-notify runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_new_sqlite_file_and_its_folder_are_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not/yet/there/fresh.db");
    // Without `?mode=rwc`, as a newcomer would write it.
    let url = format!("sqlite://{}", file.display());
    let out = sms_notify(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(file.exists());
}

#[test]
fn migrate_check_fails_while_migrations_are_pending_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let env = [("DATABASE_URL", url.as_str())];
    let out = sms_notify(&["migrate", "--check"], &env);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "pending: {listed}");
    assert!(
        listed.contains("m20261204_000027_feed_from_the_log"),
        "{listed}"
    );
    assert!(
        stderr(&out).contains("migrations pending: run `sms-notify migrate`"),
        "{}",
        stderr(&out)
    );
    // Checking wrote nothing: the migrations are still all pending.
    let again = sms_notify(&["migrate", "--check"], &env);
    assert_eq!(String::from_utf8_lossy(&again.stdout), listed);
    assert!(sms_notify(&["migrate"], &env).status.success());
    let after = sms_notify(&["migrate", "--check"], &env);
    assert!(after.status.success(), "{}", stderr(&after));
    assert!(
        String::from_utf8_lossy(&after.stdout).starts_with("no migration pending on sqlite://"),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
}

#[test]
fn check_config_names_every_problem_and_hides_secrets() {
    let env = [
        ("LISTEN_ADDR", "nope"),
        ("SMS_RATE_LIMIT_MPS", "fast"),
        ("DATABASE_URL", "postgres://app:hunter2@db.internal/sms"),
    ];
    let out = sms_notify(&["check-config"], &env);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{report}");
    assert!(report.contains("2 problems:"), "{report}");
    assert!(report.contains("LISTEN_ADDR: 'nope'"), "{report}");
    assert!(report.contains("SMS_RATE_LIMIT_MPS: 'fast'"), "{report}");
    assert!(
        report.contains("postgres://app:***@db.internal/sms"),
        "{report}"
    );
    assert!(!report.contains("hunter2"), "{report}");
    // Starting says the same two problems, each once.
    let start = sms_notify(&["migrate"], &env);
    let err = stderr(&start);
    assert_eq!(start.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("invalid configuration").count(), 2, "{err}");
    let fine = sms_notify(&["check-config"], &[]);
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stdout)
    );
}

#[test]
fn an_unreachable_postgresql_is_named_at_once() {
    let started = std::time::Instant::now();
    let url = "postgres://postgres@127.0.0.1:1/nothing";
    let out = sms_notify(&["migrate"], &[("DATABASE_URL", url)]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot reach PostgreSQL at 127.0.0.1:1"),
        "{err}"
    );
    assert_eq!(err.matches("sms-notify:").count(), 1, "said once: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
}

#[test]
fn a_users_token_without_a_user_fails_once_and_quietly() {
    let out = sms_notify(&["token", "--role", "user"], &[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("add --user USER_ID").count(), 1, "{err}");
    assert!(!err.contains("development secret"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn only_the_documented_environments_are_accepted() {
    for value in ["prod", "dev", "staging"] {
        let out = sms_notify(&["migrate"], &[("APP_ENV", value)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{value}: {err}");
        assert!(
            err.contains("APP_ENV") && err.contains("'development' or 'production'"),
            "{err}"
        );
    }
}

#[test]
fn a_log_filter_that_silences_the_service_is_pointed_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let out = sms_notify(
        &["migrate"],
        &[("DATABASE_URL", &url), ("RUST_LOG", "sms=debug")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sets no level for sms-notify's own events"),
        "{err}"
    );
}

#[test]
fn erase_and_purge_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let env = [("DATABASE_URL", url.as_str())];
    let out = sms_notify(&["migrate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let db = sms_notify::store::connect(&secrecy::SecretString::from(url.clone()))
            .await
            .expect("db");
        sms_notify::recipients::set_phone(
            &db,
            "ann",
            "+1 212 555 0101",
            phonenumber::country::Id::US,
            chrono::Utc::now(),
        )
        .await
        .expect("a recipient");
    });
    let out = sms_notify(&["erase", "--user", "ann"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let erased: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(erased["userId"], "ann");
    assert_eq!(erased["numbers"], 1);
    let again = sms_notify(&["erase", "--user", "ann"], &env);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no profile of user 'ann'"),
        "{}",
        stderr(&again)
    );
    let out = sms_notify(&["purge"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(run["messageBodies"], 0);
    assert!(run["finishedAt"].is_string(), "{run}");
}
