//! The job handler: runs turn jobs through the pipeline and send jobs through the sender.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::Deserialize;
use tracing::{debug, info};

use super::record::{Committed, bury_turn, commit_turn};
use super::{Deps, run_turn};
use crate::jobs::{JobError, JobHandler, KIND_SEND, KIND_TURN, Waker};
use crate::sms::sender::Sender;
use crate::store::conversations;
use crate::store::jobs::JobRow;

/// Handles every job kind.
pub struct Worker {
    pub deps: Deps,
    pub sender: Arc<Sender>,
    pub waker: Waker,
}

#[derive(Deserialize)]
struct TurnPayload {
    message_id: i64,
}

#[derive(Deserialize)]
struct SendPayload {
    outbox_id: i64,
}

fn payload<T: serde::de::DeserializeOwned>(job: &JobRow) -> Result<T, JobError> {
    serde_json::from_str(&job.payload)
        .map_err(|e| JobError::Fatal(anyhow::anyhow!("bad {} job payload: {e}", job.kind)))
}

impl Worker {
    async fn turn(&self, job: &JobRow, message_id: i64) -> Result<(), JobError> {
        let db = &self.deps.db;
        let message = conversations::message(db, message_id)
            .await
            .context("inbound message of a turn job")?;
        let conversation = conversations::conversation(db, message.conversation_id).await?;
        let plan = run_turn(&self.deps, &message, &conversation).await?;
        let max_attempts = self.deps.config.worker.max_attempts;
        match commit_turn(db, job, &conversation, &plan, max_attempts).await? {
            Committed::Turn(id) => {
                info!(turn = id, conversation = conversation.id, decision = %plan.audit.decision, "turn recorded");
                if !plan.outbound.is_empty() {
                    self.waker.wake();
                }
            }
            Committed::AlreadyDone => debug!(
                message = message_id,
                "turn already recorded by another attempt"
            ),
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for Worker {
    async fn handle(&self, job: &JobRow) -> Result<(), JobError> {
        match job.kind.as_str() {
            KIND_TURN => {
                let p: TurnPayload = payload(job)?;
                self.turn(job, p.message_id).await
            }
            KIND_SEND => {
                let p: SendPayload = payload(job)?;
                self.sender.deliver(job, p.outbox_id).await
            }
            other => Err(JobError::Fatal(anyhow::anyhow!("unknown job kind {other}"))),
        }
    }

    async fn bury(&self, job: &JobRow, reason: &str) -> anyhow::Result<()> {
        let db = &self.deps.db;
        match job.kind.as_str() {
            KIND_SEND => {
                let p: SendPayload = serde_json::from_str(&job.payload)?;
                self.sender.bury(job, p.outbox_id, reason).await
            }
            _ => {
                let conversation = match serde_json::from_str::<TurnPayload>(&job.payload) {
                    Ok(p) => conversations::message(db, p.message_id)
                        .await
                        .ok()
                        .map(|m| m.conversation_id),
                    Err(_) => None,
                };
                bury_turn(db, job, conversation, reason).await
            }
        }
    }
}
