//! A message's lifecycle, pure: which event moves which status to which. The store writes a move only
//! where the row still has one of the statuses the event moves from (`from`), so a move that lost a
//! race (a cancel against the worker's claim, a receipt against the 72-hour reconciliation) changes
//! nothing. Table-tested below; the store's status writes name their event here.
//!
//! ```text
//!  accept ──> PENDING ──claim──> SENDING ──sent──> SENT ──receipt──> DELIVERED | UNDELIVERED
//!     │          │  ^              │  │  │           └──72 h────────> UNKNOWN ──receipt──> ...
//!     │          │  └─retry/release┘  │  └─ambiguous (a promotion)──> UNKNOWN
//!     │          ├─cancel──> CANCELLED├─fail──> FAILED
//!     │          └─stop────> BLOCKED  └─decided again at the claim──> BLOCKED | EXPIRED | CANCELLED
//!     │   PENDING | SENDING (held for a digest) ──digest──> DIGESTED ──the digest failed──> FAILED
//!     └──refused──> BLOCKED
//! ```

use crate::store::SmsStatus;

/// What happens to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A worker claims it (again, when an earlier worker's lease ran out).
    Claim,
    /// The provider took it.
    Sent,
    /// A transient failure with attempts left, or a send handed back (throttling, shutdown).
    Requeue,
    /// A permanent failure, or attempts run out.
    Fail,
    /// The provider may have sent it (a promotion is not tried again).
    Ambiguous,
    /// Decided again at the claim: refused now, its time passed, or its person erased.
    EndUnsent(SmsStatus),
    /// An admin cancels it, or its person is erased, while it waits.
    Cancel,
    /// STOP from its number while it waits or is being sent.
    OptedOut,
    /// A final receipt: delivered, undelivered, or unknown to the carrier.
    Receipt(SmsStatus),
    /// No final receipt 72 hours after it was sent.
    Overdue,
    /// A digest carries it (held for one, whether or not a worker claimed it yet).
    Digest,
    /// The digest that carried it failed for good: it fails with it (and may be retried).
    DigestFailed,
}

/// Every status, for the table.
pub const ALL: [SmsStatus; 11] = [
    SmsStatus::Pending,
    SmsStatus::Sending,
    SmsStatus::Sent,
    SmsStatus::Delivered,
    SmsStatus::Undelivered,
    SmsStatus::Failed,
    SmsStatus::Unknown,
    SmsStatus::Blocked,
    SmsStatus::Expired,
    SmsStatus::Cancelled,
    SmsStatus::Digested,
];

/// The status `event` moves a message in `from` to, or `None` when it does not apply to it.
pub fn next(from: SmsStatus, event: Event) -> Option<SmsStatus> {
    use SmsStatus::*;
    let to = match (event, from) {
        (Event::Claim, Pending | Sending) => Sending,
        (Event::Sent, Sending) => Sent,
        (Event::Requeue, Sending) => Pending,
        (Event::Fail, Sending) => Failed,
        (Event::Ambiguous, Sending) => Unknown,
        (Event::EndUnsent(to @ (Blocked | Expired | Cancelled)), Sending) => to,
        (Event::Cancel, Pending) => Cancelled,
        (Event::OptedOut, Pending | Sending) => Blocked,
        (Event::Receipt(to @ (Delivered | Undelivered | Unknown)), Sent | Unknown) => to,
        (Event::Overdue, Sent) => Unknown,
        (Event::Digest, Pending | Sending) => Digested,
        (Event::DigestFailed, Digested) => Failed,
        _ => return None,
    };
    Some(to)
}

/// The statuses `event` moves a message from: what a store write of it requires of the row.
pub fn from(event: Event) -> Vec<SmsStatus> {
    ALL.into_iter()
        .filter(|s| next(*s, event).is_some())
        .collect()
}

/// Whether nothing more happens to a message in `status` but a receipt: no event of the queue (a
/// claim, a send, a requeue, a failure, a cancel, a STOP) applies to it.
pub fn settled(status: SmsStatus) -> bool {
    [
        Event::Claim,
        Event::Sent,
        Event::Requeue,
        Event::Fail,
        Event::Ambiguous,
        Event::EndUnsent(SmsStatus::Blocked),
        Event::Cancel,
        Event::OptedOut,
    ]
    .into_iter()
    .all(|event| next(status, event).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use SmsStatus::*;

    #[test]
    fn each_event_moves_only_what_it_may() {
        let table: &[(Event, &[(SmsStatus, SmsStatus)])] = &[
            (Event::Claim, &[(Pending, Sending), (Sending, Sending)]),
            (Event::Sent, &[(Sending, Sent)]),
            (Event::Requeue, &[(Sending, Pending)]),
            (Event::Fail, &[(Sending, Failed)]),
            (Event::Ambiguous, &[(Sending, Unknown)]),
            (Event::EndUnsent(Expired), &[(Sending, Expired)]),
            (Event::EndUnsent(Blocked), &[(Sending, Blocked)]),
            (Event::EndUnsent(Cancelled), &[(Sending, Cancelled)]),
            (Event::EndUnsent(Sent), &[]),
            (Event::Cancel, &[(Pending, Cancelled)]),
            (Event::OptedOut, &[(Pending, Blocked), (Sending, Blocked)]),
            (
                Event::Receipt(Delivered),
                &[(Sent, Delivered), (Unknown, Delivered)],
            ),
            (
                Event::Receipt(Undelivered),
                &[(Sent, Undelivered), (Unknown, Undelivered)],
            ),
            (
                Event::Receipt(Unknown),
                &[(Sent, Unknown), (Unknown, Unknown)],
            ),
            (Event::Receipt(Failed), &[]),
            (Event::Overdue, &[(Sent, Unknown)]),
            (Event::Digest, &[(Pending, Digested), (Sending, Digested)]),
            (Event::DigestFailed, &[(Digested, Failed)]),
        ];
        for (event, moves) in table {
            for status in ALL {
                let expected = moves.iter().find(|(f, _)| *f == status).map(|(_, t)| *t);
                assert_eq!(next(status, *event), expected, "{event:?} from {status:?}");
            }
            let sources: Vec<_> = moves.iter().map(|(f, _)| *f).collect();
            assert_eq!(from(*event), sources, "{event:?}");
        }
    }

    #[test]
    fn settled_messages_move_only_by_receipt() {
        for status in ALL {
            let waits = matches!(status, Pending | Sending);
            assert_eq!(settled(status), !waits, "{status:?}");
        }
        // A settled message never goes back to the queue, nor is it ever sent again.
        for status in ALL.into_iter().filter(|s| settled(*s)) {
            for event in [Event::Claim, Event::Sent, Event::Requeue, Event::Cancel] {
                assert_eq!(next(status, event), None, "{event:?} from {status:?}");
            }
        }
    }
}
