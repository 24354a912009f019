//! The provider account at a glance: each origination identity with its use, status and registration,
//! the spend limit, the configuration set and its event destination, and every check with the IAM
//! permission it needs. Read by `smsProviderAccount` and printed by `sms-notify aws check`.

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Passed,
    /// The account answered, and the answer is a problem (an identity not active, no event
    /// destination, ...).
    Failed,
    /// The call was refused: the permission is missing.
    Denied,
    /// Not run (nothing to check, or not asked for).
    Skipped,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, in words.
    pub what: String,
    /// The IAM action the check calls (`sms-voice:DescribePhoneNumbers`).
    pub permission: &'static str,
    pub outcome: CheckOutcome,
    /// What the account said, or what to do.
    pub detail: String,
}

/// One origination identity the service sends from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityReport {
    /// As configured: a phone number, a phone number or pool id, an ARN, or a sender id.
    pub identity: String,
    /// `phone number`, `pool` or `sender id`.
    pub kind: &'static str,
    /// What it sends: `default`, `verification codes`, `sender id for GB`.
    pub uses: Vec<String>,
    /// AWS's status (`ACTIVE`, `PENDING`, ...; `REGISTERED` or `UNREGISTERED` for a sender id);
    /// `None` when it could not be read or is not in the account.
    pub status: Option<String>,
    /// The status of its registration (`COMPLETE`, `REVIEWING`, ...), when it has one.
    pub registration_status: Option<String>,
}

/// The configuration set texts are sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationSetReport {
    pub name: String,
    /// Whether the account has it (`None`: it could not be read).
    pub found: Option<bool>,
    /// Whether one of its event destinations is an enabled SNS topic (delivery receipts).
    pub publishes_to_sns: bool,
}

/// The whole picture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountReport {
    pub identities: Vec<IdentityReport>,
    pub configuration_set: Option<ConfigurationSetReport>,
    /// AWS's monthly spend limit for texts, in micro-dollars, when it could be read.
    pub text_spend_limit: Option<i64>,
    pub checks: Vec<Check>,
}

impl AccountReport {
    /// Whether every check that ran passed.
    pub fn healthy(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.outcome, CheckOutcome::Passed | CheckOutcome::Skipped))
    }

    pub(super) fn check(
        &mut self,
        what: impl Into<String>,
        permission: &'static str,
        outcome: CheckOutcome,
        detail: impl Into<String>,
    ) {
        self.checks.push(Check {
            what: what.into(),
            permission,
            outcome,
            detail: detail.into(),
        });
    }

    /// A check of a status AWS reported: passed when `good`, else failed saying `refused` (or
    /// `missing` when there was none).
    pub(super) fn status(
        &mut self,
        what: impl Into<String>,
        permission: &'static str,
        status: Option<&str>,
        good: bool,
        (refused, missing): (&str, &str),
    ) {
        let (outcome, detail) = match status {
            Some(s) if good => (CheckOutcome::Passed, s.to_owned()),
            Some(s) => (CheckOutcome::Failed, format!("{s}: {refused}")),
            None => (CheckOutcome::Failed, missing.to_owned()),
        };
        self.check(what, permission, outcome, detail);
    }

    /// The checklist as `sms-notify aws check` prints it.
    pub fn checklist(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let (mark, line) = match check.outcome {
                CheckOutcome::Passed => ("ok  ", format!("{}: {}", check.what, check.detail)),
                CheckOutcome::Failed => ("FAIL", format!("{}: {}", check.what, check.detail)),
                CheckOutcome::Denied => (
                    "DENY",
                    format!(
                        "{}: missing IAM permission {} ({})",
                        check.what, check.permission, check.detail
                    ),
                ),
                CheckOutcome::Skipped => ("skip", format!("{}: {}", check.what, check.detail)),
            };
            out.push_str(&format!("[{mark}] {line}\n"));
        }
        let problems = self
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, CheckOutcome::Failed | CheckOutcome::Denied))
            .count();
        let denied: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Denied)
            .map(|c| c.permission)
            .collect();
        if problems == 0 {
            out.push_str("All checks passed.\n");
        } else {
            out.push_str(&format!("{problems} problem(s).\n"));
            if !denied.is_empty() {
                out.push_str(&format!(
                    "Grant this role: {} (the README's IAM policy lists them all).\n",
                    denied.join(", ")
                ));
            }
        }
        out
    }
}
