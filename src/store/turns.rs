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
                            prompt_tokens, completion_tokens, draft, reply, guard, confidence, sentiment, stage_ms, error, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
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

/// Counts turns (tests, metrics).
pub async fn count_turns(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from turns").fetch_one(p).await)?;
    Ok(n)
}
