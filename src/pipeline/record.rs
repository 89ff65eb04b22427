//! Committing a turn's plan: the audit row, outbound texts (outbox rows and their send
//! jobs), the escalation, the conversation's owner and the job's completion — one
//! transaction, so a crash leaves either all of it or none of it.

use crate::domain::{ConsentKind, EscalationReason, OutboxKind, TurnDecision};
use crate::sms::outbound::{self, OutboundText};
use crate::store::commerce::{self, NewEvent};
use crate::store::consent::{self, NewConsentEvent};
use crate::store::conversations::{self, Conversation, ConversationState};
use crate::store::jobs::{JobRow, complete_job};
use crate::store::{Db, Tx, escalations, flows, json_text, turns};

use super::TurnPlan;
use super::flow_reply::FlowChoice;

/// What committing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The turn was recorded with this id.
    Turn(i64),
    /// Another attempt recorded this message's turn first, or our lease expired: nothing written.
    AlreadyDone,
}

/// Writes the plan and completes `job` atomically.
///
/// The conversation's owner is read again inside the transaction: if another turn of the
/// same thread escalated it while this one was generating, this turn's bot reply is dropped
/// (the person owns the thread now) and the turn is recorded as `human_owned`.
pub async fn commit_turn(
    db: &Db,
    job: &JobRow,
    conversation: &Conversation,
    mut plan: TurnPlan,
    max_attempts: i32,
) -> anyhow::Result<(Committed, TurnPlan)> {
    let mut tx = db.begin().await?;
    let owner = conversations::state_in_tx(&mut tx, conversation.id).await?;
    if owner == ConversationState::Escalated
        && plan.new_state.is_none()
        && plan.outbound.iter().any(|o| o.kind == OutboxKind::Reply)
    {
        plan.outbound.retain(|o| o.kind != OutboxKind::Reply);
        plan.audit.decision = TurnDecision::HumanOwned;
    }
    // A text that arrives while a person owns the thread attaches to its open escalation.
    if plan.audit.decision == TurnDecision::HumanOwned {
        plan.audit.escalation_id = escalations::open_escalation_in_tx(&mut tx, conversation.id).await?;
    }
    let Some(turn_id) = turns::insert_turn(&mut tx, &plan.audit).await? else {
        // Another attempt recorded this turn first; finish the job without writing anything else.
        complete_job(&mut tx, job.id, job.attempts).await?;
        tx.commit().await?;
        return Ok((Committed::AlreadyDone, plan));
    };
    for out in &plan.outbound {
        let text = OutboundText {
            conversation_id: conversation.id,
            to_phone: &conversation.phone,
            body: &out.text,
            kind: out.kind,
            subject: None,
            in_reply_to: Some(plan.audit.inbound_message_id),
            flow_run_id: None,
            class: None,
            send_by: None,
            media_url: out.media_url.as_deref(),
        };
        // `None`: an earlier attempt queued this text already.
        outbound::queue_text(&mut tx, &text, max_attempts).await?;
    }
    if let Some(first) = plan.escalation.first() {
        let mut details = plan.escalation_details.clone();
        details["reasons"] = serde_json::to_value(&plan.escalation)?;
        escalations::insert_escalation(&mut tx, conversation.id, Some(turn_id), first.code, &json_text(&details))
            .await?;
    }
    if let Some(choice) = &plan.flow_choice {
        record_choice(&mut tx, choice, plan.audit.inbound_message_id).await?;
    }
    if let Some(state) = plan.new_state
        && state != owner
    {
        conversations::set_conversation_state(&mut tx, conversation.id, state).await?;
    }
    if !complete_job(&mut tx, job.id, job.attempts).await? {
        // Our lease expired and another attempt owns the job: drop our writes.
        return Ok((Committed::AlreadyDone, plan));
    }
    tx.commit().await?;
    if !plan.escalation.is_empty() || plan.audit.escalation_id.is_some() {
        escalations::announce_change();
    }
    Ok((Committed::Turn(turn_id), plan))
}

/// A choice from a flow's menu: the menu closes (a later "1" is a new question) and the
/// choice's event is stored for the customer, with the trigger's properties, where it may
/// start or end flows ("Appointment Confirmed").
async fn record_choice(tx: &mut Tx, choice: &FlowChoice, message_id: i64) -> anyhow::Result<()> {
    flows::close_menu(tx, choice.run_id).await?;
    if choice.opt_in {
        // Double opt-in: the reply is the consent, kept with the message that gave it (CTIA
        // Messaging Principles 5.1; TCPA prior express written consent, 47 CFR 64.1200(f)(9)).
        let phone = crate::domain::Phone::parse(&choice.phone).map_err(|e| anyhow::anyhow!("flow run phone: {e}"))?;
        let evidence = format!("replied {:?} to {}'s confirmation request", choice.pattern, choice.flow);
        let event = NewConsentEvent {
            phone: &phone,
            kind: ConsentKind::OptIn,
            source: "double_opt_in",
            evidence_message_id: Some(message_id),
            evidence_text: Some(&evidence),
            scope: "all",
        };
        consent::insert_consent_event(tx, &event).await?;
    }
    if let Some(name) = &choice.event {
        let mut properties = choice.properties.clone();
        if let Some(map) = properties.as_object_mut() {
            map.insert("flow".into(), choice.flow.clone().into());
            map.insert("choice".into(), choice.pattern.clone().into());
        }
        let event_id = format!("flow:{}:{message_id}", choice.run_id);
        let event = NewEvent {
            event_id: &event_id,
            name,
            source: "flow",
            customer_id: choice.customer_id,
            phone: Some(&choice.phone),
            email: None,
            properties: &json_text(&properties),
            occurred_at: chrono::Utc::now(),
        };
        commerce::insert_event(tx, &event).await?;
    }
    Ok(())
}

/// Dead-letters a turn job: the message gets an escalation so a person answers it.
pub async fn bury_turn(db: &Db, job: &JobRow, conversation_id: Option<i64>, reason: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    if !crate::store::jobs::bury_job(&mut tx, job.id, job.attempts, reason).await? {
        // Another attempt owns the job now; it decides.
        return Ok(());
    }
    if let Some(conversation_id) = conversation_id {
        let details = json_text(&serde_json::json!({ "error": reason, "job_id": job.id }));
        escalations::insert_escalation(&mut tx, conversation_id, None, EscalationReason::ProcessingFailed, &details)
            .await?;
        conversations::set_conversation_state(&mut tx, conversation_id, ConversationState::Escalated).await?;
    }
    tx.commit().await?;
    escalations::announce_change();
    Ok(())
}
