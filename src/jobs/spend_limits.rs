//! AWS's own monthly spend limit for texts: read at start and every hour. When it is below
//! `SMS_MONTHLY_SPEND_LIMIT_USD`, it is the budget (AWS would refuse the texts past it anyway), said
//! once in the log; when the account refuses the call (no IAM permission), that is said once too and
//! the service goes on with its own limit.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::{
    billing::{SpendCap, micros_to_dollars},
    outbox::provider::SmsProvider,
};

/// How often AWS's limits are read again.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Reads AWS's limits once and applies them to `cap`.
pub async fn refresh(cap: &SpendCap, provider: &dyn SmsProvider, refused_said: &AtomicBool) {
    match provider.text_spend_limit().await {
        Ok(Some(limit)) => {
            refused_said.store(false, Ordering::Relaxed);
            if cap.set_aws_limit(limit) {
                tracing::warn!(
                    alert = "aws_spend_limit",
                    aws_limit = %micros_to_dollars(limit),
                    "AWS's monthly spend limit for texts (${}) is below SMS_MONTHLY_SPEND_LIMIT_USD: \
                     it is the budget until it is raised in the AWS console",
                    micros_to_dollars(limit)
                );
            }
        }
        Ok(None) => {}
        Err(error) => {
            if !refused_said.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    code = %error.code,
                    "cannot read AWS's spend limits ({}: {}); the budget is SMS_MONTHLY_SPEND_LIMIT_USD \
                     alone (grant sms-voice:DescribeSpendLimits to check AWS's)",
                    error.code,
                    error.message
                );
            }
        }
    }
}

/// Reads AWS's limits now, then every hour until `shutdown`; the first read is done when this returns.
pub async fn start(
    cap: Arc<SpendCap>,
    provider: Arc<dyn SmsProvider>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let refused_said = AtomicBool::new(false);
    refresh(&cap, provider.as_ref(), &refused_said).await;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
            refresh(&cap, provider.as_ref(), &refused_said).await;
        }
    })
}
