//! The job handler: runs turn jobs through the pipeline, send jobs through the sender and
//! webhook delivery jobs through `webhooks_out`.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::Deserialize;
use tracing::{debug, info};

use super::ingest::TurnJob;
use super::record::{Committed, bury_turn, commit_turn};
use super::{Deps, run_turn};
use crate::jobs::{JobError, JobHandler, KIND_FLOW_EVENT, KIND_FLOW_STEP, KIND_SEND, KIND_SHOPIFY, KIND_TURN, Waker};
use crate::sms::outbound::SendJob;
use crate::sms::sender::Sender;
use crate::store::commerce::FlowEventJob;
use crate::store::conversations;
use crate::store::jobs::JobRow;
use crate::store::notifications::{KIND_NOTIFY, NotifyJob};
use crate::store::webhook_events::KIND_WEBHOOK_DELIVERY;
use crate::webhooks_out::{Deliverer, delivery_of};

/// Handles every job kind.
pub struct Worker {
    /// What turns need.
    pub deps: Deps,
    /// Delivers outbox rows.
    pub sender: Arc<Sender>,
    /// Woken when a turn queues texts, so a worker sends them at once.
    pub waker: Waker,
    /// Delivers outbound webhook events.
    pub webhooks: Arc<Deliverer>,
    /// Starts, advances and ends flow runs.
    pub flows: Arc<crate::flows::engine::Engine>,
    /// Tells reviewers about escalations.
    pub notifier: Arc<crate::escalation::notify::Notifier>,
}

#[derive(Deserialize)]
struct ShopifyPayload {
    webhook: i64,
}

fn payload<T: serde::de::DeserializeOwned>(job: &JobRow) -> Result<T, JobError> {
    serde_json::from_str(&job.payload)
        .map_err(|e| JobError::Fatal(anyhow::anyhow!("bad {} job payload: {e}", job.kind)))
}

impl Worker {
    async fn turn(&self, job: &JobRow, turn: &TurnJob) -> Result<(), JobError> {
        let db = &self.deps.db;
        let message = conversations::message(db, turn.message_id).await.context("inbound message of a turn job")?;
        let conversation = conversations::conversation(db, message.conversation_id).await?;
        let plan = run_turn(&self.deps, turn, &message, &conversation).await?;
        let max_attempts = self.deps.config.worker.max_attempts;
        let (committed, plan) = commit_turn(db, job, &conversation, plan, max_attempts).await?;
        match committed {
            Committed::Turn(id) => {
                info!(turn = id, conversation = conversation.id, decision = %plan.audit.decision, "turn recorded");
                if !plan.outbound.is_empty() {
                    self.waker.wake();
                }
            }
            Committed::AlreadyDone => debug!(message = turn.message_id, "turn already recorded by another attempt"),
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for Worker {
    async fn handle(&self, job: &JobRow) -> Result<(), JobError> {
        match job.kind.as_str() {
            KIND_TURN => {
                let turn: TurnJob = payload(job)?;
                self.turn(job, &turn).await
            }
            KIND_SEND => {
                let p: SendJob = payload(job)?;
                self.sender.deliver(job, p.outbox_id).await
            }
            KIND_SHOPIFY => {
                let p: ShopifyPayload = payload(job)?;
                let index = &self.deps.index;
                let region = self.deps.config.crm.default_region();
                let applied =
                    crate::commerce::shopify::run_job(&self.deps.db, index, region, p.webhook, job.id, job.attempts);
                match applied.await {
                    Ok(outcome) => {
                        info!(
                            webhook = p.webhook,
                            outcome = outcome.as_deref().unwrap_or("already applied"),
                            "shopify webhook applied"
                        );
                        Ok(())
                    }
                    // A payload that does not parse will not parse next time either.
                    Err(e)
                        if e.downcast_ref::<serde_json::Error>().is_some()
                            || e.downcast_ref::<crate::commerce::shopify::BadPayload>().is_some() =>
                    {
                        Err(JobError::Fatal(e))
                    }
                    Err(e) => Err(JobError::Retry(e)),
                }
            }
            KIND_FLOW_EVENT => {
                let p: FlowEventJob = payload(job)?;
                self.flows.on_event(job, p.event).await.map(|_| ()).map_err(JobError::Retry)
            }
            KIND_FLOW_STEP => {
                let step: crate::flows::engine::StepJob = payload(job)?;
                self.flows.on_step(job, step).await.map_err(JobError::Retry)
            }
            KIND_WEBHOOK_DELIVERY => {
                let Some(delivery_id) = delivery_of(job) else {
                    return Err(JobError::Fatal(anyhow::anyhow!("bad {} job payload", job.kind)));
                };
                self.webhooks.deliver(job, delivery_id).await
            }
            KIND_NOTIFY => {
                let p: NotifyJob = payload(job)?;
                self.notifier.deliver(job, p.notification_id).await
            }
            other => Err(JobError::Fatal(anyhow::anyhow!("unknown job kind {other}"))),
        }
    }

    async fn bury(&self, job: &JobRow, reason: &str) -> anyhow::Result<()> {
        let db = &self.deps.db;
        match job.kind.as_str() {
            KIND_SEND => {
                let outbox_id = serde_json::from_str::<SendJob>(&job.payload).ok().map(|p| p.outbox_id);
                self.sender.bury(job, outbox_id, reason).await
            }
            KIND_SHOPIFY => {
                let webhook = serde_json::from_str::<ShopifyPayload>(&job.payload).ok().map(|p| p.webhook);
                crate::commerce::shopify::bury(db, job.id, job.attempts, webhook, reason).await
            }
            KIND_WEBHOOK_DELIVERY => self.webhooks.bury(job, reason).await,
            KIND_NOTIFY => {
                let id = serde_json::from_str::<NotifyJob>(&job.payload).ok().map(|p| p.notification_id);
                self.notifier.bury(job, id, reason).await
            }
            KIND_FLOW_EVENT | KIND_FLOW_STEP => {
                // The run stays where it was (a waiting run's step can be retried by hand);
                // the dead letter keeps the reason.
                let mut tx = db.begin().await?;
                crate::store::jobs::bury_job(&mut tx, job.id, job.attempts, reason).await?;
                tx.commit().await?;
                tracing::warn!(job = job.id, kind = %job.kind, "flow job dead-lettered");
                Ok(())
            }
            _ => {
                let conversation = match serde_json::from_str::<TurnJob>(&job.payload) {
                    Ok(turn) => match conversations::message(db, turn.message_id).await {
                        Ok(m) => Some(m.conversation_id),
                        Err(e) if is_not_found(&e) => None,
                        Err(e) => return Err(e),
                    },
                    Err(_) => None,
                };
                bury_turn(db, job, conversation, reason).await
            }
        }
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<sqlx::Error>(), Some(sqlx::Error::RowNotFound))
}
