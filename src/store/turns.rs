//! The turn audit: one row per pipeline run.

use chrono::Utc;

use super::{Db, Tx, with_db, with_tx};

/// Everything recorded about one turn.
#[derive(Debug, Clone, Default)]
pub struct NewTurn {
    pub inbound_message_id: i64,
    pub conversation_id: i64,
    pub decision: String,
    pub intent: String,
    /// JSON: retrieved product skus and policy ids with scores.
    pub retrieved: String,
    pub prompt_version: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub draft: Option<String>,
    pub reply: Option<String>,
    /// JSON: guard verdict and findings.
    pub guard: String,
    pub confidence: f64,
    pub sentiment: f64,
    /// JSON: milliseconds per stage.
    pub stage_ms: String,
    pub error: Option<String>,
    /// JSON: what went into the scores (confidence factors, intent, sentiment trend).
    pub scores: String,
    /// The open escalation a text that arrived while a person owned the thread attaches to.
    pub escalation_id: Option<i64>,
}

/// A stored turn, as read back (tests, console).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TurnRow {
    pub id: i64,
    pub inbound_message_id: i64,
    pub decision: String,
    pub intent: String,
    pub retrieved: String,
    pub prompt_version: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub draft: Option<String>,
    pub reply: Option<String>,
    pub guard: String,
    pub confidence: f64,
    pub sentiment: f64,
    pub stage_ms: String,
    pub error: Option<String>,
}

/// Inserts the turn; `None` when this inbound message already has one (another attempt
/// finished first), in which case the caller rolls back.
pub async fn insert_turn(tx: &mut Tx, t: &NewTurn) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into turns (inbound_message_id, conversation_id, decision, intent, retrieved, prompt_version, model,
                            prompt_tokens, completion_tokens, draft, reply, guard, confidence, sentiment, stage_ms, error, created_at,
                            scores, escalation_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         on conflict (inbound_message_id) do nothing
         returning id"
    )
    .bind(t.inbound_message_id)
    .bind(t.conversation_id)
    .bind(&t.decision)
    .bind(&t.intent)
    .bind(&t.retrieved)
    .bind(&t.prompt_version)
    .bind(&t.model)
    .bind(t.prompt_tokens)
    .bind(t.completion_tokens)
    .bind(&t.draft)
    .bind(&t.reply)
    .bind(&t.guard)
    .bind(t.confidence)
    .bind(t.sentiment)
    .bind(&t.stage_ms)
    .bind(&t.error)
    .bind(Utc::now())
    .bind(if t.scores.is_empty() { "{}" } else { t.scores.as_str() })
    .bind(t.escalation_id)
    .fetch_optional(conn)
    .await
    })?;
    Ok(id)
}

/// The turn for an inbound message, if it ran.
pub async fn turn_for_message(db: &Db, message_id: i64) -> anyhow::Result<Option<TurnRow>> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, TurnRow>(
            "select id, inbound_message_id, decision, intent, retrieved, prompt_version, model, prompt_tokens,
                completion_tokens, draft, reply, guard, confidence, sentiment, stage_ms, error
         from turns where inbound_message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(p)
        .await
    })?;
    Ok(row)
}

/// An earlier turn of a thread, as the scores need it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PastTurn {
    /// `reply` or `escalate`.
    pub decision: String,
    pub confidence: f64,
}

/// The thread's latest turns in which the bot drafted a reply (`reply` or `escalate`
/// decisions; not compliance texts or turns a person owned), before `before_message_id`,
/// newest first.
pub async fn recent_bot_turns(
    db: &Db,
    conversation_id: i64,
    before_message_id: i64,
    limit: i64,
) -> anyhow::Result<Vec<PastTurn>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, PastTurn>(
            "select decision, confidence from turns
             where conversation_id = $1 and inbound_message_id < $2 and decision in ('reply', 'escalate')
               and model <> ''
             order by inbound_message_id desc limit $3",
        )
        .bind(conversation_id)
        .bind(before_message_id)
        .bind(limit)
        .fetch_all(p)
        .await
    })?;
    Ok(rows)
}

/// Counts turns (tests, metrics).
pub async fn count_turns(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from turns").fetch_one(p).await)?;
    Ok(n)
}

/// A turn with everything the audit page shows ("why did it say that?").
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TurnAudit {
    pub id: i64,
    pub conversation_id: i64,
    pub inbound_message_id: i64,
    /// The customer's text the turn answered.
    pub inbound_body: String,
    pub decision: String,
    pub intent: String,
    /// JSON: retrieved products and policies with their scores, and what the budget cut.
    pub retrieved: String,
    pub prompt_version: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub draft: Option<String>,
    pub reply: Option<String>,
    /// JSON: the guard's verdict, findings and every claim it checked.
    pub guard: String,
    pub confidence: f64,
    pub sentiment: f64,
    /// JSON: milliseconds per stage.
    pub stage_ms: String,
    pub error: Option<String>,
    /// JSON: the confidence factors, intent and sentiment trend.
    pub scores: String,
    pub escalation_id: Option<i64>,
    pub created_at: chrono::DateTime<Utc>,
}

pub async fn turn_audit(db: &Db, id: i64) -> anyhow::Result<Option<TurnAudit>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, TurnAudit>(
        "select t.id, t.conversation_id, t.inbound_message_id, m.body as inbound_body, t.decision, t.intent,
                t.retrieved, t.prompt_version, t.model, t.prompt_tokens, t.completion_tokens, t.draft, t.reply,
                t.guard, t.confidence, t.sentiment, t.stage_ms, t.error, t.scores, t.escalation_id, t.created_at
         from turns t join messages m on m.id = t.inbound_message_id where t.id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// A turn as the thread view links it: the inbound message it answered.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TurnLink {
    pub id: i64,
    pub inbound_message_id: i64,
    pub decision: String,
    pub confidence: f64,
}

/// The turns of a conversation by the inbound message each answered (a thread's links to
/// the turn audit).
pub async fn turns_by_message(
    db: &Db,
    conversation_id: i64,
) -> anyhow::Result<std::collections::HashMap<i64, TurnLink>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, TurnLink>(
        "select id, inbound_message_id, decision, confidence from turns where conversation_id = $1"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(|t| (t.inbound_message_id, t)).collect())
}

/// An inbound text of a conversation with the turn that answered it (export).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportTurn {
    pub message_id: i64,
    pub body: String,
    pub decision: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
}

/// The conversation's inbound texts, oldest first, each with its turn's decision.
pub async fn export_turns(db: &Db, conversation_id: i64) -> anyhow::Result<Vec<ExportTurn>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, ExportTurn>(
        "select m.id as message_id, m.body, t.decision, m.created_at from messages m
         left join turns t on t.inbound_message_id = m.id
         where m.conversation_id = $1 and m.direction = 'in' order by m.id"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Conversations active since `since` (optionally only those ever escalated), oldest first.
pub async fn export_conversations(
    db: &Db,
    since: chrono::DateTime<Utc>,
    escalated_only: bool,
) -> anyhow::Result<Vec<(i64, String)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (i64, String)>(
        "select c.id, c.phone from conversations c where c.updated_at >= $1
           and (not $2 or exists (select 1 from escalations e where e.conversation_id = c.id))
         order by c.id"
    )
    .bind(since)
    .bind(escalated_only)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Texts sent in a conversation, oldest first: (kind, body, the inbound text answered,
/// when it was queued).
pub async fn export_sent(
    db: &Db,
    conversation_id: i64,
) -> anyhow::Result<Vec<(String, String, Option<i64>, chrono::DateTime<Utc>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, String, Option<i64>, chrono::DateTime<Utc>)>(
        "select kind, body, in_reply_to, created_at from outbox where conversation_id = $1
           and status in ('sent', 'delivered', 'pending', 'sending') order by id"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}
