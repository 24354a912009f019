//! The operator's console driven in a real headless Chromium through ChromeDriver (WebDriver): sign-in,
//! refusals, the costs chart's data, the log's filters and details, the queue, consent look-up and the
//! CSV download. A screenshot of each view is kept in `target/tmp/console/` for review.

use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::{Duration as Span, TimeZone, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sms_notify::auth::Role;

use crate::helpers::{Engine, TestApp, data, opted_in_user};

/// An executable on the PATH, or at `CHROMIUM` / `CHROMEDRIVER` when set.
pub(crate) fn executable(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(variable)
        && !path.is_empty()
    {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// ChromeDriver on a free loopback port, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Browser {
    client: Client,
    _driver: Driver,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    /// `None` when Chromium or ChromeDriver is missing (a failure under `CI=true`).
    async fn start() -> Option<Self> {
        let found = (
            executable(
                "CHROMIUM",
                &["chromium", "chromium-browser", "google-chrome"],
            ),
            executable("CHROMEDRIVER", &["chromedriver"]),
        );
        let (Some(chromium), Some(chromedriver)) = found else {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!(
                    "CI=true but Chromium or ChromeDriver is not installed for the console test"
                );
            }
            eprintln!("skipping: Chromium or ChromeDriver is not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Driver(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let downloads = tempfile::tempdir().expect("download dir");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,800", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("no WebDriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Some(Self {
            client,
            _driver: driver,
            downloads,
            _profile: profile,
            shots,
        })
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `expression` is truthy in the page.
    async fn until(&self, what: &str, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.js(&format!("return !!({expression});")).await;
            if value == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let notice = self
                    .js("return document.querySelector('#notice').textContent")
                    .await;
                let shot = self
                    .shot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!(
                    "timed out waiting for {what} ({expression}); notice: {notice}; screenshot {shot}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, selector: &str) -> String {
        self.js(&format!(
            "return document.querySelector({}).textContent",
            json!(selector)
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn click(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {selector}: {e}"));
    }

    /// Clicks through the page rather than a held element: React, or a reload after an action, may
    /// draw the element again between finding and clicking it.
    async fn click_in_page(&self, selector: &str) {
        self.js(&format!(
            "document.querySelector({}).click(); return 0;",
            json!(selector)
        ))
        .await;
    }

    async fn set(&self, selector: &str, value: &str) {
        self.js(&format!(
            "document.querySelector({}).value = {};",
            json!(selector),
            json!(value)
        ))
        .await;
    }

    async fn shot(&self, name: &str) -> String {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path.display().to_string()
    }

    /// Opens `url` in a fresh document with nothing kept from before: a new fragment alone would not
    /// reload the page, so the tab first visits `neutral` (same origin) and clears its storage there.
    async fn open(&self, neutral: &str, url: &str) {
        self.client.goto(neutral).await.expect("neutral page");
        self.js("sessionStorage.clear(); return 0;").await;
        self.client.goto(url).await.expect("navigate");
    }
}

const SEND: &str = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";

/// Two UTC days of traffic: promotions of three types, a transactional text, one refused for want of
/// consent, and a verification code; consent given on both days.
async fn seed(app: &TestApp) {
    let day1 = Utc
        .with_ymd_and_hms(2026, 3, 2, 15, 0, 0)
        .single()
        .expect("t");
    app.clock.set(day1);
    opted_in_user(app, "u1", "(212) 555-0101").await;
    opted_in_user(app, "u2", "(212) 555-0102").await;
    for (user, kind, body) in [
        ("u1", "BATTLE_INVITATION", "Ana challenged you to a battle"),
        ("u2", "STREAK_ALERT", "Your 12-day streak ends at midnight"),
        ("u2", "BATTLE_INVITATION", "Ben challenged you to a battle"),
    ] {
        let sent = app
            .as_service(
                SEND,
                json!({ "i": { "userId": user, "messageType": kind, "body": body } }),
            )
            .await;
        assert_eq!(data(&sent)["sendSms"]["status"], "PENDING", "{sent}");
    }
    let refused = app
        .as_service(
            SEND,
            json!({ "i": { "to": "(212) 555-0199", "body": "Join us" } }),
        )
        .await;
    assert_eq!(data(&refused)["sendSms"]["status"], "BLOCKED");

    app.clock.set(day1 + Span::days(1));
    opted_in_user(app, "u3", "(212) 555-0103").await;
    for (user, kind, promotional) in [("u1", "BATTLE_RESULT", true), ("u3", "OTHER", false)] {
        data(
            &app.as_service(
                SEND,
                json!({ "i": { "userId": user, "messageType": kind, "promotional": promotional, "body": "You won the battle against Ana, 3 to 1" } }),
            )
            .await,
        );
    }
    crate::helpers::set_phone(app, "u4", "(212) 555-0104").await;
    data(
        &app.as_user(
            "u4",
            "mutation { startPhoneVerification { expiresAt } }",
            json!({}),
        )
        .await,
    );
}

/// Cost per (UTC day, message type) read from the log itself, not from the rollup the chart uses.
async fn costs_from_the_log(app: &TestApp) -> BTreeMap<(String, String), f64> {
    let logs = app
        .as_graphql_admin(
            "{ smsLogs(first: 100) { nodes { createdAt messageType cost } } }",
            json!({}),
        )
        .await;
    let mut costs = BTreeMap::new();
    for node in data(&logs)["smsLogs"]["nodes"].as_array().expect("nodes") {
        let Some(cost) = node["cost"].as_str() else {
            continue;
        };
        let day = node["createdAt"].as_str().expect("createdAt")[..10].to_owned();
        let kind = node["messageType"].as_str().expect("type").to_owned();
        *costs.entry((day, kind)).or_insert(0.0) += cost.parse::<f64>().expect("a decimal");
    }
    costs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Engine::Sqlite, |c| {
        c.sms.workers = 0;
        // Two codes never entered hold a range, for the verification view.
        c.verification.guard_min_sample = 2;
        c.costs.fixed_costs = vec![sms_notify::config::FixedCost {
            name: "toll-free number".into(),
            monthly_micros: 2_000_000,
        }];
    })
    .await;
    seed(&app).await;
    let console = app.url("/admin");
    let neutral = app.url("/healthz");

    // No token: the sign-in form.
    browser.open(&neutral, &console).await;
    browser
        .until(
            "the sign-in form",
            "!document.querySelector('#sign-in').hidden",
        )
        .await;
    browser.shot("sign-in").await;

    // An expired token: asked to sign in again.
    let expired = app.expired_token("ops", Role::Admin);
    browser
        .open(&neutral, &format!("{console}#token={expired}"))
        .await;
    browser
        .until(
            "the expired token's prompt",
            "!document.querySelector('#sign-in').hidden && /Sign in again/.test(document.querySelector('#notice').textContent)",
        )
        .await;
    assert!(browser.text("#tabs").await.contains("Costs"));
    assert_eq!(
        browser
            .js("return document.querySelector('#tabs').hidden")
            .await,
        json!(true)
    );

    // A user's token (and a service's): admin only.
    for role in [Role::User, Role::Service] {
        let token = app.token("u1", role);
        browser
            .open(&neutral, &format!("{console}#token={token}"))
            .await;
        browser
            .until(
                "the admin-only refusal",
                "/Admin only/.test(document.querySelector('#notice').textContent)",
            )
            .await;
        assert_eq!(
            browser
                .js("return document.querySelector('#tabs').hidden")
                .await,
            json!(true)
        );
        assert_eq!(
            browser.js("return sessionStorage.length").await,
            json!(0),
            "a refused token is not kept"
        );
    }
    browser.shot("refused-user-token").await;

    // An admin token in the address: signed in, the token gone from the address bar.
    let admin = app.token("ops", Role::Admin);
    browser
        .open(&neutral, &format!("{console}#token={admin}"))
        .await;
    browser
        .until("the tabs", "!document.querySelector('#tabs').hidden")
        .await;
    let address = browser.js("return location.href").await;
    assert!(
        !address.as_str().unwrap_or_default().contains("token="),
        "{address}"
    );

    // Costs: the chart's data is the log's cost per day and type.
    browser.set("#costs-form [name=from]", "2026-02-28").await;
    browser.set("#costs-form [name=to]", "2026-03-04").await;
    browser.click("#costs-form button").await;
    browser
        .until(
            "the daily chart",
            "window.Chart && Chart.getChart('daily-chart') && Chart.getChart('daily-chart').data.labels[0] === '2026-02-28'",
        )
        .await;
    let drawn = browser
        .js("const c = Chart.getChart('daily-chart'); return { labels: c.data.labels, sets: c.data.datasets.map(d => ({ type: d.messageType, label: d.label, data: d.data })) };")
        .await;
    let labels: Vec<&str> = drawn["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        labels,
        [
            "2026-02-28",
            "2026-03-01",
            "2026-03-02",
            "2026-03-03",
            "2026-03-04"
        ]
    );
    let expected = costs_from_the_log(&app).await;
    let types: Vec<&str> = drawn["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .filter_map(|s| s["type"].as_str())
        .collect();
    let mut expected_types: Vec<&str> = expected.keys().map(|(_, t)| t.as_str()).collect();
    expected_types.sort_unstable();
    expected_types.dedup();
    assert_eq!(types, expected_types, "one stacked series per message type");
    assert!(types.contains(&"BATTLE_INVITATION") && types.contains(&"PHONE_VERIFICATION"));
    for set in drawn["sets"].as_array().expect("sets") {
        let kind = set["type"].as_str().expect("type");
        for (day, value) in labels.iter().zip(set["data"].as_array().expect("data")) {
            let want = expected
                .get(&((*day).to_owned(), kind.to_owned()))
                .copied()
                .unwrap_or(0.0);
            let got = value.as_f64().expect("a number");
            assert!(
                (got - want).abs() < 1e-9,
                "{kind} on {day}: drawn {got}, the log says {want}"
            );
        }
    }
    let battle_invitations = expected[&("2026-03-02".to_owned(), "BATTLE_INVITATION".to_owned())];
    assert!(
        battle_invitations > 0.0,
        "two invitations on 2 March cost something"
    );
    // The gauge and the cards say what the API says.
    let report = app
        .as_graphql_admin(
            "{ smsCosts(from: \"2026-02-28T00:00:00Z\", to: \"2026-03-05T00:00:00Z\") { totalCost monthToDate monthlyLimit } }",
            json!({}),
        )
        .await;
    let report = &data(&report)["smsCosts"];
    let dollars = |v: &Value| {
        format!(
            "${:.2}",
            v.as_str().expect("decimal").parse::<f64>().expect("f64")
        )
    };
    assert_eq!(
        browser.text("#limit").await,
        dollars(&report["monthlyLimit"])
    );
    let total = browser.text("#range-total").await;
    let want_total: f64 = report["totalCost"]
        .as_str()
        .expect("total")
        .parse()
        .expect("f64");
    assert!(
        (total.trim_start_matches('$').parse::<f64>().expect("money") - want_total).abs() < 1e-9,
        "{total} vs {want_total}"
    );
    let gauge = browser
        .js("return Number(document.querySelector('#gauge').getAttribute('aria-valuenow'))")
        .await;
    let mtd: f64 = report["monthToDate"]
        .as_str()
        .expect("mtd")
        .parse()
        .expect("f64");
    let limit: f64 = report["monthlyLimit"]
        .as_str()
        .expect("limit")
        .parse()
        .expect("f64");
    assert_eq!(gauge, json!((mtd / limit * 100.0).round() as i64));
    // The fixed charges: beside the month's texts, outside the budget; for the range, its two months.
    assert_eq!(
        browser.text("#fixed-month-total").await,
        "$2.00",
        "the toll-free number's lease"
    );
    assert_eq!(
        browser.text("#fixed-month-names").await,
        "(toll-free number $2.00)"
    );
    assert_eq!(browser.text("#range-fixed").await, "$4.00");
    assert_eq!(
        browser
            .js("return document.querySelector('#fixed-month').hidden")
            .await,
        json!(false)
    );
    let country_rows = browser
        .js("return [...document.querySelectorAll('#country-table tbody tr')].map(r => r.cells[0].textContent)")
        .await;
    assert_eq!(country_rows, json!(["US"]));
    browser.shot("costs").await;
    // The whole view at once (the README's picture).
    browser
        .client
        .set_window_size(1280, 1180)
        .await
        .expect("resize");
    browser.shot("costs-full").await;

    // The same view on a phone's width: nothing wider than the screen but the scrolling tables.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    browser
        .until(
            "the narrow layout",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.shot("costs-phone").await;
    browser
        .client
        .set_window_size(1280, 800)
        .await
        .expect("resize");

    // Log: newest first, filters narrow the rows, a row opens its details.
    browser.click("a[data-view=log]").await;
    let all = data(
        &app.as_graphql_admin("{ smsLogs(first: 100) { nodes { id status } } }", json!({}))
            .await,
    )["smsLogs"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    let rows = "document.querySelectorAll('#log-table tbody tr.clickable')";
    browser
        .until(
            "every message in the log",
            &format!("{rows}.length === {}", all.len()),
        )
        .await;
    let first_id = browser.js(&format!("return {rows}[0].dataset.id")).await;
    assert_eq!(first_id, all[0]["id"], "newest first");
    browser.shot("log").await;
    browser.set("#log-form [name=status]", "BLOCKED").await;
    browser.click("#log-form button").await;
    let blocked = all.iter().filter(|n| n["status"] == "BLOCKED").count();
    assert_eq!(blocked, 1);
    browser
        .until(
            "only the blocked message",
            &format!("{rows}.length === {blocked}"),
        )
        .await;
    let badges = browser
        .js(&format!(
            "return [...{rows}].map(r => r.cells[2].textContent)"
        ))
        .await;
    assert_eq!(badges, json!(["BLOCKED"]));
    browser.set("#log-form [name=status]", "").await;
    browser
        .set("#log-form [name=messageType]", "PHONE_VERIFICATION")
        .await;
    browser.click("#log-form button").await;
    browser
        .until(
            "the verification code's row",
            &format!(
                "{rows}.length === 1 && {rows}[0].cells[1].textContent === 'Phone verification'"
            ),
        )
        .await;
    browser.click("#log-table tbody tr.clickable").await;
    browser
        .until("the details", "document.querySelector('#log-details').open")
        .await;
    let body = browser.text("#details-body").await;
    assert!(body.contains("******"), "the code is masked: {body}");
    assert!(
        !body
            .as_bytes()
            .windows(6)
            .any(|w| w.iter().all(u8::is_ascii_digit)),
        "no code in {body}"
    );
    let details = browser.text("#details-list").await;
    assert!(
        details.contains("PENDING") && details.contains("Attempts"),
        "{details}"
    );
    browser.shot("log-details").await;
    browser.click("#log-details .close").await;
    browser
        .until(
            "the details closed",
            "!document.querySelector('#log-details').open",
        )
        .await;

    // Queue: the outbox as smsQueue sees it.
    browser.click("a[data-view=queue]").await;
    browser
        .until(
            "the queue cards",
            "document.querySelectorAll('#queue-cards .card').length === 5",
        )
        .await;
    let queue = data(
        &app.as_graphql_admin("{ smsQueue { pending } }", json!({}))
            .await,
    )["smsQueue"]["pending"]
        .as_i64()
        .expect("pending");
    assert!(queue >= 5, "{queue} pending");
    assert_eq!(
        browser.text("#queue-cards .card:first-child .count").await,
        queue.to_string()
    );
    browser
        .until(
            "the provider account",
            "document.querySelector('#account-summary').textContent.startsWith('Provider:')",
        )
        .await;
    assert!(
        browser
            .text("#account-summary")
            .await
            .contains("Provider: console. Every check passed."),
        "{}",
        browser.text("#account-summary").await
    );
    assert!(
        browser
            .text("#account-checks")
            .await
            .contains("Skipped: the console provider")
    );
    browser.shot("queue").await;

    // A pause shows as a banner on every view, and the banner resumes sending.
    assert!(
        browser
            .js("return document.querySelector('#paused-banner').hidden")
            .await
            == json!(true),
        "no banner while sending runs"
    );
    let now = sms_notify::Clock::now(app.clock.as_ref()).timestamp_micros();
    sms_notify::store::gate::pause_account(
        &app.db,
        ("AccessDeniedException", "Account disabled"),
        now,
        now + 300_000_000,
        1,
    )
    .await
    .expect("paused");
    browser.click("#queue-refresh").await;
    browser
        .until(
            "the pause banner",
            "!document.querySelector('#paused-banner').hidden",
        )
        .await;
    let why = browser.text("#paused-why").await;
    assert!(
        why.contains("AccessDeniedException") && why.contains("Account disabled"),
        "{why}"
    );
    assert!(browser.text("#paused-probe").await.contains("DryRun probe"));
    browser.js("window.scrollTo(0, 0); return true").await;
    browser.shot("paused").await;
    browser.js("window.confirm = () => true; return true").await;
    browser.click("#resume-sending").await;
    browser
        .until(
            "the banner gone",
            "document.querySelector('#paused-banner').hidden",
        )
        .await;
    assert_eq!(
        data(
            &app.as_graphql_admin("{ smsQueue { paused { code } } }", json!({}))
                .await
        )["smsQueue"]["paused"],
        Value::Null
    );

    // Consent: a number's events and opt-out state, then the CSV export of one day.
    browser.click("a[data-view=consent]").await;
    browser
        .client
        .find(Locator::Css("#consent-form [name=phone]"))
        .await
        .expect("phone field")
        .send_keys("(212) 555-0101")
        .await
        .expect("typed");
    browser.click("#consent-form button").await;
    browser
        .until(
            "the consent events",
            "!document.querySelector('#consent-result').hidden",
        )
        .await;
    let state = browser.text("#consent-state").await;
    assert!(state.contains("not on the opt-out list"), "{state}");
    let events = browser
        .js("return [...document.querySelectorAll('#consent-table tbody tr')].map(r => [r.cells[1].textContent, r.cells[3].textContent])")
        .await;
    assert_eq!(events, json!([["Given", "u1"]]));
    browser.shot("consent").await;
    // By user: the number the user gave, and its state.
    browser.set("#consent-form [name=phone]", "").await;
    browser.set("#consent-form [name=userId]", "u2").await;
    browser.click("#consent-form button").await;
    browser
        .until(
            "the user's consent",
            "/^User u2/.test(document.querySelector('#consent-state').textContent)",
        )
        .await;
    let state = browser.text("#consent-state").await;
    assert_eq!(
        state,
        "User u2: number +12125550102 (verified); SMS on (consent given). +12125550102 is not on the opt-out list."
    );
    let messages = browser
        .js("return document.querySelectorAll('#consent-messages tbody tr').length")
        .await;
    assert_eq!(messages, json!(2), "u2's streak alert and invitation");

    browser.set("#export-form [name=from]", "2026-03-02").await;
    browser.set("#export-form [name=to]", "2026-03-02").await;
    browser.click("#export-form button").await;
    let file = browser
        .downloads
        .path()
        .join("consent-2026-03-02-to-2026-03-02.csv");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csv = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "no download at {}: {e}; the folder has {:?}",
            file.display(),
            std::fs::read_dir(browser.downloads.path()).map(|d| d.count())
        )
    });
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "occurred_at,user_id,action,method,phone_number,ip,phone_last4,disclosure_version,disclosure_sha256,user_agent,page,imported_at"
        )
    );
    let mut users: Vec<&str> = lines
        .map(|l| l.split(',').nth(1).expect("user_id"))
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["u1", "u2"], "2 March's consent, not 3 March's (u3)");

    verification_view(&app, &browser).await;
    actions_view(&app, &browser).await;
    let _ = browser.client.close().await;
    app.stop().await;
}

/// The verification view: switch a country, lift a held range, read conversion by country and day.
async fn verification_view(app: &TestApp, browser: &Browser) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let ask = |user: &'static str, phone: &'static str| async move {
        crate::helpers::set_phone(app, user, phone).await;
        data(
            &app.as_user(
                user,
                "mutation { startPhoneVerification { expiresAt } }",
                json!({}),
            )
            .await,
        );
    };
    // On 3 March: two codes to one Manhattan exchange never entered; one elsewhere entered.
    ask("v1", "(646) 555-0111").await;
    ask("v2", "(646) 555-0112").await;
    ask("v3", "(212) 555-0105").await;
    let text = entity::sms_log::Entity::find()
        .filter(entity::sms_log::Column::UserId.eq("v3"))
        .order_by_desc(entity::sms_log::Column::Id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("v3's code");
    let code: String = text
        .sensitive_body
        .expect("the code waits to be sent")
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a code")
        .to_owned();
    data(
        &app.as_user(
            "v3",
            "mutation($c: String!) { confirmPhoneVerification(code: $c) { phoneVerified } }",
            json!({ "c": code }),
        )
        .await,
    );

    browser.click("a[data-view=verification]").await;
    browser
        .until(
            "the countries",
            "document.querySelectorAll('#countries-table tbody tr').length === 2",
        )
        .await;
    assert_eq!(
        browser
            .js("return [...document.querySelectorAll('#countries-table tbody tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent, r.cells[2].textContent])")
            .await,
        json!([["US", "on", "on"], ["CA", "on", "on"]])
    );
    assert!(
        browser
            .text("#guard-settings")
            .await
            .contains("at least 2 codes")
    );
    assert_eq!(
        browser
            .js("return [...document.querySelectorAll('#held-table tbody tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent, r.cells[3].textContent])")
            .await,
        json!([["+1646555", "2", "0%"]])
    );
    browser
        .set("#verification-form [name=to]", "2026-03-03")
        .await;
    browser.click("#verification-form button").await;
    browser
        .until(
            "conversion by country",
            "[...document.querySelectorAll('#conversion-table tbody tr')].some(r => r.cells[0].textContent === '2026-03-03')",
        )
        .await;
    assert_eq!(
        browser
            .js("return [...document.querySelectorAll('#conversion-table tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
            .await,
        json!([["2026-03-03", "US", "4", "1", "25%", "0"]]),
        "u4's code and v1, v2, v3's: one entered"
    );
    browser.js("window.scrollTo(0, 0); return true").await;
    browser.shot("verification").await;

    // Stop codes to the US, confirmed in the page; then lift the held range.
    browser.js("window.confirm = () => true; return true").await;
    browser
        .click("#countries-table tr[data-country=US] button")
        .await;
    browser
        .until(
            "codes to the US off",
            "document.querySelector('#countries-table tr[data-country=US]').cells[1].textContent === 'off'",
        )
        .await;
    let switched = data(
        &app.as_graphql_admin(
            "{ countrySending { country verification updatedBy } }",
            json!({}),
        )
        .await,
    )["countrySending"][0]
        .clone();
    assert_eq!(
        switched,
        json!({ "country": "US", "verification": false, "updatedBy": "ops" })
    );
    browser.click("#held-table tbody button").await;
    browser
        .until(
            "no range held",
            "document.querySelector('#held-table tbody').textContent.includes('No range is held.')",
        )
        .await;
    assert_eq!(
        data(
            &app.as_graphql_admin(
                "{ verificationRange(range: \"+1646555\") { held sent } }",
                json!({})
            )
            .await
        )["verificationRange"],
        json!({ "held": false, "sent": 0 })
    );

    // The audit view lists every change made in the page, newest first.
    browser.click("a[data-view=audit]").await;
    browser
        .until(
            "the audit trail",
            "document.querySelectorAll('#audit-table tbody tr').length === 3",
        )
        .await;
    assert_eq!(
        browser
            .js("return [...document.querySelectorAll('#audit-table tbody tr')].map(r => [r.cells[1].textContent, r.cells[2].textContent, r.cells[3].textContent, r.cells[5].textContent])")
            .await,
        json!([
            ["ops", "Lift verification guard", "+1646555", "–"],
            ["ops", "Set country sending", "US", "verification off, messages on"],
            ["ops", "Resume sending", "sending", "–"],
        ])
    );
    browser.shot("audit").await;
}

/// The console acts: cancel and send again from a message's details, add and remove a number on the
/// opt-out list from the consent view, each confirmed; the audit view shows them and the retention.
async fn actions_view(app: &TestApp, browser: &Browser) {
    let send = |body: &'static str| async move {
        let sent = app
            .as_service(
                SEND,
                json!({ "i": { "userId": "u3", "promotional": false, "body": body } }),
            )
            .await;
        data(&sent)["sendSms"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let waiting = send("Cancel me").await;
    let failed = send("Send me again").await;
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared(&format!(
            "UPDATE sms_log SET status = 'failed', next_attempt_at = NULL WHERE id = {failed}"
        ))
        .await
        .expect("a failed message");

    let open = |id: String| async move {
        browser.click("a[data-view=log]").await;
        browser.set("#log-form [name=status]", "").await;
        browser.set("#log-form [name=messageType]", "").await;
        browser.set("#log-form [name=userId]", "u3").await;
        browser.click("#log-form button").await;
        let row = format!("#log-table tr[data-id='{id}']");
        browser
            .until(
                "the message's row",
                &format!("document.querySelector(\"{row}\")"),
            )
            .await;
        // The log may be drawn again meanwhile (an action reloads it).
        browser.click_in_page(&row).await;
        browser
            .until("the details", "document.querySelector('#log-details').open")
            .await;
    };
    browser.js("window.confirm = () => true; return true").await;
    open(waiting.clone()).await;
    assert_eq!(browser.text("#details-actions").await, "Cancel message");
    browser.click_in_page("#details-actions button").await;
    browser
        .until(
            "the cancellation",
            "document.querySelector('#details-result').textContent.includes('is cancelled')",
        )
        .await;
    assert!(browser.text("#details-list").await.contains("CANCELLED"));
    assert_eq!(
        browser.text("#details-actions").await,
        "",
        "nothing more to do"
    );
    browser.shot("details-cancelled").await;
    browser.click("#log-details .close").await;
    open(failed.clone()).await;
    browser.click_in_page("#details-actions button").await;
    browser
        .until(
            "the new message",
            "document.querySelector('#details-result').textContent.startsWith('Sent again as message')",
        )
        .await;
    let again = data(
        &app.as_graphql_admin(
            "{ smsLogs(first: 1) { nodes { retryOf status } } }",
            json!({}),
        )
        .await,
    )["smsLogs"]["nodes"][0]
        .clone();
    assert_eq!(again, json!({ "retryOf": failed, "status": "PENDING" }));
    browser.click("#log-details .close").await;

    // The opt-out list from the consent view: a note is asked for, and needed to take a number off.
    browser.click("a[data-view=consent]").await;
    browser.set("#consent-form [name=userId]", "").await;
    browser
        .set("#consent-form [name=phone]", "(212) 555-0103")
        .await;
    browser.click("#consent-form button").await;
    let state = "document.querySelector('#consent-state').textContent";
    browser
        .until(
            "u3's number",
            &format!("{state}.includes('(212) 555-0103 is not on the opt-out list')"),
        )
        .await;
    browser
        .js("window.prompt = () => 'Asked by email'; return true")
        .await;
    browser.click_in_page("#consent-actions button").await;
    browser
        .until(
            "on the list",
            &format!("{state}.includes('is on the opt-out list')"),
        )
        .await;
    let listed = "{ smsOptOut(phone: \"+12125550103\") { source } }";
    assert_eq!(
        data(&app.as_graphql_admin(listed, json!({})).await)["smsOptOut"],
        json!({ "source": "ADMIN" })
    );
    browser.js("window.prompt = () => '  '; return true").await;
    browser.click_in_page("#consent-actions button").await;
    browser
        .until(
            "the note asked for",
            "document.querySelector('#notice').textContent.includes('needs a note')",
        )
        .await;
    assert_ne!(
        data(&app.as_graphql_admin(listed, json!({})).await)["smsOptOut"],
        Value::Null,
        "still listed"
    );
    browser
        .js("window.prompt = () => 'Called support to come back'; return true")
        .await;
    browser.click_in_page("#consent-actions button").await;
    browser
        .until(
            "off the list",
            &format!("{state}.includes('is not on the opt-out list')"),
        )
        .await;
    browser.shot("consent-actions").await;

    // The audit view: each of these, and the retention purge's last run.
    app.handles
        .privacy
        .purge(sms_notify::privacy::Trigger::Command)
        .await
        .expect("purge");
    browser.click("a[data-view=audit]").await;
    browser.click("#audit-refresh").await;
    browser
        .until(
            "the retention",
            "document.querySelector('#retention-last').textContent.startsWith('Last run')",
        )
        .await;
    assert!(
        browser
            .text("#retention-periods")
            .await
            .starts_with("Texts of messages and replies are kept 30 days")
    );
    let trail = browser
        .js("return [...document.querySelectorAll('#audit-table tbody tr')].slice(0, 4).map(r => [r.cells[2].textContent, r.cells[4].textContent])")
        .await;
    assert_eq!(
        trail,
        json!([
            ["Remove opt out", "Called support to come back"],
            ["Add opt out", "Asked by email"],
            ["Retry sms", "–"],
            ["Cancel sms", "–"],
        ])
    );
    browser.shot("audit-retention").await;
}

/// GraphiQL runs under its Content-Security-Policy, and a token typed into its Headers tab stays in
/// the page: nothing of it is written to the browser's storage, nothing comes back after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_keeps_no_token() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Engine::Sqlite, |c| c.sms.workers = 0).await;
    let page = app
        .http
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await;
    let headers = page.expect("GraphiQL").headers().clone();
    let policy = headers["content-security-policy"].to_str().expect("ascii");
    assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");

    let neutral = app.url("/healthz");
    browser.client.goto(&neutral).await.expect("neutral page");
    browser.js("localStorage.clear(); return 0;").await;
    browser
        .client
        .goto(&app.url("/graphql"))
        .await
        .expect("GraphiQL");
    let headers_editor = "document.querySelectorAll('.graphiql-editor-tool .CodeMirror')";
    browser
        .until(
            "the headers editor",
            &format!("{headers_editor}.length > 0"),
        )
        .await;
    browser
        .js(&format!(
            "const eds = {headers_editor}; \
             eds[eds.length - 1].CodeMirror.setValue('{{\"Authorization\": \"Bearer a-secret-token\"}}'); \
             return 0;"
        ))
        .await;
    // GraphiQL writes what it persists half a second after an edit.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let stored = browser
        .js("return JSON.stringify(Object.assign({}, localStorage, sessionStorage));")
        .await;
    assert!(
        !stored.to_string().contains("a-secret-token"),
        "stored: {stored}"
    );
    browser.client.refresh().await.expect("reload");
    browser
        .until(
            "the headers editor",
            &format!("{headers_editor}.length > 0"),
        )
        .await;
    let shown = browser
        .js(&format!(
            "const eds = {headers_editor}; return eds[eds.length - 1].CodeMirror.getValue();"
        ))
        .await;
    assert!(!shown.to_string().contains("a-secret-token"), "{shown}");
    let _ = browser.client.clone().close().await;
    app.stop().await;
}

/// GraphiQL runs a subscription over `/graphql/ws` with the token of its Headers tab: a text sent
/// meanwhile shows up in the result pane as its status changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_subscription() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Engine::Sqlite, |c| c.sms.workers = 0).await;
    opted_in_user(&app, "ann", "(212) 555-0101").await;
    browser
        .client
        .goto(&app.url("/graphql"))
        .await
        .expect("GraphiQL");
    let editors = "document.querySelectorAll('.graphiql-editor-tool .CodeMirror')";
    browser
        .until("the headers editor", &format!("{editors}.length > 0"))
        .await;
    let token = app.token("ann", Role::User);
    browser
        .js(&format!(
            "const eds = {editors}; \
             eds[eds.length - 1].CodeMirror.setValue('{{\"Authorization\": \"Bearer {token}\"}}'); \
             document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue( \
               'subscription Live {{ smsMessageUpdates {{ status message {{ id messageType }} }} }}'); \
             return 0;"
        ))
        .await;
    // React renders the toolbar again after the edits: click through the page, not a held element.
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.click_in_page(".graphiql-execute-button").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    data(
        &app.as_service(
            SEND,
            json!({ "i": { "userId": "ann", "body": "Live in GraphiQL" } }),
        )
        .await,
    );
    app.run_outbox().await;
    let result = "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()";
    browser
        .until(
            "the subscription's update",
            // The console provider reports each text delivered: the last status shown.
            &format!("{result}.includes('\"DELIVERED\"')"),
        )
        .await;
    browser.shot("graphiql-subscription").await;
    let _ = browser.client.clone().close().await;
    app.stop().await;
}

/// The webhooks view: endpoints with their state, an endpoint's recent deliveries, a replay confirmed in
/// the page that reaches the receiver again under the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_webhooks_and_replays_one() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Engine::Sqlite, |c| {
        c.sms.workers = 0;
        c.webhook_allow_private_urls = true;
    })
    .await;
    let (receiver, url) = crate::outbound_webhooks::Receiver::start().await;
    let create = "mutation($u: String!) { createWebhookEndpoint(url: $u, eventTypes: [OPT_OUT_ADDED]) { endpoint { id } } }";
    data(&app.as_graphql_admin(create, json!({ "u": url })).await);
    data(
        &app.as_graphql_admin(
            "mutation { addOptOut(phone: \"+1 212 555 0199\", note: \"asked by email\") { phoneNumber } }",
            json!({}),
        )
        .await,
    );
    let first = receiver.wait("the event", |g| g.len() == 1).await;

    let admin = app.token("ops", Role::Admin);
    browser
        .open(
            &app.url("/healthz"),
            &format!("{}#token={admin}", app.url("/admin")),
        )
        .await;
    browser
        .until("the tabs", "!document.querySelector('#tabs').hidden")
        .await;
    browser.click("a[data-view=webhooks]").await;
    browser
        .until(
            "the endpoint",
            "document.querySelectorAll('#endpoints-table tbody tr[data-endpoint]').length === 1",
        )
        .await;
    let row = browser
        .js("return [...document.querySelector('#endpoints-table tbody tr').cells].slice(0, 3).map(c => c.textContent)")
        .await;
    assert_eq!(row, json!([url, "opt_out.added", "on"]));
    browser.click_in_page("#endpoints-table tbody button").await;
    browser
        .until(
            "the deliveries",
            "document.querySelectorAll('#deliveries-table tbody tr[data-delivery]').length === 1",
        )
        .await;
    let delivery = browser
        .js("return [...document.querySelector('#deliveries-table tbody tr').cells].slice(1, 5).map(c => c.textContent)")
        .await;
    assert_eq!(
        delivery,
        json!(["opt_out.added", "DELIVERED", "1", "HTTP 200"])
    );
    browser.shot("webhooks").await;
    browser.js("window.confirm = () => true; return 0;").await;
    browser
        .click_in_page("#deliveries-table tbody button")
        .await;
    let got = receiver.wait("the replay", |g| g.len() == 2).await;
    assert_eq!(
        got[1].0["webhook-id"], first[0].0["webhook-id"],
        "the same event, the same id"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.click_in_page("#webhooks-refresh").await;
    browser
        .until(
            "the second attempt",
            "document.querySelector('#deliveries-table tbody tr') && document.querySelector('#deliveries-table tbody tr').cells[3].textContent === '2'",
        )
        .await;
    let _ = browser.client.clone().close().await;
    app.stop().await;
}

/// The costs view tells what smart encoding and short links saved, and its "what would this cost"
/// form prices a text before it is sent, writing nothing; a message's details show its short links
/// and their clicks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_prices_a_text_and_shows_what_was_saved() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (app, _stub) = crate::pipeline::setup(Engine::Sqlite, |_| {}).await;
    opted_in_user(&app, "ann", "(212) 555-0101").await;
    let typed = "Don\u{2019}t lose your 12\u{2013}day streak \u{2014} one round now\u{2026} https://allthrive.ai/battles/7?invite=3f1c2a9e-8d8b-4c1e-9a57-2b7f0e6d1c44&ref=sms&campaign=spring-invitational-2026";
    let sent = data(
        &app.as_service(
            "mutation($i: SendSmsInput!) { sendSms(input: $i) { id links { shortUrl } } }",
            json!({ "i": { "userId": "ann", "body": typed } }),
        )
        .await,
    )["sendSms"]
        .clone();
    app.run_outbox().await;
    let short = sent["links"][0]["shortUrl"]
        .as_str()
        .expect("short")
        .to_owned();
    let code = short.rsplit('/').next().expect("code");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let click = no_redirects
        .get(app.url(&format!("/l/{code}")))
        .send()
        .await;
    assert_eq!(click.expect("a click").status(), 302);

    let admin = app.token("ops", Role::Admin);
    browser
        .open(
            &app.url("/healthz"),
            &format!("{}#token={admin}", app.url("/admin")),
        )
        .await;
    browser
        .until("the tabs", "!document.querySelector('#tabs').hidden")
        .await;
    // The view loads a default range at sign-in; the range asked for replaces it.
    browser
        .until(
            "the first costs",
            "document.querySelector('#saved-total').textContent.includes('$')",
        )
        .await;
    browser.set("#costs-form [name=from]", "2026-03-01").await;
    browser.set("#costs-form [name=to]", "2026-03-03").await;
    browser.click("#costs-form button").await;
    // Typed punctuation (3 UCS-2 segments to 2 GSM-7) and a long address (2 to 1): 2 segments saved.
    browser
        .until(
            "the savings",
            "document.querySelector('#saved-total').textContent === '$0.015'",
        )
        .await;
    assert_eq!(browser.text("#saved-total").await, "$0.015");
    let encoding = browser.text("#saved-encoding").await;
    let links = browser.text("#saved-links").await;
    assert_eq!(encoding, "$0.0075 (1 segments, 1 texts)");
    assert_eq!(links, "$0.0075 (1 segments, 1 texts)");

    let before = app.db_count("sms_log").await;
    browser.set("#preview-form [name=to]", "ann").await;
    browser.set("#preview-form [name=body]", typed).await;
    browser.click("#preview-form button").await;
    browser
        .until(
            "the price",
            "!document.querySelector('#preview-result').hidden",
        )
        .await;
    assert_eq!(browser.text("#preview-verdict").await, "Would be sent now");
    assert_eq!(browser.text("#preview-cost").await, "$0.0075");
    assert_eq!(browser.text("#preview-segments").await, "1 segment (GSM-7)");
    assert!(
        browser
            .text("#preview-body")
            .await
            .starts_with("Don't lose your 12-day streak - one round now... http")
    );
    browser.shot("costs-preview").await;
    assert_eq!(
        app.db_count("sms_log").await,
        before,
        "a preview writes nothing"
    );

    // The message's details name its short link and its click.
    browser.click_in_page("a[data-view=log]").await;
    browser
        .until(
            "the log",
            "document.querySelectorAll('#log-table tbody tr').length === 1",
        )
        .await;
    browser.click_in_page("#log-table tbody tr").await;
    browser
        .until("the details", "document.querySelector('#log-details').open")
        .await;
    let details = browser.text("#details-list").await;
    assert!(
        details.contains(&format!("{short} → https://allthrive.ai/battles/7?invite=")),
        "{details}"
    );
    assert!(details.contains(": 1 click (first "), "{details}");
    assert!(
        details.contains("typographic characters sent as GSM-7"),
        "{details}"
    );
}
