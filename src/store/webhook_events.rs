//! Outbound webhook events and their deliveries: the endpoints mirrored from the
//! configuration, [`emit`] (called inside the transaction of the change an event describes),
//! one delivery per subscribed endpoint with its own job, attempts, and what the API lists.
//!
//! With no endpoint subscribed to an event type, [`emit`] is one indexed read of a tiny table
//! and writes nothing.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Db, Tx, jobs, json_text, with_db, with_db_write, with_tx};
use crate::domain::{ConsentKind, DeliveryStatus, EscalationReason, Phone, WebhookEvent};

/// Job kind: deliver one event to one endpoint (payload: `{"delivery_id": …}`).
pub const KIND_WEBHOOK_DELIVERY: &str = "webhook_delivery";

/// The job's own attempt limit is not the delivery's: the delivery handler follows
/// `webhooks.retry_schedule` (at most 50 attempts) and dead-letters the delivery itself;
/// this only bounds attempts whose worker died every time.
const DELIVERY_JOB_MAX_ATTEMPTS: i32 = 60;

/// Which outbox row an outbound-text event is about.
#[derive(Debug, Clone, Copy)]
pub enum OutboxRef<'a> {
    Id(i64),
    ProviderSid(&'a str),
}

/// A change worth telling the brand's systems about. Each carries the ids at hand where it
/// happens; [`emit`] reads the rest (the phone, the text) only when some endpoint wants it.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A consent ledger event (only opt-outs and opt-ins are sent).
    Consent { consent_event_id: i64, phone: &'a Phone, kind: ConsentKind, source: &'a str, message_id: Option<i64> },
    /// An escalation opened.
    Escalated { escalation_id: i64, conversation_id: i64, reason: EscalationReason, priority: &'a str },
    /// An escalation assigned (`assignee`: `reviewer:NAME` or `team:NAME`) by a reviewer.
    EscalationAssigned { escalation_id: i64, assignee: &'a str, assigned_by: &'a str },
    /// An escalation closed by a reviewer.
    EscalationResolved { escalation_id: i64, resolution: &'a str, resolved_by: &'a str },
    /// An inbound text stored.
    MessageReceived { message_id: i64, conversation_id: i64, phone: &'a Phone, to: &'a str, body: &'a str },
    /// The provider accepted an outbox row.
    MessageSent(OutboxRef<'a>),
    /// An outbox row became `failed`.
    MessageFailed(OutboxRef<'a>),
    /// A deliverability figure crossed its threshold: `rate` over `threshold` (or under,
    /// for the click rate) over the 7 days to `until`.
    DeliverabilityAlert { metric: &'a str, rate: f64, threshold: f64, until: chrono::DateTime<Utc> },
}

impl Event<'_> {
    /// The event type, or `None` for a change that is not sent (a consent hold).
    pub fn event_type(&self) -> Option<WebhookEvent> {
        Some(match self {
            Event::Consent { kind: ConsentKind::OptOut, .. } => WebhookEvent::ConsentOptedOut,
            Event::Consent { kind: ConsentKind::OptIn, .. } => WebhookEvent::ConsentOptedIn,
            Event::Consent { .. } => return None,
            Event::Escalated { .. } => WebhookEvent::ConversationEscalated,
            Event::EscalationResolved { .. } => WebhookEvent::EscalationResolved,
            Event::EscalationAssigned { .. } => WebhookEvent::EscalationAssigned,
            Event::MessageReceived { .. } => WebhookEvent::MessageReceived,
            Event::MessageSent(_) => WebhookEvent::MessageSent,
            Event::MessageFailed(_) => WebhookEvent::MessageFailed,
            Event::DeliverabilityAlert { .. } => WebhookEvent::DeliverabilityAlert,
        })
    }

    /// The payload's `data`: ids, the phone in E.164, and for messages the text (the brand's
    /// own systems keep the thread; see docs/webhooks.md).
    async fn data(&self, tx: &mut Tx) -> anyhow::Result<Option<Value>> {
        Ok(Some(match *self {
            Event::Consent { consent_event_id, phone, source, message_id, .. } => json!({
                "consent_event_id": consent_event_id, "phone": phone, "source": source, "message_id": message_id,
            }),
            Event::Escalated { escalation_id, conversation_id, reason, priority } => {
                let phone = conversation_phone(tx, conversation_id).await?;
                json!({ "escalation_id": escalation_id, "conversation_id": conversation_id, "phone": phone,
                        "reason": reason, "priority": priority })
            }
            Event::EscalationAssigned { escalation_id, assignee, assigned_by } => {
                let (kind, name) = assignee.split_once(':').unwrap_or(("reviewer", assignee));
                json!({ "escalation_id": escalation_id, "assignee": { "kind": kind, "name": name },
                        "assigned_by": assigned_by })
            }
            Event::EscalationResolved { escalation_id, resolution, resolved_by } => {
                let row = with_tx!(tx, |conn| {
                    sqlx::query_as::<_, (i64, Phone)>(
                    "select e.conversation_id, c.phone from escalations e join conversations c on c.id = e.conversation_id
                     where e.id = $1"
                )
                .bind(escalation_id)
                .fetch_optional(conn)
                .await
                })?;
                let Some((conversation_id, phone)) = row else { return Ok(None) };
                json!({ "escalation_id": escalation_id, "conversation_id": conversation_id, "phone": phone,
                        "resolution": resolution, "resolved_by": resolved_by })
            }
            Event::DeliverabilityAlert { metric, rate, threshold, until } => json!({
                "metric": metric, "rate": rate, "threshold": threshold,
                "from": (until - chrono::Duration::days(7)).to_rfc3339(), "to": until.to_rfc3339(),
            }),
            Event::MessageReceived { message_id, conversation_id, phone, to, body } => json!({
                "message_id": message_id, "conversation_id": conversation_id, "phone": phone, "to": to, "body": body,
            }),
            Event::MessageSent(outbox) | Event::MessageFailed(outbox) => {
                let (id, sid) = match outbox {
                    OutboxRef::Id(id) => (Some(id), None),
                    OutboxRef::ProviderSid(sid) => (None, Some(sid)),
                };
                let row = with_tx!(tx, |conn| sqlx::query_as::<_, OutboxEventRow>(
                    "select id, conversation_id, to_phone, kind, provider_sid, body, error from outbox
                     where id = $1 or provider_sid = $2"
                )
                .bind(id)
                .bind(sid)
                .fetch_optional(conn)
                .await)?;
                let Some(row) = row else { return Ok(None) };
                let mut data = json!({ "outbox_id": row.id, "conversation_id": row.conversation_id,
                    "phone": row.to_phone, "kind": row.kind, "provider_sid": row.provider_sid, "body": row.body });
                if let Event::MessageFailed(_) = self {
                    data["error"] = json!(row.error);
                }
                data
            }
        }))
    }
}

#[derive(sqlx::FromRow)]
struct OutboxEventRow {
    id: i64,
    conversation_id: i64,
    to_phone: Phone,
    kind: String,
    provider_sid: Option<String>,
    body: String,
    error: Option<String>,
}

async fn conversation_phone(tx: &mut Tx, conversation_id: i64) -> anyhow::Result<Option<Phone>> {
    let phone = with_tx!(tx, |conn| sqlx::query_scalar::<_, Phone>("select phone from conversations where id = $1")
        .bind(conversation_id)
        .fetch_optional(conn)
        .await)?;
    Ok(phone)
}

/// Records `event` for every enabled endpoint subscribed to its type, inside `tx` (the
/// transaction of the change itself, so the event exists if and only if the change
/// committed): one `outbound_events` row with the exact payload to send, and per endpoint a
/// delivery and its job. Returns the event's id, or `None` when nobody wants it.
pub async fn emit(tx: &mut Tx, event: Event<'_>) -> anyhow::Result<Option<i64>> {
    let Some(event_type) = event.event_type() else { return Ok(None) };
    let endpoints = subscribers(tx, event_type).await?;
    emit_to(tx, event, &endpoints).await
}

/// The endpoints subscribed to `event_type` now (one indexed read of a tiny table).
pub async fn subscribers(tx: &mut Tx, event_type: WebhookEvent) -> anyhow::Result<Vec<i64>> {
    let endpoints = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "select distinct e.id from webhook_endpoints e join webhook_subscriptions s on s.endpoint_id = e.id
         where e.configured = 1 and e.disabled_at is null and s.event_type in ($1, '*') order by e.id"
    )
    .bind(event_type.as_str())
    .fetch_all(conn)
    .await)?;
    Ok(endpoints)
}

/// [`emit`] to `endpoints`, the [`subscribers`] of the event's type read in the same
/// transaction (a batch of events of one type reads them once).
pub async fn emit_to(tx: &mut Tx, event: Event<'_>, endpoints: &[i64]) -> anyhow::Result<Option<i64>> {
    if endpoints.is_empty() {
        return Ok(None);
    }
    let Some(event_type) = event.event_type() else { return Ok(None) };
    let Some(data) = event.data(tx).await? else { return Ok(None) };
    let now = Utc::now();
    // Spec: `{"type", "timestamp", "data"}`; the `webhook-id` must not contain a `.`.
    let webhook_id = format!("msg_{:032x}", rand::random::<u128>());
    let payload = json_text(&json!({
        "type": event_type, "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "data": data,
    }));
    let event_id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into outbound_events (webhook_id, event_type, payload, created_at) values ($1, $2, $3, $4) returning id"
    )
    .bind(&webhook_id)
    .bind(event_type.as_str())
    .bind(&payload)
    .bind(now)
    .fetch_one(conn)
    .await
    })?;
    for &endpoint_id in endpoints {
        let delivery_id = with_tx!(tx, |conn| {
            sqlx::query_scalar::<_, i64>(
            "insert into webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
             values ($1, $2, 'pending', 0, $3, $3, $3) returning id"
        )
        .bind(event_id)
        .bind(endpoint_id)
        .bind(now)
        .fetch_one(conn)
        .await
        })?;
        let job = json_text(&json!({ "delivery_id": delivery_id }));
        let key = format!("webhook:{delivery_id}");
        jobs::enqueue_job(tx, KIND_WEBHOOK_DELIVERY, &job, Some(&key), DELIVERY_JOB_MAX_ATTEMPTS).await?;
    }
    Ok(Some(event_id))
}

/// An endpoint as the configuration gives it.
#[derive(Debug, Clone)]
pub struct ConfiguredEndpoint<'a> {
    pub url: &'a str,
    pub description: &'a str,
    /// Event types, or `*`.
    pub events: &'a [String],
}

/// Mirrors the configured endpoints (by URL) into the database, in one transaction: their
/// descriptions and subscriptions are replaced; endpoints no longer configured stop getting
/// events; a disabled endpoint stays disabled. Returns each endpoint's id, in order.
pub async fn sync_endpoints(db: &Db, endpoints: &[ConfiguredEndpoint<'_>]) -> anyhow::Result<Vec<i64>> {
    let mut tx = db.begin().await?;
    let now = Utc::now();
    with_tx!(&mut tx, |conn| sqlx::query(
        "update webhook_endpoints set configured = 0, updated_at = $1 where configured = 1"
    )
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    let mut ids = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let id = with_tx!(&mut tx, |conn| {
            sqlx::query_scalar::<_, i64>(
            "insert into webhook_endpoints (url, description, configured, created_at, updated_at) values ($1, $2, 1, $3, $3)
             on conflict (url) do update set description = excluded.description, configured = 1, updated_at = excluded.updated_at
             returning id"
        )
        .bind(endpoint.url)
        .bind(endpoint.description)
        .bind(now)
        .fetch_one(conn)
        .await
        })?;
        with_tx!(&mut tx, |conn| sqlx::query("delete from webhook_subscriptions where endpoint_id = $1")
            .bind(id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        for event in endpoint.events {
            with_tx!(&mut tx, |conn| sqlx::query(
                "insert into webhook_subscriptions (endpoint_id, event_type) values ($1, $2) on conflict do nothing"
            )
            .bind(id)
            .bind(event)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        }
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// A delivery with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryJob {
    pub id: i64,
    pub status: DeliveryStatus,
    pub endpoint_id: i64,
    pub url: String,
    /// Why the endpoint is disabled, if it is.
    pub disabled_reason: Option<String>,
    /// False once the endpoint was removed from the configuration.
    pub configured: bool,
    pub webhook_id: String,
    pub payload: String,
}

/// Delivery `id` with its event and endpoint.
pub async fn delivery_job(db: &Db, id: i64) -> anyhow::Result<Option<DeliveryJob>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, DeliveryJob>(
        "select d.id, d.status, d.endpoint_id, e.url, case when e.disabled_at is null then null
                else coalesce(e.disabled_reason, 'disabled') end as disabled_reason,
                e.configured = 1 as configured, v.webhook_id, v.payload
         from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
         join outbound_events v on v.id = d.event_id where d.id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// One attempt's result.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub delivery_id: i64,
    /// 1 for the first.
    pub attempt: i64,
    /// The HTTP status, when the endpoint answered.
    pub status_code: Option<u16>,
    /// What went wrong (a non-2xx answer, a timeout, a refused connection).
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

/// Records an attempt (on its own: it happened, whatever follows).
pub async fn record_attempt(db: &Db, a: &AttemptRecord<'_>) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "insert into webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, created_at)
         values ($1, $2, $3, $4, $5, $6)"
    )
    .bind(a.delivery_id)
    .bind(a.attempt)
    .bind(a.status_code.map(i64::from))
    .bind(a.error)
    .bind(a.duration_ms)
    .bind(Utc::now())
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Settles a pending delivery as `status` (delivered, dead or skipped) after `attempts`,
/// keeping `reason` for a dead or skipped one. False when it was no longer pending.
pub async fn settle_delivery(
    tx: &mut Tx,
    id: i64,
    status: DeliveryStatus,
    attempts: i64,
    reason: Option<&str>,
) -> anyhow::Result<bool> {
    let moved = with_tx!(tx, |conn| {
        sqlx::query(
        "update webhook_deliveries set status = $1, attempts = $2, reason = $3, next_attempt_at = null, updated_at = $4
         where id = $5 and status = 'pending'"
    )
    .bind(status.as_str())
    .bind(attempts)
    .bind(reason)
    .bind(Utc::now())
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(moved == 1)
}

/// Notes a failed attempt of a pending delivery and when the next one is due.
pub async fn schedule_retry(
    db: &Db,
    id: i64,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "update webhook_deliveries set attempts = $1, next_attempt_at = $2, last_error = $3, updated_at = $4
         where id = $5 and status = 'pending'"
    )
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(error)
    .bind(Utc::now())
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Disables an endpoint (it answered 410 Gone), keeping why; it gets nothing until
/// [`enable_endpoint`].
pub async fn disable_endpoint(tx: &mut Tx, id: i64, reason: &str) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query(
        "update webhook_endpoints set disabled_at = $1, disabled_reason = $2, updated_at = $1
         where id = $3 and disabled_at is null"
    )
    .bind(Utc::now())
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Re-enables a disabled endpoint: events from now on reach it again (deliveries skipped
/// while it was disabled are not resent). False for an unknown id.
pub async fn enable_endpoint(db: &Db, id: i64) -> anyhow::Result<bool> {
    let found = with_db_write!(db, |p| sqlx::query(
        "update webhook_endpoints set disabled_at = null, disabled_reason = null, updated_at = $1 where id = $2"
    )
    .bind(Utc::now())
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(found == 1)
}

/// An endpoint as the API lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct EndpointSummary {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// Subscribed event types, comma-separated in SQL; see [`EndpointSummary::events`].
    #[serde(skip)]
    pub event_list: Option<String>,
    /// In the current configuration.
    pub configured: bool,
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
    pub skipped: i64,
}

impl EndpointSummary {
    /// The subscribed event types, sorted.
    pub fn events(&self) -> Vec<String> {
        let mut events: Vec<String> =
            self.event_list.as_deref().unwrap_or("").split(',').filter(|e| !e.is_empty()).map(String::from).collect();
        events.sort();
        events
    }
}

/// Every endpoint ever configured, with its delivery counts.
pub async fn list_endpoints(db: &Db) -> anyhow::Result<Vec<EndpointSummary>> {
    macro_rules! endpoints_sql {
        ($agg:literal) => {
            concat!(
                "select e.id, e.url, e.description, (select ",
                $agg,
                " from webhook_subscriptions s where s.endpoint_id = e.id) as event_list,
                e.configured = 1 as configured, e.disabled_at is null as enabled, e.disabled_at, e.disabled_reason,
                (select count(*) from webhook_deliveries d where d.endpoint_id = e.id and d.status = 'pending') as pending,
                (select count(*) from webhook_deliveries d where d.endpoint_id = e.id and d.status = 'delivered') as delivered,
                (select count(*) from webhook_deliveries d where d.endpoint_id = e.id and d.status = 'dead') as dead,
                (select count(*) from webhook_deliveries d where d.endpoint_id = e.id and d.status = 'skipped') as skipped
                from webhook_endpoints e order by e.id"
            )
        };
    }
    let rows = match db {
        Db::Sqlite { read, .. } => {
            sqlx::query_as::<_, EndpointSummary>(endpoints_sql!("group_concat(s.event_type, ',')"))
                .fetch_all(read)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_as::<_, EndpointSummary>(endpoints_sql!("string_agg(s.event_type, ',')")).fetch_all(p).await
        }
    }?;
    Ok(rows)
}

/// A delivery as the API lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeliverySummary {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: i64,
    pub event_type: WebhookEvent,
    pub webhook_id: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Why it was given up or skipped.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    #[sqlx(skip)]
    pub attempt_log: Vec<AttemptRow>,
}

/// One attempt as the API lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AttemptRow {
    #[serde(skip)]
    pub delivery_id: i64,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at: DateTime<Utc>,
}

/// Deliveries, newest first, optionally of one endpoint and one status, at most `limit`,
/// each with its attempts.
pub async fn list_deliveries(
    db: &Db,
    endpoint_id: Option<i64>,
    status: Option<DeliveryStatus>,
    limit: i64,
) -> anyhow::Result<Vec<DeliverySummary>> {
    let mut rows = with_db!(db, |p| {
        sqlx::query_as::<_, DeliverySummary>(
        "select d.id, d.endpoint_id, d.event_id, v.event_type, v.webhook_id, d.status, d.attempts, d.next_attempt_at,
                d.last_error, d.reason, d.created_at, d.updated_at
         from webhook_deliveries d join outbound_events v on v.id = d.event_id
         where ($1 is null or d.endpoint_id = $1) and ($2 is null or d.status = $2)
         order by d.id desc limit $3"
    )
    .bind(endpoint_id)
    .bind(status.map(DeliveryStatus::as_str))
    .bind(limit)
    .fetch_all(p)
    .await
    })?;
    let (Some(low), Some(high)) = (rows.last().map(|d| d.id), rows.first().map(|d| d.id)) else {
        return Ok(rows);
    };
    // One read for the attempts of the whole page (its ids lie between `low` and `high`).
    let attempts = with_db!(db, |p| sqlx::query_as::<_, AttemptRow>(
        "select delivery_id, attempt, status_code, error, duration_ms, created_at from webhook_attempts
         where delivery_id between $1 and $2 order by id"
    )
    .bind(low)
    .bind(high)
    .fetch_all(p)
    .await)?;
    for attempt in attempts {
        if let Some(row) = rows.iter_mut().find(|d| d.id == attempt.delivery_id) {
            row.attempt_log.push(attempt);
        }
    }
    Ok(rows)
}

/// Deliveries with this status (benchmarks, metrics).
pub async fn count_deliveries(db: &Db, status: DeliveryStatus) -> anyhow::Result<i64> {
    let n =
        with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from webhook_deliveries where status = $1")
            .bind(status.as_str())
            .fetch_one(p)
            .await)?;
    Ok(n)
}
