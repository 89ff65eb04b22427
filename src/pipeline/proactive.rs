//! Proactive texts: the brand starts the conversation. The sender applies consent, quiet
//! hours and frequency caps when each one is due; they go through the one outbound path
//! (`sms::outbound`) like every text.

use crate::domain::OutboxKind;
use crate::domain::Phone;
use crate::sms::outbound::{OutboundText, queue_text};
use crate::store::conversations;
use crate::store::{Db, crm};

/// A proactive text to queue.
#[derive(Debug, Clone)]
pub struct ProactiveText {
    pub to: Phone,
    pub body: String,
    /// What it is about (`cart`, `welcome`, ...): frequency caps count per subject.
    pub subject: String,
}

/// Queues the text and its send job in one transaction; returns the outbox id.
pub async fn queue(db: &Db, text: &ProactiveText, max_attempts: i32) -> anyhow::Result<i64> {
    let phone = &text.to;
    let mut tx = db.begin().await?;
    let customer_id = crm::ensure_customer(&mut tx, phone).await?;
    let conversation_id = conversations::ensure_conversation(&mut tx, phone, customer_id).await?;
    let outbound = OutboundText {
        conversation_id,
        to_phone: phone,
        body: &text.body,
        kind: OutboxKind::Proactive,
        subject: Some(&text.subject),
        in_reply_to: None,
        flow_run_id: None,
        class: None,
        send_by: None,
        media_url: None,
    };
    let outbox_id = queue_text(&mut tx, &outbound, max_attempts)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the text was not queued"))?;
    tx.commit().await?;
    Ok(outbox_id)
}
