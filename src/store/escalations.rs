//! Escalations: conversations handed to a person.

use chrono::Utc;

use super::{Db, Tx, with_db, with_tx};

/// An open or resolved escalation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EscalationRow {
    pub id: i64,
    pub conversation_id: i64,
    pub turn_id: Option<i64>,
    pub reason: String,
    pub details: String,
    pub status: String,
}

/// Opens an escalation. `details` is JSON (the failed claims, the draft, the error).
pub async fn insert_escalation(
    tx: &mut Tx,
    conversation_id: i64,
    turn_id: Option<i64>,
    reason: &str,
    details: &str,
) -> anyhow::Result<i64> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into escalations (conversation_id, turn_id, reason, details, status, created_at)
         values ($1, $2, $3, $4, 'open', $5) returning id",
        )
        .bind(conversation_id)
        .bind(turn_id)
        .bind(reason)
        .bind(details)
        .bind(Utc::now())
        .fetch_one(conn)
        .await
    })?;
    Ok(id)
}

/// Escalations of a conversation, oldest first.
pub async fn escalations_for_conversation(db: &Db, conversation_id: i64) -> anyhow::Result<Vec<EscalationRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, EscalationRow>(
        "select id, conversation_id, turn_id, reason, details, status from escalations
         where conversation_id = $1 order by id"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Counts open escalations (metrics, tests).
pub async fn count_open_escalations(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from escalations where status = 'open'")
        .fetch_one(p)
        .await)?;
    Ok(n)
}
