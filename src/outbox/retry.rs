//! The retry plan, pure: what a failed attempt does to its message (`plan`), decided from the kind of
//! failure, the attempts spent and the message's time. The worker writes what it says.

use chrono::{DateTime, Duration, Utc};

use super::provider::FailureKind;
use crate::jobs::backoff::Backoff;

/// A text's retries: 2 s, 4 s, 8 s ... capped at 10 minutes, each between half and all of its step, so
/// retries of a burst spread out.
pub const RETRY: Backoff = Backoff::new(
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(600),
)
.jittered();

/// How long sends pause when the provider throttles without saying for how long.
const THROTTLE_PAUSE: Duration = Duration::seconds(1);

/// What a failed attempt does to its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The provider throttles the deployment: every send pauses until then, and the message goes back
    /// to the queue due then, its attempt not spent.
    PauseAll { until: DateTime<Utc> },
    /// The account itself is refused: sending pauses until a probe passes; the message goes back to
    /// the queue at once.
    PauseAccount,
    /// The text may be out and is a promotion: a second copy is worse than none, so it waits for its
    /// receipt (`UNKNOWN`).
    AwaitReceipt,
    /// Tried again then (backoff; a retry due after the message's time comes due at that time, and
    /// is expired then).
    RetryAt(DateTime<Utc>),
    /// Failed for good; with `opted_out` the number goes on the opt-out list.
    Fail { opted_out: bool },
}

/// The message as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Attempted {
    /// Attempts spent, this one included.
    pub attempts: i32,
    pub promotional: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a failure of `kind` does to `message` at `now`, with `max_attempts` attempts in all; a retry
/// waits `backoff` (`RETRY.after(attempts)`, jittered: the caller draws it).
pub fn plan(
    kind: &FailureKind,
    message: Attempted,
    (max_attempts, backoff): (u32, Duration),
    now: DateTime<Utc>,
) -> Plan {
    let attempts_left = message.attempts < max_attempts as i32;
    match kind {
        FailureKind::Throttled { retry_after } => {
            let wait = retry_after
                .and_then(|d| Duration::from_std(d).ok())
                .unwrap_or(THROTTLE_PAUSE);
            Plan::PauseAll { until: now + wait }
        }
        FailureKind::Account => Plan::PauseAccount,
        FailureKind::Interrupted => Plan::AwaitReceipt,
        FailureKind::Ambiguous if message.promotional => Plan::AwaitReceipt,
        FailureKind::Transient | FailureKind::Ambiguous if attempts_left => {
            let at = (now + backoff).min(message.expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC));
            Plan::RetryAt(at)
        }
        FailureKind::OptedOut => Plan::Fail { opted_out: true },
        FailureKind::Transient | FailureKind::Ambiguous | FailureKind::Permanent => {
            Plan::Fail { opted_out: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + seconds)
    }

    fn message(attempts: i32, promotional: bool, expires_in: Option<i64>) -> Attempted {
        Attempted {
            attempts,
            promotional,
            expires_at: expires_in.map(at),
        }
    }

    #[test]
    fn every_kind_of_failure_has_its_plan() {
        let now = at(0);
        let throttled = |s: Option<u64>| FailureKind::Throttled {
            retry_after: s.map(std::time::Duration::from_secs),
        };
        let first_retry = now + Duration::seconds(2);
        let cases = [
            // (kind, attempts spent, promotional, expires in s) -> plan
            (
                throttled(Some(5)),
                1,
                false,
                None,
                Plan::PauseAll { until: at(5) },
            ),
            (
                throttled(None),
                3,
                true,
                None,
                Plan::PauseAll { until: at(1) },
            ),
            (FailureKind::Account, 1, false, None, Plan::PauseAccount),
            (FailureKind::Ambiguous, 1, true, None, Plan::AwaitReceipt),
            (FailureKind::Interrupted, 1, true, None, Plan::AwaitReceipt),
            (FailureKind::Interrupted, 1, false, None, Plan::AwaitReceipt),
            (FailureKind::Ambiguous, 3, true, None, Plan::AwaitReceipt),
            (
                FailureKind::Ambiguous,
                1,
                false,
                None,
                Plan::RetryAt(first_retry),
            ),
            (
                FailureKind::Transient,
                1,
                true,
                None,
                Plan::RetryAt(first_retry),
            ),
            (
                FailureKind::Transient,
                1,
                false,
                Some(1),
                Plan::RetryAt(at(1)),
            ),
            (
                FailureKind::Transient,
                3,
                false,
                None,
                Plan::Fail { opted_out: false },
            ),
            (
                FailureKind::Ambiguous,
                3,
                false,
                None,
                Plan::Fail { opted_out: false },
            ),
            (
                FailureKind::Permanent,
                1,
                false,
                None,
                Plan::Fail { opted_out: false },
            ),
            (
                FailureKind::OptedOut,
                1,
                true,
                None,
                Plan::Fail { opted_out: true },
            ),
        ];
        for (kind, attempts, promotional, expires_in, want) in cases {
            let got = plan(
                &kind,
                message(attempts, promotional, expires_in),
                (3, Duration::seconds(2)),
                now,
            );
            assert_eq!(got, want, "{kind:?} after {attempts} attempts");
        }
    }

    #[test]
    fn a_retry_never_passes_the_messages_time() {
        let now = at(0);
        let transient = |expires_in| {
            plan(
                &FailureKind::Transient,
                message(2, false, expires_in),
                (5, Duration::seconds(600)),
                now,
            )
        };
        assert_eq!(transient(Some(60)), Plan::RetryAt(at(60)));
        assert_eq!(transient(Some(6000)), Plan::RetryAt(at(600)));
        assert_eq!(transient(None), Plan::RetryAt(at(600)));
    }
}
