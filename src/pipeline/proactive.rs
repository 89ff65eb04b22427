//! Texts that are not the bot's replies: proactive texts, for which the sender applies
//! consent, quiet hours and frequency caps when each one is due, and a reviewer's replies
//! in an escalated conversation (consent only). Both go through the one outbound path
//! (`sms::outbound`) like every text.

use crate::domain::Phone;
use crate::sms::outbound::{OutboundText, queue_text};
use crate::sms::sender::PROACTIVE;
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
    let phone = text.to.as_str();
    let mut tx = db.begin().await?;
    let customer_id = crm::ensure_customer(&mut tx, phone).await?;
    let conversation_id = conversations::ensure_conversation(&mut tx, phone, customer_id).await?;
    let outbound = OutboundText {
        conversation_id,
        to_phone: phone,
        body: &text.body,
        kind: PROACTIVE,
        subject: Some(&text.subject),
        in_reply_to: None,
    };
    let outbox_id = queue_text(&mut tx, &outbound, max_attempts)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the text was not queued"))?;
    tx.commit().await?;
    Ok(outbox_id)
}

/// Outbox kind of a reviewer's reply in an escalated conversation: a conversational reply
/// (consent is re-checked at send time; quiet hours are for proactive texts only).
pub const REVIEWER_REPLY: &str = "reviewer_reply";

/// Queues a reviewer's reply to the customer of `conversation_id` and its send job, in one
/// transaction; returns the outbox id.
pub async fn queue_reviewer_reply(
    db: &Db,
    conversation_id: i64,
    phone: &str,
    body: &str,
    max_attempts: i32,
) -> anyhow::Result<i64> {
    let mut tx = db.begin().await?;
    let outbound =
        OutboundText { conversation_id, to_phone: phone, body, kind: REVIEWER_REPLY, subject: None, in_reply_to: None };
    let outbox_id = queue_text(&mut tx, &outbound, max_attempts)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the reply was not queued"))?;
    tx.commit().await?;
    Ok(outbox_id)
}
