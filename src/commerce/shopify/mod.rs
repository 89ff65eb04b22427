//! Shopify webhooks: the signature, receiving a webhook into the durable queue, and applying
//! each topic (the payloads themselves are read in [`payloads`]).
//!
//! Facts (shared/reference/flows-webhooks-analytics.md §2):
//! - `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(raw body, the app's client secret)),
//!   checked before parsing; for up to an hour after a secret rotation Shopify may still sign
//!   with the old secret, so both are accepted (shopify.dev "Verify webhook deliveries").
//! - Deliveries repeat: the same `X-Shopify-Webhook-Id` is one delivery (answered 200, nothing
//!   new). Retries carry the original payload for up to 4 hours, so a stale payload must not
//!   overwrite newer state: `X-Shopify-Triggered-At` (else the payload's `updated_at`) is
//!   compared with what is stored (shopify.dev changelog "updates-to-webhook-retry-mechanism").
//! - Field names follow the REST resources (Shopify/shopify-api-php `Order.php`,
//!   `Fulfillment.php`, `AbandonedCheckout.php`, `Customer.php`, `Product.php`).
//! - The mandatory privacy topics: `customers/redact`, `customers/data_request`,
//!   `shop/redact` (shopify.dev "Privacy law compliance").

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub mod payloads;

pub use payloads::{Parsed, Reading, parse};

use self::payloads::{Redact, first_phone};
use super::{CustomerChange, Source, apply, record_event};
use crate::catalog::index::{ProductDoc, SearchIndex};
use crate::catalog::shopify::{ProductPayload, product_from_payload};
use crate::domain::Region;
use crate::jobs::KIND_SHOPIFY;
use crate::store::catalog::{self as catalog_store, ProductRow};
use crate::store::commerce::{self as store, NewShopifyWebhook, ShopifyWebhookRow};
use crate::store::{Db, Tx};

/// True when `signature` (the header's base64) is the HMAC of `body` under one of `secrets`.
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify(secrets: &[&str], body: &[u8], signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
    secrets.iter().any(|secret| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// The signature Shopify would send for `body` (for tests and the benchmark).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The topics handled; any other is acknowledged and recorded as ignored.
pub const TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "fulfillments/create",
    "fulfillments/update",
    "checkouts/create",
    "checkouts/update",
    "customers/create",
    "customers/update",
    "products/create",
    "products/update",
    "products/delete",
    "customers/redact",
    "customers/data_request",
    "shop/redact",
];

/// What a product topic changes in the search index, applied before the transaction commits
/// (an upsert or a delete is the same when the job runs again).
#[derive(Debug)]
pub enum IndexChange {
    Upsert(Box<ProductRow>),
    Delete(String),
}

impl IndexChange {
    /// Applies the change; searches see it once this returns (no restart).
    pub fn apply(&self, index: &SearchIndex) -> anyhow::Result<()> {
        let batch = index.begin(false)?;
        match self {
            IndexChange::Upsert(row) => batch.upsert_product(&ProductDoc::from_row(row))?,
            IndexChange::Delete(sku) => batch.delete_product(sku)?,
        }
        batch.commit()
    }
}

/// `products/create`, `products/update`, `products/delete`: the catalog row (the same rules
/// as the product export, `catalog::shopify`) and the index change to make. A product turned
/// draft or archived leaves the catalog.
async fn product_topic(
    tx: &mut Tx,
    topic: &str,
    body: &str,
    triggered_at: Option<chrono::DateTime<Utc>>,
) -> anyhow::Result<(String, Option<IndexChange>)> {
    let payload: ProductPayload = serde_json::from_str(body)?;
    let source_id = match &payload.id {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => anyhow::bail!("a product webhook without an id"),
    };
    // Shopify retries 8 times over 4 h with the original payload, so an older change can
    // arrive after a newer one: older than the newest applied (an update, or the delete) is
    // stale (shopify.dev/changelog/updates-to-webhook-retry-mechanism: X-Shopify-Triggered-At).
    if let Some(at) = triggered_at
        && !catalog_store::claim_product_version(tx, &source_id, at, topic == "products/delete").await?
    {
        return Ok(("skipped: stale (a newer change of the product was applied)".into(), None));
    }
    if topic == "products/delete" {
        return Ok(match catalog_store::delete_product_by_source(tx, &source_id).await? {
            Some(sku) => ("product deleted".into(), Some(IndexChange::Delete(sku))),
            None => ("skipped: product not in the catalog".into(), None),
        });
    }
    let record = match product_from_payload(&payload) {
        Ok(Ok(record)) => record,
        Ok(Err(skip)) => {
            // Drafts and archived products are not for sale: out of the catalog.
            let sku = payload.handle.clone().unwrap_or_default();
            let deleted = catalog_store::delete_product(tx, &sku).await?;
            let outcome = format!("skipped: {} product", skip.as_str());
            return Ok((outcome, deleted.then_some(IndexChange::Delete(sku))));
        }
        Err(reason) => anyhow::bail!(BadPayload(format!("product {source_id}: {reason}"))),
    };
    record.validate().map_err(|reason| BadPayload(format!("product {source_id}: {reason}")))?;
    let row = record.to_row();
    catalog_store::upsert_product(tx, &row).await?;
    catalog_store::set_product_source(tx, row.sku.as_str(), &source_id).await?;
    Ok(("product indexed".into(), Some(IndexChange::Upsert(Box::new(row)))))
}

/// A payload that will never apply (the job is dead-lettered at once, keeping the reason).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadPayload(pub String);

/// Processes a stored webhook in one transaction with the job's completion (the caller's
/// `tx`); returns the outcome recorded on the webhook, and the index change a product topic
/// makes.
pub async fn process(
    tx: &mut Tx,
    hook: &ShopifyWebhookRow,
    region: Region,
) -> anyhow::Result<(String, Option<IndexChange>)> {
    let body = hook.body.as_deref().unwrap_or("{}");
    let reading = Reading { at: hook.triggered_at, region };
    let mut index_change = None;
    let outcome = match hook.topic.as_str() {
        "customers/redact" => redact(tx, body, region).await?,
        "shop/redact" => {
            let mut erased = 0;
            for id in store::all_customer_ids(tx).await? {
                erased += store::erase_customer(tx, id, &[]).await?.customers;
            }
            format!("shop redacted: {erased} customers erased")
        }
        "customers/data_request" => {
            // The shop asks for what we hold on a customer: recorded as an event for the
            // operator to answer (GET /api/v1/events?name=Customer%20Data%20Requested).
            let r: Redact = serde_json::from_str(body)?;
            let who = CustomerChange {
                external_id: r.customer.id.clone(),
                phone: first_phone(region, [r.customer.phone.as_deref()]),
                email: r.customer.email.clone(),
                ..CustomerChange::default()
            };
            let props = json!({"shopify_customer_id": r.customer.id});
            let event_id = format!("shopify:{}", hook.webhook_id);
            record_event(tx, &event_id, "Customer Data Requested", Source::Shopify, &who, &props, Utc::now()).await?;
            "data request recorded".to_string()
        }
        topic @ ("products/create" | "products/update" | "products/delete") => {
            let (outcome, change) = product_topic(tx, topic, body, hook.triggered_at).await?;
            index_change = change;
            outcome
        }
        topic => match parse(topic, body, reading)? {
            None => "ignored: unknown topic".to_string(),
            Some(parsed) => {
                let mut outcomes = Vec::new();
                for change in &parsed.changes {
                    outcomes.push(apply(tx, change, Source::Shopify).await?);
                }
                let occurred = hook.triggered_at.unwrap_or_else(Utc::now);
                for e in &parsed.events {
                    let event_id = format!("shopify:{}", e.key);
                    record_event(tx, &event_id, e.name, Source::Shopify, &parsed.who, &e.properties, occurred).await?;
                }
                outcomes.join("; ")
            }
        },
    };
    store::finish_shopify_webhook(tx, hook.id, &outcome).await?;
    Ok((outcome, index_change))
}

/// `customers/redact`: erase the customer (found by shop id, then phone, then email) and
/// the orders the payload lists.
async fn redact(tx: &mut Tx, body: &str, region: Region) -> anyhow::Result<String> {
    let r: Redact = serde_json::from_str(body)?;
    use crate::store::crm as c;
    let mut id = None;
    if let Some(external) = &r.customer.id {
        id = c::customer_id_by_external_id(tx, external).await?;
    }
    if id.is_none()
        && let Some(phone) = first_phone(region, [r.customer.phone.as_deref()])
    {
        id = c::customer_id_by_phone_in(tx, &phone).await?;
    }
    if id.is_none()
        && let Some(email) = &r.customer.email
    {
        id = c::customer_id_by_email(tx, email).await?;
    }
    let orders: Vec<String> = r
        .orders_to_redact
        .iter()
        .filter_map(|v| match v {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let erased = match id {
        Some(id) => store::erase_customer(tx, id, &orders).await?,
        // No customer row: what the shop's guest left (a checkout, events by email) still goes.
        None => {
            let phone = first_phone(region, [r.customer.phone.as_deref()]);
            let phone = phone.as_ref().map(|p| p.as_str());
            let erased = store::erase_guest(tx, phone, r.customer.email.as_deref(), &orders).await?;
            return Ok(format!(
                "guest redacted (no customer row): {} orders, {} events erased",
                erased.orders, erased.events
            ));
        }
    };
    Ok(format!(
        "customer redacted: {} orders, {} messages, {} events erased",
        erased.orders, erased.messages, erased.events
    ))
}

/// What receiving a webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored with its job (the row id).
    New(i64),
    /// Its `X-Shopify-Webhook-Id` was seen before: nothing written.
    Duplicate,
}

/// Stores a verified webhook and the job that will apply it, in one transaction: once this
/// returns, the webhook survives a crash and is applied exactly once.
pub async fn receive(db: &Db, hook: &NewShopifyWebhook<'_>, max_attempts: i32) -> anyhow::Result<Received> {
    let mut tx = db.begin().await?;
    let Some(id) = store::record_shopify_webhook(&mut tx, hook).await? else {
        return Ok(Received::Duplicate);
    };
    let payload = json!({ "webhook": id }).to_string();
    crate::store::jobs::enqueue_job(&mut tx, KIND_SHOPIFY, &payload, Some(&format!("shopify:{id}")), max_attempts)
        .await?;
    tx.commit().await?;
    Ok(Received::New(id))
}

/// Applies a stored webhook for its job, committing with the job's completion; a webhook
/// already applied (a job run twice) writes nothing.
pub async fn run_job(
    db: &Db,
    index: &SearchIndex,
    region: Region,
    id: i64,
    job_id: i64,
    attempt: i64,
) -> anyhow::Result<Option<String>> {
    let Some(hook) = store::shopify_webhook(db, id).await? else { anyhow::bail!("shopify webhook {id} is gone") };
    let mut tx = db.begin().await?;
    let outcome = if hook.processed_at.is_some() {
        None
    } else {
        let (outcome, index_change) = process(&mut tx, &hook, region).await?;
        if let Some(change) = index_change {
            change.apply(index)?;
        }
        Some(outcome)
    };
    if crate::store::jobs::complete_job(&mut tx, job_id, attempt).await? {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// Dead-letters a webhook's job and records on the webhook why it could not be applied.
pub async fn bury(db: &Db, job_id: i64, attempt: i64, webhook: Option<i64>, reason: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    if !crate::store::jobs::bury_job(&mut tx, job_id, attempt, reason).await? {
        // Another attempt owns the job now; it decides.
        return Ok(());
    }
    if let Some(id) = webhook {
        store::finish_shopify_webhook(&mut tx, id, &format!("failed: {reason}")).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector from shared/reference/flows-webhooks-analytics.md §2 (SQLPage's test,
    /// recomputed with Python's hmac).
    #[test]
    fn the_reference_hmac_vector_verifies() {
        let body = br#"{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}"#;
        let header = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw=";
        assert_eq!(sign("test-webhook-secret", body), header);
        assert!(verify(&["test-webhook-secret"], body, header));
        // The previous secret during a rotation.
        assert!(verify(&["new-secret", "test-webhook-secret"], body, header));
        assert!(!verify(&["another-secret"], body, header));
        assert!(!verify(&["test-webhook-secret"], b"{\"id\":1234567891}", header));
        assert!(!verify(&["test-webhook-secret"], body, "not base64!"));
        assert!(!verify(&[], body, header));
    }
}
