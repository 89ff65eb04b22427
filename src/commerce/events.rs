//! The events API (`POST /api/v1/events`) for any shop or system that is not Shopify:
//! WooCommerce, BigCommerce, a custom shop, an appointment system.
//!
//! An event is `{"id", "event", "phone" | "email" | "customer_id", "properties",
//! "timestamp"}`, named as Segment's e-commerce spec names them (segment.com/docs/connections/
//! spec/ecommerce/v2: "Order Completed", "Checkout Started", "Product Viewed", with
//! `order_id`, `checkout_id`, `total`, `currency`, `products[]`). Every event is stored
//! (flows and attribution read them), once per `id`; the order, shipment and checkout events
//! also update the CRM through the same [`Change`]s the Shopify topics make
//! (docs/store-data.md lists them).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    Change, CheckoutChange, CustomerChange, Line, OrderChange, ShipmentChange, Source, apply, line_sku, record_event,
};
use crate::domain::{ConsentKind, Phone};
use crate::store::Db;

/// Events whose `properties.name` is the customer's name (elsewhere it names a product).
const PERSON_EVENTS: &[&str] = &["Customer Updated", "Subscribed", "Signed Up"];

/// Most events in one request.
pub const MAX_BATCH: usize = 500;

/// Events that change the CRM, and what each reads from `properties` (the rest are stored
/// only). Kept in step with docs/store-data.md.
pub const CRM_EVENTS: &[(&str, &str)] = &[
    ("Order Completed", "order_id; total, currency, products[], checkout_id, order_status_url"),
    ("Order Shipped", "order_id; carrier, tracking_number, tracking_url, estimated_delivery, shipment_id"),
    ("Order Out For Delivery", "order_id; shipment_id"),
    ("Order Delivered", "order_id; delivered_at, shipment_id"),
    ("Order Cancelled", "order_id"),
    ("Checkout Started", "checkout_id (or cart_id, order_id); total, currency, products[], checkout_url"),
    ("Checkout Updated", "as Checkout Started"),
    ("Customer Updated", "first_name, last_name, name, email; sms_consent (opted_in | opted_out)"),
];

/// A bad event: the field (`batch[2].phone`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

/// One valid event.
#[derive(Debug, Clone)]
pub struct TrackEvent {
    pub id: String,
    pub name: String,
    pub who: CustomerChange,
    pub properties: Map<String, Value>,
    /// What it changes in the CRM (none for events that are stored only), worked out once
    /// when the event is read.
    pub changes: Vec<Change>,
    pub timestamp: DateTime<Utc>,
}

/// What a request stored.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tracked {
    /// Events stored now.
    pub accepted: usize,
    /// Events whose id was stored before: nothing changed.
    pub duplicates: usize,
    /// What the CRM events did, in order ("order created", "shipment recorded", ...).
    pub changes: Vec<String>,
}

/// Reads a request body: one event, an array of events, or `{"batch": [...]}`. Every event is
/// checked before any is stored, and the first problem names its field.
pub fn parse_request(body: Value) -> Result<Vec<TrackEvent>, Invalid> {
    let invalid = |field: &str, message: &str| Invalid { field: field.into(), message: message.into() };
    let (items, prefix) = match body {
        Value::Array(items) => (items, Some("batch")),
        Value::Object(mut map) if map.contains_key("batch") => match map.remove("batch") {
            Some(Value::Array(items)) => (items, Some("batch")),
            _ => return Err(invalid("batch", "must be an array of events")),
        },
        one @ Value::Object(_) => (vec![one], None),
        _ => return Err(invalid("", "the body must be an event object, an array of events, or {\"batch\": [...]}")),
    };
    if items.is_empty() {
        return Err(invalid("batch", "is empty"));
    }
    if items.len() > MAX_BATCH {
        return Err(invalid("batch", &format!("has {} events; at most {MAX_BATCH} per request", items.len())));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            parse_event(item).map_err(|(field, message)| Invalid {
                field: match prefix {
                    Some(p) => format!("{p}[{i}].{field}"),
                    None => field.to_string(),
                },
                message,
            })
        })
        .collect()
}

type FieldError = (&'static str, String);

fn text(map: &Map<String, Value>, key: &'static str, max: usize) -> Result<Option<String>, FieldError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.trim().to_string())),
        Some(Value::String(_)) => Err((key, format!("must be at most {max} characters"))),
        Some(Value::Number(n)) if key.ends_with("id") => Ok(Some(n.to_string())),
        Some(_) => Err((key, "must be a string".into())),
    }
}

fn parse_event(item: Value) -> Result<TrackEvent, FieldError> {
    let Value::Object(mut map) = item else { return Err(("", "must be an object".into())) };
    const FIELDS: &[&str] = &["id", "event", "phone", "email", "customer_id", "properties", "timestamp"];
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let message = format!("{unknown:?} is not a field of an event (fields: {})", FIELDS.join(", "));
        return Err(("", message));
    }
    let id = text(&map, "id", 200)?.ok_or(("id", "is required: a unique id for the event".to_string()))?;
    let name = text(&map, "event", 100)?.ok_or(("event", "is required, e.g. \"Order Completed\"".to_string()))?;
    let phone = match text(&map, "phone", 40)? {
        Some(raw) => Some(Phone::parse(&raw).map_err(|e| ("phone", e))?),
        None => None,
    };
    let email = text(&map, "email", 254)?;
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(("email", "is not an email address".into()));
    }
    let customer_id = text(&map, "customer_id", 200)?;
    if phone.is_none() && email.is_none() && customer_id.is_none() {
        return Err(("phone", "one of phone, email or customer_id is required".into()));
    }
    let properties = match map.remove("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err(("properties", "must be an object".into())),
    };
    let timestamp = match text(&map, "timestamp", 64)? {
        Some(t) => DateTime::parse_from_rfc3339(&t)
            .map_err(|e| ("timestamp", format!("is not an RFC 3339 time ({e}), e.g. 2026-12-06T10:00:00Z")))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let name_prop = |k: &str| properties.get(k).and_then(Value::as_str).map(str::to_string);
    // `name` is the person's only in events about the person: in "Product Viewed" it is the
    // product's (Segment's e-commerce spec), and read as the customer's it renamed them.
    let about_the_person = PERSON_EVENTS.contains(&name.as_str());
    let name_of = match (name_prop("first_name"), name_prop("last_name")) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f),
        _ if about_the_person => name_prop("name"),
        _ => None,
    };
    let consent = match properties.get("sms_consent").and_then(Value::as_str) {
        Some("opted_in") => Some((ConsentKind::OptIn, format!("events api {name} {id}: sms_consent opted_in"))),
        Some("opted_out") => Some((ConsentKind::OptOut, format!("events api {name} {id}: sms_consent opted_out"))),
        Some(other) => {
            return Err(("properties", format!("sms_consent {other:?} is not opted_in or opted_out")));
        }
        None => None,
    };
    let who = CustomerChange {
        external_id: customer_id,
        phone,
        email: email.or_else(|| name_prop("email")),
        name: name_of,
        consent,
        updated_at: None,
    };
    let mut event = TrackEvent { id, name, who, properties, timestamp, changes: vec![] };
    event.changes = changes(&event)?;
    Ok(event)
}

/// A money amount in `properties` (a number or a decimal string, in the currency's units).
fn amount(p: &Map<String, Value>, keys: &[&'static str]) -> Result<Option<i64>, FieldError> {
    for key in keys {
        let value = match p.get(*key) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().trim_start_matches('$').parse::<f64>().ok(),
            None | Some(Value::Null) => continue,
            Some(_) => None,
        };
        return match value {
            Some(v) if v.is_finite() && v >= 0.0 => Ok(Some((v * 100.0).round() as i64)),
            _ => Err(("properties", format!("{key} is not an amount"))),
        };
    }
    Ok(None)
}

fn prop(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn time(p: &Map<String, Value>, key: &'static str) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(raw) = prop(p, key) else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(&raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
        .map(|d| Some(d.and_hms_opt(12, 0, 0).expect("noon exists").and_utc()))
        .map_err(|_| ("properties", format!("{key} {raw:?} is not a date (YYYY-MM-DD) or an RFC 3339 time")))
}

fn products(p: &Map<String, Value>) -> Result<Vec<Line>, FieldError> {
    let list = match p.get("products").or_else(|| p.get("items")) {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(("properties", "products must be an array".into())),
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(item) = item else {
                return Err(("properties", format!("products[{i}] must be an object")));
            };
            let id = prop(item, "product_id").unwrap_or_else(|| format!("line{i}"));
            let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(1);
            if quantity < 1 {
                return Err(("properties", format!("products[{i}].quantity must be at least 1")));
            }
            Ok(Line {
                sku: line_sku(prop(item, "sku").as_deref(), &id),
                title: prop(item, "name").or_else(|| prop(item, "title")).unwrap_or_default(),
                price_cents: amount(item, &["price"])?.unwrap_or(0),
                quantity,
            })
        })
        .collect()
}

/// The CRM changes an event makes (none for events that are stored only).
fn changes(e: &TrackEvent) -> Result<Vec<Change>, FieldError> {
    let p = &e.properties;
    let order_id = || prop(p, "order_id").ok_or(("properties", format!("order_id is required for {}", e.name)));
    let shipment = |order: String| ShipmentChange {
        // One shipment per order unless the sender names them.
        source_id: prop(p, "shipment_id").unwrap_or_else(|| format!("event:{order}")),
        order,
        updated_at: Some(e.timestamp),
        ..ShipmentChange::default()
    };
    Ok(match e.name.as_str() {
        "Order Completed" => {
            let number = order_id()?;
            vec![Change::Order(Box::new(OrderChange {
                customer: e.who.clone(),
                number,
                source_id: None,
                ordered_at: e.timestamp,
                status: prop(p, "status").unwrap_or_else(|| "processing".into()),
                fulfillment_status: None,
                cancelled_at: None,
                order_status_url: prop(p, "order_status_url"),
                checkout_token: prop(p, "checkout_id"),
                total_cents: amount(p, &["total", "revenue", "value"])?,
                currency: prop(p, "currency"),
                updated_at: Some(e.timestamp),
                lines: products(p)?,
                shipments: vec![],
                // Segment's Order Completed names one `coupon`; a list may come as `discount_codes`.
                discount_codes: prop(p, "coupon")
                    .into_iter()
                    .chain(
                        p.get("discount_codes")
                            .and_then(|v| v.as_array())
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().or_else(|| v["code"].as_str()).map(str::to_string)),
                    )
                    .collect(),
            }))]
        }
        "Order Shipped" => vec![Change::Shipment(ShipmentChange {
            status: Some("success".into()),
            shipment_status: Some("in_transit".into()),
            company: prop(p, "carrier").or_else(|| prop(p, "tracking_company")),
            number: prop(p, "tracking_number"),
            url: prop(p, "tracking_url"),
            estimated_delivery_at: time(p, "estimated_delivery")?,
            ..shipment(order_id()?)
        })],
        "Order Out For Delivery" => {
            vec![Change::Shipment(ShipmentChange {
                shipment_status: Some("out_for_delivery".into()),
                ..shipment(order_id()?)
            })]
        }
        "Order Delivered" => vec![Change::Shipment(ShipmentChange {
            shipment_status: Some("delivered".into()),
            delivered_at: Some(time(p, "delivered_at")?.unwrap_or(e.timestamp)),
            ..shipment(order_id()?)
        })],
        "Order Cancelled" => vec![Change::Cancel { order: order_id()?, at: e.timestamp }],
        "Checkout Started" | "Checkout Updated" => {
            let token = prop(p, "checkout_id")
                .or_else(|| prop(p, "cart_id"))
                .or_else(|| prop(p, "order_id"))
                .ok_or(("properties", format!("checkout_id is required for {}", e.name)))?;
            vec![Change::Checkout(Box::new(CheckoutChange {
                customer: e.who.clone(),
                token,
                recovery_url: prop(p, "checkout_url"),
                total_cents: amount(p, &["total", "value", "revenue"])?.unwrap_or(0),
                currency: prop(p, "currency").unwrap_or_else(|| "USD".into()),
                lines: products(p)?,
                completed_at: None,
                updated_at: Some(e.timestamp),
            }))]
        }
        _ => vec![],
    })
}

/// Why a request could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// An event is about an order that is not stored (a shipment before its order).
    #[error("{0:?}")]
    Invalid(Invalid),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Stores the events and applies their CRM changes, all in one transaction: a request is
/// stored whole or not at all. An id stored before changes nothing.
pub async fn track(db: &Db, events: &[TrackEvent]) -> Result<Tracked, TrackError> {
    let mut tx = db.begin().await?;
    let mut tracked = Tracked::default();
    for (i, e) in events.iter().enumerate() {
        // A shipment or cancellation needs its order: stored before, or earlier in the batch.
        let order = match e.changes.first() {
            Some(Change::Shipment(s)) => Some(s.order.clone()),
            Some(Change::Cancel { order, .. }) => Some(order.clone()),
            _ => None,
        };
        if let Some(order) = order
            && crate::store::crm::order_id_by_source(&mut tx, &order).await?.is_none()
        {
            let field = if events.len() > 1 { format!("batch[{i}].properties") } else { "properties".into() };
            let message = format!("order_id {order:?} is not a stored order: send its Order Completed first");
            return Err(TrackError::Invalid(Invalid { field, message }));
        }
        let properties = Value::Object(e.properties.clone());
        // The customer first, so the stored event points at them.
        let has_profile = e.who.name.is_some() || e.who.consent.is_some() || e.who.phone.is_some();
        let stored = record_event(&mut tx, &e.id, &e.name, Source::EventsApi, &e.who, &properties, e.timestamp).await?;
        if !stored {
            tracked.duplicates += 1;
            continue;
        }
        tracked.accepted += 1;
        if e.changes.is_empty() && has_profile {
            tracked.changes.push(apply(&mut tx, &Change::Customer(e.who.clone()), Source::EventsApi).await?);
        }
        for change in &e.changes {
            tracked.changes.push(apply(&mut tx, change, Source::EventsApi).await?);
        }
    }
    tx.commit().await?;
    Ok(tracked)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A product view's `name` is the product's, not the customer's (it once renamed them).
    #[test]
    fn only_an_event_about_the_person_names_them() {
        let view = parse_request(json!({"id": "v1", "event": "Product Viewed", "phone": "+15550100123",
            "properties": {"sku": "A1", "name": "Trainers - brown"}}))
        .unwrap();
        assert_eq!(view[0].who.name, None);
        let update = parse_request(json!({"id": "u1", "event": "Customer Updated", "phone": "+15550100123",
            "properties": {"name": "Elyssa Lewis"}}))
        .unwrap();
        assert_eq!(update[0].who.name.as_deref(), Some("Elyssa Lewis"));
        let first = parse_request(json!({"id": "o1", "event": "Checkout Started", "phone": "+15550100123",
            "properties": {"checkout_id": "c1", "first_name": "Elyssa"}}))
        .unwrap();
        assert_eq!(first[0].who.name.as_deref(), Some("Elyssa"));
    }

    #[test]
    fn one_event_a_list_or_a_batch() {
        let one = json!({"id": "e1", "event": "Product Viewed", "phone": "+15550100123", "properties": {"sku": "A1"}});
        assert_eq!(parse_request(one.clone()).unwrap().len(), 1);
        assert_eq!(parse_request(json!([one.clone(), one.clone()])).unwrap().len(), 2);
        assert_eq!(parse_request(json!({"batch": [one]})).unwrap().len(), 1);
    }

    #[test]
    fn a_bad_event_names_its_field() {
        let field = |body: Value| parse_request(body).unwrap_err().field;
        assert_eq!(field(json!({"event": "Product Viewed", "phone": "+15550100123"})), "id");
        assert_eq!(field(json!({"id": "e1", "phone": "+15550100123"})), "event");
        assert_eq!(field(json!({"id": "e1", "event": "X"})), "phone");
        assert_eq!(field(json!({"id": "e1", "event": "X", "phone": "call me"})), "phone");
        assert_eq!(field(json!({"id": "e1", "event": "X", "email": "nope"})), "email");
        assert_eq!(field(json!({"id": "e1", "event": "X", "email": "a@b.co", "timestamp": "yesterday"})), "timestamp");
        assert_eq!(field(json!({"id": "e1", "event": "X", "email": "a@b.co", "properties": [1]})), "properties");
        let ok = json!({"id": "e1", "event": "X", "email": "a@b.co"});
        let bad = json!({"id": "e2", "event": "Order Shipped", "email": "a@b.co", "properties": {}});
        let e = parse_request(json!({"batch": [ok, bad]})).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("batch[1].properties", "order_id is required for Order Shipped")
        );
        let e = parse_request(json!({"id": "e1", "event": "X", "email": "a@b.co", "colour": "red"})).unwrap_err();
        assert!(e.message.contains("\"colour\" is not a field"), "{}", e.message);
    }

    #[test]
    fn order_events_become_the_same_changes_as_shopify_topics() {
        let e = parse_request(json!({"id": "o1", "event": "Order Completed", "phone": "+15550100123",
            "timestamp": "2026-12-01T10:00:00Z",
            "properties": {"order_id": "W-1001", "total": 61.98, "currency": "USD", "checkout_id": "c1",
                           "products": [{"sku": "ZO0347403474", "name": "Blouse", "price": "30.99", "quantity": 2}]}}))
        .unwrap();
        let Change::Order(o) = &e[0].changes[0] else { panic!("an order") };
        assert_eq!((o.number.as_str(), o.total_cents, o.lines[0].price_cents), ("W-1001", Some(6198), 3099));
        assert_eq!(o.checkout_token.as_deref(), Some("c1"));
        let e = parse_request(json!({"id": "s1", "event": "Order Shipped", "phone": "+15550100123",
            "properties": {"order_id": "W-1001", "carrier": "USPS", "tracking_number": "9400111899223855220000",
                           "estimated_delivery": "2026-12-09"}}))
        .unwrap();
        let Change::Shipment(s) = &e[0].changes[0] else { panic!("a shipment") };
        assert_eq!((s.order.as_str(), s.source_id.as_str()), ("W-1001", "event:W-1001"));
        assert_eq!(s.estimated_delivery_at.unwrap().format("%Y-%m-%d").to_string(), "2026-12-09");
        assert!(
            changes(&parse_request(json!({"id": "v", "event": "Product Viewed", "email": "a@b.co"})).unwrap()[0])
                .unwrap()
                .is_empty()
        );
    }
}
