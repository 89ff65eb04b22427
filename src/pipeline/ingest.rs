//! Storing an inbound text: one transaction that writes the message, any consent change its
//! keyword makes, and the turn job, so an acknowledged text is never lost and a provider
//! retry (same message id) changes nothing.

use crate::compliance::{self, Assessment, Intent};
use crate::domain::{ConsentKind, Phone, WebhookEvent};
use crate::jobs::KIND_TURN;
use crate::store::ingest::{self as ingest_sql, BatchText, Opened};
use crate::store::webhook_events::{self, Event};
use crate::store::{Db, consent, conversations, now_ms};
use tokio::sync::{mpsc, oneshot};

/// An inbound text, validated at the edge.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The provider's message id (Twilio `MessageSid`).
    pub provider_sid: String,
    pub from: Phone,
    /// Our number (or channel address) it was sent to.
    pub to: String,
    pub body: String,
    /// The pictures and clips of an MMS (kept with the message).
    pub media: Vec<crate::domain::media::Media>,
}

/// The payload of a turn job: the message, the consent state the webhook saw and what the
/// compliance check made of the text, so the turn judges the message by the consent in force
/// when it arrived (a STOP that arrives a moment later does not turn an earlier "yes" into an
/// opt-in) and acts on the same assessment that recorded its consent change.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TurnJob {
    pub message_id: i64,
    /// The latest consent event's kind before this message (`opt_in`, `opt_out`, none).
    #[serde(default)]
    pub consent_before: Option<ConsentKind>,
    /// The consent event this message caused, if any.
    #[serde(default)]
    pub consent_change: Option<ConsentKind>,
    /// The compliance assessment made at ingest. `None` only in a job queued before ingest
    /// carried it (a database from an older version); the turn then assesses the text itself.
    #[serde(default)]
    pub assessment: Option<Assessment>,
    /// The text came with a picture (an MMS): known at ingest, so the turn needs no query for
    /// it. A job queued by a version without it reads false.
    #[serde(default)]
    pub picture: bool,
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
    let text = Assessed::new(inbound.clone());
    let mut results = ingest_batch(db, std::slice::from_ref(&text), max_attempts).await?;
    Ok(results.remove(0))
}

/// An inbound text with its compliance assessment made as if the sender had not opted out,
/// which is what nearly every text needs. The webhook's own task makes it, so the batcher,
/// which stores one batch at a time, does not; a text from an opted-out number is assessed
/// again inside the batch, where its consent is known.
#[derive(Debug, Clone)]
pub struct Assessed {
    pub inbound: Inbound,
    pub assessment: Assessment,
}

impl Assessed {
    pub fn new(inbound: Inbound) -> Assessed {
        let assessment = compliance::assess(&inbound.body, false);
        Assessed { inbound, assessment }
    }
}

/// Stores several texts in one transaction (group commit): one result per text, in order.
/// All or nothing: on error, none of them is stored. One statement per table serves the whole
/// batch (store::ingest); only a consent change, a picture or a subscribed outbound webhook
/// adds statements for its own text.
pub async fn ingest_batch(db: &Db, batch: &[Assessed], max_attempts: i32) -> anyhow::Result<Vec<Ingested>> {
    let now = chrono::Utc::now();
    let texts: Vec<BatchText> = batch
        .iter()
        .map(|text| BatchText {
            provider_sid: &text.inbound.provider_sid,
            from: &text.inbound.from,
            to: &text.inbound.to,
            body: &text.inbound.body,
        })
        .collect();
    let (mut tx, opened) = ingest_sql::open_batch(db, &texts, WebhookEvent::MessageReceived, now).await?;
    let Opened { conversations, messages: mut new_ids, mut consents, subscribers } = opened;
    let mut results = Vec::with_capacity(batch.len());
    let mut turns = Vec::with_capacity(batch.len());
    for text in batch {
        let inbound = &text.inbound;
        // Removed, so a message id repeated within the batch is a duplicate the second time.
        let Some(message_id) = new_ids.remove(&inbound.provider_sid) else {
            results.push(Ingested::Duplicate);
            continue;
        };
        let phone = &inbound.from;
        conversations::insert_media(&mut tx, message_id, &inbound.media).await?;
        if !subscribers.is_empty() {
            // Read only then (store::ingest): nothing else here needs the conversation.
            let conversation_id = conversations[phone.as_str()];
            let received =
                Event::MessageReceived { message_id, conversation_id, phone, to: &inbound.to, body: &inbound.body };
            webhook_events::emit_to(&mut tx, received, &subscribers).await?;
        }
        // The consent in force when this text arrived: an earlier text of the same batch may
        // have changed it.
        let current = consents.get(phone.as_str()).copied();
        let opted_out = current == Some(ConsentKind::OptOut);
        // The one classification of this text: it decides the consent change below, and the
        // turn job carries it to the worker's compliance gate.
        let assessment = if opted_out { compliance::assess(&inbound.body, true) } else { text.assessment.clone() };
        // Consent changes take effect here, before the webhook answers. A possible opt-out
        // puts the number on hold (nothing proactive) until a person decides.
        let change = match assessment.intent {
            Intent::OptOut if !opted_out => Some(ConsentKind::OptOut),
            Intent::OptIn if current != Some(ConsentKind::OptIn) => Some(ConsentKind::OptIn),
            Intent::PossibleOptOut if !opted_out => Some(ConsentKind::Hold),
            _ => None,
        };
        if let Some(kind) = change {
            let event = consent::NewConsentEvent {
                phone,
                kind,
                source: assessment.source,
                evidence_message_id: Some(message_id),
                evidence_text: Some(&inbound.body),
                scope: "all",
            };
            consent::insert_consent_event(&mut tx, &event).await?;
            consents.insert(phone.as_str().to_string(), kind);
        }
        let picture = inbound.media.iter().any(|m| m.is_image());
        let job = TurnJob {
            message_id,
            consent_before: current,
            consent_change: change,
            assessment: Some(assessment),
            picture,
        };
        turns.push((format!("turn:{message_id}"), serde_json::to_string(&job)?));
        results.push(Ingested::New(message_id));
    }
    ingest_sql::close_batch(tx, KIND_TURN, &turns, max_attempts, now_ms(), now).await?;
    Ok(results)
}

/// One text waiting for the batcher, with the channel its webhook waits on.
type Pending = (Assessed, oneshot::Sender<Result<Ingested, String>>);

/// Group commit for the webhook: concurrent webhooks hand their texts to one task, which
/// stores everything waiting in one transaction and then answers each. At low load a batch
/// is one text (no added wait); under load, one commit serves many webhooks, which is what
/// lets a single SQLite writer keep up. Every webhook still answers only after its text is
/// committed.
#[derive(Clone)]
pub struct IngestBatcher {
    sender: mpsc::Sender<Pending>,
}

/// Most texts stored in one transaction.
const MAX_BATCH: usize = 128;

/// Stores everything waiting in one transaction, then answers each webhook, until every
/// handle is dropped.
///
/// On SQLite this runs on a thread of its own with a single-threaded runtime: a commit is a
/// chain of round trips to the write connection's thread (two, store::ingest), and on the
/// server's runtime each answer waited for a runtime thread to come back to the shared queue,
/// behind the webhooks and the turns it was busy with.
async fn store_batches(db: Db, mut receiver: mpsc::Receiver<Pending>, max_attempts: i32) {
    while let Some(first) = receiver.recv().await {
        let mut pending = vec![first];
        while pending.len() < MAX_BATCH {
            let Ok(next) = receiver.try_recv() else { break };
            pending.push(next);
        }
        // The texts and their answer channels apart, so the texts are not copied.
        let (batch, replies): (Vec<Assessed>, Vec<_>) = pending.into_iter().unzip();
        match ingest_batch(&db, &batch, max_attempts).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad text must not fail the others: store them one by one.
            Err(_) => {
                for (text, reply) in batch.iter().zip(replies) {
                    let result = ingest_batch(&db, std::slice::from_ref(text), max_attempts)
                        .await
                        .map(|mut one| one.remove(0))
                        .map_err(|e| format!("{e:#}"));
                    let _ = reply.send(result);
                }
            }
        }
    }
}

impl IngestBatcher {
    /// Starts the batching task; it ends when every handle is dropped. On SQLite it runs on a
    /// thread of its own (see [`store_batches`]); on PostgreSQL, whose connections belong to
    /// the runtime that opened them, on the caller's runtime.
    pub fn spawn(db: Db, max_attempts: i32) -> std::io::Result<IngestBatcher> {
        let (sender, receiver) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        if matches!(db, Db::Postgres(_)) {
            tokio::spawn(store_batches(db, receiver, max_attempts));
            return Ok(IngestBatcher { sender });
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
        std::thread::Builder::new()
            .name("backtalk-ingest".into())
            .spawn(move || runtime.block_on(store_batches(db, receiver, max_attempts)))?;
        Ok(IngestBatcher { sender })
    }

    /// Stores one text; returns once it is committed. Its compliance assessment is made
    /// here, in the caller's task (see [`Assessed`]).
    pub async fn submit(&self, inbound: Inbound) -> anyhow::Result<Ingested> {
        let text = Assessed::new(inbound);
        let (reply, answer) = oneshot::channel();
        self.sender.send((text, reply)).await.map_err(|_| anyhow::anyhow!("ingest task stopped"))?;
        answer.await.map_err(|_| anyhow::anyhow!("ingest task stopped"))?.map_err(|e| anyhow::anyhow!(e))
    }
}
