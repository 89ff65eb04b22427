//! `POST /webhooks/shopify` and `POST /api/v1/events` end to end on both databases, with
//! payloads written from Shopify's REST resource fields (Order, Fulfillment, Customer) and
//! Segment-style events: a forged HMAC writes nothing, a webhook id delivered three times has
//! one effect, a stale retry does not overwrite newer state, the customer's SMS consent
//! reaches the ledger, "where is my order?" is answered with the shipment's tracking, and
//! `customers/redact` erases the customer while their opt-out still holds.

use std::time::Duration;

use backtalk::commerce::shopify;
use backtalk::domain::ConsentKind;
use backtalk::store::consent;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

const SECRET: &str = "test-webhook-secret";
const PHONE: &str = "+19175550177";

fn configure(config: &mut backtalk::config::Config) {
    config.shopify.webhook_secret = backtalk::config::Secret::new(SECRET);
    config.brand.link_hosts = "ups.com".into();
}

/// As [`configure`], with an outbound webhook endpoint subscribed to everything (nothing
/// listens there: its events stay stored, as a slow CRM's would).
fn configure_with_endpoint(config: &mut backtalk::config::Config) {
    configure(config);
    config.webhooks.endpoints = vec![backtalk::config::WebhookEndpointConfig {
        url: "http://127.0.0.1:9/hooks".into(),
        secret: backtalk::config::Secret::new(backtalk::webhooks_out::generate_secret()),
        events: vec!["*".into()],
        description: String::new(),
    }];
    // One attempt each, then the dead letter: the queue drains.
    config.webhooks.retry_schedule = "0s".into();
}

/// A flow on orders with a long wait: the customer has a run (with their name in its
/// context) when the shop asks us to erase them.
const THANKS_FLOW: &str = r#"name = "thanks"
class = "transactional"
trigger = { event = "Order Completed" }
[[steps]]
wait = "7d"
[[steps]]
send = "Thanks for your order, {{ customer.first_name }}!"
"#;

async fn scalar(app: &TestApp, sql: &'static str) -> i64 {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
}

/// Posts a Shopify webhook signed with `secret`; returns the status.
async fn post_shopify(app: &TestApp, topic: &str, id: &str, body: &Value, secret: &str, at: &str) -> u16 {
    let body = body.to_string();
    app.http
        .post(format!("{}/webhooks/shopify", app.base_url))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Hmac-Sha256", shopify::sign(secret, body.as_bytes()))
        .header("X-Shopify-Shop-Domain", "northwind.myshopify.com")
        .header("X-Shopify-API-Version", "2025-10")
        .header("X-Shopify-Webhook-Id", id)
        .header("X-Shopify-Triggered-At", at)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn customer() -> Value {
    json!({"id": 706405506930370000_u64, "email": "maya@example.com", "first_name": "Maya", "last_name": "Lin",
           "phone": "+19175550177", "updated_at": "2026-11-20T10:00:00-05:00",
           "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                      "consent_updated_at": "2026-11-20T10:00:00-05:00", "consent_collected_from": "SHOPIFY"}})
}

fn order(cancelled: bool) -> Value {
    json!({"id": 820982911946154500_u64, "name": "#1001", "order_number": 1001, "email": "maya@example.com",
           "created_at": "2026-11-28T10:00:00-05:00", "updated_at": "2026-11-28T10:00:00-05:00",
           "cancelled_at": if cancelled { json!("2026-11-28T11:00:00-05:00") } else { Value::Null },
           "financial_status": "paid", "fulfillment_status": null, "currency": "USD", "total_price": "53.98",
           "checkout_token": "ck-77", "order_status_url": "https://northwind.example/orders/abc",
           "customer": {"id": 706405506930370000_u64, "email": "maya@example.com", "phone": "+19175550177",
                        "first_name": "Maya", "last_name": "Lin"},
           "line_items": [{"id": 466157049, "variant_id": 39072856, "sku": "ZO0172001720", "title": "Blouse - red",
                           "price": "20.99", "quantity": 1},
                          {"id": 518995019, "variant_id": 49148385, "sku": "ZO0347403474", "title": "Blouse - black",
                           "price": "32.99", "quantity": 1}],
           "fulfillments": []})
}

fn fulfillment() -> Value {
    json!({"id": 255858046, "order_id": 820982911946154500_u64, "status": "success", "shipment_status": "in_transit",
           "tracking_company": "UPS", "tracking_number": "1Z999AA10123456784",
           "tracking_numbers": ["1Z999AA10123456784"],
           "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
           "updated_at": "2026-11-29T08:00:00-05:00"})
}

async fn shopify_webhooks_update_the_crm_and_answer_where_is_my_order(backend: Backend) {
    let app =
        spawn_app(backend, TestOptions { configure: Some(configure_with_endpoint), ..TestOptions::default() }).await;
    let flows = app.config.flows_dir();
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("thanks.toml"), THANKS_FLOW).unwrap();
    let (hooks, orders) = ("select count(*) from shopify_webhooks", "select count(*) from orders");
    let orders_before = scalar(&app, orders).await;

    // A forged signature: 401 and nothing written.
    let forged =
        post_shopify(&app, "orders/create", "w-forged", &order(false), "not-the-secret", "2026-11-28T15:00:00Z").await;
    assert_eq!(forged, 401);
    assert_eq!((scalar(&app, hooks).await, scalar(&app, orders).await), (0, orders_before));

    // A guest checkout known only by the customer's email, before the shop told us of them: a
    // cart flow's run (skipped: no number) points at its event.
    std::fs::write(
        flows.join("cart.toml"),
        THANKS_FLOW.replace("thanks", "cart").replace("Order Completed", "Checkout Started"),
    )
    .unwrap();
    let guest = json!({"id": "guest-1", "event": "Checkout Started", "email": "maya@example.com",
                       "properties": {"checkout_id": "g-1"}});
    let r = app.http.post(format!("{}/api/v1/events", app.base_url)).bearer_auth(API_TOKEN).json(&guest).send().await;
    assert!(r.unwrap().status().is_success());
    app.wait_idle_except_waits().await;
    assert_eq!(scalar(&app, "select count(*) from flow_runs where status = 'skipped'").await, 1, "the guest's run");
    // The customer, with their SMS consent.
    assert_eq!(post_shopify(&app, "customers/create", "w-1", &customer(), SECRET, "2026-11-20T15:00:00Z").await, 200);
    // The same order delivered three times: one order, one webhook, one event.
    for _ in 0..3 {
        assert_eq!(
            post_shopify(&app, "orders/create", "w-2", &order(false), SECRET, "2026-11-28T15:00:00Z").await,
            200
        );
    }
    assert_eq!(
        post_shopify(&app, "fulfillments/create", "w-3", &fulfillment(), SECRET, "2026-11-29T13:00:00Z").await,
        200
    );
    // A retry of an older state (triggered before the fulfilment) says cancelled: it is stale.
    assert_eq!(post_shopify(&app, "orders/updated", "w-4", &order(true), SECRET, "2026-11-28T14:00:00Z").await, 200);
    // A topic Backtalk does not handle: acknowledged.
    assert_eq!(
        post_shopify(&app, "app/uninstalled", "w-5", &json!({"id": 1}), SECRET, "2026-11-29T14:00:00Z").await,
        200
    );
    app.wait_idle_except_waits().await;

    assert_eq!(scalar(&app, hooks).await, 5);
    assert_eq!(scalar(&app, orders).await, orders_before + 1);
    assert_eq!(scalar(&app, "select count(*) from events where name = 'Order Completed'").await, 1);
    let outcomes = backtalk::store::commerce::shopify_webhook_outcomes(&app.db).await.unwrap();
    let outcome = |topic: &str| outcomes.iter().find(|(t, _)| t == topic).and_then(|(_, o)| o.clone()).unwrap();
    // Workers may apply the two in either order; the newer state wins either way.
    assert_eq!(scalar(&app, "select count(*) from orders where cancelled_at is not null").await, 0);
    assert_eq!(outcome("app/uninstalled"), "ignored: unknown topic");
    assert_eq!(scalar(&app, "select count(*) from shopify_webhooks where body is not null").await, 0, "bodies dropped");
    let ledger = consent::ledger(&app.db, Some(&as_phone(PHONE))).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!((ledger[0].kind, ledger[0].source.as_str()), (ConsentKind::OptIn, "shopify"));

    // "Bought together" kept current order by order is what a full recount gives.
    let pairs = || async {
        backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, String, i64)>(
            "select sku, other_sku, orders from bought_together order by sku, other_sku"
        )
        .fetch_all(p)
        .await)
        .unwrap()
    };
    let kept = pairs().await;
    assert!(kept.iter().any(|(a, b, _)| a == "ZO0172001720" && b == "ZO0347403474"), "{kept:?}");
    let mut tx = app.db.begin().await.unwrap();
    backtalk::store::catalog::refresh_bought_together(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(kept, pairs().await);

    // "Where is my order?" is answered from the order and its shipment.
    app.post_inbound(PHONE, "where is my order?", &new_sid()).await;
    wait_for("the answer", Duration::from_secs(20), || async { !app.twilio.sent_to(PHONE).is_empty() }).await;
    let reply = expand_links(&app, &app.twilio.sent_to(PHONE)[0].body).await;
    assert!(reply.contains("1001") && reply.contains("shipped"), "{reply}");
    assert!(reply.contains("1Z999AA10123456784") && reply.contains("https://www.ups.com/track"), "{reply}");

    // The shop asks what we hold on them: recorded for the operator, listed by the API.
    let request = json!({"shop_id": 954889, "shop_domain": "northwind.myshopify.com",
        "customer": {"id": 706405506930370000_u64, "email": "maya@example.com", "phone": "+19175550177"},
        "orders_requested": [820982911946154500_u64], "data_request": {"id": 9999}});
    assert_eq!(
        post_shopify(&app, "customers/data_request", "w-7", &request, SECRET, "2026-11-30T10:00:00Z").await,
        200
    );
    app.wait_idle_except_waits().await;
    let listed: Value = app
        .http
        .get(format!("{}/api/v1/events?name=Customer%20Data%20Requested", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["events"].as_array().map(Vec::len), Some(1), "{listed}");

    assert_eq!(
        scalar(&app, "select count(*) from flow_runs where status = 'waiting'").await,
        1,
        "the order started a run"
    );
    // The customer opts out, then the shop asks us to erase them.
    app.post_inbound(PHONE, "STOP", &new_sid()).await;
    app.wait_idle_except_waits().await;
    let redact = json!({"shop_id": 954889, "shop_domain": "northwind.myshopify.com",
        "customer": {"id": 706405506930370000_u64, "email": "maya@example.com", "phone": "+19175550177"},
        "orders_to_redact": [820982911946154500_u64]});
    assert_eq!(post_shopify(&app, "customers/redact", "w-6", &redact, SECRET, "2026-12-01T10:00:00Z").await, 200);
    app.wait_idle_except_waits().await;
    let customer = backtalk::store::crm::customer_by_phone(&app.db, &as_phone(PHONE)).await.unwrap().unwrap();
    assert_eq!((customer.name, customer.email), (None, None));
    assert_eq!(scalar(&app, orders).await, orders_before);
    let bodies = scalar(&app, "select count(*) from messages where from_phone = '+19175550177' and body <> ''");
    assert_eq!(bodies.await, 0);
    assert_eq!(scalar(&app, "select count(*) from messages where to_phone = '+19175550177' and body <> ''").await, 0);
    assert_eq!(scalar(&app, "select count(*) from turns where reply is not null or draft is not null").await, 0);
    assert_eq!(scalar(&app, "select count(*) from events where email = 'maya@example.com'").await, 0);
    // Their flow run (it held their name) is gone, and so is every outbound webhook event's
    // data about the number (the texts' bodies with it); the events themselves stay.
    assert_eq!(scalar(&app, "select count(*) from flow_runs").await, 0);
    assert_eq!(scalar(&app, "select count(*) from outbound_events where payload like '%+19175550177%'").await, 0);
    assert!(scalar(&app, "select count(*) from outbound_events where payload like '%redacted%'").await > 0);
    // The opt-out holds: a later text gets no reply.
    let sent = app.twilio.sent_to(PHONE).len();
    app.post_inbound(PHONE, "hello? where is my stuff", &new_sid()).await;
    app.wait_idle_except_waits().await;
    assert_eq!(app.twilio.sent_to(PHONE).len(), sent, "an opted-out number gets nothing");
    let latest = consent::latest_consent(&app.db, &as_phone(PHONE)).await.unwrap();
    assert_eq!(latest, Some(ConsentKind::OptOut));

    // A guest the store has no customer row for: their events by email still go.
    let guest = json!({"id": "guest-2", "event": "Checkout Started", "email": "guest@example.com",
                       "properties": {"checkout_id": "g-2"}});
    let r = app.http.post(format!("{}/api/v1/events", app.base_url)).bearer_auth(API_TOKEN).json(&guest).send().await;
    assert!(r.unwrap().status().is_success());
    app.wait_idle_except_waits().await;
    let guests = "select count(*) from events where email = 'guest@example.com'";
    assert_eq!(scalar(&app, guests).await, 1);
    let redact = json!({"shop_id": 954889, "shop_domain": "northwind.myshopify.com",
        "customer": {"id": 1234, "email": "guest@example.com", "phone": null}, "orders_to_redact": []});
    assert_eq!(post_shopify(&app, "customers/redact", "w-9", &redact, SECRET, "2026-12-02T10:00:00Z").await, 200);
    app.wait_idle_except_waits().await;
    assert_eq!(scalar(&app, guests).await, 0, "the guest's events are erased");
}
on_both_backends!(shopify_webhooks_update_the_crm_and_answer_where_is_my_order);

async fn post_events(app: &TestApp, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = app.http.post(format!("{}/api/v1/events", app.base_url)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn events_api_updates_the_crm_like_shopify(backend: Backend) {
    let app = spawn_app(backend, TestOptions { configure: Some(configure), ..TestOptions::default() }).await;
    let phone = "+19175550178";
    let placed = json!({"id": "woo-1", "event": "Order Completed", "phone": phone, "timestamp": "2026-11-30T10:00:00Z",
        "properties": {"order_id": "W-5001", "total": 74.99, "currency": "USD", "first_name": "Raj", "last_name": "Iyer",
                       "products": [{"sku": "ZO0431204312", "name": "Parka - khaki", "price": 74.99, "quantity": 1}]}});
    let shipped = json!({"id": "woo-2", "event": "Order Shipped", "phone": phone, "timestamp": "2026-12-01T10:00:00Z",
        "properties": {"order_id": "W-5001", "carrier": "UPS", "tracking_number": "1Z999AA10123456785",
                       "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456785",
                       "estimated_delivery": "2026-12-09"}});
    let viewed =
        json!({"id": "woo-3", "event": "Product Viewed", "phone": phone, "properties": {"sku": "ZO0172001720"}});

    assert_eq!(post_events(&app, &placed, None).await.0, 401, "a token is required");
    // A bad event anywhere in a batch: 400 naming it, and nothing stored.
    let bad = json!({"id": "woo-9", "event": "Product Viewed", "phone": "call me"});
    let (status, error) = post_events(&app, &json!({"batch": [placed.clone(), bad]}), Some(API_TOKEN)).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("batch[1].phone")), "{error}");
    assert_eq!(scalar(&app, "select count(*) from events").await, 0);

    let (status, body) = post_events(&app, &json!([placed, shipped, viewed.clone()]), Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["accepted"].as_i64(), body["duplicates"].as_i64()), (Some(3), Some(0)), "{body}");
    // The same id again: nothing new.
    let (_, again) = post_events(&app, &viewed, Some(API_TOKEN)).await;
    assert_eq!((again["accepted"].as_i64(), again["duplicates"].as_i64()), (Some(0), Some(1)), "{again}");
    assert_eq!(scalar(&app, "select count(*) from events").await, 3);
    let customer = backtalk::store::crm::customer_by_phone(&app.db, &as_phone(phone)).await.unwrap().unwrap();
    assert_eq!(customer.name.as_deref(), Some("Raj Iyer"));

    app.post_inbound(phone, "when will my parka arrive?", &new_sid()).await;
    wait_for("the answer", Duration::from_secs(20), || async { !app.twilio.sent_to(phone).is_empty() }).await;
    let reply = app.twilio.sent_to(phone)[0].body.clone();
    assert!(reply.contains("W-5001") && reply.contains("2026-12-09"), "{reply}");
    assert!(reply.contains("1Z999AA10123456785"), "{reply}");

    // Delivered: the status follows the shipment.
    let delivered = json!({"id": "woo-4", "event": "Order Delivered", "phone": phone,
        "timestamp": "2026-12-08T16:00:00Z", "properties": {"order_id": "W-5001"}});
    assert_eq!(post_events(&app, &delivered, Some(API_TOKEN)).await.0, 200);
    app.post_inbound(phone, "where is my order?", &new_sid()).await;
    wait_for("the second answer", Duration::from_secs(20), || async { app.twilio.sent_to(phone).len() >= 2 }).await;
    let reply = app.twilio.sent_to(phone)[1].body.clone();
    assert!(reply.contains("delivered") && reply.contains("2026-12-08"), "{reply}");
}
on_both_backends!(events_api_updates_the_crm_like_shopify);

fn product(price: &str, status: &str) -> Value {
    json!({"id": 632910392, "title": "Tidewater Rain Shell", "handle": "tidewater-rain-shell",
           "body_html": "<p>Seam-sealed <strong>rain shell</strong> &amp; packable hood.</p>",
           "vendor": "Northwind", "product_type": "Jackets", "status": status, "tags": "rain, outerwear",
           "updated_at": "2026-12-01T10:00:00-05:00",
           "options": [{"name": "Size", "position": 1, "values": ["S", "M"]}],
           "variants": [
               {"id": 808950810, "sku": "TRS-S", "price": price, "compare_at_price": null, "option1": "S",
                "inventory_quantity": 4, "inventory_policy": "deny", "inventory_management": "shopify"},
               {"id": 808950811, "sku": "TRS-M", "price": price, "compare_at_price": null, "option1": "M",
                "inventory_quantity": 0, "inventory_policy": "deny", "inventory_management": "shopify"}],
           "images": [{"id": 850703190, "position": 1, "src": "https://cdn.shopify.com/s/files/rain-shell.jpg"}]})
}

/// Texts `question` from a new number and returns the reply.
async fn ask(app: &TestApp, n: u32, question: &str) -> String {
    let phone = format!("+1212555{:04}", 7000 + n);
    app.post_inbound(&phone, question, &new_sid()).await;
    wait_for("a reply", Duration::from_secs(20), || async { !app.twilio.sent_to(&phone).is_empty() }).await;
    app.twilio.sent_to(&phone)[0].body.clone()
}

async fn product_webhooks_update_the_catalog_without_a_restart(backend: Backend) {
    let app = spawn_app(backend, TestOptions { configure: Some(configure), ..TestOptions::default() }).await;
    let question = "how much is the tidewater rain shell?";
    assert!(!ask(&app, 1, question).await.contains("Tidewater"), "not in the demo catalog yet");

    let at = "2026-12-01T15:00:00Z";
    assert_eq!(post_shopify(&app, "products/create", "p-1", &product("89.00", "active"), SECRET, at).await, 200);
    app.wait_idle().await;
    let reply = ask(&app, 2, question).await;
    assert!(reply.contains("Tidewater Rain Shell") && reply.contains("$89.00"), "{reply}");
    let row = backtalk::store::catalog::products_by_sku(&app.db, &["tidewater-rain-shell".into()]).await.unwrap();
    assert_eq!(row[0].description, "Seam-sealed rain shell & packable hood.");
    assert_eq!(row[0].image_url, "https://cdn.shopify.com/s/files/rain-shell.jpg");

    // A price change reaches the next answer.
    assert_eq!(post_shopify(&app, "products/update", "p-2", &product("79.00", "active"), SECRET, at).await, 200);
    app.wait_idle().await;
    let reply = ask(&app, 3, question).await;
    assert!(reply.contains("$79.00") && !reply.contains("$89.00"), "{reply}");
    // A retry of an older change, arriving late, does not undo the newer price.
    let older = "2026-12-01T14:00:00Z";
    assert_eq!(post_shopify(&app, "products/update", "p-old", &product("69.00", "active"), SECRET, older).await, 200);
    app.wait_idle().await;
    let row = backtalk::store::catalog::products_by_sku(&app.db, &["tidewater-rain-shell".into()]).await.unwrap();
    assert_eq!(row[0].price_cents, 7900, "a stale update changed the price");

    // Deleted (by id alone, as Shopify sends it): gone from the catalog and the search.
    assert_eq!(post_shopify(&app, "products/delete", "p-3", &json!({"id": 632910392}), SECRET, at).await, 200);
    app.wait_idle().await;
    let row = backtalk::store::catalog::products_by_sku(&app.db, &["tidewater-rain-shell".into()]).await.unwrap();
    assert!(row.is_empty());
    assert!(!ask(&app, 4, question).await.contains("Tidewater"));
    // An update from before the delete, arriving after it, does not bring the product back.
    let before_delete = "2026-12-01T14:30:00Z";
    let late = product("79.00", "active");
    assert_eq!(post_shopify(&app, "products/update", "p-late", &late, SECRET, before_delete).await, 200);
    app.wait_idle().await;
    let row = backtalk::store::catalog::products_by_sku(&app.db, &["tidewater-rain-shell".into()]).await.unwrap();
    assert!(row.is_empty(), "a stale update brought a deleted product back");

    // A broken product payload is dead-lettered with its reason, not retried for hours.
    let broken = json!({"id": 1, "handle": "no-price", "title": "No price", "variants": [{"sku": "NP-1"}]});
    assert_eq!(post_shopify(&app, "products/create", "p-4", &broken, SECRET, at).await, 200);
    app.wait_idle().await;
    let outcomes = backtalk::store::commerce::shopify_webhook_outcomes(&app.db).await.unwrap();
    let last = outcomes.last().and_then(|(_, o)| o.clone()).unwrap_or_default();
    assert!(last.starts_with("failed:") && last.contains("no price"), "{last}");
}
on_both_backends!(product_webhooks_update_the_catalog_without_a_restart);

/// The Tidewater shell with its M variant at `m_stock`.
fn shell_with_m(m_stock: i64) -> Value {
    let mut p = product("89.00", "active");
    p["variants"][1]["inventory_quantity"] = json!(m_stock);
    p
}

/// Back in stock: a subscription to the shell in M gets one text when M is restocked by a
/// product update, not when S (never out) changes, and not again when M runs out and returns.
async fn a_restocked_variant_texts_each_subscriber_once(backend: Backend) {
    let clock = std::sync::Arc::new(backtalk::clock::FixedClock::at(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 8, 18, 0, 0).unwrap(),
    ));
    let app =
        spawn_app(backend, TestOptions { configure: Some(configure), clock: Some(clock), ..TestOptions::default() })
            .await;
    let flows = app.config.flows_dir();
    std::fs::create_dir_all(&flows).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/back_in_stock.toml");
    std::fs::copy(shipped, flows.join("back_in_stock.toml")).unwrap();
    let at = "2026-12-01T15:00:00Z";
    assert_eq!(post_shopify(&app, "products/create", "b-1", &shell_with_m(0), SECRET, at).await, 200);
    app.wait_idle().await;
    // Two demo customers (opted in): one wants M, one wants S.
    let (wants_m, wants_s) = ("+13055550100", "+12125550100");
    for (id, phone, size) in [("s-1", wants_m, "M"), ("s-2", wants_s, "S")] {
        let event = json!({"id": id, "event": "Back In Stock Subscribed", "phone": phone,
                           "properties": {"sku": "tidewater-rain-shell", "size": size}});
        let r =
            app.http.post(format!("{}/api/v1/events", app.base_url)).bearer_auth(API_TOKEN).json(&event).send().await;
        assert!(r.unwrap().status().is_success());
    }
    app.wait_idle().await;
    assert!(app.twilio.sent().is_empty(), "nothing before the restock");
    assert_eq!(post_shopify(&app, "products/update", "b-2", &shell_with_m(3), SECRET, at).await, 200);
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, wants_m);
    assert!(sent[0].body.contains("Tidewater Rain Shell in M is back in stock"), "{}", sent[0].body);
    // M runs out and comes back: the subscription was answered already.
    assert_eq!(post_shopify(&app, "products/update", "b-3", &shell_with_m(0), SECRET, at).await, 200);
    app.wait_idle().await;
    assert_eq!(post_shopify(&app, "products/update", "b-4", &shell_with_m(5), SECRET, at).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent().len(), 1, "one text per subscription");
}
on_both_backends!(a_restocked_variant_texts_each_subscriber_once);
