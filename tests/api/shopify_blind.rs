//! Blind tests of store data in: Shopify webhooks (`POST /webhooks/shopify`) and the events
//! API (`POST /api/v1/events`), written from Shopify's and Segment's public documentation and
//! Backtalk's user docs (docs/store-data.md, README "Connect your store") only, without
//! reading the implementation or the team's own Shopify tests. Payloads are in
//! tests/fixtures/shopify_blind/ (see its README for where each shape comes from).
//!
//! Every effect is observed from outside: HTTP statuses, what the bot texts back to a
//! customer through the real Twilio webhook, the consent ledger and the events and
//! conversations APIs.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{API_TOKEN, Backend, TestApp, TestOptions, expand_links, new_sid, spawn_app};
use crate::on_both_backends;

const SECRET: &str = "shpss_blind_3f7c2a9e41d84b6f8a0c5e2d7b19f4aa";
const PREVIOUS_SECRET: &str = "shpss_blind_previous_0b5d8e2f6a1c4739";
const SHOP: &str = "blind-test-shop.myshopify.com";
const API_VERSION: &str = "2026-01";

/// The order's customer (orders_create.json), a second customer, and others.
const MAREN: &str = "+15035550142";
const OTHER: &str = "+15035550143";
const ORDER_NUMBER: &str = "1042";
const WHERE: &str = "where is my order?";

fn configure(config: &mut backtalk::config::Config) {
    config.shopify.webhook_secret = backtalk::config::Secret::new(SECRET);
    config.shopify.previous_webhook_secret = backtalk::config::Secret::new(PREVIOUS_SECRET);
    config.brand.link_hosts = "ups.com".to_string();
}

async fn app_with_secret(backend: Backend) -> TestApp {
    spawn_app(backend, TestOptions { configure: Some(configure), ..Default::default() }).await
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/shopify_blind/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// The second customer's order: the same shape with another id, number, customer and phone.
fn other_order() -> Vec<u8> {
    let mut order = fixture_json("orders_create.json");
    order["id"] = json!(5810110120002u64);
    order["admin_graphql_api_id"] = json!("gid://shopify/Order/5810110120002");
    order["name"] = json!("#1043");
    order["number"] = json!(43);
    order["order_number"] = json!(1043);
    order["checkout_token"] = json!("c3a9d1e07b5f4a2e9d8c7b6a5f4e3d21");
    order["token"] = json!("0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    order["email"] = json!("lio.tran@example.com");
    order["contact_email"] = json!("lio.tran@example.com");
    order["customer"]["id"] = json!(7200000000043u64);
    order["customer"]["admin_graphql_api_id"] = json!("gid://shopify/Customer/7200000000043");
    order["customer"]["first_name"] = json!("Lio");
    order["customer"]["last_name"] = json!("Tran");
    order["customer"]["email"] = json!("lio.tran@example.com");
    order["customer"]["phone"] = json!(OTHER);
    order["customer"]["default_address"]["customer_id"] = json!(7200000000043u64);
    order["customer"]["default_address"]["phone"] = json!("(503) 555-0143");
    order["shipping_address"]["phone"] = json!("(503) 555-0143");
    order["shipping_address"]["first_name"] = json!("Lio");
    order["shipping_address"]["last_name"] = json!("Tran");
    order["shipping_address"]["name"] = json!("Lio Tran");
    serde_json::to_vec_pretty(&order).unwrap()
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn new_webhook_id() -> String {
    let n = rand::random::<u128>();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (n >> 96) as u32,
        (n >> 80) as u16,
        (n >> 68) as u16 & 0xfff,
        (n >> 56) as u16 & 0xfff,
        n as u64 & 0xffff_ffff_ffff
    )
}

/// The headers Shopify sends with a delivery (shopify.dev "Verify webhook deliveries",
/// "Ignore duplicates", changelog "updates-to-webhook-retry-mechanism").
fn shopify_headers(topic: &str, body: &[u8], webhook_id: &str, triggered_at: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-Shopify-Topic".into(), topic.into()),
        ("X-Shopify-Hmac-Sha256".into(), sign(SECRET, body)),
        ("X-Shopify-Shop-Domain".into(), SHOP.into()),
        ("X-Shopify-API-Version".into(), API_VERSION.into()),
        ("X-Shopify-Webhook-Id".into(), webhook_id.into()),
        ("X-Shopify-Triggered-At".into(), triggered_at.into()),
        ("X-Shopify-Event-Id".into(), new_webhook_id()),
    ]
}

fn without(headers: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    headers.into_iter().filter(|(k, _)| !k.eq_ignore_ascii_case(name)).collect()
}

fn replace(headers: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    let mut headers = without(headers, name);
    headers.push((name.to_string(), value.to_string()));
    headers
}

async fn post_raw(app: &TestApp, headers: &[(String, String)], body: Vec<u8>) -> (u16, String) {
    let mut request = app.http.post(format!("{}/webhooks/shopify", app.base_url)).body(body);
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Delivers a correctly signed webhook with a fresh webhook id; returns the status.
async fn deliver(app: &TestApp, topic: &str, body: &[u8], triggered_at: &str) -> u16 {
    deliver_with_id(app, topic, body, &new_webhook_id(), triggered_at).await
}

async fn deliver_with_id(app: &TestApp, topic: &str, body: &[u8], webhook_id: &str, triggered_at: &str) -> u16 {
    let headers = shopify_headers(topic, body, webhook_id, triggered_at);
    let (status, text) = post_raw(app, &headers, body.to_vec()).await;
    assert!(status == 200 || status >= 400, "unexpected status {status}: {text}");
    status
}

/// Delivers, asserts the documented 200, and waits for the worker to apply it.
async fn applied(app: &TestApp, topic: &str, body: &[u8], triggered_at: &str) {
    let status = deliver(app, topic, body, triggered_at).await;
    assert_eq!(status, 200, "{topic} is answered 200");
    app.wait_idle().await;
}

/// Texts `body` from `phone` through the real Twilio webhook and returns everything the bot
/// sent back to that number for it ("" when nothing came within the wait).
async fn text(app: &TestApp, phone: &str, body: &str) -> String {
    let before = app.twilio.sent_to(phone).len();
    let (status, _) = app.post_inbound(phone, body, &new_sid()).await;
    assert_eq!(status, 200, "the inbound Twilio webhook accepts the text");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline && app.twilio.sent_to(phone).len() <= before {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.twilio.sent_to(phone).iter().skip(before).map(|s| s.body.clone()).collect::<Vec<_>>().join("\n")
}

/// Texts and asserts that nothing at all is sent back.
async fn text_expect_silence(app: &TestApp, phone: &str, body: &str) -> Vec<String> {
    let before = app.twilio.sent_to(phone).len();
    let (status, _) = app.post_inbound(phone, body, &new_sid()).await;
    assert_eq!(status, 200, "the inbound Twilio webhook accepts the text");
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.wait_idle().await;
    app.twilio.sent_to(phone).iter().skip(before).map(|s| s.body.clone()).collect()
}

async fn api_get(app: &TestApp, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}{path}", app.base_url))
        .query(query)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn post_events(app: &TestApp, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = app.http.post(format!("{}/api/v1/events", app.base_url)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The list in a listing response: the response itself when it is an array, else its first
/// field that is an array.
fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(map) => map.values().find_map(|x| x.as_array().cloned()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The stored events of that name (`GET /api/v1/events?name=`).
async fn events_named(app: &TestApp, name: &str) -> Vec<Value> {
    let (status, body) = api_get(app, "/api/v1/events", &[("name", name), ("limit", "500")]).await;
    assert_eq!(status, 200, "GET /api/v1/events: {body}");
    items(&body)
}

async fn all_events(app: &TestApp) -> Vec<Value> {
    let (status, body) = api_get(app, "/api/v1/events", &[("limit", "500")]).await;
    assert_eq!(status, 200, "GET /api/v1/events: {body}");
    items(&body)
}

/// `GET /api/v1/consent/{phone}`: (state, events).
async fn consent(app: &TestApp, phone: &str) -> (String, Vec<Value>) {
    let (status, body) = api_get(app, &format!("/api/v1/consent/{phone}"), &[]).await;
    assert_eq!(status, 200, "GET /api/v1/consent/{phone}: {body}");
    let state = body.get("state").and_then(Value::as_str).unwrap_or("").to_string();
    let events = body.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
    (state, events)
}

fn opted_out(state: &str) -> bool {
    state.contains("out")
}

fn opted_in(state: &str) -> bool {
    state.contains("in") && !state.contains("out")
}

/// The conversation found by the digits of a phone number (`GET /api/v1/conversations?q=`).
async fn conversation_id(app: &TestApp, digits: &str) -> i64 {
    let (status, body) = api_get(app, "/api/v1/conversations", &[("q", digits)]).await;
    assert_eq!(status, 200, "GET /api/v1/conversations: {body}");
    let list = items(&body);
    list.first()
        .and_then(|c| c.get("id"))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("a conversation for {digits}: {body}"))
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

// ---------------------------------------------------------------------------------------
// Verification and transport (store-data.md "Verified before anything is read", "Missing
// headers or a body that is not JSON", "Once")
// ---------------------------------------------------------------------------------------

async fn shopify_blind_signed_order_is_200_and_answered(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(reply.contains(ORDER_NUMBER), "the reply quotes the order number 1042 (name without #): {reply:?}");
    assert!(lower(&reply).contains("processing"), "paid, unfulfilled is `processing`: {reply:?}");
}
on_both_backends!(shopify_blind_signed_order_is_200_and_answered);

async fn shopify_blind_forged_or_missing_hmac_is_401_and_writes_nothing(backend: Backend) {
    let app = app_with_secret(backend).await;
    let body = fixture("orders_create.json");
    let headers = shopify_headers("orders/create", &body, &new_webhook_id(), "2026-11-28T15:15:03.000Z");
    // Signed with another secret.
    let forged = replace(headers.clone(), "X-Shopify-Hmac-Sha256", &sign("not-the-secret", &body));
    let (status, text_body) = post_raw(&app, &forged, body.clone()).await;
    assert_eq!(status, 401, "a forged HMAC is 401: {text_body}");
    // No HMAC header at all.
    let (status, text_body) = post_raw(&app, &without(headers.clone(), "X-Shopify-Hmac-Sha256"), body.clone()).await;
    assert_eq!(status, 401, "a missing HMAC is 401: {text_body}");
    // The right signature over a body that was changed on the way.
    let mut tampered: Value = serde_json::from_slice(&body).unwrap();
    tampered["financial_status"] = json!("refunded");
    let (status, text_body) = post_raw(&app, &headers, serde_json::to_vec(&tampered).unwrap()).await;
    assert_eq!(status, 401, "a signature over another body is 401: {text_body}");
    app.wait_idle().await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(!reply.is_empty(), "the bot answers the text");
    assert!(!reply.contains(ORDER_NUMBER), "nothing was written, so order 1042 is unknown: {reply:?}");
    assert!(events_named(&app, "Order Completed").await.is_empty(), "no Order Completed event was stored");
}
on_both_backends!(shopify_blind_forged_or_missing_hmac_is_401_and_writes_nothing);

async fn shopify_blind_previous_secret_is_accepted(backend: Backend) {
    let app = app_with_secret(backend).await;
    let body = fixture("orders_create.json");
    let headers = shopify_headers("orders/create", &body, &new_webhook_id(), "2026-11-28T15:15:03.000Z");
    let headers = replace(headers, "X-Shopify-Hmac-Sha256", &sign(PREVIOUS_SECRET, &body));
    let (status, text_body) = post_raw(&app, &headers, body).await;
    assert_eq!(status, 200, "signed with shopify.previous_webhook_secret during a rotation: {text_body}");
    app.wait_idle().await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(reply.contains(ORDER_NUMBER), "the order signed with the previous secret was applied: {reply:?}");
}
on_both_backends!(shopify_blind_previous_secret_is_accepted);

async fn shopify_blind_no_secret_configured_is_401(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let body = fixture("orders_create.json");
    let headers = shopify_headers("orders/create", &body, &new_webhook_id(), "2026-11-28T15:15:03.000Z");
    let (status, text_body) = post_raw(&app, &headers, body.clone()).await;
    assert_eq!(status, 401, "no secret configured: every Shopify webhook gets 401: {text_body}");
    let headers = replace(headers, "X-Shopify-Hmac-Sha256", &sign("", &body));
    let (status, text_body) = post_raw(&app, &headers, body).await;
    assert_eq!(status, 401, "not even one signed with an empty key: {text_body}");
}
on_both_backends!(shopify_blind_no_secret_configured_is_401);

async fn shopify_blind_missing_headers_and_bad_bodies_are_rejected(backend: Backend) {
    let app = app_with_secret(backend).await;
    let body = fixture("orders_create.json");
    let headers = shopify_headers("orders/create", &body, &new_webhook_id(), "2026-11-28T15:15:03.000Z");
    let mut problems = Vec::new();

    let (status, text_body) = post_raw(&app, &without(headers.clone(), "X-Shopify-Topic"), body.clone()).await;
    if status != 400 || !lower(&text_body).contains("x-shopify-topic") {
        problems.push(format!("missing X-Shopify-Topic: expected 400 naming the header, got {status} {text_body:?}"));
    }
    let (status, text_body) = post_raw(&app, &without(headers.clone(), "X-Shopify-Webhook-Id"), body.clone()).await;
    if status != 400 || !lower(&text_body).contains("x-shopify-webhook-id") {
        problems
            .push(format!("missing X-Shopify-Webhook-Id: expected 400 naming the header, got {status} {text_body:?}"));
    }
    let not_json = b"order=1042&status=paid".to_vec();
    let signed = shopify_headers("orders/create", &not_json, &new_webhook_id(), "2026-11-28T15:15:03.000Z");
    let (status, text_body) = post_raw(&app, &signed, not_json).await;
    if status != 400 {
        problems.push(format!("a signed body that is not JSON: expected 400, got {status} {text_body:?}"));
    }
    // Over shopify.max_body_bytes (2 MiB by default): 413.
    let mut big: Value = serde_json::from_slice(&body).unwrap();
    big["note"] = json!("x".repeat(2 * 1024 * 1024 + 16));
    let big = serde_json::to_vec(&big).unwrap();
    let signed = shopify_headers("orders/create", &big, &new_webhook_id(), "2026-11-28T15:15:03.000Z");
    let (status, text_body) = post_raw(&app, &signed, big).await;
    if status != 413 {
        problems
            .push(format!("a body over 2 MiB: expected 413, got {status} {}", &text_body[..text_body.len().min(200)]));
    }
    app.wait_idle().await;
    let reply = text(&app, MAREN, WHERE).await;
    if reply.is_empty() {
        problems.push("the bot did not answer the text".to_string());
    }
    if reply.contains(ORDER_NUMBER) {
        problems.push(format!("a rejected delivery wrote order 1042: {reply:?}"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
on_both_backends!(shopify_blind_missing_headers_and_bad_bodies_are_rejected);

async fn shopify_blind_same_webhook_id_has_one_effect(backend: Backend) {
    let app = app_with_secret(backend).await;
    let id = new_webhook_id();
    let create = fixture("orders_create.json");
    assert_eq!(deliver_with_id(&app, "orders/create", &create, &id, "2026-11-28T15:15:03.000Z").await, 200);
    assert_eq!(
        deliver_with_id(&app, "orders/create", &create, &id, "2026-11-28T15:15:03.000Z").await,
        200,
        "a duplicate is 200"
    );
    app.wait_idle().await;
    assert_eq!(
        events_named(&app, "Order Completed").await.len(),
        1,
        "one Order Completed for one delivery delivered twice"
    );
    // The same webhook id with another body is still the same delivery: it changes nothing.
    let cancelled = fixture("orders_cancelled.json");
    assert_eq!(deliver_with_id(&app, "orders/cancelled", &cancelled, &id, "2026-11-28T23:03:29.000Z").await, 200);
    app.wait_idle().await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(reply.contains(ORDER_NUMBER), "{reply:?}");
    assert!(!lower(&reply).contains("cancel"), "a repeated X-Shopify-Webhook-Id changes nothing: {reply:?}");
    assert!(events_named(&app, "Order Cancelled").await.is_empty(), "no Order Cancelled from a duplicate id");
}
on_both_backends!(shopify_blind_same_webhook_id_has_one_effect);

// ---------------------------------------------------------------------------------------
// Orders and shipments ("What the conversation knows of an order")
// ---------------------------------------------------------------------------------------

async fn shopify_blind_order_updated_with_fulfillment_gives_tracking(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "orders/updated", &fixture("orders_updated.json"), "2026-11-30T13:40:02.000Z").await;
    // The tracking page arrives as a tracked link: what it leads to is checked.
    let reply = expand_links(&app, &text(&app, MAREN, WHERE).await).await;
    assert!(reply.contains(ORDER_NUMBER), "{reply:?}");
    assert!(lower(&reply).contains("shipped"), "fulfilled with an in-transit shipment is shipped: {reply:?}");
    assert!(reply.contains("1Z999AA10123456784"), "the tracking number from fulfillments[]: {reply:?}");
    assert!(reply.contains("UPS"), "the carrier: {reply:?}");
    assert!(
        reply.contains("https://www.ups.com/track?tracknum=1Z999AA10123456784"),
        "the tracking page, its host ups.com being on brand.link_hosts: {reply:?}"
    );
}
on_both_backends!(shopify_blind_order_updated_with_fulfillment_gives_tracking);

async fn shopify_blind_order_updated_with_fulfillment_records_order_shipped(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "orders/updated", &fixture("orders_updated.json"), "2026-11-30T13:40:02.000Z").await;
    let shipped = events_named(&app, "Order Shipped").await;
    assert!(
        !shipped.is_empty(),
        "orders/* with fulfillments records an Order Shipped event: {:#?}",
        all_events(&app).await
    );
}
// Blind finding, fixed after it was found: orders/updated with a fulfilled order and an
// in_transit fulfillment recorded no Order Shipped event (store-data.md, orders/* row).
on_both_backends!(shopify_blind_order_updated_with_fulfillment_records_order_shipped);

async fn shopify_blind_order_cancelled(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "orders/cancelled", &fixture("orders_cancelled.json"), "2026-11-28T23:03:29.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(reply.contains(ORDER_NUMBER), "{reply:?}");
    assert!(lower(&reply).contains("cancelled"), "a cancelled_at date makes it cancelled: {reply:?}");
    assert!(!events_named(&app, "Order Cancelled").await.is_empty(), "an Order Cancelled event");
}
on_both_backends!(shopify_blind_order_cancelled);

async fn shopify_blind_older_payload_changes_nothing(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "orders/cancelled", &fixture("orders_cancelled.json"), "2026-11-28T23:03:29.000Z").await;
    // A retry of the original orders/create arrives late (new delivery, original payload and
    // original X-Shopify-Triggered-At): stale.
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(lower(&reply).contains("cancelled"), "an older payload changes nothing: {reply:?}");
}
on_both_backends!(shopify_blind_older_payload_changes_nothing);

async fn shopify_blind_newer_order_payload_is_the_whole_state(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "orders/cancelled", &fixture("orders_cancelled.json"), "2026-11-28T23:03:29.000Z").await;
    applied(&app, "orders/updated", &fixture("orders_updated.json"), "2026-11-30T13:40:02.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(
        !lower(&reply).contains("cancelled") && lower(&reply).contains("shipped"),
        "a later payload without cancelled_at is not cancelled: {reply:?}"
    );
}
on_both_backends!(shopify_blind_newer_order_payload_is_the_whole_state);

async fn shopify_blind_fulfillment_statuses_reach_the_reply(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "fulfillments/create", &fixture("fulfillments_create.json"), "2026-11-29T21:02:12.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(lower(&reply).contains("shipped"), "in_transit is shipped: {reply:?}");
    assert!(reply.contains("9400111899223456789012"), "the USPS tracking number: {reply:?}");
    assert!(reply.contains("USPS"), "the carrier: {reply:?}");
    assert!(!reply.contains("usps.com"), "usps.com is not on brand.link_hosts, so no link: {reply:?}");

    applied(
        &app,
        "fulfillments/update",
        &fixture("fulfillments_update_out_for_delivery.json"),
        "2026-12-02T12:55:41.000Z",
    )
    .await;
    let reply = text(&app, MAREN, "and now? where is my order").await;
    assert!(lower(&reply).contains("out for delivery"), "out_for_delivery: {reply:?}");

    applied(&app, "fulfillments/update", &fixture("fulfillments_update_delivered.json"), "2026-12-02T19:31:06.000Z")
        .await;
    let reply = text(&app, MAREN, "where's my package?").await;
    assert!(lower(&reply).contains("delivered"), "delivered: {reply:?}");

    for name in ["Order Shipped", "Order Out For Delivery", "Order Delivered"] {
        assert!(!events_named(&app, name).await.is_empty(), "an {name} event");
    }
}
on_both_backends!(shopify_blind_fulfillment_statuses_reach_the_reply);

async fn shopify_blind_fulfillment_before_its_order_waits_for_it(backend: Backend) {
    let app = app_with_secret(backend).await;
    let status =
        deliver(&app, "fulfillments/create", &fixture("fulfillments_create.json"), "2026-11-29T21:02:12.000Z").await;
    assert_eq!(status, 200);
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(
        reply.contains("9400111899223456789012"),
        "a shipment whose order had not arrived is retried until it has: {reply:?}"
    );
}
on_both_backends!(shopify_blind_fulfillment_before_its_order_waits_for_it);

// ---------------------------------------------------------------------------------------
// Checkouts and customers: the consent ledger
// ---------------------------------------------------------------------------------------

async fn shopify_blind_checkout_sms_box_is_an_opt_in(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "checkouts/create", &fixture("checkouts_create.json"), "2026-12-01T00:21:46.000Z").await;
    let (state, events) = consent(&app, "+15035550177").await;
    assert!(opted_in(&state), "buyer_accepts_sms_marketing for sms_marketing_phone is an opt-in: {state:?} {events:?}");
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].to_string().contains("shopify"), "source shopify: {events:?}");
    assert_eq!(events_named(&app, "Checkout Started").await.len(), 1, "a Checkout Started event");
}
on_both_backends!(shopify_blind_checkout_sms_box_is_an_opt_in);

async fn shopify_blind_customer_sms_consent_states(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "customers/create", &fixture("customers_create_subscribed.json"), "2026-11-20T17:00:02.000Z").await;
    let (state, events) = consent(&app, "+15035550161").await;
    assert!(opted_in(&state), "subscribed is an opt-in: {state:?} {events:?}");
    let first = events.last().map(Value::to_string).unwrap_or_default();
    assert!(first.contains("shopify"), "source shopify: {events:?}");
    assert!(first.contains("subscribed"), "the evidence carries the state: {events:?}");

    applied(&app, "customers/update", &fixture("customers_update_unsubscribed.json"), "2026-11-25T14:30:01.000Z").await;
    let (state, events) = consent(&app, "+15035550161").await;
    assert!(opted_out(&state), "unsubscribed is an opt-out: {state:?} {events:?}");
    assert_eq!(events.len(), 2, "{events:?}");

    // A later stated opt-in never turns the opted-out number back on.
    let mut again = fixture_json("customers_create_subscribed.json");
    again["updated_at"] = json!("2026-11-27T10:00:00-05:00");
    again["sms_marketing_consent"]["consent_updated_at"] = json!("2026-11-27T09:59:58-05:00");
    applied(&app, "customers/update", &serde_json::to_vec(&again).unwrap(), "2026-11-27T15:00:01.000Z").await;
    let (state, events) = consent(&app, "+15035550161").await;
    assert!(opted_out(&state), "a stated opt-in never turns an opted-out number back on: {state:?} {events:?}");
}
on_both_backends!(shopify_blind_customer_sms_consent_states);

async fn shopify_blind_not_subscribed_and_null_phone_record_nothing(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "customers/create", &fixture("customers_create_not_subscribed.json"), "2026-11-20T17:05:01.000Z")
        .await;
    let (state, events) = consent(&app, "+15035550162").await;
    assert!(events.is_empty(), "not_subscribed records nothing: {state:?} {events:?}");
    applied(&app, "customers/create", &fixture("customers_create_null_phone.json"), "2026-11-20T17:07:01.000Z").await;
    let (state, events) = consent(&app, "+15035550163").await;
    assert!(events.is_empty(), "no sms_marketing_consent, nothing recorded: {state:?} {events:?}");
    // The queue is not stuck on either: a later webhook still applies.
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(reply.contains(ORDER_NUMBER), "{reply:?}");
}
on_both_backends!(shopify_blind_not_subscribed_and_null_phone_record_nothing);

async fn shopify_blind_stop_then_subscribed_stays_opted_out(backend: Backend) {
    let app = app_with_secret(backend).await;
    let confirmation = text(&app, "+15035550161", "STOP").await;
    assert!(!confirmation.is_empty(), "STOP gets its one confirmation");
    applied(&app, "customers/create", &fixture("customers_create_subscribed.json"), "2026-11-20T17:00:02.000Z").await;
    let (state, events) = consent(&app, "+15035550161").await;
    assert!(opted_out(&state), "Shopify's subscribed does not undo the customer's STOP: {state:?} {events:?}");
}
on_both_backends!(shopify_blind_stop_then_subscribed_stays_opted_out);

// ---------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------

async fn shopify_blind_product_create_and_update_reach_answers(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "products/create", &fixture("products_create.json"), "2026-11-15T15:00:01.000Z").await;
    let reply = text(&app, "+15035550171", "how much is the Tillamook Rain Shell?").await;
    assert!(reply.contains("129"), "the new product's price, without a restart: {reply:?}");
    applied(&app, "products/update", &fixture("products_update.json"), "2026-11-26T13:00:01.000Z").await;
    let reply = text(&app, "+15035550172", "how much is the Tillamook Rain Shell?").await;
    assert!(reply.contains("104"), "the updated price: {reply:?}");
    assert!(!reply.contains("129.00"), "not the old price: {reply:?}");
}
on_both_backends!(shopify_blind_product_create_and_update_reach_answers);

async fn shopify_blind_deleted_product_is_no_longer_offered(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "products/create", &fixture("products_create.json"), "2026-11-15T15:00:01.000Z").await;
    let reply = text(&app, "+15035550173", "how much is the Tillamook Rain Shell?").await;
    assert!(reply.contains("129"), "the product is offered before the delete: {reply:?}");
    applied(&app, "products/delete", &fixture("products_delete.json"), "2026-11-27T15:00:01.000Z").await;
    let reply = text(&app, "+15035550174", "how much is the Tillamook Rain Shell?").await;
    assert!(!reply.is_empty(), "the bot answers the text");
    assert!(!reply.contains("129"), "a deleted product's price is not offered: {reply:?}");
    assert!(!reply.contains("TRS-"), "nor its variants: {reply:?}");
}
on_both_backends!(shopify_blind_deleted_product_is_no_longer_offered);

async fn shopify_blind_draft_product_leaves_the_catalog(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "products/create", &fixture("products_create.json"), "2026-11-15T15:00:01.000Z").await;
    let mut draft = fixture_json("products_update.json");
    draft["status"] = json!("draft");
    draft["published_at"] = Value::Null;
    applied(&app, "products/update", &serde_json::to_vec(&draft).unwrap(), "2026-11-26T13:00:01.000Z").await;
    let reply = text(&app, "+15035550175", "how much is the Tillamook Rain Shell?").await;
    assert!(!reply.is_empty(), "the bot answers the text");
    assert!(!reply.contains("129") && !reply.contains("104"), "a draft leaves the catalog: {reply:?}");
}
on_both_backends!(shopify_blind_draft_product_leaves_the_catalog);

// ---------------------------------------------------------------------------------------
// Privacy topics
// ---------------------------------------------------------------------------------------

async fn shopify_blind_customers_redact_erases_texts_and_orders(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    let question = "where is my order? it is the anorak for my sister";
    let reply = text(&app, MAREN, question).await;
    assert!(reply.contains(ORDER_NUMBER), "{reply:?}");
    let id = conversation_id(&app, "5035550142").await;
    let (status, before) = api_get(&app, &format!("/api/v1/conversations/{id}"), &[]).await;
    assert_eq!(status, 200);
    assert!(before.to_string().contains("anorak for my sister"), "the thread shows the text before: {before}");

    applied(&app, "customers/redact", &fixture("customers_redact.json"), "2026-12-05T10:00:00.000Z").await;

    let (status, after) = api_get(&app, &format!("/api/v1/conversations/{id}"), &[]).await;
    let after_text = after.to_string();
    assert!(status == 200 || status == 404, "{status} {after}");
    assert!(!after_text.contains("anorak for my sister"), "the customer's text is erased: {after}");
    assert!(!after_text.contains(ORDER_NUMBER), "the bot's reply quoting the order is erased: {after}");
    assert!(
        !after_text.contains("Maren") && !after_text.contains("maren.okafor"),
        "name and email are erased: {after}"
    );
    let (status, found) = api_get(&app, "/api/v1/conversations", &[("q", "sister")]).await;
    assert_eq!(status, 200);
    assert!(items(&found).is_empty(), "a search by the erased words finds nothing: {found}");
    assert!(events_named(&app, "Order Completed").await.is_empty(), "the customer's events are erased");
    let reply = text(&app, MAREN, WHERE).await;
    assert!(!reply.is_empty(), "the bot answers the text");
    assert!(!reply.contains(ORDER_NUMBER), "the erased order is no longer known: {reply:?}");
}
on_both_backends!(shopify_blind_customers_redact_erases_texts_and_orders);

async fn shopify_blind_redact_keeps_an_opt_out_honoured(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &other_order(), "2026-11-28T15:15:03.000Z").await;
    let confirmation = text(&app, OTHER, "STOP").await;
    assert!(!confirmation.is_empty(), "STOP gets its one confirmation");
    let mut redact = fixture_json("customers_redact.json");
    redact["customer"] = json!({"id": 7200000000043u64, "email": "lio.tran@example.com", "phone": OTHER});
    redact["orders_to_redact"] = json!([5810110120002u64]);
    applied(&app, "customers/redact", &serde_json::to_vec(&redact).unwrap(), "2026-12-05T10:00:00.000Z").await;
    let (state, events) = consent(&app, OTHER).await;
    assert!(opted_out(&state), "the opt-out survives the redact: {state:?} {events:?}");
    assert!(!events.is_empty(), "the ledger's events are kept");
    let ledger = Value::Array(events).to_string();
    assert!(!ledger.contains("STOP"), "the ledger's evidence text is cleared: {ledger}");
    let sent = text_expect_silence(&app, OTHER, WHERE).await;
    assert!(sent.is_empty(), "an opted-out number still gets no reply after the redact: {sent:?}");
}
on_both_backends!(shopify_blind_redact_keeps_an_opt_out_honoured);

async fn shopify_blind_data_request_is_listed_once(backend: Backend) {
    let app = app_with_secret(backend).await;
    let body = fixture("customers_data_request.json");
    let id = new_webhook_id();
    assert_eq!(deliver_with_id(&app, "customers/data_request", &body, &id, "2026-12-05T10:00:00.000Z").await, 200);
    assert_eq!(deliver_with_id(&app, "customers/data_request", &body, &id, "2026-12-05T10:00:00.000Z").await, 200);
    app.wait_idle().await;
    let listed = events_named(&app, "Customer Data Requested").await;
    assert_eq!(listed.len(), 1, "recorded once as a Customer Data Requested event: {listed:?}");
}
on_both_backends!(shopify_blind_data_request_is_listed_once);

async fn shopify_blind_shop_redact_erases_every_customer(backend: Backend) {
    let app = app_with_secret(backend).await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    applied(&app, "orders/create", &other_order(), "2026-11-28T15:16:03.000Z").await;
    let a = text(&app, MAREN, "where is my order? the moss anorak").await;
    let b = text(&app, OTHER, "where is my order? the birthday one").await;
    assert!(a.contains("1042") && b.contains("1043"), "{a:?} {b:?}");
    let id_a = conversation_id(&app, "5035550142").await;
    let id_b = conversation_id(&app, "5035550143").await;

    applied(&app, "shop/redact", &fixture("shop_redact.json"), "2026-12-07T10:00:00.000Z").await;

    for (id, words) in [(id_a, "moss anorak"), (id_b, "birthday one")] {
        let (_, after) = api_get(&app, &format!("/api/v1/conversations/{id}"), &[]).await;
        assert!(!after.to_string().contains(words), "every customer's texts are erased: {after}");
    }
    let a = text(&app, MAREN, WHERE).await;
    let b = text(&app, OTHER, WHERE).await;
    assert!(!a.is_empty() && !b.is_empty(), "the bot answers both");
    assert!(!a.contains("1042") && !b.contains("1043"), "every customer's orders are erased: {a:?} {b:?}");
}
on_both_backends!(shopify_blind_shop_redact_erases_every_customer);

async fn shopify_blind_unknown_topic_is_200(backend: Backend) {
    let app = app_with_secret(backend).await;
    let status =
        deliver(&app, "inventory_levels/update", &fixture("inventory_levels_update.json"), "2026-11-30T15:00:01.000Z")
            .await;
    assert_eq!(status, 200, "any other topic: 200");
    app.wait_idle().await;
    applied(&app, "orders/create", &fixture("orders_create.json"), "2026-11-28T15:15:03.000Z").await;
    let reply = text(&app, MAREN, WHERE).await;
    assert!(reply.contains(ORDER_NUMBER), "later webhooks still apply: {reply:?}");
}
on_both_backends!(shopify_blind_unknown_topic_is_200);

// ---------------------------------------------------------------------------------------
// The events API (Segment e-commerce spec v2 names and properties), as WooCommerce would send
// ---------------------------------------------------------------------------------------

const WOO: &str = "+16175550188";

/// Segment's "Order Completed" example properties (spec v2), for a WooCommerce order.
fn order_completed(id: &str, order_id: &str) -> Value {
    json!({
        "id": id,
        "event": "Order Completed",
        "phone": WOO,
        "timestamp": "2026-11-30T10:00:00Z",
        "properties": {
            "checkout_id": "fksdjfsdjfisjf9sdfjsd9f",
            "order_id": order_id,
            "affiliation": "Woo Store",
            "total": 27.50,
            "subtotal": 22.50,
            "revenue": 25.00,
            "shipping": 3,
            "tax": 2,
            "discount": 2.5,
            "coupon": "hasbros",
            "currency": "USD",
            "first_name": "Priya",
            "products": [
                {"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "name": "Monopoly: 3rd Edition", "price": 19,
                 "quantity": 1, "category": "Games", "url": "https://www.example.com/product/path",
                 "image_url": "https://www.example.com/product/path.jpg"},
                {"product_id": "505bd76785ebb509fc183733", "sku": "46493-32", "name": "Uno Card Game", "price": 3,
                 "quantity": 2, "category": "Games"}
            ]
        }
    })
}

async fn shopify_blind_events_order_lifecycle_reaches_the_reply(backend: Backend) {
    let app = app_with_secret(backend).await;
    let (status, body) = post_events(&app, &order_completed("woo-evt-1", "W-5001"), Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], json!(1), "{body}");
    assert_eq!(body["duplicates"], json!(0), "{body}");
    app.wait_idle().await;
    let reply = text(&app, WOO, WHERE).await;
    assert!(reply.contains("W-5001"), "the order from Order Completed: {reply:?}");
    assert!(lower(&reply).contains("processing"), "status processing unless given: {reply:?}");

    let shipped = json!({"id": "woo-evt-2", "event": "Order Shipped", "phone": WOO, "timestamp": "2026-12-01T09:00:00Z",
        "properties": {"order_id": "W-5001", "carrier": "UPS", "tracking_number": "1Z999AA10123456785",
            "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456785", "estimated_delivery": "2026-12-09"}});
    let (status, body) = post_events(&app, &shipped, Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    app.wait_idle().await;
    let reply = expand_links(&app, &text(&app, WOO, "where is it now?? where is my order").await).await;
    assert!(lower(&reply).contains("shipped"), "{reply:?}");
    assert!(reply.contains("1Z999AA10123456785"), "the tracking number: {reply:?}");
    assert!(
        reply.contains("https://www.ups.com/track?tracknum=1Z999AA10123456785"),
        "the UPS page (on link_hosts): {reply:?}"
    );

    let delivered = json!({"id": "woo-evt-3", "event": "Order Delivered", "phone": WOO, "timestamp": "2026-12-08T15:20:00Z",
        "properties": {"order_id": "W-5001"}});
    let (status, body) = post_events(&app, &delivered, Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    app.wait_idle().await;
    let reply = text(&app, WOO, "has my order arrived? where is my order").await;
    assert!(lower(&reply).contains("delivered"), "{reply:?}");
}
on_both_backends!(shopify_blind_events_order_lifecycle_reaches_the_reply);

async fn shopify_blind_events_checkout_and_product_viewed_are_stored(backend: Backend) {
    let app = app_with_secret(backend).await;
    // Segment spec v2 examples: Checkout Started and Product Viewed.
    let batch = json!({"batch": [
        {"id": "woo-chk-1", "event": "Checkout Started", "phone": WOO, "timestamp": "2026-11-30T09:55:00Z",
         "properties": {"order_id": "50314b8e9bcf000000000000", "affiliation": "Woo Store", "value": 30, "revenue": 25.00,
            "shipping": 3, "tax": 2, "discount": 2.5, "coupon": "hasbros", "currency": "USD",
            "sms_consent": "opted_in",
            "products": [{"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "name": "Monopoly: 3rd Edition",
                "price": 19, "quantity": 1, "category": "Games", "url": "https://www.example.com/product/path",
                "image_url": "https://www.example.com/product/path.jpg"}]}},
        {"id": "woo-view-1", "event": "Product Viewed", "email": "priya@example.com", "timestamp": "2026-11-30T09:50:00Z",
         "properties": {"product_id": "507f1f77bcf86cd799439011", "sku": "G-32", "category": "Games", "name": "Monopoly: 3rd Edition",
            "brand": "Hasbro", "variant": "200 pieces", "price": 18.99, "quantity": 1, "coupon": "MAYDEALS", "currency": "usd",
            "position": 3, "value": 18.99, "url": "https://www.example.com/product/path",
            "image_url": "https://www.example.com/product/path.jpg"}}
    ]});
    let (status, body) = post_events(&app, &batch, Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], json!(2), "{body}");
    app.wait_idle().await;
    assert_eq!(events_named(&app, "Checkout Started").await.len(), 1, "Checkout Started is stored");
    assert_eq!(events_named(&app, "Product Viewed").await.len(), 1, "Product Viewed is stored as it is");
    let (state, events) = consent(&app, WOO).await;
    assert!(opted_in(&state), "sms_consent opted_in goes to the ledger: {state:?} {events:?}");
    assert!(Value::Array(events.clone()).to_string().contains("events_api"), "source events_api: {events:?}");
}
on_both_backends!(shopify_blind_events_checkout_and_product_viewed_are_stored);

async fn shopify_blind_events_duplicate_id_is_stored_once(backend: Backend) {
    let app = app_with_secret(backend).await;
    let event = order_completed("woo-dup-1", "W-6001");
    let (status, first) = post_events(&app, &event, Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = post_events(&app, &event, Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["duplicates"], json!(1), "an id sent again is a duplicate: {second}");
    // The same id with different content changes nothing either.
    let mut changed = order_completed("woo-dup-1", "W-6002");
    changed["properties"]["total"] = json!(99.0);
    let (status, third) = post_events(&app, &changed, Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["duplicates"], json!(1), "{third}");
    app.wait_idle().await;
    assert_eq!(events_named(&app, "Order Completed").await.len(), 1, "stored once");
    let reply = text(&app, WOO, WHERE).await;
    assert!(reply.contains("W-6001") && !reply.contains("W-6002"), "the duplicate id changed nothing: {reply:?}");
}
on_both_backends!(shopify_blind_events_duplicate_id_is_stored_once);

async fn shopify_blind_events_validation_names_the_field(backend: Backend) {
    let app = app_with_secret(backend).await;
    let good = || order_completed("woo-ok", "W-7001");
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut e = good();
    e.as_object_mut().unwrap().remove("id");
    cases.push(("missing id", e, "id"));
    let mut e = good();
    e["id"] = json!("x".repeat(201));
    cases.push(("id over 200 characters", e, "id"));
    let mut e = good();
    e.as_object_mut().unwrap().remove("event");
    cases.push(("missing event", e, "event"));
    let mut e = good();
    e.as_object_mut().unwrap().remove("phone");
    cases.push(("no phone, email or customer_id", e, "phone"));
    let mut e = good();
    e["phone"] = json!("call me maybe");
    cases.push(("a phone that is not a number", e, "phone"));
    let mut e = good();
    e["properties"] = json!("order W-7001");
    cases.push(("properties not an object", e, "properties"));
    let mut e = good();
    e["timestamp"] = json!("30/11/2026 10:00");
    cases.push(("timestamp not RFC 3339", e, "timestamp"));
    let mut e = good();
    e["properties"].as_object_mut().unwrap().remove("order_id");
    cases.push(("Order Completed without order_id", e, "properties:order_id"));
    let shipped_unknown = json!({"id": "woo-ship-x", "event": "Order Shipped", "phone": WOO,
        "properties": {"order_id": "W-NOPE", "carrier": "UPS", "tracking_number": "1Z999AA10123456799"}});
    cases.push(("a shipment for an order never stored", shipped_unknown, "properties:order_id"));
    let cancelled_unknown =
        json!({"id": "woo-cancel-x", "event": "Order Cancelled", "phone": WOO, "properties": {"order_id": "W-NOPE"}});
    cases.push(("a cancellation for an order never stored", cancelled_unknown, "properties:order_id"));
    let mut bad_second = good();
    bad_second.as_object_mut().unwrap().remove("phone");
    bad_second["id"] = json!("woo-bad-2");
    cases.push((
        "the second of a batch",
        json!({"batch": [order_completed("woo-first", "W-7002"), bad_second]}),
        "batch[1].phone",
    ));
    let many: Vec<Value> = (0..501).map(|i| order_completed(&format!("woo-many-{i}"), &format!("W-8{i:03}"))).collect();
    cases.push(("more than 500 in a batch", json!({ "batch": many }), ""));

    let mut problems = Vec::new();
    // `field` is the field the answer names; `field:word` also wants `word` in the answer
    // (a required property is named as `properties`, with the property in the message).
    for (what, body, spec) in &cases {
        let (field, mention) = spec.split_once(':').unwrap_or((spec, ""));
        let (status, answer) = post_events(&app, body, Some(API_TOKEN)).await;
        let named = answer.get("field").and_then(Value::as_str).unwrap_or("");
        if status != 400 {
            problems.push(format!("{what}: expected 400, got {status} {answer}"));
        } else if !field.is_empty() && !named.ends_with(field) {
            problems.push(format!("{what}: expected the field to name `{field}`, got {answer}"));
        } else if !mention.is_empty() && !answer.to_string().contains(mention) {
            problems.push(format!("{what}: expected the answer to name `{mention}`, got {answer}"));
        } else if answer.get("error").and_then(Value::as_str).is_none_or(str::is_empty) {
            problems.push(format!("{what}: expected an error message, got {answer}"));
        }
    }
    let (status, answer) = post_events(&app, &good(), None).await;
    if status != 401 {
        problems.push(format!("no API token: expected 401, got {status} {answer}"));
    }
    let (status, answer) = post_events(&app, &good(), Some("not-the-token")).await;
    if status != 401 {
        problems.push(format!("a wrong API token: expected 401, got {status} {answer}"));
    }
    app.wait_idle().await;
    let stored = all_events(&app).await;
    if !stored.is_empty() {
        problems.push(format!("nothing of a rejected request is stored, found {stored:?}"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
on_both_backends!(shopify_blind_events_validation_names_the_field);
