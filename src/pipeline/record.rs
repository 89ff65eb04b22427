//! Committing a turn's plan: the audit row, outbound texts (outbox rows and their send
//! jobs), the escalation, the conversation's owner and the job's completion — one
//! transaction, so a crash leaves either all of it or none of it.

use crate::jobs::KIND_SEND;
use crate::store::conversations::{Conversation, ConversationState, set_conversation_state};
use crate::store::jobs::{JobRow, complete_job};
use crate::store::{Db, escalations, jobs, json_text, outbox, turns};

use super::TurnPlan;

/// What committing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The turn was recorded with this id.
    Turn(i64),
    /// Another attempt recorded this message's turn first, or our lease expired: nothing written.
    AlreadyDone,
}

/// Writes the plan and completes `job` atomically.
pub async fn commit_turn(
    db: &Db,
    job: &JobRow,
    conversation: &Conversation,
    plan: &TurnPlan,
    max_attempts: i32,
) -> anyhow::Result<Committed> {
    let mut tx = db.begin().await?;
    let Some(turn_id) = turns::insert_turn(&mut tx, &plan.audit).await? else {
        return Ok(Committed::AlreadyDone);
    };
    for out in &plan.outbound {
        let Some(outbox_id) = outbox::insert_outbox(
            &mut tx,
            conversation.id,
            &conversation.phone,
            &out.text,
            out.kind,
            Some(plan.audit.inbound_message_id),
        )
        .await?
        else {
            continue;
        };
        let payload = serde_json::json!({ "outbox_id": outbox_id }).to_string();
        jobs::enqueue_job(
            &mut tx,
            KIND_SEND,
            &payload,
            Some(&format!("send:{outbox_id}")),
            max_attempts,
        )
        .await?;
    }
    if let Some(first) = plan.escalation.first() {
        let mut details = plan.escalation_details.clone();
        details["reasons"] = serde_json::to_value(&plan.escalation)?;
        escalations::insert_escalation(
            &mut tx,
            conversation.id,
            Some(turn_id),
            first.code,
            &json_text(&details),
        )
        .await?;
    }
    if let Some(state) = plan.new_state
        && state != conversation.state
    {
        set_conversation_state(&mut tx, conversation.id, state).await?;
    }
    if !complete_job(&mut tx, job.id, job.attempts).await? {
        return Ok(Committed::AlreadyDone);
    }
    tx.commit().await?;
    Ok(Committed::Turn(turn_id))
}

/// Dead-letters a turn job: the message gets an escalation so a person answers it.
pub async fn bury_turn(
    db: &Db,
    job: &JobRow,
    conversation_id: Option<i64>,
    reason: &str,
) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    if let Some(conversation_id) = conversation_id {
        let details = json_text(&serde_json::json!({ "error": reason, "job_id": job.id }));
        escalations::insert_escalation(
            &mut tx,
            conversation_id,
            None,
            "processing_failed",
            &details,
        )
        .await?;
        set_conversation_state(&mut tx, conversation_id, ConversationState::Escalated).await?;
    }
    crate::store::jobs::bury_job(&mut tx, job.id, job.attempts, reason).await?;
    tx.commit().await
}
