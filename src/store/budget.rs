//! The month's budget for a batch of new messages, reserved in the batch's own transaction: the
//! allocation is `billing::allocation`'s, the reservation one conditional update per cap.

use entity::sms_log::{self, BlockedReason, MessageType, SmsStatus};
use sea_orm::{ConnectionTrait, DbErr};

use super::{
    messages::{Limits, block_inserted},
    spend,
};
use crate::billing::allocation::{self, Cap};

/// Reserves the cost of the pending rows from `month`'s budget: codes and security alerts up to the
/// whole limit, everything else only up to the limit less the transactional reserve. The whole of
/// each share is reserved in one conditional update when it fits; when it does not, the texts that
/// still fit are found from what the month has reserved (in order, each takes what is left) and
/// reserved together, and the rest are blocked (`spend_limit`). The month's standing after the last
/// reservation, when anything was reserved.
pub(super) async fn reserve_budget(
    txn: &impl ConnectionTrait,
    rows: &mut [Option<sms_log::Model>],
    limits: Limits,
    month: &str,
) -> Result<Option<spend::Standing>, DbErr> {
    let mut standing = None;
    for share in [Cap::Whole, Cap::LessReserve] {
        let cap = share.of(limits.monthly_limit, limits.transactional_reserve);
        let costs: Vec<(usize, i64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let row = row.as_ref()?;
                let cost = row.cost_micros.unwrap_or(0);
                (row.status == SmsStatus::Pending && cap_of(row) == share && cost > 0)
                    .then_some((i, cost))
            })
            .collect();
        let total: i64 = costs.iter().map(|(_, cost)| cost).sum();
        if total == 0 {
            continue;
        }
        if let Some(now) = spend::reserve_month(txn, month, total, cap).await? {
            standing = Some(now);
            continue;
        }
        // Not all of them fit. The conditional update keeps the cap even if another instance
        // reserved since the read: then the texts are fitted again to what is left.
        let fit = loop {
            let reserved = spend::reserved(txn, month).await?;
            let fit = allocation::fit(reserved, cap, &costs);
            if fit.total == 0 {
                break fit;
            }
            if let Some(now) = spend::reserve_month(txn, month, fit.total, cap).await? {
                standing = Some(now);
                break fit;
            }
        };
        block_inserted(txn, rows, &fit.refused, BlockedReason::SpendLimit).await?;
    }
    Ok(standing)
}

/// Which share of the month a row may spend.
fn cap_of(row: &sms_log::Model) -> Cap {
    match row.message_type {
        MessageType::PhoneVerification | MessageType::SecurityAlert => Cap::Whole,
        _ => Cap::LessReserve,
    }
}
