//! Receipts that arrive together on the SNS webhook, applied in one transaction: a group commit of
//! `receipts::record_delivery_events`.

use sea_orm::DbErr;

use super::receipts::{DeliveryEvent, Recorded, SnsDelivery, record_delivery_events};
use crate::outbox::group_commit::GroupCommit;

/// The receipts' group commit.
pub type ReceiptGroup = std::sync::Arc<GroupCommit<Receipt, Result<Recorded, String>>>;

/// A delivery event with the SNS message that brought it, owned: what the receipts' group commit
/// carries between requests.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The SNS message id and topic.
    pub sns: Option<(String, String)>,
    pub event: DeliveryEvent,
}

/// Receipts that arrive together (SNS posts one envelope per request, many at once under load) share
/// one transaction, as sends do: the first to find the group idle writes the batch at once, and those
/// arriving meanwhile form the next. A batch that fails whole is applied again receipt by receipt, so
/// a failure stays with the receipt that caused it (SNS delivers a refused one again).
pub async fn record_grouped(
    inbound: &super::Inbound,
    group: &std::sync::Arc<
        crate::outbox::group_commit::GroupCommit<Receipt, Result<Recorded, String>>,
    >,
    receipt: Receipt,
) -> Result<Recorded, DbErr> {
    let inbound = inbound.clone();
    let decide = move |batch: Vec<Receipt>| {
        let inbound = inbound.clone();
        async move { Ok::<_, DbErr>(record_isolating(&inbound, &batch).await) }
    };
    match group
        .submit(receipt, std::time::Duration::ZERO, decide)
        .await
    {
        Ok(Ok(recorded)) => Ok(recorded),
        Ok(Err(error)) => Err(DbErr::Custom(error)),
        Err(failure) => Err(DbErr::Custom(failure.to_string())),
    }
}

/// The items `record_delivery_events` takes, borrowed from owned receipts.
fn items(batch: &[Receipt]) -> Vec<(Option<SnsDelivery<'_>>, &DeliveryEvent)> {
    batch
        .iter()
        .map(|r| {
            let sns = r.sns.as_ref().map(|(id, topic)| SnsDelivery {
                message_id: id,
                topic_arn: topic,
            });
            (sns, &r.event)
        })
        .collect()
}

/// `record_delivery_events` for a batch of the group commit; on a failure of the whole batch, each
/// receipt alone.
async fn record_isolating(
    inbound: &super::Inbound,
    batch: &[Receipt],
) -> Vec<Result<Recorded, String>> {
    let error = match record_delivery_events(inbound, &items(batch)).await {
        Ok(recorded) => return recorded.into_iter().map(Ok).collect(),
        Err(error) if batch.len() < 2 || crate::store::unavailable(&error) => {
            return batch.iter().map(|_| Err(error.to_string())).collect();
        }
        Err(error) => error,
    };
    tracing::warn!(%error, batch = batch.len(), "a batch of receipts failed whole; applying them one by one");
    let mut answers = Vec::with_capacity(batch.len());
    for one in batch.chunks(1) {
        answers.push(match record_delivery_events(inbound, &items(one)).await {
            Ok(mut recorded) => Ok(recorded.pop().unwrap_or(Recorded::Unmatched)),
            Err(error) => Err(error.to_string()),
        });
    }
    answers
}
