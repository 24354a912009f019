//! The month's budget for a batch of new messages, reserved in the batch's own transaction.

use std::collections::HashSet;

use entity::sms_log::{self, BlockedReason, MessageType, SmsStatus};
use sea_orm::{ConnectionTrait, DbErr};

use super::{
    messages::{Limits, block_inserted},
    spend,
};

/// Reserves the cost of the pending rows from `month`'s budget: codes and security alerts up to the
/// whole limit, everything else only up to the limit less the transactional reserve. Rows that do not
/// fit are blocked (`spend_limit`). True when anything was reserved.
pub(super) async fn reserve_budget(
    txn: &impl ConnectionTrait,
    rows: &mut [Option<sms_log::Model>],
    limits: Limits,
    month: &str,
) -> Result<bool, DbErr> {
    let mut reserved_any = false;
    let reserve_users = rows_using_reserve(rows);
    for (uses_reserve, cap) in [
        (true, limits.monthly_limit),
        (false, limits.monthly_limit - limits.transactional_reserve),
    ] {
        let cost_of =
            |row: &Option<sms_log::Model>| row.as_ref().and_then(|r| r.cost_micros).unwrap_or(0);
        let charged: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                rows[i]
                    .as_ref()
                    .is_some_and(|r| r.status == SmsStatus::Pending)
                    && reserve_users.contains(&i) == uses_reserve
                    && cost_of(&rows[i]) > 0
            })
            .collect();
        let total: i64 = charged.iter().map(|&i| cost_of(&rows[i])).sum();
        if total == 0 {
            continue;
        }
        if spend::reserve(txn, month, total, cap).await? {
            reserved_any = true;
            continue;
        }
        // Not all of them fit: in order, each takes what is left; those that do not fit are blocked.
        let mut refused = Vec::new();
        for i in charged {
            if spend::reserve(txn, month, cost_of(&rows[i]), cap).await? {
                reserved_any = true;
            } else {
                refused.push(i);
            }
        }
        block_inserted(txn, rows, &refused, BlockedReason::SpendLimit).await?;
    }
    Ok(reserved_any)
}

/// The rows (by index) of codes and security alerts, which may spend the transactional reserve.
fn rows_using_reserve(rows: &[Option<sms_log::Model>]) -> HashSet<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, row)| {
            row.as_ref().is_some_and(|r| {
                matches!(
                    r.message_type,
                    MessageType::PhoneVerification | MessageType::SecurityAlert
                )
            })
        })
        .map(|(i, _)| i)
        .collect()
}
