//! The logs of the real binary, as an operator reads them from a file or a pipe.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

#[test]
fn logs_to_a_pipe_are_plain_text_and_dependencies_stay_quiet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("logs.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sms-notify"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        )
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("SMS_PROVIDER", "console")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sms-notify");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let listening = line.contains("sms-notify is listening");
                lines.push(line);
                if listening {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // Whatever the scheduler and the workers say in their first half second.
    std::thread::sleep(Duration::from_millis(500));
    lines.extend(rx.try_iter());
    let _ = child.kill();
    let _ = child.wait();
    let log = lines.join("\n");
    assert!(log.contains("sms-notify is listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour escapes in piped logs:\n{log:?}"
    );
    for noise in [
        "tokio_cron_scheduler",
        "Uninited",
        "Job creator created",
        "sqlx",
    ] {
        assert!(
            !log.contains(noise),
            "'{noise}' at the default level:\n{log}"
        );
    }
}
