//! Storing an inbound text: one transaction that writes the message, any consent change its
//! keyword makes, and the turn job, so an acknowledged text is never lost and a provider
//! retry (same message id) changes nothing.

use crate::compliance::{self, KeywordIntent};
use crate::domain::Phone;
use crate::jobs::KIND_TURN;
use crate::store::conversations::{self, NewInbound};
use crate::store::{Db, consent, crm, jobs};

/// An inbound text, validated at the edge.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The provider's message id (Twilio `MessageSid`).
    pub provider_sid: String,
    pub from: Phone,
    /// Our number (or channel address) it was sent to.
    pub to: String,
    pub body: String,
}

/// The payload of a turn job: the message, and the consent state the webhook saw, so the
/// turn judges the message by the consent in force when it arrived (a STOP that arrives a
/// moment later does not turn an earlier "yes" into an opt-in).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TurnJob {
    pub message_id: i64,
    /// The latest consent event's kind before this message (`opt_in`, `opt_out`, none).
    #[serde(default)]
    pub consent_before: Option<String>,
    /// The consent event this message caused, if any.
    #[serde(default)]
    pub consent_change: Option<String>,
}

/// What storing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// A new message, with its id; its turn is queued.
    New(i64),
    /// This message id was stored before; nothing was written.
    Duplicate,
}

/// Stores the message and queues its turn. An opt-out keyword takes effect here, before the
/// webhook answers (47 CFR 64.1200(a)(10) requires honouring it promptly; we do it at once).
pub async fn ingest(db: &Db, inbound: &Inbound, max_attempts: i32) -> anyhow::Result<Ingested> {
    let phone = inbound.from.as_str();
    let mut tx = db.begin().await?;
    let customer_id = crm::ensure_customer(&mut tx, phone).await?;
    let conversation_id = conversations::ensure_conversation(&mut tx, phone, customer_id).await?;
    let new = NewInbound {
        conversation_id,
        provider_sid: &inbound.provider_sid,
        from_phone: phone,
        to_phone: &inbound.to,
        body: &inbound.body,
    };
    let Some(message_id) = conversations::insert_inbound_message(&mut tx, &new).await? else {
        // Dropping the transaction rolls back the customer/conversation touch too.
        return Ok(Ingested::Duplicate);
    };
    let current = consent::latest_consent_in_tx(&mut tx, phone).await?;
    let opted_out = current.as_deref() == Some("opt_out");
    let change = match compliance::classify(&inbound.body, opted_out).intent {
        KeywordIntent::OptOut if !opted_out => Some("opt_out"),
        KeywordIntent::OptIn if current.as_deref() != Some("opt_in") => Some("opt_in"),
        _ => None,
    };
    if let Some(kind) = change {
        consent::insert_consent_event(
            &mut tx,
            &consent::NewConsentEvent {
                phone,
                kind,
                source: "keyword",
                evidence_message_id: Some(message_id),
                evidence_text: Some(&inbound.body),
                scope: "all",
            },
        )
        .await?;
    }
    let job = TurnJob { message_id, consent_before: current, consent_change: change.map(str::to_string) };
    let payload = serde_json::to_string(&job)?;
    jobs::enqueue_job(&mut tx, KIND_TURN, &payload, Some(&format!("turn:{message_id}")), max_attempts).await?;
    tx.commit().await?;
    Ok(Ingested::New(message_id))
}
