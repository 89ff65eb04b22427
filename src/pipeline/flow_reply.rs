//! A reply to a flow's text: the flow's context, stored with the conversation when the text
//! went (`store::flows`), reaches the turn as data. A reply that chooses from the text's menu
//! ("1" confirms, "2" reschedules) is answered from the menu; one that looks like a choice but
//! is none gets the menu again; anything else goes through the whole turn, with the cart's
//! items or the order in the dialogue state, so "is it true to size?" is about the cart's item.

use chrono::Duration;
use serde_json::json;

use super::stages::plan;
use super::{Deps, Outbound, TurnPlan};
use crate::config::BrandConfig;
use crate::domain::dialogue::DialogueState;
use crate::domain::flow::{Menu, MenuReading, RunContext};
use crate::domain::{EscalationReason, OutboxKind, TurnDecision};
use crate::escalation::Reason;
use crate::store::conversations::{Conversation, ConversationState, MessageRow};
use crate::store::flows;

/// How long after a flow's text a reply still answers it.
const REPLY_WINDOW_DAYS: i64 = 7;

/// The flow a reply answers.
#[derive(Debug, Clone)]
pub struct FlowThread {
    pub run_id: i64,
    pub flow: String,
    pub customer_id: Option<i64>,
    pub phone: String,
    pub context: RunContext,
    /// The open menu of the flow's latest text.
    pub menu: Option<Menu>,
    /// True for the first text the customer sends after the flow's.
    pub first_reply: bool,
}

/// A menu choice to record with the turn: the menu closes, and the choice's event is stored
/// (where it may start or end flows).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowChoice {
    pub run_id: i64,
    pub flow: String,
    /// What the customer chose (normalised).
    pub pattern: String,
    pub event: Option<String>,
    /// The reply confirms an opt-in: an `opt_in` in the consent ledger.
    pub opt_in: bool,
    /// The trigger event's properties, carried into the choice's event (the appointment's id).
    pub properties: serde_json::Value,
    pub customer_id: Option<i64>,
    pub phone: String,
}

/// The flow whose text this message answers, if one went to the conversation within
/// [`REPLY_WINDOW_DAYS`].
pub async fn load(
    deps: &Deps,
    message: &MessageRow,
    conversation: &Conversation,
) -> anyhow::Result<Option<FlowThread>> {
    let Some((run, sent_at)) = flows::conversation_flow(&deps.db, conversation.id).await? else { return Ok(None) };
    if deps.clock.now() - sent_at > Duration::days(REPLY_WINDOW_DAYS) {
        return Ok(None);
    }
    let first_reply = !flows::replied_since(&deps.db, conversation.id, sent_at, message.id).await?;
    Ok(Some(FlowThread {
        run_id: run.id,
        flow: run.flow,
        customer_id: run.customer_id,
        phone: run.phone,
        context: serde_json::from_str(&run.context).unwrap_or_default(),
        menu: run.menu.as_deref().and_then(|m| serde_json::from_str(m).ok()),
        first_reply,
    }))
}

/// The plan for a reply that chooses from the flow's menu, or looks like a choice and is
/// none; `None` for anything else.
pub fn menu(flow: &FlowThread, message: &MessageRow, brand: &BrandConfig) -> Option<TurnPlan> {
    let menu = flow.menu.as_ref()?;
    match menu.read(&message.body) {
        MenuReading::Chose(choice) => {
            let mut outbound: Vec<Outbound> =
                choice.text.iter().map(|t| Outbound::text(OutboxKind::Reply, t.clone())).collect();
            if choice.opt_in {
                // CTIA: a confirmed opt-in is answered with the program's disclosures.
                let text = brand.opt_in_confirmation.clone();
                outbound.push(Outbound::text(OutboxKind::OptInConfirmation, text));
            }
            let decision = if choice.handoff { TurnDecision::Escalate } else { TurnDecision::Reply };
            let mut p = plan(message, decision, "flow_menu", outbound);
            p.audit.reply = choice.text.clone();
            if choice.handoff {
                p.escalation = vec![Reason {
                    code: EscalationReason::ActionRequested,
                    detail: format!("chose {:?} from {}'s menu", choice.pattern, flow.flow),
                }];
                p.escalation_details = json!({ "flow": flow.flow, "choice": choice.pattern, "context": flow.context });
                p.new_state = Some(ConversationState::Escalated);
            }
            p.flow_choice = Some(FlowChoice {
                run_id: flow.run_id,
                flow: flow.flow.clone(),
                pattern: choice.pattern.clone(),
                event: choice.event.clone(),
                opt_in: choice.opt_in,
                properties: flow.context.event.properties.clone(),
                customer_id: flow.customer_id,
                phone: flow.phone.clone(),
            });
            Some(p)
        }
        MenuReading::Unrecognised => {
            let mut p = plan(
                message,
                TurnDecision::Reply,
                "flow_menu_again",
                vec![Outbound::text(OutboxKind::Reply, menu.text.clone())],
            );
            p.audit.reply = Some(menu.text.clone());
            Some(p)
        }
        MenuReading::Other => None,
    }
}

/// The dialogue state the first reply to a flow's text starts from (`None` after that: the
/// thread's own state carries on).
pub fn seed(flow: &FlowThread) -> Option<DialogueState> {
    let state = flow.context.dialogue();
    (flow.first_reply && (!state.focus.is_empty() || state.order.is_some())).then_some(state)
}
