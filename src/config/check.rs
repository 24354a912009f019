//! `sms-notify check-config`: every setting the service reads, as the environment gives it (secrets
//! hidden), and every problem with them, not only the first. The settings are read by the same code
//! that starts the service (`Config::from_lookup`); a variable found wrong is read again as unset, so
//! the next problem shows, until none is left or a problem does not go away with its variable unset
//! (one that needs another variable set).

use std::{cell::RefCell, collections::HashSet};

use super::{Config, ConfigError};

/// What the check found.
#[derive(Debug)]
pub struct Report {
    /// Each variable the service reads, in the order it reads them, with its value as shown (`None`:
    /// not set, its default applies).
    pub settings: Vec<(String, Option<String>)>,
    /// Every problem found.
    pub problems: Vec<ConfigError>,
}

/// Checks the settings `lookup` gives (the environment, or a map in tests).
pub fn check(lookup: impl Fn(&str) -> Option<String>) -> Report {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut unset: HashSet<&'static str> = HashSet::new();
    let mut problems = Vec::new();
    loop {
        let read = RefCell::new(Vec::<String>::new());
        let result = Config::from_lookup(|name| {
            read.borrow_mut().push(name.to_owned());
            if unset.contains(name) {
                None
            } else {
                set(name)
            }
        });
        let again = match result {
            Ok(_) => false,
            Err(problem) => {
                let new = unset.insert(problem.var);
                if new {
                    problems.push(problem);
                }
                new
            }
        };
        if !again {
            let mut names = read.into_inner();
            let mut seen = HashSet::new();
            names.retain(|n| seen.insert(n.clone()));
            let settings = names
                .into_iter()
                .map(|name| {
                    let shown = set(&name).map(|value| shown(&name, &value));
                    (name, shown)
                })
                .collect();
            return Report { settings, problems };
        }
    }
}

/// A value fit to print: secrets hidden, a URL without its password.
fn shown(name: &str, value: &str) -> String {
    let secret = [
        "SECRET",
        "PASSWORD",
        "TOKEN",
        "_KEY",
        "PSEUDONYM",
        "HEADERS",
    ]
    .iter()
    .any(|part| name.contains(part));
    if secret {
        return "(set, hidden)".to_owned();
    }
    if value.contains("://") {
        return crate::store::redact_url(value);
    }
    value.to_owned()
}

impl Report {
    /// The report as `check-config` prints it.
    pub fn render(&self) -> String {
        let width = self
            .settings
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0);
        let mut out = String::from("Settings the service reads (unset ones take their default):\n");
        for (name, value) in &self.settings {
            let value = value.as_deref().unwrap_or("(not set: the default)");
            out.push_str(&format!("  {name:width$}  {value}\n"));
        }
        if self.problems.is_empty() {
            out.push_str("\nNo problem found.\n");
        } else {
            out.push_str(&format!("\n{} problems:\n", self.problems.len()));
            for problem in &self.problems {
                out.push_str(&format!("  {problem}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn check_of(vars: &[(&str, &str)]) -> Report {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        check(|name| vars.get(name).cloned())
    }

    #[test]
    fn every_problem_is_found_not_only_the_first() {
        let report = check_of(&[
            ("LISTEN_ADDR", "not an address"),
            ("SMS_RATE_LIMIT_MPS", "fast"),
            ("DEFAULT_PHONE_REGION", "Atlantis"),
        ]);
        let vars: Vec<&str> = report.problems.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            ["LISTEN_ADDR", "DEFAULT_PHONE_REGION", "SMS_RATE_LIMIT_MPS"]
        );
        assert!(
            report.render().contains("3 problems:"),
            "{}",
            report.render()
        );
    }

    #[test]
    fn secrets_are_hidden_and_defaults_named() {
        let report = check_of(&[
            ("JWT_SECRET", "a-long-secret-of-at-least-32-characters!!"),
            ("DATABASE_URL", "postgres://app:hunter2@db.internal/sms"),
        ]);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let text = report.render();
        assert!(
            !text.contains("hunter2") && !text.contains("a-long-secret"),
            "{text}"
        );
        assert!(
            text.contains("postgres://app:***@db.internal/sms"),
            "{text}"
        );
        assert!(text.contains("(set, hidden)"), "{text}");
        let listen = report
            .settings
            .iter()
            .find(|(n, _)| n == "LISTEN_ADDR")
            .expect("LISTEN_ADDR is read");
        assert_eq!(listen.1, None);
        assert!(text.contains("No problem found."), "{text}");
    }
}
