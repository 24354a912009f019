//! Moving in: `sms-notify import` run as an operator would, the real binary against the test's
//! database: the old app's people, consent, opt-outs and history come in once, a second run changes
//! nothing, a STOP here beats the old consent, a bad file stops before writing, and a run killed
//! midway and run again ends like one clean run.

use std::{
    path::Path,
    process::{Command, Output},
};

use sea_orm::{ConnectionTrait, Statement};
use secrecy::ExposeSecret;
use serde_json::json;
use sms_notify::auth::Role;

use crate::{
    helpers::{Engine, TestApp, data},
    storage_tests,
};

storage_tests!(
    the_old_apps_people_consent_opt_outs_and_history_come_in_once,
    aws_own_opt_out_list_comes_in_with_the_files,
    a_stop_here_wins_over_the_old_consent,
    a_file_in_an_unknown_shape_stops_before_writing,
    a_run_killed_midway_and_run_again_ends_like_one_clean_run,
);

fn sms_notify(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sms-notify"))
        .args(args)
        .env("DATABASE_URL", app.config.database_url.expose_secret())
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG")
        .output()
        .expect("sms-notify runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PEOPLE: &str = "\
user_id,phone_number,phone_verified,allow_sms_invitations,timezone,signed_up_at,email
ann,(212) 555-0101,t,t,America/New_York,2026-01-05 10:00:00+00,ann@example.com
bob,+1 212 555 0102,true,true,,2026-02-01,bob@example.com
cat,12,f,f,,,cat@example.com
,+12125550104,t,t,,,nobody@example.com
";

fn preferences() -> String {
    [
        json!({"user_id": "ann", "sms_battle_invitations": true, "sms_battle_results": false,
            "sms_battle_reminders": true, "sms_streak_alerts": true,
            "consent_given_at": "2026-01-05T10:05:00Z", "consent_method": "opt_in_modal",
            "consent_ip": "203.0.113.7", "consent_revoked_at": null}),
        json!({"user_id": "bob", "sms_battle_invitations": "t", "sms_battle_results": "t",
            "sms_battle_reminders": "t", "sms_streak_alerts": "t",
            "consent_given_at": "2026-02-01 00:00:00+00", "consent_method": "settings_page",
            "consent_ip": "", "consent_revoked_at": "2026-02-20 08:00:00+00"}),
        json!({"user_id": "zed", "sms_battle_invitations": true, "sms_battle_results": true,
            "sms_battle_reminders": true, "sms_streak_alerts": true, "consent_given_at": null,
            "consent_method": null, "consent_ip": null, "consent_revoked_at": null}),
    ]
    .iter()
    .map(|v| format!("{v}\n"))
    .collect()
}

const OPT_OUTS: &str = "\
phone_number,opted_out_at
212-555-0199,2026-02-10 12:00:00+00
not a number,2026-02-10 12:00:00+00
";

const HISTORY: &str = "\
user_id,to_phone,message_type,status,body,cost,created_at,sent_at
ann,+12125550101,battle_invitation,delivered,Bob challenged you to a battle,0.0083,2026-03-01 09:00:00+00,2026-03-01 09:00:01+00
ann,+12125550101,phone_verification,DELIVERED,Your code is 482913,0.0083,2026-03-01 08:00:00+00,2026-03-01 08:00:01+00
bob,+12125550102,streak_alert,failed,Keep your streak,,2026-03-01 10:00:00+00,
";

fn write_files(dir: &Path) {
    std::fs::write(dir.join("people.csv"), PEOPLE).expect("people");
    std::fs::write(dir.join("preferences.jsonl"), preferences()).expect("preferences");
    std::fs::write(dir.join("opt_outs.csv"), OPT_OUTS).expect("opt-outs");
    std::fs::write(dir.join("history.csv"), HISTORY).expect("history");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// Rows in every table the import writes.
async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "recipients",
        "sms_preferences",
        "consent_events",
        "opt_outs",
        "sms_log",
        "cost_rollup",
        "spend_months",
    ] {
        out.push(count(app, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    out
}

const EVENTS: &str = "query($u: ID) { consentEvents(userId: $u) { nodes { action method occurredAt importedAt ip phoneNumber } } }";

async fn the_old_apps_people_consent_opt_outs_and_history_come_in_once(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path());
    let refused = dir.path().join("refused.csv");
    let args = [
        "import",
        dir.path().to_str().expect("path"),
        "--refused",
        refused.to_str().expect("path"),
    ];

    // A dry run says what would change and writes nothing.
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = sms_notify(&app, &dry);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dry run: nothing was written"));
    assert!(
        text(&out.stdout).contains("preferences          3         2"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(counts(&app).await, vec![0; 7]);

    let out = sms_notify(&app, &args);
    let summary = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{summary}{}", text(&out.stderr));
    // kind, rows, imported, updated, unchanged, kept, refused, warnings
    for line in [
        "people               4         3         0         0         0         1         1",
        "preferences          3         2         0         0         0         1         0",
        "opt_outs             2         1         0         0         0         1         0",
        "history              3         3         0         0         0         0         0",
    ] {
        assert!(summary.contains(line), "{line}\n{summary}");
    }
    // The refused rows, in each kind's own columns with their line and reason.
    let people = std::fs::read_to_string(dir.path().join("people.refused.csv")).expect("file");
    assert!(people.starts_with("user_id,phone_number,phone_verified,allow_sms_invitations,timezone,signed_up_at,refused_line,refused_reason\n"), "{people}");
    assert!(
        people.contains("cat,12,f,f,,,4,\"imported, but phone_number:"),
        "{people}"
    );
    assert!(
        people.contains(",+12125550104,t,t,,,5,refused: user_id: empty"),
        "{people}"
    );
    let prefs = std::fs::read_to_string(dir.path().join("preferences.refused.csv")).expect("file");
    assert!(
        prefs.contains("zed,") && prefs.contains(",3,refused: no person 'zed' here"),
        "{prefs}"
    );

    // The people, as the API shows them.
    let me = data(&app.as_user("ann", "{ me { phoneNumber phoneVerified allowSmsInvitations timezone preferences { smsBattleResults hasConsent consentMethod consentGivenAt } } }", json!({})).await)["me"].clone();
    assert_eq!(me["phoneNumber"], "+12125550101");
    assert_eq!(me["phoneVerified"], true);
    assert_eq!(me["preferences"]["smsBattleResults"], false);
    assert_eq!(me["preferences"]["hasConsent"], true);
    assert_eq!(me["preferences"]["consentMethod"], "OPT_IN_MODAL");
    assert_eq!(
        me["preferences"]["consentGivenAt"],
        "2026-01-05T10:05:00+00:00"
    );
    // A person the preferences file left out has the default preferences all the same.
    let cat = "SELECT COUNT(*) FROM sms_preferences WHERE user_id = 'cat' AND battle_invitations AND consent_given_at IS NULL AND imported_at IS NOT NULL";
    assert_eq!(count(&app, cat).await, 1);
    // Consent events with their original times, marked imported.
    let events = data(
        &app.graphql_as("ops", Role::Admin, EVENTS, json!({ "u": "bob" }))
            .await,
    )["consentEvents"]["nodes"]
        .clone();
    let events = events.as_array().expect("events");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["action"], "REVOKED");
    assert_eq!(events[0]["occurredAt"], "2026-02-20T08:00:00+00:00");
    assert_eq!(events[1]["action"], "GIVEN");
    assert!(events.iter().all(|e| !e["importedAt"].is_null()));
    assert_eq!(events[1]["phoneNumber"], "+12125550102");
    // The opt-out list.
    let opt_out = data(
        &app.graphql_as(
            "ops",
            Role::Admin,
            "{ smsOptOut(phone: \"+12125550199\") { source optedOutAt } }",
            json!({}),
        )
        .await,
    )["smsOptOut"]
        .clone();
    assert_eq!(opt_out["source"], "IMPORTED");
    assert_eq!(opt_out["optedOutAt"], "2026-02-10T12:00:00+00:00");
    // The history: codes masked, no webhook or feed for it, its cost in the reports and the month.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM sms_log WHERE body LIKE '%482913%'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sms_log WHERE change_seq <> 0").await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT reserved_micros FROM spend_months WHERE month = '2026-03'"
        )
        .await,
        16_600
    );
    let costs = data(&app.graphql_as("ops", Role::Admin, "{ smsCosts(from: \"2026-03-01T00:00:00Z\", to: \"2026-03-01T23:59:59Z\") { messageCount monthToDate } }", json!({})).await)["smsCosts"].clone();
    assert_eq!(costs["messageCount"], 3, "{costs}");
    assert!(
        costs["monthToDate"].to_string().contains("0.0166"),
        "{costs}"
    );

    // The same files again: nothing changes.
    let before = counts(&app).await;
    let out = sms_notify(&app, &args);
    let summary = text(&out.stdout);
    for line in [
        "people               4         0         0         3         0         1         1",
        "preferences          3         0         0         2         0         1         0",
        "opt_outs             2         0         0         1         0         1         0",
        "history              3         0         0         3         0         0         0",
    ] {
        assert!(summary.contains(line), "{line}\n{summary}");
    }
    assert_eq!(counts(&app).await, before);

    // What the import brought decides sends: ann has consent, bob revoked it.
    let streak =
        |user: &str| json!({ "i": { "userId": user, "streakCount": 3, "actionLink": "/s" } });
    const STREAK: &str =
        "mutation($i: StreakAlertInput!) { sendStreakAlert(input: $i) { status blockedReason } }";
    let ann = data(&app.as_service(STREAK, streak("ann")).await)["sendStreakAlert"].clone();
    assert_eq!(ann["status"], "PENDING", "{ann}");
    let bob = data(&app.as_service(STREAK, streak("bob")).await)["sendStreakAlert"].clone();
    assert_eq!(bob["blockedReason"], "NO_CONSENT", "{bob}");
}

async fn aws_own_opt_out_list_comes_in_with_the_files(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let stub = crate::aws_stub::AwsStub::start().await;
    for number in ["+12125550181", "+12125550182", "+12125550183"] {
        stub.put_opted_out("app-list", number);
    }
    stub.put_opted_out("another-list", "+12125550189");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("opt_outs.csv"), OPT_OUTS).expect("opt-outs");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_sms-notify"))
            .args(["import", dir.path().to_str().expect("path")])
            .current_dir(dir.path())
            .env("DATABASE_URL", app.config.database_url.expose_secret())
            .env("SMS_PROVIDER", "aws")
            .env("SMS_ORIGINATION_IDENTITY", "+18663448034")
            .env("SMS_OPT_OUT_LIST", "app-list")
            .env("SMS_AWS_ENDPOINT_URL", stub.url())
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTKEY")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_REGION", "us-east-1")
            .env_remove("APP_ENV")
            .output()
            .expect("sms-notify runs")
    };
    let out = run();
    let summary = text(&out.stdout);
    // The file's two rows (one refused) and AWS's three numbers, over two pages.
    assert!(
        summary
            .contains("opt_outs             5         4         0         0         0         1"),
        "{summary}{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("AWS opt-out list app-list: 3 rows"),
        "{}",
        text(&out.stderr)
    );
    for (number, listed) in [("+12125550183", true), ("+12125550189", false)] {
        let answer = data(
            &app.graphql_as(
                "ops",
                Role::Admin,
                "query($p: String!) { smsOptOut(phone: $p) { source } }",
                json!({ "p": number }),
            )
            .await,
        )["smsOptOut"]
            .clone();
        assert_eq!(!answer.is_null(), listed, "{number}: {answer}");
    }
    let again = text(&run().stdout);
    assert!(
        again.contains("opt_outs             5         0         0         4"),
        "{again}"
    );
}

async fn a_stop_here_wins_over_the_old_consent(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path());
    let files = [
        dir.path().join("people.csv"),
        dir.path().join("preferences.jsonl"),
    ];
    let refused = dir.path().join("refused.csv");
    let args: Vec<&str> = ["import"]
        .into_iter()
        .chain(files.iter().map(|f| f.to_str().expect("path")))
        .chain(["--refused", refused.to_str().expect("path")])
        .collect();
    sms_notify(&app, &args);
    crate::privacy::reply(&app, "+12125550101", "STOP", "in-1").await;

    // The old app still says ann consented: the newer STOP here is kept, and said so.
    let out = sms_notify(&app, &args);
    let summary = text(&out.stdout);
    assert!(
        summary
            .contains("preferences          3         0         0         1         1         1"),
        "{summary}"
    );
    let prefs = std::fs::read_to_string(dir.path().join("preferences.refused.csv")).expect("file");
    assert!(
        prefs.contains("ann,") && prefs.contains("kept: newer here: the consent (changed here at"),
        "{prefs}"
    );
    let me = data(
        &app.as_user("ann", "{ me { preferences { hasConsent } } }", json!({}))
            .await,
    )["me"]
        .clone();
    assert_eq!(me["preferences"]["hasConsent"], false);

    // The people file's changes still come in while nothing here changed the person.
    let moved = PEOPLE.replace("America/New_York", "America/Chicago");
    std::fs::write(&files[0], moved).expect("people");
    let out = sms_notify(&app, &args);
    assert!(
        text(&out.stdout).contains("people               4         0         1         2"),
        "{}",
        text(&out.stdout)
    );
    let me = data(&app.as_user("ann", "{ me { timezone } }", json!({})).await)["me"].clone();
    assert_eq!(me["timezone"], "America/Chicago");
}

async fn a_file_in_an_unknown_shape_stops_before_writing(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path());
    // The history lacks a column: nothing at all is imported, the people included.
    std::fs::write(
        dir.path().join("history.csv"),
        "user_id,to_phone,body\nann,+12125550101,hi\n",
    )
    .expect("history");
    let out = sms_notify(&app, &["import", dir.path().to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.contains("history.csv: expected a column `message_type`"),
        "{said}"
    );
    assert!(said.contains("nothing was imported"), "{said}");
    assert_eq!(counts(&app).await, vec![0; 7]);
    // A file whose name says nothing of what it holds.
    let users = dir.path().join("users.csv");
    std::fs::write(&users, PEOPLE).expect("users");
    let out = sms_notify(&app, &["import", users.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the file's name must say what it holds"),
        "{}",
        text(&out.stderr)
    );
}

/// `n` people with preferences and consent, as the old app would export them.
fn many(dir: &Path, n: usize) {
    let mut people = String::from(
        "user_id,phone_number,phone_verified,allow_sms_invitations,timezone,signed_up_at\n",
    );
    let mut prefs = String::from(
        "user_id,sms_battle_invitations,sms_battle_results,sms_battle_reminders,sms_streak_alerts,consent_given_at,consent_method,consent_ip,consent_revoked_at\n",
    );
    for i in 0..n {
        people.push_str(&format!(
            "u{i},+1415{:07},t,t,America/Los_Angeles,2026-01-01\n",
            5_550_000 + i % 10_000 + 1_000_000 * (i / 10_000)
        ));
        prefs.push_str(&format!(
            "u{i},t,t,t,{},2026-01-02 00:00:00+00,opt_in_modal,198.51.100.{},\n",
            if i % 2 == 0 { "t" } else { "f" },
            i % 250
        ));
    }
    std::fs::write(dir.join("people.csv"), people).expect("people");
    std::fs::write(dir.join("preferences.csv"), prefs).expect("preferences");
}

async fn a_run_killed_midway_and_run_again_ends_like_one_clean_run(engine: Engine) {
    let dir = tempfile::tempdir().expect("temp dir");
    many(dir.path(), 12_000);
    let path = dir.path().to_str().expect("path");
    let clean = TestApp::spawn(engine).await;
    let out = sms_notify(&clean, &["import", path, "--batch", "200"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let expected = counts(&clean).await;
    assert_eq!(expected[..3], [12_000, 12_000, 12_000]);

    let app = TestApp::spawn(engine).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sms-notify"))
        .args(["import", path, "--batch", "200"])
        .env("DATABASE_URL", app.config.database_url.expose_secret())
        .env_remove("APP_ENV")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    // Killed once some people are in and before the preferences are done.
    let started = std::time::Instant::now();
    loop {
        let people = count(&app, "SELECT COUNT(*) FROM recipients").await;
        let events = count(&app, "SELECT COUNT(*) FROM consent_events").await;
        if people > 0 && events < 12_000 && (people >= 8_000 || events > 0) {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "the import never got going"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let midway = counts(&app).await;
    assert!(
        midway[2] < 12_000,
        "killed too late to prove anything: {midway:?}"
    );
    let out = sms_notify(&app, &["import", path, "--batch", "200"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(counts(&app).await, expected);
    let again = sms_notify(&app, &["import", path, "--batch", "200"]);
    assert!(
        text(&again.stdout).contains("people           12000         0         0     12000"),
        "{}",
        text(&again.stdout)
    );
}
