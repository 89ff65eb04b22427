//! The customer's profile and purchase history for a phone number, and CRM import
//! ([`import`]: `backtalk import-crm`, reading Shopify's exports through [`shopify_export`]).

pub mod import;
pub mod shopify_export;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::facts::{DeliveryFact, OrderFact, OrderItemFact, TrackingFact, order_number_matches};
use crate::domain::{ConsentKind, Money, Phone, Sku};
use crate::store::crm::{self, NewCustomer, NewFulfillment, NewOrder, NewOrderItem, OrderWithItems};
use crate::store::{Db, consent};

/// Orders given to a turn as context.
const ORDERS_IN_CONTEXT: i64 = 5;

/// The CRM's view of a customer: name and recent orders (newest first).
#[derive(Debug, Clone, Default)]
pub struct CustomerFacts {
    /// The customer's row; `None` for a number the CRM does not know.
    pub id: Option<i64>,
    pub name: Option<String>,
    pub orders: Vec<OrderFact>,
}

/// Looks the customer up by phone; an unknown number is a lead with no history. The orders
/// are the latest few, plus any older one of theirs whose number is in `mentioned` ("where is
/// order 583630?"), so a question about it is answered from its own facts.
pub async fn customer_facts(db: &Db, phone: &Phone, mentioned: &[String]) -> anyhow::Result<CustomerFacts> {
    let Some(customer) = crm::customer_by_phone(db, phone).await? else {
        return Ok(CustomerFacts::default());
    };
    let mut orders = crm::orders_for_customer(db, customer.id, ORDERS_IN_CONTEXT).await?;
    let missing: Vec<String> =
        mentioned.iter().filter(|n| !orders.iter().any(|o| order_number_matches(&o.external_id, n))).cloned().collect();
    orders.extend(crm::orders_by_number(db, customer.id, &missing).await?);
    let orders = orders.into_iter().map(order_fact).collect();
    Ok(CustomerFacts { id: Some(customer.id), name: customer.name, orders })
}

/// What a turn knows of an order: its status follows the latest shipment (out for delivery,
/// delivered) and a cancellation, whatever the order's own status word says.
fn order_fact(o: OrderWithItems) -> OrderFact {
    let shipment = o.shipment.as_ref();
    let status = status_of(&o);
    let tracking = shipment
        .map(|s| TrackingFact {
            company: s.tracking_company.clone(),
            number: s.tracking_number.clone(),
            url: s.tracking_url.clone(),
        })
        .filter(|t| t.number.is_some() || t.url.is_some());
    let day = |at: chrono::DateTime<Utc>| at.format("%Y-%m-%d").to_string();
    let delivery = match shipment {
        _ if status == "cancelled" => None,
        Some(s) if s.delivered_at.is_some() => s.delivered_at.map(day).map(DeliveryFact::Delivered),
        Some(s) if status != "delivered" => s.estimated_delivery_at.map(day).map(DeliveryFact::Expected),
        _ => None,
    };
    OrderFact {
        id: o.external_id,
        date: o.ordered_at.format("%Y-%m-%d").to_string(),
        status,
        total: Money::usd_cents(o.total_cents),
        items: o
            .items
            .into_iter()
            .map(|i| OrderItemFact { sku: i.sku, title: i.title, price: Money::usd_cents(i.price_cents) })
            .collect(),
        tracking,
        delivery,
    }
}

/// The status word of an order: `cancelled`, then what its latest shipment says
/// (Shopify's `shipment_status`: `out_for_delivery`, `delivered`; any other scan of a
/// shipment means `shipped`), then the order's own status.
fn status_of(o: &OrderWithItems) -> String {
    if o.cancelled_at.is_some() || o.status.eq_ignore_ascii_case("cancelled") {
        return "cancelled".to_string();
    }
    let Some(shipment) = &o.shipment else { return o.status.clone() };
    if shipment.delivered_at.is_some() {
        return "delivered".to_string();
    }
    match shipment.shipment_status.as_deref() {
        Some("delivered") => "delivered".to_string(),
        Some("out_for_delivery") => "out for delivery".to_string(),
        _ if o.status.eq_ignore_ascii_case("delivered") => o.status.clone(),
        _ => "shipped".to_string(),
    }
}

/// One thing the customer bought, with when.
#[derive(Debug, Clone)]
pub struct Purchase {
    pub item: OrderItemFact,
    /// The order's date, `YYYY-MM-DD`.
    pub bought_on: String,
}

/// Everything the customer has bought, newest order first; none for an unknown number.
pub async fn purchased_items(db: &Db, phone: &Phone) -> anyhow::Result<Vec<Purchase>> {
    let Some(customer) = crm::customer_by_phone(db, phone).await? else {
        return Ok(vec![]);
    };
    let mut bought = Vec::new();
    for order in crm::orders_for_customer(db, customer.id, i64::MAX).await? {
        let bought_on = order.ordered_at.format("%Y-%m-%d").to_string();
        for i in order.items {
            let item = OrderItemFact { sku: i.sku, title: i.title, price: Money::usd_cents(i.price_cents) };
            bought.push(Purchase { item, bought_on: bought_on.clone() });
        }
    }
    Ok(bought)
}

/// One customer line of a CRM export (JSONL).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRecord {
    pub phone: Phone,
    pub name: Option<String>,
    pub email: Option<String>,
    pub timezone: Option<String>,
    /// `opted_in`, `opted_out`, or absent (no consent evidence).
    pub consent: Option<String>,
    /// The shop's id for the customer (Shopify's "Customer ID"): found by it before the phone.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// One order line of a CRM export (JSONL).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    pub order_id: String,
    pub phone: Phone,
    pub ordered_at: DateTime<Utc>,
    pub status: String,
    pub items: Vec<OrderItemRecord>,
    /// `fulfilled`, `partial`, `unfulfilled`: how much of the order has shipped.
    #[serde(default)]
    pub fulfillment_status: Option<String>,
    /// The carrier of the order's shipment ("UPS").
    #[serde(default)]
    pub tracking_company: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    /// What a shop's own export says beyond Backtalk's columns (read from Shopify's
    /// order export; never a field of Backtalk's format).
    #[serde(skip)]
    pub shop: ShopOrderFields,
}

/// An order's fields that only a shop's export carries.
#[derive(Debug, Clone, Default)]
pub struct ShopOrderFields {
    /// The shop's own id of the order (Shopify's "Id").
    pub source_id: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The shop's total (with shipping and taxes); the sum of the lines when absent.
    pub total_cents: Option<i64>,
    /// ISO 4217 ("USD").
    pub currency: Option<String>,
    /// The discount codes the order used (Shopify's "Discount Code").
    pub discount_codes: Vec<String>,
}

impl OrderRecord {
    /// True when the record carries a shipment to record (a tracking number, carrier or link).
    pub fn has_tracking(&self) -> bool {
        self.tracking_number.is_some() || self.tracking_company.is_some() || self.tracking_url.is_some()
    }
}

/// One line item of an order record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRecord {
    pub sku: Sku,
    pub title: String,
    pub price: f64,
    pub quantity: i64,
}

/// What importing one customer did to the consent ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentImported {
    /// No consent in the record, or the ledger already says so.
    Unchanged,
    /// A ledger event was recorded (source `import`).
    Recorded,
    /// The record says opted in, but the number opted out: an import never turns an
    /// opted-out number back on (FCC 64.1200(a)(12): only the consumer's own new consent,
    /// e.g. a START, does).
    KeptOptedOut,
}

/// Upserts one customer (by shop id, then phone) and records their consent as a ledger
/// event from `source` (`import`, `shopify_export`) with `evidence` (the file, line and
/// value it came from) when it changes the ledger.
pub async fn import_customer(
    tx: &mut crate::store::Tx,
    c: &CustomerRecord,
    source: &str,
    evidence: Option<&str>,
) -> anyhow::Result<ConsentImported> {
    let phone = &c.phone;
    crm::upsert_customer(
        tx,
        &NewCustomer {
            phone: Some(phone),
            name: c.name.as_deref(),
            email: c.email.as_deref(),
            timezone: c.timezone.as_deref(),
            external_id: c.external_id.as_deref(),
            ..NewCustomer::default()
        },
    )
    .await?;
    let kind = match c.consent.as_deref() {
        Some("opted_in") => ConsentKind::OptIn,
        Some("opted_out") => ConsentKind::OptOut,
        Some(other) => anyhow::bail!("customer consent {other:?} is not opted_in or opted_out"),
        None => return Ok(ConsentImported::Unchanged),
    };
    record_consent(tx, phone, kind, source, evidence).await
}

/// Records consent the shop or an import states for a number, as a ledger event with its
/// `source` (`import`, `shopify_export`, `shopify`, `events_api`) and `evidence` (what the
/// record said), when it changes the ledger. A stated opt-in never overrides an opt-out: only
/// the consumer's own new consent does (FCC 47 CFR 64.1200(a)(12): a revocation is honoured
/// until the consumer consents again).
pub async fn record_consent(
    tx: &mut crate::store::Tx,
    phone: &Phone,
    kind: ConsentKind,
    source: &str,
    evidence: Option<&str>,
) -> anyhow::Result<ConsentImported> {
    let latest = consent::latest_consent_in_tx(tx, phone).await?;
    if latest == Some(kind) {
        // Re-importing the same state adds nothing to the ledger.
        return Ok(ConsentImported::Unchanged);
    }
    if latest == Some(ConsentKind::OptOut) && kind == ConsentKind::OptIn {
        return Ok(ConsentImported::KeptOptedOut);
    }
    consent::insert_consent_event(
        tx,
        &consent::NewConsentEvent {
            phone,
            kind,
            source,
            evidence_message_id: None,
            evidence_text: evidence,
            scope: "all",
        },
    )
    .await?;
    Ok(ConsentImported::Recorded)
}

/// Upserts one order (its lines replaced), creating its customer when the number is new;
/// tracking in the record becomes the order's shipment (shop id `import:{order_id}`).
pub async fn import_order(tx: &mut crate::store::Tx, o: &OrderRecord) -> anyhow::Result<()> {
    let customer_id = crm::ensure_customer(tx, &o.phone).await?;
    let items = o
        .items
        .iter()
        .map(|i| NewOrderItem {
            sku: &i.sku,
            title: &i.title,
            price_cents: Money::usd(i.price).cents,
            quantity: i.quantity,
        })
        .collect();
    let order = NewOrder {
        source_id: o.shop.source_id.as_deref(),
        fulfillment_status: o.fulfillment_status.as_deref(),
        cancelled_at: o.shop.cancelled_at,
        total_cents: o.shop.total_cents,
        currency: o.shop.currency.as_deref(),
        discount_codes: &o.shop.discount_codes,
        ..NewOrder::new(customer_id, &o.order_id, o.ordered_at, &o.status, items)
    };
    let upserted = crm::upsert_order(tx, &order).await?;
    if o.has_tracking()
        && let Some(order_id) = upserted.id()
    {
        let source_id = format!("import:{}", o.order_id);
        crm::upsert_fulfillment(
            tx,
            &NewFulfillment {
                order_id,
                source_id: &source_id,
                // Shopify's word for a shipment that left: a tracking number means it did.
                status: Some("success"),
                tracking_company: o.tracking_company.as_deref(),
                tracking_number: o.tracking_number.as_deref(),
                tracking_url: o.tracking_url.as_deref(),
                ..NewFulfillment::default()
            },
        )
        .await?;
    }
    Ok(())
}

/// Upserts customers (with their consent as ledger events, source `import`) and orders, in
/// one transaction (the demo store and the eval; `import-crm` streams files through
/// [`import::import_files`]). Returns (customers, orders) imported.
pub async fn import(db: &Db, customers: &[CustomerRecord], orders: &[OrderRecord]) -> anyhow::Result<(usize, usize)> {
    let mut tx = db.begin().await?;
    for c in customers {
        import_customer(&mut tx, c, "import", None).await?;
    }
    for o in orders {
        import_order(&mut tx, o).await?;
    }
    crate::store::catalog::refresh_bought_together(&mut tx).await?;
    tx.commit().await?;
    Ok((customers.len(), orders.len()))
}
