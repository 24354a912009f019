//! Skipped tests are never silent: a test whose engine or browser is missing passes without running,
//! so these fail instead, naming what is missing and how to install it, unless the skip is on purpose
//! (`SKIP_POSTGRES=1`, `SKIP_BROWSER=1`). Under `CI=true` each such test fails by itself.

use crate::{console::executable, support::postgres};

fn on_purpose(variable: &str) -> bool {
    std::env::var(variable).is_ok_and(|v| v == "1" || v == "true")
}

#[test]
fn postgresql_runs_or_is_skipped_on_purpose() {
    if let Err(why) = postgres::admin_url()
        && !on_purpose("SKIP_POSTGRES")
    {
        panic!(
            "The PostgreSQL variant of every storage test (each `::postgres` test) passed without running: {why}. \
             Install PostgreSQL (`apt-get install postgresql`: the tests start a throwaway server of their own), \
             or point TEST_DATABASE_URL at one, or set SKIP_POSTGRES=1 to skip them on purpose."
        );
    }
}

#[test]
fn the_browser_tests_run_or_are_skipped_on_purpose() {
    let chromium = executable(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = executable("CHROMEDRIVER", &["chromedriver"]);
    if (chromium.is_none() || driver.is_none()) && !on_purpose("SKIP_BROWSER") {
        panic!(
            "The five browser tests (GraphiQL and the console, driven in Chromium) passed without running: \
             Chromium or ChromeDriver is not installed. Install them (`apt-get install chromium chromium-driver`), \
             or set SKIP_BROWSER=1 to skip them on purpose."
        );
    }
}
