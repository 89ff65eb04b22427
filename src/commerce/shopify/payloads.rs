//! Shopify's webhook payloads (the REST resources' field names: Shopify/shopify-api-php
//! `Order.php`, `Fulfillment.php`, `AbandonedCheckout.php`, `Customer.php`) as [`Change`]s
//! and the events each topic records. Lenient by design: every field may be missing or null,
//! ids and amounts may be numbers or strings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::commerce::{Change, CheckoutChange, CustomerChange, Line, OrderChange, ShipmentChange, cents, line_sku};
use crate::domain::{ConsentKind, Phone, Region};

/// Shopify ids are numbers in JSON (and strings in some payloads), and amounts are strings
/// ("123.45") that some senders write as numbers: either is kept as text.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Address {
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SmsConsent {
    /// `subscribed`, `unsubscribed`, `not_subscribed`, `pending`, `redacted`.
    state: Option<String>,
    opt_in_level: Option<String>,
    consent_updated_at: Option<String>,
    consent_collected_from: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Customer {
    #[serde(deserialize_with = "id")]
    id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    sms_marketing_consent: Option<SmsConsent>,
    default_address: Option<Address>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LineItem {
    sku: Option<String>,
    title: Option<String>,
    name: Option<String>,
    #[serde(deserialize_with = "id")]
    price: Option<String>,
    quantity: Option<i64>,
    #[serde(deserialize_with = "id")]
    variant_id: Option<String>,
    #[serde(deserialize_with = "id")]
    id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Fulfillment {
    #[serde(deserialize_with = "id")]
    id: Option<String>,
    #[serde(deserialize_with = "id")]
    order_id: Option<String>,
    status: Option<String>,
    shipment_status: Option<String>,
    tracking_company: Option<String>,
    tracking_number: Option<String>,
    tracking_numbers: Vec<String>,
    tracking_url: Option<String>,
    tracking_urls: Vec<String>,
    estimated_delivery_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Order {
    #[serde(deserialize_with = "id")]
    id: Option<String>,
    name: Option<String>,
    #[serde(deserialize_with = "id")]
    order_number: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    customer: Option<Customer>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    financial_status: Option<String>,
    fulfillment_status: Option<String>,
    order_status_url: Option<String>,
    checkout_token: Option<String>,
    currency: Option<String>,
    #[serde(deserialize_with = "id")]
    total_price: Option<String>,
    line_items: Vec<LineItem>,
    fulfillments: Vec<Fulfillment>,
    discount_codes: Vec<DiscountCode>,
    shipping_address: Option<Address>,
    billing_address: Option<Address>,
}

/// An order's `discount_codes[]` entry (`{code, amount, type}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DiscountCode {
    code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Checkout {
    token: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    sms_marketing_phone: Option<String>,
    buyer_accepts_sms_marketing: Option<bool>,
    customer: Option<Customer>,
    line_items: Vec<LineItem>,
    #[serde(deserialize_with = "id")]
    total_price: Option<String>,
    currency: Option<String>,
    presentment_currency: Option<String>,
    abandoned_checkout_url: Option<String>,
    completed_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    shipping_address: Option<Address>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RedactCustomer {
    #[serde(deserialize_with = "id")]
    pub(super) id: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Redact {
    pub(super) customer: RedactCustomer,
    pub(super) orders_to_redact: Vec<Value>,
}

/// How a payload is read: when Shopify says it happened (`X-Shopify-Triggered-At`), and the
/// country numbers written without a country code are read in (`crm.default_region`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub at: Option<DateTime<Utc>>,
    pub region: Region,
}

/// The first of `numbers` that is a phone number (Shopify stores them as the shopper typed).
pub(super) fn first_phone<'a>(region: Region, numbers: impl IntoIterator<Item = Option<&'a str>>) -> Option<Phone> {
    numbers.into_iter().flatten().find_map(|n| Phone::parse_in(n.trim_start_matches('\''), region).ok())
}

fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let name = [first, last].into_iter().flatten().map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>();
    (!name.is_empty()).then(|| name.join(" "))
}

/// Shopify's SMS marketing consent as a ledger kind and its evidence; only `subscribed`
/// and `unsubscribed` state anything (`not_subscribed` and `pending` are no consent yet,
/// which is not an opt-out).
fn sms_consent(c: &SmsConsent) -> Option<(ConsentKind, String)> {
    let kind = match c.state.as_deref()? {
        "subscribed" => ConsentKind::OptIn,
        "unsubscribed" => ConsentKind::OptOut,
        _ => return None,
    };
    let mut evidence = format!("shopify sms_marketing_consent: {}", c.state.as_deref().unwrap_or_default());
    for (what, value) in [
        ("opt_in_level", &c.opt_in_level),
        ("collected from", &c.consent_collected_from),
        ("updated", &c.consent_updated_at),
    ] {
        if let Some(v) = value {
            evidence.push_str(&format!(", {what} {v}"));
        }
    }
    Some((kind, evidence))
}

impl Customer {
    /// The customer as a `customers/*` topic states them, as of the webhook.
    fn change(&self, r: Reading) -> CustomerChange {
        CustomerChange { updated_at: r.at.or(self.updated_at), ..self.embedded(r) }
    }

    /// The customer block inside an order or a checkout: a snapshot as of its own
    /// `updated_at`, not of the order's webhook (else an order applied first would make the
    /// customer's own, older `customers/create` look stale and lose its consent).
    fn embedded(&self, r: Reading) -> CustomerChange {
        let address_phone = self.default_address.as_ref().and_then(|a| a.phone.as_deref());
        CustomerChange {
            external_id: self.id.clone(),
            phone: first_phone(r.region, [self.phone.as_deref(), address_phone]),
            email: self.email.clone(),
            name: full_name(self.first_name.as_deref(), self.last_name.as_deref()),
            consent: self.sms_marketing_consent.as_ref().and_then(sms_consent),
            updated_at: self.updated_at,
        }
    }
}

fn lines(items: &[LineItem]) -> Vec<Line> {
    items
        .iter()
        .map(|l| Line {
            sku: line_sku(l.sku.as_deref(), l.variant_id.as_deref().or(l.id.as_deref()).unwrap_or("line")),
            title: l.title.clone().or_else(|| l.name.clone()).unwrap_or_default(),
            price_cents: l.price.as_deref().and_then(cents).unwrap_or(0),
            quantity: l.quantity.unwrap_or(1),
        })
        .collect()
}

impl Fulfillment {
    fn change(&self, order: &str, r: Reading) -> ShipmentChange {
        let number = self.tracking_number.clone().or_else(|| self.tracking_numbers.first().cloned());
        ShipmentChange {
            source_id: self.id.clone().unwrap_or_else(|| format!("{order}:{}", number.clone().unwrap_or_default())),
            order: self.order_id.clone().unwrap_or_else(|| order.to_string()),
            status: self.status.clone(),
            shipment_status: self.shipment_status.clone(),
            company: self.tracking_company.clone(),
            number,
            url: self.tracking_url.clone().or_else(|| self.tracking_urls.first().cloned()),
            estimated_delivery_at: self.estimated_delivery_at,
            delivered_at: self
                .delivered_at
                .or_else(|| (self.shipment_status.as_deref() == Some("delivered")).then_some(r.at).flatten()),
            updated_at: r.at.or(self.updated_at),
        }
    }
}

impl Order {
    /// The order's status word (what a reply says): cancelled, shipped once fulfilled,
    /// else processing (paid or not yet).
    fn status(&self) -> &'static str {
        if self.cancelled_at.is_some() {
            "cancelled"
        } else if matches!(self.fulfillment_status.as_deref(), Some("fulfilled")) {
            "shipped"
        } else if matches!(self.financial_status.as_deref(), Some("refunded")) {
            "refunded"
        } else {
            "processing"
        }
    }

    fn change(&self, r: Reading) -> anyhow::Result<OrderChange> {
        let source_id = self.id.clone();
        let number = self
            .name
            .as_deref()
            .map(|n| n.trim_start_matches('#').to_string())
            .or_else(|| self.order_number.clone())
            .or_else(|| source_id.clone())
            .ok_or_else(|| anyhow::anyhow!("order without id, name or order_number"))?;
        let mut customer = self.customer.as_ref().map(|c| c.embedded(r)).unwrap_or_default();
        // The order's own phone first, then the customer's, then the addresses'.
        let order_phone = first_phone(
            r.region,
            [
                self.phone.as_deref(),
                self.shipping_address.as_ref().and_then(|a| a.phone.as_deref()),
                self.billing_address.as_ref().and_then(|a| a.phone.as_deref()),
            ],
        );
        if customer.phone.is_none() {
            customer.phone = order_phone;
        }
        if customer.email.is_none() {
            customer.email = self.email.clone();
        }
        if customer.name.is_none() {
            customer.name =
                self.shipping_address.as_ref().and_then(|a| full_name(a.first_name.as_deref(), a.last_name.as_deref()));
        }
        // An order's customer block is not where consent is managed (customers/update is).
        customer.consent = None;
        let key = source_id.clone().unwrap_or_else(|| number.clone());
        Ok(OrderChange {
            customer,
            number,
            source_id,
            ordered_at: self.created_at.unwrap_or_else(Utc::now),
            status: self.status().to_string(),
            fulfillment_status: self.fulfillment_status.clone(),
            cancelled_at: self.cancelled_at,
            order_status_url: self.order_status_url.clone(),
            checkout_token: self.checkout_token.clone(),
            total_cents: self.total_price.as_deref().and_then(cents),
            currency: self.currency.clone(),
            updated_at: r.at.or(self.updated_at),
            lines: lines(&self.line_items),
            shipments: self.fulfillments.iter().map(|f| f.change(&key, r)).collect(),
            discount_codes: self.discount_codes.iter().filter_map(|d| d.code.clone()).collect(),
        })
    }
}

impl Checkout {
    fn change(&self, r: Reading) -> anyhow::Result<CheckoutChange> {
        let token = self.token.clone().ok_or_else(|| anyhow::anyhow!("checkout without a token"))?;
        let mut customer = self.customer.as_ref().map(|c| c.embedded(r)).unwrap_or_default();
        let sms_phone = first_phone(r.region, [self.sms_marketing_phone.as_deref()]);
        if customer.phone.is_none() {
            customer.phone = sms_phone.clone().or_else(|| {
                first_phone(
                    r.region,
                    [self.phone.as_deref(), self.shipping_address.as_ref().and_then(|a| a.phone.as_deref())],
                )
            });
        }
        if customer.email.is_none() {
            customer.email = self.email.clone();
        }
        // The checkout's SMS box, ticked for this number, is consent collected at checkout.
        customer.consent = match (self.buyer_accepts_sms_marketing, &sms_phone) {
            (Some(true), Some(p)) if customer.phone.as_ref() == Some(p) => Some((
                ConsentKind::OptIn,
                format!("shopify checkout {token}: buyer_accepts_sms_marketing for sms_marketing_phone"),
            )),
            _ => None,
        };
        Ok(CheckoutChange {
            customer,
            token,
            recovery_url: self.abandoned_checkout_url.clone(),
            total_cents: self.total_price.as_deref().and_then(cents).unwrap_or(0),
            currency: self.currency.clone().or_else(|| self.presentment_currency.clone()).unwrap_or("USD".into()),
            lines: lines(&self.line_items),
            completed_at: self.completed_at,
            updated_at: r.at.or(self.updated_at).or(self.created_at),
        })
    }
}

/// What a topic's payload means: the changes, and the events to record.
pub struct Parsed {
    pub changes: Vec<Change>,
    pub events: Vec<TopicEvent>,
    pub who: CustomerChange,
}

/// An event a topic records. `key` names what happened ("shipment:255858046:shipped"), so
/// the same happening told by two topics (an `orders/updated` with the shipment, then
/// `fulfillments/create`), or by a retry under a new webhook id, is one event.
pub struct TopicEvent {
    pub name: &'static str,
    pub properties: Value,
    pub key: String,
}

/// The events a shipment's state records: shipped once it exists, then out for delivery and
/// delivered as its `shipment_status` says (not every scan: Malomo's advice in
/// shared/reference/flows-webhooks-analytics.md §1.3).
fn shipment_events(s: &ShipmentChange) -> Vec<TopicEvent> {
    let properties = json!({
        "shopify_order_id": s.order, "tracking_number": s.number, "tracking_url": s.url,
        "carrier": s.company, "shipment_status": s.shipment_status,
    });
    let mut happened = vec![("Order Shipped", "shipped")];
    match s.shipment_status.as_deref() {
        Some("out_for_delivery") => happened.push(("Order Out For Delivery", "out_for_delivery")),
        Some("delivered") => happened.push(("Order Delivered", "delivered")),
        _ => {}
    }
    happened
        .into_iter()
        .map(|(name, what)| TopicEvent {
            name,
            properties: properties.clone(),
            key: format!("shipment:{}:{what}", s.source_id),
        })
        .collect()
}

/// Reads a topic's payload. `Ok(None)` for topics that change no CRM data here (products,
/// privacy, unknown ones): the caller handles those.
pub fn parse(topic: &str, body: &str, r: Reading) -> anyhow::Result<Option<Parsed>> {
    let parsed = match topic {
        "orders/create"
        | "orders/updated"
        | "orders/paid"
        | "orders/cancelled"
        | "orders/fulfilled"
        | "orders/partially_fulfilled" => {
            let order: Order = serde_json::from_str(body)?;
            let change = order.change(r)?;
            let who = change.customer.clone();
            let props = json!({
                "order_id": change.number, "shopify_id": change.source_id, "total_cents": change.total_cents,
                "currency": change.currency, "checkout_id": change.checkout_token,
                "products": change.lines.iter().map(|l| json!({"sku": l.sku, "name": l.title, "price_cents": l.price_cents, "quantity": l.quantity})).collect::<Vec<_>>(),
            });
            let order_key = change.source_id.clone().unwrap_or_else(|| change.number.clone());
            let mut events: Vec<TopicEvent> = match topic {
                "orders/create" => vec![("Order Completed", "completed")],
                _ if change.cancelled_at.is_some() => vec![("Order Cancelled", "cancelled")],
                _ => vec![],
            }
            .into_iter()
            .map(|(name, what)| TopicEvent {
                name,
                properties: props.clone(),
                key: format!("order:{order_key}:{what}"),
            })
            .collect();
            events.extend(change.shipments.iter().flat_map(shipment_events));
            Parsed { changes: vec![Change::Order(Box::new(change))], events, who }
        }
        "fulfillments/create" | "fulfillments/update" => {
            let f: Fulfillment = serde_json::from_str(body)?;
            let order = f.order_id.clone().ok_or_else(|| anyhow::anyhow!("fulfillment without order_id"))?;
            let change = f.change(&order, r);
            let events = shipment_events(&change);
            Parsed { changes: vec![Change::Shipment(change)], events, who: CustomerChange::default() }
        }
        "checkouts/create" | "checkouts/update" => {
            let checkout: Checkout = serde_json::from_str(body)?;
            let change = checkout.change(r)?;
            let who = change.customer.clone();
            let props = json!({
                "checkout_id": change.token, "value_cents": change.total_cents, "currency": change.currency,
                "checkout_url": change.recovery_url,
                "items": change.lines.iter().map(|l| json!({"sku": l.sku, "title": l.title, "price_cents": l.price_cents, "quantity": l.quantity})).collect::<Vec<_>>(),
            });
            let key = format!("checkout:{}:started", change.token);
            let events = vec![TopicEvent { name: "Checkout Started", properties: props, key }];
            Parsed { changes: vec![Change::Checkout(Box::new(change))], events, who }
        }
        "customers/create" | "customers/update" => {
            let customer: Customer = serde_json::from_str(body)?;
            let change = customer.change(r);
            Parsed { who: change.clone(), changes: vec![Change::Customer(change)], events: vec![] }
        }
        _ => return Ok(None),
    };
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_payload_becomes_an_order_with_its_shipment() {
        let body = r##"{"id": 450789469, "name": "#1001", "order_number": 1001, "email": "bob@example.com",
            "phone": null, "created_at": "2026-11-28T10:00:00-05:00", "updated_at": "2026-11-29T09:00:00-05:00",
            "financial_status": "paid", "fulfillment_status": "fulfilled", "currency": "USD", "total_price": "61.98",
            "checkout_token": "ck-1", "customer": {"id": 207119551, "first_name": "Bob", "last_name": "Norman",
            "phone": null, "email": "bob@example.com"},
            "shipping_address": {"phone": "+1 (555) 010-0199", "first_name": "Bob", "last_name": "Norman"},
            "line_items": [{"id": 1, "variant_id": 39072856, "sku": "ZO0347403474", "title": "Blouse", "price": "30.99", "quantity": 2},
                           {"id": 2, "variant_id": 39072857, "sku": "", "title": "Gift wrap", "price": "0.00", "quantity": 1}],
            "fulfillments": [{"id": 255858046, "order_id": 450789469, "status": "success", "shipment_status": "in_transit",
                "tracking_company": "UPS", "tracking_number": "1Z999AA10123456784",
                "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"}]}"##;
        let at = Some(DateTime::parse_from_rfc3339("2026-11-28T15:00:00Z").unwrap().with_timezone(&Utc));
        let parsed = parse("orders/create", body, Reading { at, ..Reading::default() }).unwrap().unwrap();
        let Change::Order(o) = &parsed.changes[0] else { panic!("an order") };
        assert_eq!((o.number.as_str(), o.source_id.as_deref()), ("1001", Some("450789469")));
        assert_eq!(o.customer.phone.as_ref().map(|p| p.as_str()), Some("+15550100199"));
        assert_eq!(o.customer.external_id.as_deref(), Some("207119551"));
        // The customer block is as of its own updated_at (none here), not the order's webhook.
        assert_eq!((o.customer.updated_at, o.updated_at), (None, at));
        assert_eq!((o.status.as_str(), o.total_cents), ("shipped", Some(6198)));
        assert_eq!(o.lines[1].sku.as_str(), "shopify-39072857");
        assert_eq!(o.shipments[0].number.as_deref(), Some("1Z999AA10123456784"));
        assert_eq!(o.shipments[0].order, "450789469");
        let events: Vec<(&str, &str)> = parsed.events.iter().map(|e| (e.name, e.key.as_str())).collect();
        assert_eq!(
            events,
            [("Order Completed", "order:450789469:completed"), ("Order Shipped", "shipment:255858046:shipped")]
        );
    }

    #[test]
    fn sms_consent_states_map_to_the_ledger_only_when_they_say_something() {
        let state = |s: &str| SmsConsent { state: Some(s.into()), ..SmsConsent::default() };
        assert_eq!(sms_consent(&state("subscribed")).map(|c| c.0), Some(ConsentKind::OptIn));
        assert_eq!(sms_consent(&state("unsubscribed")).map(|c| c.0), Some(ConsentKind::OptOut));
        assert!(sms_consent(&state("not_subscribed")).is_none());
        assert!(sms_consent(&state("pending")).is_none());
    }

    #[test]
    fn a_number_without_country_code_is_read_in_the_configured_region() {
        let body = r##"{"id": 1, "name": "#7", "customer": {"id": 2, "phone": "07700 900123"}, "line_items": []}"##;
        let gb = Reading { at: None, region: Region::parse("GB").unwrap() };
        let Change::Order(o) = &parse("orders/create", body, gb).unwrap().unwrap().changes[0] else {
            panic!("an order")
        };
        assert_eq!(o.customer.phone.as_ref().map(|p| p.as_str()), Some("+447700900123"));
        // In the default region (US) the same digits are no number at all.
        let Change::Order(o) = &parse("orders/create", body, Reading::default()).unwrap().unwrap().changes[0] else {
            panic!("an order")
        };
        assert!(o.customer.phone.is_none());
    }
}
