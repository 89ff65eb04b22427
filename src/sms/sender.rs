//! Delivers outbox rows through a provider, re-checking consent right before each send.
//!
//! Exactly-once is impossible against an API without idempotency keys, so the sender is
//! at-most-once with nothing lost: the row is committed as `sending` before the call; if a
//! worker dies mid-call, the next attempt finds `sending`, marks the row `unknown` and opens
//! an escalation instead of risking a second text.

use std::sync::Arc;

use anyhow::anyhow;
use tracing::{info, warn};

use super::{OutgoingSms, SendError, SmsProvider};
use crate::compliance;
use crate::jobs::JobError;
use crate::store::jobs::{JobRow, bury_job, complete_job};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{Db, Tx, consent, conversations, escalations, json_text};

/// Sends outbox rows.
pub struct Sender {
    pub db: Db,
    pub provider: Arc<dyn SmsProvider>,
    /// The `StatusCallback` URL given to the provider.
    pub status_callback: Option<String>,
}

impl Sender {
    /// Runs a send job for outbox row `outbox_id`.
    pub async fn deliver(&self, job: &JobRow, outbox_id: i64) -> Result<(), JobError> {
        let row = outbox::outbox_row(&self.db, outbox_id).await?;
        match row.status.as_str() {
            "pending" => {}
            "sending" => {
                // An earlier attempt died between committing `sending` and recording the result.
                return self
                    .finish(
                        job,
                        &row,
                        "sending",
                        "unknown",
                        Some("worker stopped during the provider call"),
                        Some("delivery_unknown"),
                    )
                    .await;
            }
            _ => return self.complete_only(job).await,
        }
        let consent = consent::latest_consent(&self.db, &row.to_phone).await?;
        if !compliance::may_send(&row.kind, consent.as_deref()) {
            info!(outbox = row.id, kind = %row.kind, "send suppressed: recipient opted out");
            return self
                .finish(
                    job,
                    &row,
                    "pending",
                    "suppressed",
                    Some("recipient opted out"),
                    None,
                )
                .await;
        }
        if !outbox::transition(&self.db, row.id, "pending", "sending", None).await? {
            return self.complete_only(job).await;
        }
        let sms = OutgoingSms {
            to: row.to_phone.clone(),
            body: row.body.clone(),
            status_callback: self.status_callback.clone(),
        };
        match self.provider.send(&sms).await {
            Ok(accepted) => {
                let mut tx = self.db.begin().await?;
                outbox::mark_sent(&mut tx, row.id, &accepted.provider_sid).await?;
                conversations::insert_outbound_message(
                    &mut tx,
                    row.conversation_id,
                    Some(&accepted.provider_sid),
                    &self.provider.sender_label(),
                    &row.to_phone,
                    &row.body,
                )
                .await?;
                self.commit_with_completion(tx, job).await
            }
            Err(SendError::Retryable(e)) => {
                outbox::transition(&self.db, row.id, "sending", "pending", Some(&e)).await?;
                Err(JobError::Retry(anyhow!("sms send failed: {e}")))
            }
            Err(SendError::Unsubscribed) => {
                // Twilio 21610: the carrier-level STOP is consent withdrawn; record it in our ledger.
                consent::record_opt_out(&self.db, &row.to_phone, "provider_21610").await?;
                warn!(
                    outbox = row.id,
                    "recipient unsubscribed at the provider; recorded opt-out"
                );
                self.finish(
                    job,
                    &row,
                    "sending",
                    "failed",
                    Some("21610 unsubscribed recipient"),
                    None,
                )
                .await
            }
            Err(SendError::Rejected(e)) => {
                self.finish(
                    job,
                    &row,
                    "sending",
                    "failed",
                    Some(&e),
                    Some("send_failed"),
                )
                .await
            }
            Err(SendError::Unknown(e)) => {
                self.finish(
                    job,
                    &row,
                    "sending",
                    "unknown",
                    Some(&e),
                    Some("delivery_unknown"),
                )
                .await
            }
        }
    }

    /// Dead-letters a send job: the row is marked failed and a person is told.
    pub async fn bury(&self, job: &JobRow, outbox_id: i64, reason: &str) -> anyhow::Result<()> {
        let row = outbox::outbox_row(&self.db, outbox_id).await?;
        let mut tx = self.db.begin().await?;
        if outbox::transition_in_tx(&mut tx, row.id, "pending", "failed", Some(reason)).await? {
            escalate_send_problem(&mut tx, &row, "send_failed", reason).await?;
        }
        bury_job(&mut tx, job.id, job.attempts, reason).await?;
        tx.commit().await
    }

    /// Moves the row `from` → `to`, optionally escalates, and completes the job, atomically.
    async fn finish(
        &self,
        job: &JobRow,
        row: &OutboxRow,
        from: &str,
        to: &str,
        error: Option<&str>,
        escalation_reason: Option<&str>,
    ) -> Result<(), JobError> {
        let mut tx = self.db.begin().await?;
        let moved = outbox::transition_in_tx(&mut tx, row.id, from, to, error).await?;
        if moved && let Some(reason) = escalation_reason {
            warn!(outbox = row.id, reason, "outbound text needs a person");
            escalate_send_problem(&mut tx, row, reason, error.unwrap_or_default()).await?;
        }
        self.commit_with_completion(tx, job).await
    }

    async fn complete_only(&self, job: &JobRow) -> Result<(), JobError> {
        let tx = self.db.begin().await?;
        self.commit_with_completion(tx, job).await
    }

    async fn commit_with_completion(&self, mut tx: Tx, job: &JobRow) -> Result<(), JobError> {
        if !complete_job(&mut tx, job.id, job.attempts).await? {
            // Our lease expired and another attempt owns the job: drop our writes.
            return Err(JobError::Retry(anyhow!("lost the job lease")));
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn escalate_send_problem(
    tx: &mut Tx,
    row: &OutboxRow,
    reason: &str,
    error: &str,
) -> anyhow::Result<()> {
    let details = json_text(
        &serde_json::json!({ "outbox_id": row.id, "kind": row.kind, "body": row.body, "error": error }),
    );
    escalations::insert_escalation(tx, row.conversation_id, None, reason, &details).await?;
    Ok(())
}
