//! The real `sms-notify` executable as a deployment runs it: started with settings of the test's, read
//! for the address it prints, stopped with SIGTERM as ECS stops a task.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::io::{AsyncBufReadExt, BufReader};

pub struct Binary {
    child: tokio::process::Child,
    /// `http://<address>/graphql`, as the service printed it.
    pub url: String,
    /// Its log lines (standard error), as they come.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts `sms-notify serve` with `env` added to the test's environment (less `APP_ENV` and
    /// `RUST_LOG`) and waits until it listens. `TEST_LOG` also copies its logs to the test's output.
    pub async fn start(env: &[(&str, String)]) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sms-notify"));
        command
            .arg("serve")
            .env_remove("APP_ENV")
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("sms-notify starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let kept = logs.clone();
        let echo = std::env::var_os("TEST_LOG").is_some();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("{line}");
                }
                kept.lock().expect("logs").push(line);
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                if let Some(url) = line.strip_prefix("GraphiQL playground: ") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .expect("sms-notify listens within a minute");
        let Some(url) = url else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "sms-notify exited before it listened: {:?}",
                logs.lock().expect("logs")
            );
        };
        // Keep reading, so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, url, logs }
    }

    /// Sends SIGTERM, as ECS does, and waits for the exit: its status and how long it took.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id().expect("a running process");
        let asked = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM sent");
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the process exits after SIGTERM")
            .expect("exit status");
        (status, asked.elapsed())
    }
}

/// A token of the app's back end (role `service`, an hour) signed with `secret`, the `JWT_SECRET` the
/// binary was started with.
pub fn service_token(secret: &str) -> String {
    let now = chrono::Utc::now();
    sms_notify::auth::JwtKeys::new(&secrecy::SecretString::from(secret))
        .issue(
            "app",
            sms_notify::auth::Role::Service,
            now,
            now + chrono::Duration::hours(1),
        )
        .expect("a token")
}
