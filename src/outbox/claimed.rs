//! What a claimed batch becomes before anything is sent: texts past their time expire, texts whose
//! person was erased are cancelled, and the rest are decided again by the rules as they are now
//! (`recheck`): blocked, deferred, or moved to the person's new number.

use sea_orm::DbErr;

use super::{
    recheck::{self, Leaving},
    worker::{BatchReport, Workers},
};
use crate::{
    locale::phone,
    store::{
        BlockedReason, MessageRow, SmsStatus,
        lease::{self, Outcome},
    },
};

/// Ends claimed messages that will never be sent: `Expired` (their time passed), `Cancelled` (their
/// person was erased after they were claimed) or `Blocked` with a reason (the rules, decided again at
/// the claim, refuse them now), with their log line and metrics.
pub(super) async fn end_unsent(
    workers: &Workers,
    rows: &[&MessageRow],
    (status, reason): (SmsStatus, Option<BlockedReason>),
    report: &mut BatchReport,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let ended = lease::end_unsent(&workers.outbox.db, rows, (status, reason)).await?;
    let label = match status {
        SmsStatus::Cancelled => {
            report.cancelled += ended.len();
            "cancelled"
        }
        SmsStatus::Blocked => {
            report.blocked += ended.len();
            "blocked"
        }
        _ => {
            report.expired += ended.len();
            "expired"
        }
    };
    report.lease_lost += rows.len() - ended.len();
    let metrics = &workers.outbox.metrics;
    for row in rows.iter().filter(|r| ended.contains(&r.id)) {
        tracing::info!(
            id = row.id,
            to = phone::mask(&row.to_phone),
            reason = reason.map(BlockedReason::as_str),
            "message {label} before it could be sent"
        );
        metrics
            .messages
            .with_label_values(&[row.message_type_label().as_str(), label])
            .inc();
        if let Some(reason) = reason {
            metrics.blocked.with_label_values(&[reason.as_str()]).inc();
        }
    }
    workers.outbox.signals.outcome_recorded();
    Ok(())
}

/// The claimed batch decided again by the rules as they are now (`recheck`): what may no longer go
/// is blocked with its reason, a promotion inside quiet hours goes back to wait for their end, a text
/// whose person moved to a new number follows them. Returns what may leave, in claim order. The
/// facts are read once for the batch.
pub(super) async fn decide_again(
    workers: &Workers,
    batch: Vec<MessageRow>,
    report: &mut BatchReport,
) -> Result<Vec<MessageRow>, DbErr> {
    let outbox = &workers.outbox;
    let current = recheck::Current::load(&outbox.db, &batch).await?;
    let rules = recheck::Rules {
        allowed_countries: &outbox.sms.allowed_countries,
        locale: &outbox.locale_rules,
    };
    let now = outbox.clock.now();
    let mut leaving = Vec::with_capacity(batch.len());
    let mut ending: Vec<((SmsStatus, Option<BlockedReason>), MessageRow)> = Vec::new();
    for mut row in batch {
        if row.to_phone.is_empty() {
            ending.push(((SmsStatus::Cancelled, None), row));
            continue;
        }
        match recheck::decide_again(&row, &current, &rules, now) {
            Leaving::Send => leaving.push(row),
            Leaving::Follow(to) => {
                if lease::follow(&outbox.db, &row, &to).await? {
                    tracing::info!(
                        id = row.id,
                        from = phone::mask(&row.to_phone),
                        to = phone::mask(&to),
                        "the person changed their number since the text was queued: it follows them"
                    );
                    row.to_phone = to;
                    leaving.push(row);
                } else {
                    report.lease_lost += 1;
                }
            }
            Leaving::Block(reason) => ending.push(((SmsStatus::Blocked, Some(reason)), row)),
            Leaving::Defer(until) => {
                report.deferred += 1;
                if lease::release(&outbox.db, &row, until).await? == Outcome::LeaseLost {
                    report.lease_lost += 1;
                }
            }
        }
    }
    ending.sort_by_key(|((status, reason), _)| {
        (
            sea_orm::ActiveEnum::to_value(status),
            reason.map(BlockedReason::as_str),
        )
    });
    for group in ending.chunk_by(|a, b| a.0 == b.0) {
        let rows: Vec<&MessageRow> = group.iter().map(|(_, row)| row).collect();
        end_unsent(workers, &rows, group[0].0, report).await?;
    }
    Ok(leaving)
}
