//! The store's data that is not the CRM's profile: Shopify webhook receipts, tracked events,
//! checkouts, and erasing a customer's personal data (Shopify's privacy topics).

use chrono::{DateTime, Utc};

use super::crm::Upserted;
use super::{Db, Tx, with_db, with_tx};

/// A Shopify webhook as it arrived, before processing.
#[derive(Debug, Clone)]
pub struct NewShopifyWebhook<'a> {
    /// `X-Shopify-Webhook-Id`: the same id twice is one delivery.
    pub webhook_id: &'a str,
    /// `X-Shopify-Event-Id`, kept for tracing duplicates across subscriptions.
    pub event_id: Option<&'a str>,
    pub topic: &'a str,
    pub shop_domain: Option<&'a str>,
    /// `X-Shopify-Triggered-At`.
    pub triggered_at: Option<DateTime<Utc>>,
    pub body: &'a str,
}

/// Records a webhook; `None` when its id was seen before (a duplicate delivery).
pub async fn record_shopify_webhook(tx: &mut Tx, w: &NewShopifyWebhook<'_>) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into shopify_webhooks (webhook_id, event_id, topic, shop_domain, triggered_at, body, received_at)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (webhook_id) do nothing
         returning id"
    )
    .bind(w.webhook_id)
    .bind(w.event_id)
    .bind(w.topic)
    .bind(w.shop_domain)
    .bind(w.triggered_at)
    .bind(w.body)
    .bind(Utc::now())
    .fetch_optional(conn)
    .await)?;
    Ok(id)
}

/// A stored Shopify webhook.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShopifyWebhookRow {
    pub id: i64,
    pub webhook_id: String,
    pub topic: String,
    pub triggered_at: Option<DateTime<Utc>>,
    /// `None` once processed (the body is not kept: it holds personal data).
    pub body: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// The webhook with this row id.
pub async fn shopify_webhook(db: &Db, id: i64) -> anyhow::Result<Option<ShopifyWebhookRow>> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, ShopifyWebhookRow>(
        "select id, webhook_id, topic, triggered_at, body, processed_at, outcome from shopify_webhooks where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await
    })?;
    Ok(row)
}

/// Marks a webhook processed with what it did, and drops its body.
pub async fn finish_shopify_webhook(tx: &mut Tx, id: i64, outcome: &str) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query(
        "update shopify_webhooks set processed_at = $2, outcome = $3, body = null where id = $1"
    )
    .bind(id)
    .bind(Utc::now())
    .bind(outcome)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Webhooks by topic and outcome (for tests and the operator).
pub async fn shopify_webhook_outcomes(db: &Db) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, Option<String>)>(
        "select topic, outcome from shopify_webhooks order by id"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// A tracked event to store.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The sender's id: the same id twice is one event.
    pub event_id: &'a str,
    pub name: &'a str,
    /// `api` or `shopify`.
    pub source: &'a str,
    pub customer_id: Option<i64>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    /// JSON object.
    pub properties: &'a str,
    pub occurred_at: DateTime<Utc>,
}

/// Stores an event; `None` when its id was seen before.
pub async fn insert_event(tx: &mut Tx, e: &NewEvent<'_>) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into events (event_id, name, source, customer_id, phone, email, properties, occurred_at, received_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (event_id) do nothing
         returning id"
    )
    .bind(e.event_id)
    .bind(e.name)
    .bind(e.source)
    .bind(e.customer_id)
    .bind(e.phone)
    .bind(e.email)
    .bind(e.properties)
    .bind(e.occurred_at)
    .bind(Utc::now())
    .fetch_optional(conn)
    .await
    })?;
    if let Some(id) = id {
        // Flows start and end on stored events: every new one is looked at by a job,
        // committed with it (docs/flows.md).
        // Due when it happened, or now if that is later: the same thing in production, and
        // what lets `flows simulate` replay a past week on its virtual clock.
        let payload = serde_json::to_string(&FlowEventJob { event: id })?;
        let run_at = e.occurred_at.timestamp_millis().min(super::now_ms());
        super::jobs::enqueue_job_at(tx, KIND_FLOW_EVENT, &payload, Some(&format!("flow_event:{id}")), 5, run_at)
            .await?;
    }
    Ok(id)
}

/// The event a customer sends to be told when a product (or a variant: `size`, `color`) is
/// back: `{"sku": "…", "size": "M"}`.
pub const BACK_IN_STOCK_SUBSCRIBED: &str = "Back In Stock Subscribed";
/// The event recorded, once per subscription, when what it asked for is back in stock.
pub const BACK_IN_STOCK: &str = "Back In Stock";

/// Records a `Back In Stock` event for every subscription to `product` that `restock` brought
/// back, in the product update's transaction. Its id is `back_in_stock:{subscription}`, so a
/// subscription is answered once however often the product comes and goes.
pub async fn back_in_stock(
    tx: &mut Tx,
    product: &super::catalog::ProductRow,
    restock: &crate::domain::restock::Restock,
) -> anyhow::Result<usize> {
    let subscriptions =
        with_tx!(tx, |conn| sqlx::query_as::<_, (i64, Option<i64>, Option<String>, Option<String>, String)>(
            "select id, customer_id, phone, email, properties from events where name = $1 order by id"
        )
        .bind(BACK_IN_STOCK_SUBSCRIBED)
        .fetch_all(conn)
        .await)?;
    let now = Utc::now();
    let mut recorded = 0;
    for (id, customer_id, phone, email, properties) in subscriptions {
        let Ok(properties) = serde_json::from_str::<serde_json::Value>(&properties) else { continue };
        if properties.get("sku").and_then(|s| s.as_str()) != Some(product.sku.as_str()) {
            continue;
        }
        let Some(variant) = restock.matches(&properties) else { continue };
        let back = serde_json::json!({
            "sku": product.sku.as_str(), "title": product.title, "url": product.url,
            "price": product.price_cents as f64 / 100.0, "size": variant.size, "color": variant.color,
            "stock": if variant.size.is_some() || variant.color.is_some() { variant.stock } else { product.stock },
        })
        .to_string();
        let event = NewEvent {
            event_id: &format!("back_in_stock:{id}"),
            name: BACK_IN_STOCK,
            source: "catalog",
            customer_id,
            phone: phone.as_deref(),
            email: email.as_deref(),
            properties: &back,
            occurred_at: now,
        };
        if insert_event(tx, &event).await?.is_some() {
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// Job kind: start and end flow runs on one stored event (payload: [`FlowEventJob`]).
pub const KIND_FLOW_EVENT: &str = "flow_event";

/// The payload of a `flow_event` job.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FlowEventJob {
    /// The stored event's row id.
    pub event: i64,
}

/// A stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub event_id: String,
    pub name: String,
    pub source: String,
    pub customer_id: Option<i64>,
    /// The number the sender gave, if any.
    pub phone: Option<String>,
    pub properties: String,
    pub occurred_at: DateTime<Utc>,
}

/// One stored event by row id.
pub async fn event(db: &Db, id: i64) -> anyhow::Result<Option<EventRow>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, EventRow>(
        "select id, event_id, name, source, customer_id, phone, properties, occurred_at from events where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// The latest events, newest first (optionally one customer's, one name's).
pub async fn recent_events(
    db: &Db,
    customer_id: Option<i64>,
    name: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<EventRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, EventRow>(
        "select id, event_id, name, source, customer_id, phone, properties, occurred_at from events
         where ($1 is null or customer_id = $1) and ($2 is null or name = $2)
         order by occurred_at desc, id desc limit $3"
    )
    .bind(customer_id)
    .bind(name)
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// A checkout to record (`checkouts/*`, "Checkout Started").
#[derive(Debug, Clone)]
pub struct NewCheckout<'a> {
    pub token: &'a str,
    pub customer_id: Option<i64>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    /// Where the shopper can finish it (Shopify's `abandoned_checkout_url`).
    pub recovery_url: Option<&'a str>,
    pub total_cents: i64,
    pub currency: &'a str,
    /// JSON array of `{sku, title, price_cents, quantity}`.
    pub items: &'a str,
    pub completed_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
}

/// Inserts or updates a checkout by token; an older record changes nothing, and a completed
/// checkout stays completed.
pub async fn upsert_checkout(tx: &mut Tx, c: &NewCheckout<'_>) -> anyhow::Result<Upserted> {
    let existing = with_tx!(tx, |conn| sqlx::query_as::<_, (i64, Option<DateTime<Utc>>)>(
        "select id, source_updated_at from checkouts where token = $1"
    )
    .bind(c.token)
    .fetch_optional(conn)
    .await)?;
    if let Some((id, Some(stored))) = existing
        && c.source_updated_at.is_some_and(|given| given < stored)
    {
        return Ok(Upserted::Stale(id));
    }
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into checkouts (token, customer_id, phone, email, recovery_url, total_cents, currency, items,
             completed_at, created_at, source_updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         on conflict (token) do update set
             customer_id = coalesce(excluded.customer_id, checkouts.customer_id),
             phone = coalesce(excluded.phone, checkouts.phone), email = coalesce(excluded.email, checkouts.email),
             recovery_url = coalesce(excluded.recovery_url, checkouts.recovery_url),
             total_cents = excluded.total_cents, currency = excluded.currency, items = excluded.items,
             completed_at = coalesce(checkouts.completed_at, excluded.completed_at),
             source_updated_at = coalesce(excluded.source_updated_at, checkouts.source_updated_at)
         where excluded.source_updated_at is null or checkouts.source_updated_at is null
             or checkouts.source_updated_at <= excluded.source_updated_at
         returning id"
    )
    .bind(c.token)
    .bind(c.customer_id)
    .bind(c.phone)
    .bind(c.email)
    .bind(c.recovery_url)
    .bind(c.total_cents)
    .bind(c.currency)
    .bind(c.items)
    .bind(c.completed_at)
    .bind(Utc::now())
    .bind(c.source_updated_at)
    .fetch_optional(conn)
    .await)?;
    // The newer-than check is repeated in the write (no row returned: an older write lost to
    // a newer one that committed after our read).
    let Some(id) = id else {
        let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>("select id from checkouts where token = $1")
            .bind(c.token)
            .fetch_one(conn)
            .await)?;
        return Ok(Upserted::Stale(id));
    };
    Ok(if existing.is_some() { Upserted::Updated(id) } else { Upserted::Created(id) })
}

/// Marks the checkout with this token completed (an order that came from it arrived).
pub async fn complete_checkout(tx: &mut Tx, token: &str, at: DateTime<Utc>) -> anyhow::Result<bool> {
    let n = with_tx!(tx, |conn| sqlx::query(
        "update checkouts set completed_at = $2 where token = $1 and completed_at is null"
    )
    .bind(token)
    .bind(at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// What erasing a customer removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Erased {
    pub customers: u64,
    pub orders: u64,
    pub messages: u64,
    pub events: u64,
}

/// Erases a customer's personal data (Shopify `customers/redact`): name, email and shop id,
/// their orders, checkouts and events, and the text of every message, reply draft and
/// escalation of their conversation. What the law needs to keep honouring an opt-out stays:
/// the phone number, on the customer row and in the consent ledger (kind, source, time),
/// whose evidence text is cleared (47 CFR 64.1200(a)(12) needs the revocation honoured,
/// not the words it was written in).
pub async fn erase_customer(tx: &mut Tx, customer_id: i64, also_orders: &[String]) -> anyhow::Result<Erased> {
    let phone = with_tx!(tx, |conn| sqlx::query_scalar::<_, String>("select phone from customers where id = $1")
        .bind(customer_id)
        .fetch_optional(conn)
        .await)?;
    let Some(phone) = phone else { return Ok(Erased::default()) };
    let email =
        with_tx!(tx, |conn| sqlx::query_scalar::<_, Option<String>>("select email from customers where id = $1")
            .bind(customer_id)
            .fetch_one(conn)
            .await)?;
    let mut erased = Erased { customers: 1, ..Erased::default() };
    let now = Utc::now();
    macro_rules! exec {
        ($sql:expr $(, $bind:expr)*) => {
            with_tx!(tx, |conn| sqlx::query($sql)$(.bind($bind))*.execute(conn).await.map(|r| r.rows_affected()))?
        };
    }
    exec!(
        "update customers set name = null, email = null, timezone = null, external_id = null, redacted_at = $2
         where id = $1",
        customer_id,
        now
    );
    for source_id in also_orders {
        erased.orders += exec!("delete from orders where source_id = $1", source_id.as_str());
    }
    erased.orders += exec!("delete from orders where customer_id = $1", customer_id);
    erased.events += erase_traces(tx, Some(customer_id), Some(phone.as_str()), email.as_deref()).await?;
    // Outbound webhook events about the number (messages with their text, consent changes)
    // keep their type and time; their data is replaced, delivered or not. The number is
    // matched as a whole JSON string, so +1202555010 does not match +12025550100.
    let pattern = format!("%\"{}\"%", phone.as_str());
    exec!("update outbound_events set payload = '{\"redacted\":true}' where payload like $1", pattern.as_str());
    erased.messages += exec!(
        "update messages set body = '' where conversation_id in (select id from conversations where phone = $1)",
        phone.as_str()
    );
    exec!("update outbox set body = '' where to_phone = $1", phone.as_str());
    exec!(
        "update turns set draft = null, reply = null, guard = '{}', dialogue = '{}', retrieved = '{}'
         where conversation_id in (select id from conversations where phone = $1)",
        phone.as_str()
    );
    exec!(
        "update escalations set details = '{}'
         where conversation_id in (select id from conversations where phone = $1)",
        phone.as_str()
    );
    exec!("update consent_events set evidence_text = null where phone = $1", phone.as_str());
    Ok(erased)
}

/// Erases what the store knows of a customer outside the customer row: checkouts, flow runs
/// and events by customer id, number or email (any may be unknown); returns the events erased.
/// A flow run holds the name and the trigger's properties and points at its event: the texts
/// and the conversation forget the run, then the run goes (a step job still queued for it
/// finds no run and does nothing). A run is theirs by customer, number, or by a trigger event
/// of theirs (a guest checkout known by its email alone).
async fn erase_traces(
    tx: &mut Tx,
    customer_id: Option<i64>,
    phone: Option<&str>,
    email: Option<&str>,
) -> anyhow::Result<u64> {
    macro_rules! exec {
        ($sql:expr) => {
            with_tx!(tx, |conn| sqlx::query($sql)
                .bind(customer_id)
                .bind(phone)
                .bind(email)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()))?
        };
    }
    macro_rules! their_runs {
        () => {
            "select r.id from flow_runs r where r.customer_id = $1 or r.phone = $2
               or r.trigger_event in (select e.id from events e
                   where e.customer_id = $1 or e.phone = $2 or (e.email is not null and e.email = $3))"
        };
    }
    exec!("delete from checkouts where customer_id = $1 or phone = $2 or (email is not null and email = $3)");
    exec!(concat!("update outbox set flow_run_id = null where flow_run_id in (", their_runs!(), ")"));
    exec!(concat!("update conversations set flow_run_id = null where flow_run_id in (", their_runs!(), ")"));
    exec!(concat!("delete from flow_runs where id in (", their_runs!(), ")"));
    Ok(exec!("delete from events where customer_id = $1 or phone = $2 or (email is not null and email = $3)"))
}

/// Erases the traces of a customer the store has no row for (Shopify `customers/redact` for
/// a guest): the listed orders, and checkouts, flow runs and events by number or email.
pub async fn erase_guest(
    tx: &mut Tx,
    phone: Option<&str>,
    email: Option<&str>,
    also_orders: &[String],
) -> anyhow::Result<Erased> {
    let mut erased = Erased::default();
    for source_id in also_orders {
        erased.orders += with_tx!(tx, |conn| sqlx::query("delete from orders where source_id = $1")
            .bind(source_id.as_str())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
    }
    erased.events = erase_traces(tx, None, phone, email).await?;
    Ok(erased)
}

/// Every customer of the shop (Shopify `shop/redact`, 48 hours after the store uninstalls).
pub async fn all_customer_ids(tx: &mut Tx) -> anyhow::Result<Vec<i64>> {
    let ids = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>("select id from customers order by id")
        .fetch_all(conn)
        .await)?;
    Ok(ids)
}
