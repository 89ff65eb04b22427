//! The outbox: every outbound text is a row before it is a provider call.
//!
//! Status flow: `pending` → `sending` (committed before the provider call) → `sent` →
//! `delivered`/`failed` (status callbacks). `suppressed`: consent was withdrawn before
//! sending. `unknown`: a worker died between `sending` and recording the result, so nobody
//! knows whether the provider got it; it is never resent automatically (a reviewer decides).

use chrono::{DateTime, Utc};

use super::{Db, Tx, with_db, with_tx};

/// An outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub conversation_id: i64,
    pub to_phone: String,
    pub body: String,
    pub kind: String,
    pub in_reply_to: Option<i64>,
    pub status: String,
    pub provider_sid: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Adds an outbound text. `(in_reply_to, kind)` is unique, so one inbound message can never
/// produce two replies of the same kind. Returns `None` when that row already exists.
pub async fn insert_outbox(
    tx: &mut Tx,
    conversation_id: i64,
    to_phone: &str,
    body: &str,
    kind: &str,
    in_reply_to: Option<i64>,
) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into outbox (conversation_id, to_phone, body, kind, in_reply_to, status, created_at)
         values ($1, $2, $3, $4, $5, 'pending', $6)
         on conflict (in_reply_to, kind) do nothing
         returning id"
    )
    .bind(conversation_id)
    .bind(to_phone)
    .bind(body)
    .bind(kind)
    .bind(in_reply_to)
    .bind(Utc::now())
    .fetch_optional(conn)
    .await
    })?;
    Ok(id)
}

/// One outbox row.
pub async fn outbox_row(db: &Db, id: i64) -> anyhow::Result<OutboxRow> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, OutboxRow>(
        "select id, conversation_id, to_phone, body, kind, in_reply_to, status, provider_sid, error, created_at
         from outbox where id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await
    })?;
    Ok(row)
}

/// Moves a row from `from` to `to` status; false when it was not in `from` (someone else moved it).
pub async fn transition(
    db: &Db,
    id: i64,
    from: &str,
    to: &str,
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let r = with_db!(db, |p| {
        sqlx::query(
        "update outbox set status = $1, error = coalesce($2, error) where id = $3 and status = $4"
    )
    .bind(to)
    .bind(error)
    .bind(id)
    .bind(from)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(r == 1)
}

/// Same as [`transition`], inside a transaction.
pub async fn transition_in_tx(
    tx: &mut Tx,
    id: i64,
    from: &str,
    to: &str,
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let r = with_tx!(tx, |conn| {
        sqlx::query(
        "update outbox set status = $1, error = coalesce($2, error) where id = $3 and status = $4"
    )
    .bind(to)
    .bind(error)
    .bind(id)
    .bind(from)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(r == 1)
}

/// Records the provider's acceptance of a row that was `sending`.
pub async fn mark_sent(tx: &mut Tx, id: i64, provider_sid: &str) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query(
        "update outbox set status = 'sent', provider_sid = $1, sent_at = $2 where id = $3"
    )
    .bind(provider_sid)
    .bind(Utc::now())
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Applies a delivery status callback; returns the conversation id when the row is known.
pub async fn record_delivery_status(
    db: &Db,
    provider_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> anyhow::Result<Option<i64>> {
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, |conn| {
        sqlx::query(
        "insert into delivery_events (provider_sid, status, error_code, created_at) values ($1, $2, $3, $4)"
    )
    .bind(provider_sid)
    .bind(status)
    .bind(error_code)
    .bind(Utc::now())
    .execute(conn)
    .await.map(|r| r.rows_affected())
    })?;
    // Only terminal outcomes change the row; `sent`/`queued` callbacks may arrive late.
    let mapped = match status {
        "delivered" | "read" => Some("delivered"),
        "failed" | "undelivered" | "canceled" => Some("failed"),
        _ => None,
    };
    let conversation = match mapped {
        Some(new_status) => with_tx!(&mut tx, |conn| {
            sqlx::query_scalar::<_, i64>(
            "update outbox set status = $1, error = coalesce($2, error) where provider_sid = $3 returning conversation_id"
        )
        .bind(new_status)
        .bind(error_code)
        .bind(provider_sid)
        .fetch_optional(conn)
        .await
        })?,
        None => with_db!(db, |p| sqlx::query_scalar::<_, i64>(
            "select conversation_id from outbox where provider_sid = $1"
        )
        .bind(provider_sid)
        .fetch_optional(p)
        .await)?,
    };
    tx.commit().await?;
    Ok(conversation)
}

/// All outbox rows for a phone, oldest first (tests, console).
pub async fn outbox_for_phone(db: &Db, phone: &str) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, OutboxRow>(
        "select id, conversation_id, to_phone, body, kind, in_reply_to, status, provider_sid, error, created_at
         from outbox where to_phone = $1 order by id"
    )
    .bind(phone)
    .fetch_all(p)
    .await
    })?;
    Ok(rows)
}

/// All outbox rows answering one inbound message.
pub async fn outbox_for_message(db: &Db, message_id: i64) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, OutboxRow>(
        "select id, conversation_id, to_phone, body, kind, in_reply_to, status, provider_sid, error, created_at
         from outbox where in_reply_to = $1 order by id"
    )
    .bind(message_id)
    .fetch_all(p)
    .await
    })?;
    Ok(rows)
}
