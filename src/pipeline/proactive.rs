//! Proactive texts (not replies): queued through the outbox like every text; the sender
//! applies consent, quiet hours and frequency caps when each one is due.

use crate::domain::Phone;
use crate::jobs::KIND_SEND;
use crate::store::conversations;
use crate::store::{Db, crm, jobs, outbox};

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
    let outbox_id = outbox::insert_proactive(&mut tx, conversation_id, phone, &text.body, &text.subject).await?;
    let payload = serde_json::json!({ "outbox_id": outbox_id }).to_string();
    jobs::enqueue_job(&mut tx, KIND_SEND, &payload, Some(&format!("send:{outbox_id}")), max_attempts).await?;
    tx.commit().await?;
    Ok(outbox_id)
}
