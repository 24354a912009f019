//! Texts `SENT` more than 72 hours ago with no final receipt become `UNKNOWN`, as AWS itself reports
//! then, so nothing waits forever; a late final receipt still settles them.

use chrono::Duration;
use sea_orm::DbErr;

use crate::store::receipts;

/// How long a sent text may wait for its final receipt.
pub const RECEIPT_DEADLINE: Duration = Duration::hours(72);

/// Settles every overdue text, in batches of 500 read through the partial index of sent rows;
/// returns how many.
pub async fn reconcile(inbound: &super::Inbound) -> Result<u64, DbErr> {
    let cutoff = inbound.clock.now() - RECEIPT_DEADLINE;
    let mut settled = 0;
    loop {
        let rows = receipts::mark_unknown_batch(&inbound.db, cutoff).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            inbound
                .metrics
                .messages
                .with_label_values(&[row.message_type_label().as_str(), "unknown"])
                .inc();
        }
        settled += rows.len() as u64;
    }
    if settled > 0 {
        tracing::info!(
            settled,
            "texts with no final receipt after 72 hours are UNKNOWN"
        );
    }
    Ok(settled)
}
