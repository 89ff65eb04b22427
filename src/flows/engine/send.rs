//! Queuing a step's text: rendered from its template (or as the writer wrote it), with its
//! reply menu, to the outbox with the flow's class, in the step's transaction.

use chrono::{DateTime, Utc};
use tracing::warn;

use super::Engine;
use crate::domain::flow::{Menu, MenuChoice, RunContext, normalise};
use crate::domain::{OutboxKind, Phone, duration};
use crate::flows::file::Flow;
use crate::sms::outbound::{OutboundText, queue_text_at};
use crate::store::flows::{self as runs, RunRow};
use crate::store::{Tx, conversations, crm};

/// A send or compose step's text as chosen for one run.
pub(super) struct Text<'a> {
    pub(super) body: Body<'a>,
    pub(super) replies: &'a [crate::flows::file::Reply],
    /// The A/B test and arm it is sent in.
    pub(super) ab: Option<(&'a str, &'a str)>,
}

/// Why a text is too late to send: `entry.send_within` has passed since the trigger.
pub(super) fn too_late(flow: &Flow, run: &RunRow, now: DateTime<Utc>) -> anyhow::Result<Option<String>> {
    match flow.send_within {
        Some(within) if now - run.started_at > chrono::Duration::from_std(within)? => {
            Ok(Some(format!("send window ended: not within {} of the trigger", duration::format(within))))
        }
        _ => Ok(None),
    }
}

/// A text to send: a step's template, or a compose step's written text.
pub(super) enum Body<'a> {
    Template(&'a str),
    Written(&'a str),
}

impl Engine {
    /// Queues the step's text; `Err(reason)` when there is nothing fit to send.
    pub(super) async fn send(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        run: &RunRow,
        context: &RunContext,
        text: Text<'_>,
    ) -> anyhow::Result<Result<(), String>> {
        let Text { body, replies, ab } = text;
        let phone = Phone::parse(&run.phone).map_err(|e| anyhow::anyhow!("flow run {}: {e}", run.id))?;
        let customer = crm::customer_by_phone(&self.db, &phone).await?;
        let name = customer.as_ref().and_then(|c| c.name.clone()).unwrap_or_default();
        let vars = minijinja::context! {
            customer => minijinja::context! {
                name => name.clone(),
                first_name => name.split_whitespace().next().unwrap_or_default(),
            },
            event => minijinja::Value::from(minijinja::value::Serde(&context.event)),
        };
        let env = minijinja::Environment::new();
        let render = |t: &str| -> Result<String, String> {
            let text = env.render_str(t, &vars).map_err(|e| format!("the text did not render: {e}"))?;
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() { Err("the text rendered empty".into()) } else { Ok(text) }
        };
        let body = match body {
            Body::Template(template) => match render(template) {
                Ok(body) => body,
                Err(reason) => {
                    warn!(run = run.id, flow = %flow.name, %reason, "flow text not sent");
                    return Ok(Err(reason));
                }
            },
            // A written text is never a template: what the model wrote is data.
            Body::Written(text) => text.to_string(),
        };
        let mut choices = Vec::new();
        for reply in replies {
            let text = match reply.text.as_deref().map(render).transpose() {
                Ok(text) => text,
                Err(reason) => return Ok(Err(format!("a reply's {reason}"))),
            };
            choices.push(MenuChoice {
                pattern: normalise(&reply.pattern),
                text,
                event: reply.event.clone(),
                handoff: reply.handoff,
                opt_in: reply.opt_in,
            });
        }
        let customer_id = match customer {
            Some(c) => c.id,
            None => crm::ensure_customer(tx, &phone).await?,
        };
        let conversation_id = conversations::ensure_conversation(tx, &phone, customer_id).await?;
        let text = OutboundText {
            conversation_id,
            to_phone: &phone,
            body: &body,
            kind: OutboxKind::Proactive,
            subject: Some(&flow.name),
            in_reply_to: None,
            flow_run_id: Some(run.id),
            class: Some(flow.class),
            send_by: flow.send_within.and_then(|w| chrono::Duration::from_std(w).ok()).map(|w| run.started_at + w),
            media_url: None,
        };
        let queued = queue_text_at(tx, &text, self.max_attempts, self.clock.queue_ms(self.clock.now())).await?;
        if let (Some(outbox_id), Some((test, arm))) = (queued, ab) {
            crate::store::ab::tag_outbox(tx, outbox_id, test, arm).await?;
        }
        let menu = (!choices.is_empty()).then(|| Menu { text: body.clone(), choices });
        runs::set_menu(tx, run.id, menu.as_ref().map(crate::store::json_text).as_deref()).await?;
        Ok(Ok(()))
    }
}
