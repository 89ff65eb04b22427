//! `backtalk bench shopify-webhook`: the acknowledgement latency of `POST /webhooks/shopify`
//! under load, and how fast the queue then applies what was acknowledged.
//!
//! Every request is a realistic `orders/create` delivery: a payload written from the fields
//! of Shopify's REST Order resource (a customer and 2–3 line items of demo-store products,
//! 3.2–3.8 KB), a webhook id of its own (a repeated `X-Shopify-Webhook-Id` is a duplicate and
//! costs nothing) and its own HMAC over the body, signed with the secret the server was
//! started with (`BACKTALK_SHOPIFY_WEBHOOK_SECRET`). The shared generator
//! ([`super::load`]) runs the fixed-rate and saturation phases against `serve --demo` and a
//! bare axum handler. Then, with the load stopped, it times the queue until every webhook
//! is applied (webhooks applied per second is the second figure), and checks that every
//! acknowledged webhook was stored and applied as "order created".

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::SHOPIFY_SECRET;
use super::load::{Load, Request, Targets};
use crate::commerce::shopify;
use crate::store::commerce::shopify_webhook_outcomes;
use crate::store::jobs::count_jobs;

const SHOP_DOMAIN: &str = "bench-store.myshopify.com";
const TOPIC: &str = "orders/create";
/// The outcome a new order's webhook records once applied.
const ORDER_CREATED: &str = "order created";

/// Products of the demo store (sku, title, price): the lines refer to a real catalog.
const PRODUCTS: &[(&str, &str, &str)] = &[
    ("ZO0002000020", "Ballet pumps - black", "11.99"),
    ("ZO0076700767", "Waist belt - red", "11.99"),
    ("ZO0142501425", "Ankle boots - black", "41.99"),
    ("ZO0206102061", "Handbag - green", "21.99"),
    ("ZO0273902739", "Slim Fit Trousers", "41.99"),
    ("ZO0363403634", "Ankle boots - Midnight Blue", "114.99"),
    ("ZO0488304883", "Tracksuit bottoms - black", "20.99"),
    ("ZO0613106131", "3 PACK - Socks - grey/white/black", "7.99"),
];
const FIRST_NAMES: &[&str] = &["Ana", "Bob", "Chloé", "Dev", "Emeka", "Fatima", "Grace", "Hiro"];
const LAST_NAMES: &[&str] = &["Norman", "García", "Okafor", "Lindqvist", "Nguyen", "Patel", "Rossi"];

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn cents(price: &str) -> i64 {
    let (units, hundredths) = price.split_once('.').unwrap_or((price, "0"));
    units.parse::<i64>().unwrap_or(0) * 100 + hundredths.parse::<i64>().unwrap_or(0)
}

/// A US number of its own for order `n` (unique for every `n` below 7,000,000,000).
fn phone(n: usize) -> String {
    format!("+1{}{:07}", 201 + (n / 10_000_000) % 700, n % 10_000_000)
}

/// The `orders/create` payload of order `n` created `at`: the fields of Shopify's REST
/// Order resource (shopify.dev "Order" REST resource; Shopify/shopify-api-php `Order.php`),
/// with a new customer and 2 or 3 lines; ids, name and contact are unique per `n`.
pub fn order_payload(n: usize, at: DateTime<Utc>) -> String {
    let id = 5_000_000_000u64 + n as u64;
    let customer_id = 7_000_000_000u64 + n as u64;
    let (first, last) = (FIRST_NAMES[n % FIRST_NAMES.len()], LAST_NAMES[n % LAST_NAMES.len()]);
    let email = format!("{}.{n}@example.com", first.to_lowercase().replace('é', "e"));
    let phone = phone(n);
    let created = at.to_rfc3339_opts(SecondsFormat::Secs, false);
    let token = format!("{:032x}", (id as u128) << 20 | 0xbe7c4);
    let mut subtotal = 0;
    let line_items: Vec<_> = (0..2 + n % 2)
        .map(|k| {
            let (sku, title, price) = PRODUCTS[(n + 3 * k) % PRODUCTS.len()];
            let quantity = 1 + (n + k) % 2;
            subtotal += cents(price) * quantity as i64;
            let tax = cents(price) * quantity as i64 * 6 / 100;
            json!({
                "id": 13_000_000_000u64 + 3 * n as u64 + k as u64,
                "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", 13_000_000_000u64 + 3 * n as u64 + k as u64),
                "variant_id": 40_000_000_000u64 + ((n + 3 * k) % PRODUCTS.len()) as u64,
                "product_id": 8_000_000_000u64 + ((n + 3 * k) % PRODUCTS.len()) as u64,
                "sku": sku, "title": title, "name": title, "variant_title": null, "vendor": "Backtalk Demo Store",
                "price": price, "quantity": quantity, "grams": 400, "requires_shipping": true, "taxable": true,
                "gift_card": false, "fulfillment_service": "manual", "fulfillable_quantity": quantity,
                "fulfillment_status": null, "total_discount": "0.00",
                "tax_lines": [{"title": "State Tax", "price": money(tax), "rate": 0.06}],
            })
        })
        .collect();
    let (shipping, tax) = (500, subtotal * 6 / 100);
    let address = json!({
        "first_name": first, "last_name": last, "name": format!("{first} {last}"),
        "address1": format!("{} Market Street", 100 + n % 900), "address2": null, "city": "San Francisco",
        "province": "California", "province_code": "CA", "zip": "94103", "country": "United States",
        "country_code": "US", "phone": phone, "company": null, "latitude": 37.7749, "longitude": -122.4194,
    });
    let customer = json!({
        "id": customer_id, "admin_graphql_api_id": format!("gid://shopify/Customer/{customer_id}"),
        "email": email, "phone": phone, "first_name": first, "last_name": last,
        "created_at": created, "updated_at": created, "state": "enabled", "verified_email": true,
        "currency": "USD", "tags": "", "note": null, "tax_exempt": false,
    });
    let totals = json!({
        "currency": "USD", "presentment_currency": "USD",
        "subtotal_price": money(subtotal), "total_line_items_price": money(subtotal), "total_tax": money(tax),
        "total_discounts": "0.00", "total_price": money(subtotal + shipping + tax), "taxes_included": false,
        "shipping_lines": [{"id": 4_000_000_000u64 + n as u64, "title": "Standard", "code": "Standard",
                            "price": money(shipping), "source": "shopify"}],
    });
    let mut order = json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{}", 1001 + n), "order_number": 1001 + n, "number": 1 + n,
        "token": token, "checkout_token": format!("c{token}"),
        "email": email, "contact_email": email, "phone": phone,
        "created_at": created, "updated_at": created, "processed_at": created,
        "financial_status": "paid", "fulfillment_status": null, "cancelled_at": null, "cancel_reason": null,
        "buyer_accepts_marketing": false, "source_name": "web", "test": false, "tags": "",
        "payment_gateway_names": ["shopify_payments"], "browser_ip": format!("203.0.113.{}", n % 250),
        "order_status_url": format!("https://{SHOP_DOMAIN}/70000000/orders/{token}/authenticate?key=k{n}"),
        "customer": customer, "line_items": line_items,
        "shipping_address": address, "billing_address": address,
    });
    if let (Some(order), serde_json::Value::Object(totals)) = (order.as_object_mut(), totals) {
        order.extend(totals);
    }
    order.to_string()
}

/// The request builder: order `n` as Shopify delivers it, with its own webhook id and HMAC
/// (shopify.dev "Webhooks: HTTPS delivery" headers).
pub fn request() -> Request {
    Arc::new(|http: &reqwest::Client, url: &str, n: usize| {
        let now = Utc::now();
        let body = order_payload(n, now);
        let hmac = shopify::sign(SHOPIFY_SECRET, body.as_bytes());
        let webhook_id = format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id());
        http.post(url)
            .header("content-type", "application/json")
            .header("x-shopify-topic", TOPIC)
            .header("x-shopify-hmac-sha256", hmac)
            .header("x-shopify-webhook-id", webhook_id)
            .header("x-shopify-event-id", format!("{:x}", 0xe000_0000_0000u64 + n as u64))
            .header("x-shopify-triggered-at", now.to_rfc3339_opts(SecondsFormat::Micros, true))
            .header("x-shopify-shop-domain", SHOP_DOMAIN)
            .header("x-shopify-api-version", "2025-01")
            .body(body)
    })
}

/// Jobs not yet finished (queued, also those waiting for a retry, or running).
async fn unfinished_jobs(db: &crate::store::Db) -> anyhow::Result<i64> {
    Ok(count_jobs(db, "queued").await? + count_jobs(db, "running").await?)
}

/// `backtalk bench shopify-webhook`: prints a table and, last, one JSON line.
pub async fn run(load: Load) -> anyhow::Result<()> {
    let mut targets = Targets::start(&load).await?;
    let phases = targets.run("/webhooks/shopify", load, request()).await;

    // The load has stopped; the server's workers go on applying the backlog.
    let db = targets.database().await?;
    let pending = unfinished_jobs(&db).await?;
    let draining = Instant::now();
    let deadline = draining + Duration::from_secs(3600);
    // When half the backlog was applied: the two halves' rates show whether applying an
    // order gets dearer as orders accumulate.
    let mut half_seconds = None;
    loop {
        let left = unfinished_jobs(&db).await?;
        if half_seconds.is_none() && left <= pending / 2 {
            half_seconds = Some(draining.elapsed().as_secs_f64());
        }
        if left == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the queue did not drain within an hour");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain_seconds = draining.elapsed().as_secs_f64();
    let half_seconds = half_seconds.unwrap_or(drain_seconds);
    let first_half = (pending - pending / 2) as f64 / half_seconds;
    let second_half = (pending / 2) as f64 / (drain_seconds - half_seconds);
    targets.stop().await?;

    let acked = phases.acked();
    let outcomes = shopify_webhook_outcomes(&db).await?;
    let stored = outcomes.len();
    let applied = outcomes.iter().filter(|(_, o)| o.as_deref() == Some(ORDER_CREATED)).count();
    let mut other: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, outcome) in outcomes.iter().filter(|(_, o)| o.as_deref() != Some(ORDER_CREATED)) {
        *other.entry(outcome.clone().unwrap_or_else(|| "not applied".into())).or_default() += 1;
    }
    let dead = count_jobs(&db, "dead").await?;
    let per_second = pending as f64 / drain_seconds;

    phases.print();
    println!("acknowledged by backtalk: {acked}; stored webhooks: {stored}; applied as \"{ORDER_CREATED}\": {applied}");
    for (outcome, count) in &other {
        println!("  other outcome: {outcome:?} × {count}");
    }
    println!(
        "queue after the load: {pending} webhooks waiting, drained in {drain_seconds:.1} s = {per_second:.0} webhooks applied/s ({dead} dead jobs)"
    );
    println!("  first half of the backlog {first_half:.0}/s, second half {second_half:.0}/s");
    let mut summary = phases.summary();
    for (key, value) in [
        ("stored", json!(stored)),
        ("applied", json!(applied)),
        ("pending_after_load", json!(pending)),
        ("drain_s", json!(drain_seconds)),
        ("applied_per_s", json!(per_second)),
        ("applied_per_s_first_half", json!(first_half)),
        ("applied_per_s_second_half", json!(second_half)),
        ("dead_jobs", json!(dead)),
    ] {
        summary.insert(key.into(), value);
    }
    println!("{}", serde_json::Value::Object(summary));
    anyhow::ensure!(stored >= acked, "{} acknowledged webhooks are missing from the database", acked - stored);
    anyhow::ensure!(applied == stored, "{} stored webhooks were not applied as new orders", stored - applied);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::Change;

    #[test]
    fn each_payload_is_a_realistic_order_of_its_own() {
        let at = Utc::now();
        let mut ids = std::collections::HashSet::new();
        for n in [0, 1, 2, 9_999_999, 10_000_000, 40_000_123] {
            let body = order_payload(n, at);
            assert!((2048..=4096).contains(&body.len()), "order {n} is {} bytes", body.len());
            let parsed =
                shopify::parse(TOPIC, &body, shopify::Reading { at: Some(at), ..Default::default() }).unwrap().unwrap();
            let Change::Order(order) = &parsed.changes[0] else { panic!("an order") };
            assert_eq!(order.number, (1001 + n).to_string());
            assert!((2..=3).contains(&order.lines.len()));
            assert!(order.lines.iter().all(|l| PRODUCTS.iter().any(|(sku, ..)| l.sku.as_str() == *sku)));
            let lines: i64 = order.lines.iter().map(|l| l.price_cents * l.quantity).sum();
            assert_eq!(order.total_cents, Some(lines + 500 + lines * 6 / 100));
            let phone = order.customer.phone.clone().expect("a phone");
            assert!(ids.insert((order.source_id.clone(), phone, order.customer.external_id.clone())));
            assert_eq!(parsed.events[0].name, "Order Completed");
        }
    }

    #[test]
    fn each_request_is_signed_and_has_a_webhook_id_of_its_own() {
        let http = reqwest::Client::new();
        let make = request();
        let mut webhook_ids = std::collections::HashSet::new();
        for n in [0, 1, 10_000_000] {
            let req = make(&http, "http://bench.test/webhooks/shopify", n).build().unwrap();
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap().to_string();
            let body = req.body().and_then(|b| b.as_bytes()).unwrap();
            assert!(shopify::verify(&[SHOPIFY_SECRET], body, &header("x-shopify-hmac-sha256")));
            assert!(!shopify::verify(&["another secret"], body, &header("x-shopify-hmac-sha256")));
            assert_eq!(header("x-shopify-topic"), TOPIC);
            assert_eq!(header("x-shopify-shop-domain"), SHOP_DOMAIN);
            chrono::DateTime::parse_from_rfc3339(&header("x-shopify-triggered-at")).unwrap();
            assert!(webhook_ids.insert(header("x-shopify-webhook-id")));
        }
    }
}
