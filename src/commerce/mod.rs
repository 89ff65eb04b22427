//! Store data in: Shopify webhooks ([`shopify`]) and the events API ([`events`]) both become
//! the same [`Change`]s, applied here, so an order or a shipment reaches the CRM the same way
//! whichever door it came through. (CSV exports are read by `crm::import`.)

pub mod events;
pub mod shopify;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::crm::{self, ConsentImported};
use crate::domain::{ConsentKind, Phone, Sku};
use crate::store::Tx;
use crate::store::commerce::{self as store, NewCheckout, NewEvent};
use crate::store::crm::{self as store_crm, NewCustomer, NewFulfillment, NewOrder, NewOrderItem, Upserted};

/// Who a change is about: found by the shop's id, then phone, then email.
#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub external_id: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// SMS consent the shop states, with the words it said it in (the ledger's evidence).
    pub consent: Option<(ConsentKind, String)>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One line of an order or a checkout.
#[derive(Debug, Clone)]
pub struct Line {
    pub sku: Sku,
    pub title: String,
    pub price_cents: i64,
    pub quantity: i64,
}

/// An order as the shop states it now.
#[derive(Debug, Clone)]
pub struct OrderChange {
    pub customer: CustomerChange,
    /// The number a customer quotes ("1001").
    pub number: String,
    pub source_id: Option<String>,
    pub ordered_at: DateTime<Utc>,
    pub status: String,
    pub fulfillment_status: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub order_status_url: Option<String>,
    pub checkout_token: Option<String>,
    pub total_cents: Option<i64>,
    pub currency: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub lines: Vec<Line>,
    pub shipments: Vec<ShipmentChange>,
    /// The discount codes it used.
    pub discount_codes: Vec<String>,
}

/// A shipment of an order.
#[derive(Debug, Clone, Default)]
pub struct ShipmentChange {
    /// The shop's id of the shipment (or one made from the order and tracking number).
    pub source_id: String,
    /// The order's shop id or number.
    pub order: String,
    pub status: Option<String>,
    pub shipment_status: Option<String>,
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
    pub estimated_delivery_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A checkout (a cart on its way to an order).
#[derive(Debug, Clone)]
pub struct CheckoutChange {
    pub customer: CustomerChange,
    pub token: String,
    pub recovery_url: Option<String>,
    pub total_cents: i64,
    pub currency: String,
    pub lines: Vec<Line>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What the shop told us.
#[derive(Debug, Clone)]
pub enum Change {
    Customer(CustomerChange),
    Order(Box<OrderChange>),
    Shipment(ShipmentChange),
    Cancel { order: String, at: DateTime<Utc> },
    Checkout(Box<CheckoutChange>),
}

/// Where a change came from: the consent ledger's `source` and the events' `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Shopify,
    EventsApi,
}

impl Source {
    fn ledger(self) -> &'static str {
        match self {
            Source::Shopify => "shopify",
            Source::EventsApi => "events_api",
        }
    }
}

/// Applies one change in the caller's transaction; returns what it did, in a few words (the
/// webhook's recorded outcome).
pub async fn apply(tx: &mut Tx, change: &Change, source: Source) -> anyhow::Result<String> {
    Ok(match change {
        Change::Customer(c) => match customer(tx, c, source).await? {
            Upserted::Created(_) => "customer created".into(),
            Upserted::Updated(_) => "customer updated".into(),
            Upserted::Stale(_) => "stale: a newer customer record is stored".into(),
            Upserted::NoPhone => "skipped: customer without a phone".into(),
        },
        Change::Order(o) => order(tx, o, source).await?,
        Change::Shipment(s) => shipment(tx, s).await?,
        Change::Cancel { order, at } => match store_crm::order_id_by_source(tx, order).await? {
            Some(id) => {
                store_crm::cancel_order(tx, id, *at).await?;
                "order cancelled".into()
            }
            None => "skipped: unknown order".into(),
        },
        Change::Checkout(c) => checkout(tx, c, source).await?,
    })
}

/// Upserts the customer and records the consent the shop states.
async fn customer(tx: &mut Tx, c: &CustomerChange, source: Source) -> anyhow::Result<Upserted> {
    let mut found = None;
    if c.external_id.is_none()
        && c.phone.is_none()
        && let Some(email) = &c.email
    {
        found = store_crm::customer_id_by_email(tx, email).await?;
    }
    let upserted = match found {
        Some(id) => Upserted::Updated(id),
        None => {
            store_crm::upsert_customer(
                tx,
                &NewCustomer {
                    phone: c.phone.as_ref(),
                    name: c.name.as_deref(),
                    email: c.email.as_deref(),
                    timezone: None,
                    external_id: c.external_id.as_deref(),
                    source_updated_at: c.updated_at,
                },
            )
            .await?
        }
    };
    if let (Some(phone), Some((kind, evidence)), false) = (&c.phone, &c.consent, matches!(upserted, Upserted::Stale(_)))
    {
        let recorded = crm::record_consent(tx, phone, *kind, source.ledger(), Some(evidence)).await?;
        if recorded == ConsentImported::KeptOptedOut {
            tracing::info!("shop says opted in, the number opted out: left opted out");
        }
    }
    Ok(upserted)
}

fn items(lines: &[Line]) -> Vec<NewOrderItem<'_>> {
    lines
        .iter()
        .map(|l| NewOrderItem { sku: &l.sku, title: &l.title, price_cents: l.price_cents, quantity: l.quantity })
        .collect()
}

async fn order(tx: &mut Tx, o: &OrderChange, source: Source) -> anyhow::Result<String> {
    let Some(customer_id) = customer(tx, &o.customer, source).await?.id() else {
        return Ok("skipped: order without a phone or a known customer".into());
    };
    let new = NewOrder {
        customer_id,
        external_id: &o.number,
        source_id: o.source_id.as_deref(),
        ordered_at: o.ordered_at,
        status: &o.status,
        fulfillment_status: o.fulfillment_status.as_deref(),
        cancelled_at: o.cancelled_at,
        order_status_url: o.order_status_url.as_deref(),
        checkout_token: o.checkout_token.as_deref(),
        total_cents: o.total_cents,
        currency: o.currency.as_deref(),
        source_updated_at: o.updated_at,
        discount_codes: &o.discount_codes,
        items: items(&o.lines),
    };
    let before = store_crm::order_skus(tx, o.source_id.as_deref(), &o.number).await?;
    let written = store_crm::upsert_order(tx, &new).await?;
    if let Upserted::Stale(_) = written {
        return Ok("stale: a newer order record is stored".into());
    }
    // "Bought together" follows this order's lines, without recomputing the whole history.
    let after: Vec<String> = o.lines.iter().map(|l| l.sku.as_str().to_string()).collect();
    let (mut old, mut new) = (before.clone(), after.clone());
    for skus in [&mut old, &mut new] {
        skus.sort();
        skus.dedup();
    }
    if old != new {
        crate::store::catalog::adjust_bought_together(tx, &before, -1).await?;
        crate::store::catalog::adjust_bought_together(tx, &after, 1).await?;
    }
    for s in &o.shipments {
        shipment(tx, s).await?;
    }
    if let Some(token) = &o.checkout_token {
        store::complete_checkout(tx, token, o.ordered_at).await?;
    }
    Ok(match written {
        Upserted::Created(_) => "order created".into(),
        _ => "order updated".into(),
    })
}

async fn shipment(tx: &mut Tx, s: &ShipmentChange) -> anyhow::Result<String> {
    let Some(order_id) = store_crm::order_id_by_source(tx, &s.order).await? else {
        // Shopify does not promise order: the order's own webhook may still be on its way.
        // The job is retried with backoff and dead-lettered, with this reason, if it never comes.
        anyhow::bail!("shipment of order {} that is not stored (yet)", s.order);
    };
    let written = store_crm::upsert_fulfillment(
        tx,
        &NewFulfillment {
            order_id,
            source_id: &s.source_id,
            status: s.status.as_deref(),
            shipment_status: s.shipment_status.as_deref(),
            tracking_company: s.company.as_deref(),
            tracking_number: s.number.as_deref(),
            tracking_url: s.url.as_deref(),
            estimated_delivery_at: s.estimated_delivery_at,
            delivered_at: s.delivered_at,
            source_updated_at: s.updated_at,
        },
    )
    .await?;
    Ok(match written {
        Upserted::Stale(_) => "stale: a newer shipment record is stored".into(),
        _ => "shipment recorded".into(),
    })
}

async fn checkout(tx: &mut Tx, c: &CheckoutChange, source: Source) -> anyhow::Result<String> {
    let customer_id = customer(tx, &c.customer, source).await?.id();
    let items: Vec<serde_json::Value> = c
        .lines
        .iter()
        .map(|l| json!({"sku": l.sku, "title": l.title, "price_cents": l.price_cents, "quantity": l.quantity}))
        .collect();
    let items = serde_json::Value::Array(items).to_string();
    let written = store::upsert_checkout(
        tx,
        &NewCheckout {
            token: &c.token,
            customer_id,
            phone: c.customer.phone.as_ref().map(|p| p.as_str()),
            email: c.customer.email.as_deref(),
            recovery_url: c.recovery_url.as_deref(),
            total_cents: c.total_cents,
            currency: &c.currency,
            items: &items,
            completed_at: c.completed_at,
            source_updated_at: c.updated_at,
        },
    )
    .await?;
    Ok(match written {
        Upserted::Stale(_) => "stale: a newer checkout record is stored".into(),
        _ => "checkout recorded".into(),
    })
}

/// Stores a tracked event for the customer a change is about (flows and attribution read
/// them); `false` when the event id was seen before.
pub async fn record_event(
    tx: &mut Tx,
    event_id: &str,
    name: &str,
    source: Source,
    who: &CustomerChange,
    properties: &serde_json::Value,
    occurred_at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    // By the shop's id, then phone, then email: the first that finds the customer.
    let mut customer_id = None;
    if let Some(id) = &who.external_id {
        customer_id = store_crm::customer_id_by_external_id(tx, id).await?;
    }
    if customer_id.is_none()
        && let Some(phone) = &who.phone
    {
        customer_id = store_crm::customer_id_by_phone_in(tx, phone).await?;
    }
    if customer_id.is_none()
        && who.phone.is_none()
        && let Some(email) = &who.email
    {
        customer_id = store_crm::customer_id_by_email(tx, email).await?;
    }
    let source = match source {
        Source::Shopify => "shopify",
        Source::EventsApi => "api",
    };
    let stored = store::insert_event(
        tx,
        &NewEvent {
            event_id,
            name,
            source,
            customer_id,
            phone: who.phone.as_ref().map(|p| p.as_str()),
            email: who.email.as_deref(),
            properties: &properties.to_string(),
            occurred_at,
        },
    )
    .await?;
    Ok(stored.is_some())
}

/// Money written by a shop as a decimal string ("123.45") in cents.
pub fn cents(amount: &str) -> Option<i64> {
    let amount = amount.trim();
    let value: f64 = amount.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * 100.0).round() as i64)
}

/// A line's sku, or one made from the shop's variant or product id when the line has none
/// (Shopify allows variants without a sku).
pub fn line_sku(sku: Option<&str>, fallback: &str) -> Sku {
    sku.and_then(|s| Sku::parse(s).ok()).unwrap_or_else(|| {
        Sku::parse(&format!("shopify-{fallback}")).unwrap_or_else(|_| Sku::parse("shopify-unknown").expect("valid"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_amounts_are_cents() {
        assert_eq!(cents("123.45"), Some(12345));
        assert_eq!(cents("0.1"), Some(10));
        assert_eq!(cents("19.999"), Some(2000));
        assert_eq!(cents("-1"), None);
        assert_eq!(cents("abc"), None);
    }

    #[test]
    fn a_line_without_a_sku_gets_one_from_its_variant() {
        assert_eq!(line_sku(Some("ZO0001"), "1").as_str(), "ZO0001");
        assert_eq!(line_sku(None, "4471").as_str(), "shopify-4471");
        assert_eq!(line_sku(Some(""), "4471").as_str(), "shopify-4471");
    }
}
