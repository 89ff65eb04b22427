//! The one outbound path: a text to send becomes an outbox row and its send job, both
//! written in the caller's transaction, so the text is queued exactly when the caller's
//! other writes (the turn's audit, a new conversation, a flow's step) commit.
//!
//! The turn's replies and compliance texts, proactive texts and reviewer replies all go
//! through [`queue_text`]; the sender then re-checks consent (and, for proactive texts,
//! quiet hours and caps) when the job runs.

pub use crate::store::outbox::OutboundText;

/// The payload of a `send` job.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SendJob {
    pub outbox_id: i64,
}

use crate::jobs::KIND_SEND;
use crate::store::{Tx, jobs, outbox};

/// Writes `text`'s outbox row and its send job in `tx`; returns the outbox id, or `None`
/// when `text.in_reply_to` already has a text of this kind (another attempt of the same
/// turn queued it), in which case nothing is written.
///
/// The job's key is `send:{outbox_id}`: one send job per outbox row, however often this runs.
pub async fn queue_text(tx: &mut Tx, text: &OutboundText<'_>, max_attempts: i32) -> anyhow::Result<Option<i64>> {
    queue_text_at(tx, text, max_attempts, crate::store::now_ms()).await
}

/// [`queue_text`] with the send job due at `run_at_ms` (a flow's clock: see `Clock::queue_ms`).
pub async fn queue_text_at(
    tx: &mut Tx,
    text: &OutboundText<'_>,
    max_attempts: i32,
    run_at_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let Some(outbox_id) = outbox::insert_outbox(tx, text).await? else {
        return Ok(None);
    };
    let payload = serde_json::to_string(&SendJob { outbox_id })?;
    jobs::enqueue_job_at(tx, KIND_SEND, &payload, Some(&format!("send:{outbox_id}")), max_attempts, run_at_ms).await?;
    Ok(Some(outbox_id))
}
