//! The GraphiQL playground rendered by a real headless Chromium against the running service.

use std::process::Command;

use crate::helpers::{Engine, TestApp};

fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_renders_in_a_real_browser() {
    let Some(browser) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("CI=true but no Chromium is installed for the browser test");
        }
        eprintln!("skipping: no Chromium installed");
        return;
    };
    let app = TestApp::spawn(Engine::Sqlite).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let url = app.url("/graphql");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
    })
    .await
    .expect("join")
    .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("graphiql-container"),
        "GraphiQL did not render; stderr: {}\nDOM: {}",
        String::from_utf8_lossy(&output.stderr),
        &dom[..dom.len().min(2000)]
    );
    assert!(
        !dom.contains("Loading the GraphiQL playground"),
        "React replaced the placeholder"
    );
    // The editor's text, as a person reads it (CodeMirror puts each token in a span of its own).
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    assert!(
        text.contains("query Me"),
        "the walkthrough query is in the editor"
    );
}
