//! The operator's console (`GET /admin` and its files) and the consent export
//! (`GET /admin/consent.csv`), both for admin tokens.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};

use super::{
    HttpState,
    assets::{CSS, JS, page, static_file},
    refusal,
};

pub(super) fn router() -> Router<HttpState> {
    Router::new()
        .route("/admin", get(console))
        .route("/admin/assets/{file}", get(console_asset))
        .route("/admin/consent.csv", get(consent_csv))
}

/// The console's address for a token: `http://<addr>/admin#token=...`. A wildcard listen address
/// (`0.0.0.0`, `[::]`) becomes loopback, which a browser on the same machine can open. The token rides
/// in the fragment, which browsers never send to a server or put in a Referer.
pub fn console_url(listen: SocketAddr, token: &str) -> String {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    format!("http://{addr}/admin#token={token}")
}

/// What the console's page may load and talk to: its own files and the API, nothing else.
const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The operator's console (see `assets/console/README.md`): a static page that signs in with an admin
/// token and reads everything through the GraphQL API; nothing with data in it is rendered here.
async fn console() -> impl IntoResponse {
    page(
        CONSOLE_POLICY,
        Html(include_str!("../../assets/console/index.html")),
    )
}

async fn console_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "console.js" => (include_bytes!("../../assets/console/console.js"), JS),
        "console.css" => (include_bytes!("../../assets/console/console.css"), CSS),
        "chart.umd.min.js" => (include_bytes!("../../assets/console/chart.umd.min.js"), JS),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // The console's own files change with the service: the browser asks again each time.
    static_file(body, content_type, "no-cache")
}

/// The days of a consent export.
#[derive(Debug, serde::Deserialize)]
struct ExportRange {
    from: Option<String>,
    to: Option<String>,
}

impl ExportRange {
    /// The first and last day, both given and in order, or a sentence saying what to fix.
    fn days(&self) -> Result<(chrono::NaiveDate, chrono::NaiveDate), String> {
        let day = |name: &str, value: &Option<String>| -> Result<chrono::NaiveDate, String> {
            let value = value
                .as_deref()
                .ok_or_else(|| format!("Add {name}=YYYY-MM-DD to the address."))?;
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(|_| format!("{name}={value} is not a date; write it YYYY-MM-DD."))
        };
        let (from, to) = (day("from", &self.from)?, day("to", &self.to)?);
        if from > to {
            return Err("from must not be after to.".into());
        }
        Ok((from, to))
    }
}

/// `GET /admin/consent.csv?from=YYYY-MM-DD&to=YYYY-MM-DD` (admin token): every consent given,
/// revoked or closed by an erasure on those UTC days (`to` included), oldest first, as CSV: the records a business keeps for the
/// TCPA's four-year limitation period. Read in pages of 1,000 through the `occurred_at` index.
async fn consent_csv(
    State(state): State<HttpState>,
    headers: HeaderMap,
    axum::extract::Query(range): axum::extract::Query<ExportRange>,
) -> Response {
    if let Err((status, code, why)) = admin_only(&state, &headers) {
        return refusal(status, code, &why);
    }
    let (from, to) = match range.days() {
        Ok(days) => days,
        Err(why) => return refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &why),
    };
    let start = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    let filter = crate::recipients::ConsentFilter {
        from: Some(start(from)),
        to: Some(start(to + chrono::Duration::days(1))),
        ..Default::default()
    };
    // The first page is read before answering, so a database that fails at once is a 500 that says so.
    let first = match state
        .recipients
        .consent_events_in_order(&filter, None, EXPORT_PAGE)
        .await
    {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(%error, "consent export: the database failed");
            let why = "The export could not be read; try again.";
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", why);
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(export(state.recipients.clone(), filter, first, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"consent-{from}-to-{to}.csv\""),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// Consent events read per page of the export.
const EXPORT_PAGE: u64 = 1_000;

type Chunk = Result<Vec<u8>, std::io::Error>;

/// Writes the export a page at a time into `out`, so memory stays one page whatever the range. A
/// database error after the first page ends the body with an error: the client sees a failed
/// download, never a file that is silently short.
async fn export(
    recipients: crate::recipients::Recipients,
    filter: crate::recipients::ConsentFilter,
    mut rows: Vec<crate::recipients::ConsentEvent>,
    out: tokio::sync::mpsc::Sender<Chunk>,
) {
    let header_row = [
        "occurred_at",
        "user_id",
        "action",
        "method",
        "phone_number",
        "ip",
        "phone_last4",
        "disclosure_version",
        "disclosure_sha256",
        "user_agent",
        "page",
        "imported_at",
    ];
    let mut page = csv_page(std::iter::once(header_row.map(str::to_owned)));
    while let Some(last) = rows.last() {
        let after = Some((last.occurred_at, last.id));
        page = page.and_then(|mut bytes| {
            bytes.extend(csv_page(rows.iter().map(csv_record))?);
            Ok(bytes)
        });
        if out.send(page).await.is_err() {
            return; // the client went away
        }
        page = Ok(Vec::new());
        rows = match recipients
            .consent_events_in_order(&filter, after, EXPORT_PAGE)
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "consent export: the database failed mid-way");
                let _ = out
                    .send(Err(std::io::Error::other("the export could not be read")))
                    .await;
                return;
            }
        };
    }
    if let Ok(bytes) = &page
        && !bytes.is_empty()
    {
        let _ = out.send(page).await;
    }
}

/// Rows as CSV bytes.
fn csv_page(records: impl Iterator<Item = [String; COLUMNS]>) -> Chunk {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.write_record(&record)?;
    }
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Columns of the consent export.
const COLUMNS: usize = 12;

/// One consent event as a CSV row, in the header's order.
fn csv_record(row: &crate::recipients::ConsentEvent) -> [String; COLUMNS] {
    [
        row.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        row.user_id.clone(),
        row.action.as_str().to_owned(),
        row.method.as_str().to_owned(),
        row.phone_e164.clone().unwrap_or_default(),
        row.ip.clone().unwrap_or_default(),
        row.phone_last4.clone().unwrap_or_default(),
        row.disclosure_version.clone().unwrap_or_default(),
        row.disclosure_sha256.clone().unwrap_or_default(),
        row.user_agent.clone().unwrap_or_default(),
        row.page.clone().unwrap_or_default(),
        row.imported_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
    ]
    .map(spreadsheet_safe)
}

/// A cell a spreadsheet shows as text, never runs: one that begins with `=`, `+`, `-`, `@`, a tab or
/// a carriage return gets a leading `'` (OWASP's advice against CSV injection). Numbers in E.164
/// (`+1...`) are escaped too, and so keep their plus in the spreadsheet.
fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// Refuses (401, 403, with the code and the reason) a request without an admin token.
fn admin_only(
    state: &HttpState,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str, String)> {
    match state
        .jwt
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
    {
        Ok(viewer) if viewer.role == crate::auth::Role::Admin => Ok(()),
        Ok(_) => Err((
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "The consent export needs a token with role admin.".into(),
        )),
        Err(e) => Err((StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The export of a database that fails after the first page: that page, then an error that ends
    /// the body, never a file that looks complete.
    #[tokio::test]
    async fn a_database_error_midway_ends_the_download_with_an_error() {
        use sea_orm::ConnectionTrait;
        let dir = tempfile::tempdir().expect("temp dir");
        let config =
            crate::Config::for_database(format!("sqlite://{}", dir.path().join("x.db").display()));
        let db = crate::store::connect(&config.database_url)
            .await
            .expect("db");
        crate::store::migrate(&db).await.expect("migrated");
        let clock = std::sync::Arc::new(crate::SystemClock);
        let handles = crate::Handles::new(&config, clock, db.clone());
        let first = vec![crate::recipients::ConsentEvent {
            id: 1,
            user_id: "ann".into(),
            action: crate::recipients::ConsentAction::Given,
            method: crate::recipients::ConsentMethod::OptInModal,
            phone_e164: Some("+12125550001".into()),
            ip: None,
            occurred_at: chrono::Utc::now(),
            disclosure_version: None,
            disclosure_sha256: None,
            user_agent: None,
            page: None,
            phone_hash: None,
            phone_last4: None,
            superseded_at: None,
            imported_at: None,
        }];
        db.execute_unprepared("ALTER TABLE consent_events RENAME TO consent_events_gone")
            .await
            .expect("the table goes away");
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        export(handles.recipients, Default::default(), first, tx).await;
        let page = rx
            .recv()
            .await
            .expect("a first chunk")
            .expect("the first page");
        let text = String::from_utf8(page).expect("utf-8");
        assert!(
            text.starts_with("occurred_at,user_id") && text.contains("ann,given"),
            "{text}"
        );
        assert!(
            rx.recv().await.expect("a second chunk").is_err(),
            "the body ends in an error"
        );
        assert!(rx.recv().await.is_none());
    }

    #[test]
    fn formulas_never_reach_a_spreadsheet() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+12125550001", "'+12125550001"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\r=1", "'\r=1"),
            ("ann", "ann"),
            ("203.0.113.9", "203.0.113.9"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell.to_owned()), safe);
        }
    }

    #[test]
    fn the_console_url_carries_the_token_in_its_fragment() {
        for (listen, token, url) in [
            (
                "127.0.0.1:8080",
                "abc",
                "http://127.0.0.1:8080/admin#token=abc",
            ),
            ("0.0.0.0:80", "abc", "http://127.0.0.1:80/admin#token=abc"),
            ("[::]:8080", "t", "http://[::1]:8080/admin#token=t"),
            ("10.1.2.3:9000", "t", "http://10.1.2.3:9000/admin#token=t"),
        ] {
            let listen = listen.parse().expect("a socket address");
            assert_eq!(console_url(listen, token), url);
        }
    }
}
