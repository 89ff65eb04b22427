//! The outbox: every outbound text is a row before it is a provider call.
//!
//! Status flow: `pending` → `sending` (committed before the provider call) → `sent` →
//! `delivered`/`failed` (delivery reports, `store::delivery`; `delivery_state` holds the
//! finer state of docs/delivery.md). `suppressed`: consent was withdrawn before
//! sending. `unknown`: a worker died between `sending` and recording the result, so nobody
//! knows whether the provider got it; it is never resent automatically (a reviewer decides).

use chrono::{DateTime, Utc};

use super::webhook_events::{self, Event, OutboxRef};
use super::{Db, Tx, with_db, with_db_write, with_tx};
use crate::domain::{OutboxKind, OutboxStatus, Phone, SendClass};

/// `select` of every [`OutboxRow`] column, followed by `$filter`.
macro_rules! select_outbox {
    ($filter:literal) => {
        concat!(
            "select id, conversation_id, to_phone, body, kind, subject, in_reply_to, status, provider_sid, error, created_at, flow_run_id, class, send_by, media_url, send_slot_ms from outbox ",
            $filter
        )
    };
}

/// An outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub conversation_id: i64,
    /// The recipient.
    pub to_phone: Phone,
    pub body: String,
    pub kind: OutboxKind,
    /// What a proactive text is about (caps count per subject).
    pub subject: Option<String>,
    /// The inbound message this answers.
    pub in_reply_to: Option<i64>,
    /// See the module docs for the status flow.
    pub status: OutboxStatus,
    /// The provider's message id once accepted.
    pub provider_sid: Option<String>,
    /// The last error, if any.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The flow run that sent it, if a flow did.
    pub flow_run_id: Option<i64>,
    /// Promotional or transactional, for a text the brand starts from a flow or campaign.
    pub class: Option<SendClass>,
    /// Sent by this time or not at all (a flow's `entry.send_within`).
    pub send_by: Option<DateTime<Utc>>,
    /// A picture to send with it as MMS, when the provider and number take one.
    pub media_url: Option<String>,
    /// The moment (ms) its sending number's pace gave it, once given one.
    pub send_slot_ms: Option<i64>,
}

/// An outbound text to add to the outbox (see `sms::outbound::queue_text`, which also
/// queues its send job).
#[derive(Debug, Clone, Copy)]
pub struct OutboundText<'a> {
    pub conversation_id: i64,
    /// The recipient.
    pub to_phone: &'a Phone,
    pub body: &'a str,
    /// What the text is.
    pub kind: OutboxKind,
    /// What a proactive text is about (frequency caps count per subject); `None` for replies.
    pub subject: Option<&'a str>,
    /// The inbound message this answers, if any.
    pub in_reply_to: Option<i64>,
    /// The flow run sending it, if a flow is.
    pub flow_run_id: Option<i64>,
    /// Promotional or transactional (a flow's or campaign's text); `None` for the rest.
    pub class: Option<SendClass>,
    /// Sent by this time or not at all (a flow's `entry.send_within`).
    pub send_by: Option<DateTime<Utc>>,
    /// A picture to send with it as MMS (a product's, when the customer asked to see it).
    pub media_url: Option<&'a str>,
}

/// Adds an outbound text. `(in_reply_to, kind)` is unique, so one inbound message can never
/// produce two texts of the same kind. Returns `None` when that row already exists (a text
/// that answers no inbound message never collides: nulls are distinct).
pub async fn insert_outbox(tx: &mut Tx, text: &OutboundText<'_>) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into outbox (conversation_id, to_phone, body, kind, subject, in_reply_to, status, created_at, flow_run_id, class, send_by, media_url)
         values ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $11)
         on conflict (in_reply_to, kind) do nothing
         returning id",
        )
        .bind(text.conversation_id)
        .bind(text.to_phone.as_str())
        .bind(text.body)
        .bind(text.kind.as_str())
        .bind(text.subject)
        .bind(text.in_reply_to)
        .bind(Utc::now())
        .bind(text.flow_run_id)
        .bind(text.class.map(SendClass::as_str))
        .bind(text.send_by)
        .bind(text.media_url)
        .fetch_optional(conn)
        .await
    })?;
    Ok(id)
}

/// One outbox row.
pub async fn outbox_row(db: &Db, id: i64) -> anyhow::Result<OutboxRow> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, OutboxRow>(select_outbox!("where id = $1")).bind(id).fetch_one(p).await
    })?;
    Ok(row)
}

/// The texts that answer inbound message `message_id`, in the order they were queued.
pub async fn outbox_for_message(db: &Db, message_id: i64) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, OutboxRow>(select_outbox!("where in_reply_to = $1 order by id"))
            .bind(message_id)
            .fetch_all(p)
            .await
    })?;
    Ok(rows)
}

/// When proactive texts went (or are going) to this phone, with their subjects, as seen by
/// outbox row `row_id`: sent ones, and earlier-queued ones still pending (counted as going
/// `now`), so two texts to one number checked at the same moment cannot both pass a cap.
pub async fn proactive_history(
    db: &Db,
    phone: &Phone,
    row_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(DateTime<Utc>, String)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (Option<DateTime<Utc>>, DateTime<Utc>, String)>(
        "select sent_at, created_at, subject from outbox
         where to_phone = $1 and kind = 'proactive' and subject is not null
           and (status in ('sending', 'sent', 'delivered', 'unknown') or (status = 'pending' and id < $2))"
    )
    .bind(phone.as_str())
    .bind(row_id)
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(|(sent, _created, subject)| (sent.unwrap_or(now), subject)).collect())
}

/// When the latest promotional text to this phone went out (or is going: one in `sending`,
/// or queued before row `row_id`), other than row `row_id`: what smart sending measures from.
pub async fn latest_promotional(
    db: &Db,
    phone: &Phone,
    row_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (Option<DateTime<Utc>>,)>(
        "select max(sent_at) from outbox
         where to_phone = $1 and class = 'promotional' and id <> $2 and status in ('sent', 'delivered', 'unknown')
         union all
         select case when count(*) > 0 then $3 end from outbox
         where to_phone = $1 and class = 'promotional'
           and (status = 'sending' or (status = 'pending' and id < $2))"
    )
    .bind(phone.as_str())
    .bind(row_id)
    .bind(now)
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().filter_map(|(at,)| at).max())
}

/// Moves a row from `from` to `to` status; false when it was not in `from` (someone else moved it).
pub async fn transition(
    db: &Db,
    id: i64,
    from: OutboxStatus,
    to: OutboxStatus,
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let moved = transition_in_tx(&mut tx, id, from, to, error).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Moves a `pending` row to `sending` only if its recipient may still receive it: the
/// consent check and the claim are one statement, so an opt-out committed in between cannot
/// slip through. An opted-out number gets only the opt-out confirmation (FCC 64.1200(a)(12)).
pub async fn start_sending(db: &Db, id: i64) -> anyhow::Result<bool> {
    let r = with_db_write!(db, |p| {
        sqlx::query(
            "update outbox set status = 'sending' where id = $1 and status = 'pending'
           and (kind = $2 or coalesce((select c.kind from consent_events c where c.phone = outbox.to_phone
                                       order by c.id desc limit 1), '') <> 'opt_out')
           and (kind <> 'proactive' or coalesce((select c.kind from consent_events c where c.phone = outbox.to_phone
                                       order by c.id desc limit 1), '') not in ('opt_out', 'hold'))",
        )
        .bind(id)
        .bind(OutboxKind::OptOutConfirmation.as_str())
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
    from: OutboxStatus,
    to: OutboxStatus,
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let r = with_tx!(tx, |conn| {
        sqlx::query("update outbox set status = $1, error = coalesce($2, error) where id = $3 and status = $4")
            .bind(to.as_str())
            .bind(error)
            .bind(id)
            .bind(from.as_str())
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    if r == 1 && to == OutboxStatus::Failed {
        webhook_events::emit(tx, Event::MessageFailed(OutboxRef::Id(id))).await?;
    }
    Ok(r == 1)
}

/// Records the provider's acceptance of a row that was `sending`.
/// Gives outbox row `id` its slot on sending number `number`'s pace: `cost_ms` of the
/// number's time (its units over the number's rate), starting no earlier than the number's
/// next free moment and no earlier than `now_ms - credit_ms` (the burst the number may send
/// at once). One atomic upsert, so replicas share the pace. Returns the slot's start (at or
/// before `now_ms`: send now).
pub async fn take_send_slot(
    db: &Db,
    id: i64,
    number: &str,
    cost_ms: i64,
    credit_ms: i64,
    now_ms: i64,
) -> anyhow::Result<i64> {
    let mut tx = db.begin().await?;
    let earliest = now_ms - credit_ms;
    let free_at = with_tx!(&mut tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into sender_pace (number, free_at_ms) values ($1, $2 + $3)
         on conflict (number) do update
           set free_at_ms = (case when sender_pace.free_at_ms > $2 then sender_pace.free_at_ms else $2 end) + $3
         returning free_at_ms"
    )
    .bind(number)
    .bind(earliest)
    .bind(cost_ms)
    .fetch_one(conn)
    .await)?;
    let slot = free_at - cost_ms;
    with_tx!(&mut tx, |conn| sqlx::query("update outbox set send_slot_ms = $1 where id = $2")
        .bind(slot)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(slot)
}

/// How a sent text was billed: as an SMS of `units` segments, or as one MMS carrying
/// `media_url`; `note` says why a requested picture was left out.
#[derive(Debug, Clone, Copy)]
pub struct Billing<'a> {
    pub media_url: Option<&'a str>,
    pub note: Option<&'a str>,
    pub units: i64,
}

/// Records how the sent text `id` was billed (with [`mark_sent`], in its transaction).
pub async fn record_billing(tx: &mut Tx, id: i64, billing: &Billing<'_>) -> anyhow::Result<()> {
    let billed_as = if billing.media_url.is_some() { "mms" } else { "sms" };
    with_tx!(tx, |conn| sqlx::query(
        "update outbox set media_url = $1, media_note = $2, billed_as = $3, billed_units = $4 where id = $5"
    )
    .bind(billing.media_url)
    .bind(billing.note)
    .bind(billed_as)
    .bind(billing.units)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn mark_sent(tx: &mut Tx, id: i64, provider_sid: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    let sent = with_tx!(tx, |conn| {
        sqlx::query(
        "update outbox set status = 'sent', provider_sid = $1, sent_at = $2 where id = $3 and status in ('sending', 'unknown')"
    )
    .bind(provider_sid)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    if sent == 1 {
        webhook_events::emit(tx, Event::MessageSent(OutboxRef::Id(id))).await?;
    }
    Ok(())
}
