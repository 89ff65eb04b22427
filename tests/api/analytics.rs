//! Analytics over HTTP on both databases (issue 19): texts, replies, a click and a preview
//! fetch, delivery reports, an opt-out, an escalation answered by a person, orders inside and
//! outside each attribution window, a cancelled order and a late one; every pinned key of
//! `GET /api/v1/analytics/summary` is checked against the values worked out by hand below.
//!
//! Times: the service's clock is fixed at `t0` (real time when the test starts) while the
//! texts go out, moved 5 minutes on before the customers write (so the bot's answers go out
//! after their texts, as in life), 2 hours on for the person's reply, and 60 days on for the
//! summaries (every window over, every day settled: the roll-ups are made and used).

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};

use crate::fakes::SentSms;
use crate::helpers::*;
use crate::on_both_backends;

const A: &str = "+12065550101"; // clicks the link; orders 3 days (in) and 6 days (out) later
const B: &str = "+12065550102"; // only a preview fetch; orders 2 hours (in) and 2 days (out) later
const C: &str = "+12065550103"; // asks a question; orders 10 days (in) and 15 days (out) later
const D: &str = "+12065550104"; // code SAVE-D7; orders 40 days later with it; an order cancelled
const E: &str = "+12065550105"; // abandoned cart (a flow); the late order completes the checkout
const F: &str = "+12065550106"; // the text fails (30003, unreachable)
const G: &str = "+12065550107"; // replies STOP
const H: &str = "+12065550108"; // asks for a person

const CART_FLOW: &str = r#"name = "cart_recovery"
class = "transactional"
trigger = { event = "Checkout Started" }
[[steps]]
send = "You left something in your cart: https://shop.example/cart/e1"
"#;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const MESSAGES_PREVIEW: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0";

fn configure(config: &mut backtalk::config::Config) {
    config.brand.link_hosts = "shop.example".into();
    // Always open: a person's first response counts from the escalation itself.
    config.business_hours.enabled = false;
}

/// A zone where it is 14:00 now, so quiet hours never hold these texts whenever the test runs.
fn afternoon_zone(now: DateTime<Utc>) -> String {
    let offset = 14 - now.hour() as i32;
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

async fn api(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", app.base_url);
    let request = if method == "GET" { app.http.get(url) } else { app.http.post(url) };
    let request = request.bearer_auth(API_TOKEN);
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn text(app: &TestApp, to: &str, body: &str) -> i64 {
    let (status, r) =
        api(app, "POST", "/api/v1/messages", Some(json!({"to": to, "body": body, "subject": "news"}))).await;
    assert_eq!(status, 202, "{r}");
    r["outbox_id"].as_i64().unwrap()
}

async fn event(app: &TestApp, e: Value) {
    let (status, r) = api(app, "POST", "/api/v1/events", Some(e)).await;
    assert!(status == 200 || status == 202, "{status}: {r}");
}

async fn order(app: &TestApp, id: &str, phone: &str, at: DateTime<Utc>, total: f64, extra: Value) {
    let mut properties = json!({"order_id": id, "total": total, "currency": "USD"});
    for (k, v) in extra.as_object().unwrap() {
        properties[k] = v.clone();
    }
    event(
        app,
        json!({"id": format!("order-{id}"), "event": "Order Completed", "phone": phone,
               "timestamp": at.to_rfc3339(), "properties": properties}),
    )
    .await;
}

async fn status_callback(app: &TestApp, outbox_id: i64, status: &str, code: &str, to: &str) {
    let sid = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select provider_sid from outbox where id = $1"
    )
    .bind(outbox_id)
    .fetch_one(p)
    .await)
    .unwrap();
    let form: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", status),
        ("ErrorCode", code),
        ("To", to),
        ("From", OUR_NUMBER),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &app.config.status_webhook_url(), &form);
    assert_eq!(app.post_form("/webhooks/twilio/status", &form, Some(&sig)).await.0, 200);
}

/// The short link a text went out with.
fn short_link(app: &TestApp, sent: &[SentSms], to: &str) -> String {
    let body = &sent.iter().find(|s| s.to == to).unwrap().body;
    let prefix = format!("{}/l/", app.base_url);
    let start = body.find(&prefix).unwrap_or_else(|| panic!("no short link in {body:?}"));
    body[start..start + prefix.len() + 10].to_string()
}

fn near(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.0001)
}

async fn the_summary_matches_the_hand_counted_figures(backend: Backend) {
    let t0 = Utc::now().with_nanosecond(0).unwrap();
    let clock = Arc::new(FixedClock::at(t0));
    let options = TestOptions { clock: Some(clock.clone()), configure: Some(configure), ..TestOptions::default() };
    let app = spawn_app(backend, options).await;
    let dir = app.config.flows_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cart_recovery.toml"), CART_FLOW).unwrap();
    let zone = afternoon_zone(t0);
    for phone in [A, B, C, D, E, F, G, H] {
        let mut tx = app.db.begin().await.unwrap();
        let customer = backtalk::store::crm::NewCustomer {
            phone: Some(&as_phone(phone)),
            name: None,
            email: None,
            timezone: Some(&zone),
            external_id: None,
            source_updated_at: None,
        };
        backtalk::store::crm::upsert_customer(&mut tx, &customer).await.unwrap();
        tx.commit().await.unwrap();
    }

    // Seven texts the brand starts, at t0.
    let to_a = text(&app, A, "New in: the linen shirt https://shop.example/p/linen-shirt").await;
    let to_b = text(&app, B, "Back in stock: https://shop.example/p/trainers").await;
    text(&app, C, "Our spring collection is here. Reply with any question.").await;
    text(&app, D, "Use code SAVE-D7 for 10% off your next order.").await;
    let to_f = text(&app, F, "Your appointment is tomorrow at 10.").await;
    let to_g = text(&app, G, "Flash sale today only.").await;
    event(
        &app,
        json!({"id": "ck-e", "event": "Checkout Started", "phone": E, "properties": {
            "checkout_id": "CK-E", "total": 60.0, "currency": "USD",
            "items": [{"sku": "ZO0000600006", "title": "Trainers - brown", "price": 60.0, "quantity": 1}]}}),
    )
    .await;
    let sent = app.twilio.wait_for_sent(7, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 7, "{sent:?}");
    app.wait_idle().await;

    // A person taps A's link; Apple Messages only previews B's.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let tap = no_redirects.get(short_link(&app, &sent, A)).header("user-agent", IPHONE).send().await.unwrap();
    assert_eq!(tap.status().as_u16(), 302);
    let preview =
        no_redirects.get(short_link(&app, &sent, B)).header("user-agent", MESSAGES_PREVIEW).send().await.unwrap();
    assert_eq!(preview.status().as_u16(), 302);
    // Delivery reports: A, B and G delivered; F's failed (unreachable handset).
    for (id, to) in [(to_a, A), (to_b, B), (to_g, G)] {
        status_callback(&app, id, "delivered", "", to).await;
    }
    status_callback(&app, to_f, "undelivered", "30003", F).await;

    // The customers write five minutes later.
    clock.set(t0 + chrono::Duration::minutes(5));
    app.post_inbound(C, "what is your return policy?", &new_sid()).await;
    app.post_inbound(G, "STOP", &new_sid()).await;
    app.post_inbound(H, "can I talk to a real person?", &new_sid()).await;
    app.twilio.wait_for_sent(10, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let decisions = backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, String)>(
        "select c.phone, t.decision from turns t join conversations c on c.id = t.conversation_id order by c.phone"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    let expected: Vec<(String, String)> =
        [(C, "reply"), (G, "opt_out"), (H, "escalate")].iter().map(|(p, d)| (p.to_string(), d.to_string())).collect();
    assert_eq!(decisions, expected);

    // A person answers H two hours after t0.
    clock.set(t0 + chrono::Duration::hours(2));
    let hash = backtalk::auth::hash_password("a long enough password").unwrap();
    let reviewer = backtalk::store::reviewers::add_reviewer(&app.db, "robin", &hash).await.unwrap();
    let token = format!("bt_{}", backtalk::auth::new_token());
    backtalk::store::reviewers::add_api_token(&app.db, reviewer, &backtalk::auth::token_hash(&token), "test")
        .await
        .unwrap();
    let escalation = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>("select id from escalations")
        .fetch_one(p)
        .await)
    .unwrap();
    for (path, body) in [("claim", json!({})), ("reply", json!({"body": "Robin here, how can I help?"}))] {
        let r = app
            .http
            .post(format!("{}/api/v1/escalations/{escalation}/{path}", app.base_url))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.text().await.unwrap());
    }
    app.twilio.wait_for_sent(11, Duration::from_secs(20)).await;
    app.wait_idle().await;

    // Orders (dollars), each placed `days` after t0.
    let day = |d: f64| t0 + chrono::Duration::seconds((d * 86_400.0) as i64);
    order(&app, "A1", A, day(3.0), 50.0, json!({})).await; // A's click 3 days before: click
    order(&app, "A2", A, day(6.0), 20.0, json!({})).await; // the click is 6 days old: nobody's
    order(&app, "B1", B, day(2.0 / 24.0), 30.0, json!({})).await; // delivered 2 h before: delivery
    order(&app, "B2", B, day(2.0), 40.0, json!({})).await; // a preview is not a click: nobody's
    order(&app, "C1", C, day(10.0), 70.0, json!({})).await; // replied 10 days before: reply
    order(&app, "C2", C, day(15.0), 15.0, json!({})).await; // the reply is 15 days old: nobody's
    order(&app, "D1", D, day(40.0), 100.0, json!({"coupon": "save-d7"})).await; // the code: 40 days on
    order(&app, "D2", D, day(1.0 / 24.0), 25.0, json!({})).await; // delivery, until it is cancelled

    clock.set(t0 + chrono::Duration::days(60));
    let period = format!(
        "from={}&to={}",
        urlencode(&(t0 - chrono::Duration::hours(1)).to_rfc3339()),
        urlencode(&day(50.0).to_rfc3339())
    );
    let (status, before) = api(&app, "GET", &format!("/api/v1/analytics/summary?{period}"), None).await;
    assert_eq!(status, 200, "{before}");
    // A1, B1, C1, D1 and D2: $50 + $30 + $70 + $100 + $25.
    assert_eq!((before["conversions"].as_i64(), before["attributed_revenue_cents"].as_i64()), (Some(5), Some(27_500)));
    assert_eq!(before["recovered_checkouts"], 0);

    // D2 is cancelled; E's order arrives late, completing the checkout its flow texted about.
    event(
        &app,
        json!({"id": "cancel-D2", "event": "Order Cancelled", "phone": D, "timestamp": day(0.5).to_rfc3339(),
                       "properties": {"order_id": "D2"}}),
    )
    .await;
    order(&app, "E1", E, day(1.0 / 24.0), 60.0, json!({"checkout_id": "CK-E"})).await;
    let (_, s) = api(&app, "GET", &format!("/api/v1/analytics/summary?{period}"), None).await;
    let (_, again) = api(&app, "GET", &format!("/api/v1/analytics/summary?{period}"), None).await;
    assert_eq!(s, again, "the roll-ups give what the rows gave");

    // Hand-counted. Texts out: 7 started + C's answer + G's opt-out confirmation + H's holding
    // text + the person's reply = 11; in: C, G, H = 3.
    assert_eq!(s["messages_inbound"], 3, "{s}");
    assert_eq!(s["messages_outbound"], 11, "{s}");
    assert!(near(&s["delivered_rate"], 3.0 / 11.0), "{s}"); // A, B, G
    // Started and not failed: A, B, C, D, E, G = 6; C and G answered within 24 h.
    assert!(near(&s["reply_rate"], 0.3333), "{s}");
    // Conversations: C (answered), G (opt-out), H (escalated).
    assert!(near(&s["containment_rate"], 0.3333), "{s}");
    assert!(near(&s["escalation_rate"], 0.3333), "{s}");
    // C's answer: no word back within 24 h (assumed resolution); the only answered one.
    assert!(near(&s["resolution_rate"], 1.0), "{s}");
    let frt = s["first_response_seconds_p50"].as_i64().unwrap();
    assert!((7_100..=7_200).contains(&frt), "two hours less the moments before H wrote: {frt}");
    assert!(near(&s["opt_out_rate"], 1.0 / 6.0), "{s}"); // G
    assert!(near(&s["click_rate"], 1.0 / 3.0), "{s}"); // A of A, B, E's links
    // A1 (click), B1 (delivery), C1 (reply), D1 (code), E1 (delivery): $50+$30+$70+$100+$60.
    assert_eq!(s["conversions"], 5, "{s}");
    assert_eq!(s["attributed_revenue_cents"], 31_000, "{s}");
    assert_eq!(s["recovered_checkouts"], 1, "{s}");
    assert_eq!(s["period"]["from"], json!((t0 - chrono::Duration::hours(1)).to_rfc3339()));
    // Beyond the pinned keys.
    assert_eq!(s["delivery_failures"], json!({"unreachable": 1}));
    assert_eq!(s["escalations_by_reason"], json!({"human_requested": 1}));
    assert_eq!(s["revenue_per_recipient_cents"], 31_000 / 6);
    // Orders not cancelled: $50 $20 $30 $40 $70 $15 $100 $60 = $385; 5 assisted ($310), 3 other ($75).
    assert_eq!(s["average_order_value_cents"], json!({"assisted": 6_200, "other": 2_500}));
    assert_eq!(s["recovery_rate"], 1.0);

    // Each order's touch, as the rule says.
    let touches = backtalk::store::with_db!(&app.db, |p| {
        sqlx::query_as::<_, (String, String)>(
        "select o.external_id, a.touch from attributions a join orders o on o.id = a.order_id order by o.external_id"
    )
    .fetch_all(p)
    .await
    })
    .unwrap();
    let expected: Vec<(String, String)> =
        [("A1", "click"), ("B1", "delivery"), ("C1", "reply"), ("D1", "code"), ("E1", "delivery")]
            .iter()
            .map(|(o, t)| (o.to_string(), t.to_string()))
            .collect();
    assert_eq!(touches, expected);
    let (_, listed) = api(&app, "GET", &format!("/api/v1/analytics/attributions?{period}"), None).await;
    let e1 = listed["attributions"].as_array().unwrap().iter().find(|a| a["order"] == "E1").unwrap().clone();
    assert_eq!(
        (&e1["flow"], &e1["touch"], &e1["recovered_checkout"]),
        (&json!("cart_recovery"), &json!("delivery"), &json!(1))
    );

    // The flow's own figures; the per-day CSV adds up to the period's.
    let (_, flow) = api(&app, "GET", &format!("/api/v1/analytics/summary?{period}&flow=cart_recovery"), None).await;
    assert_eq!(
        (
            &flow["messages_outbound"],
            &flow["conversions"],
            &flow["attributed_revenue_cents"],
            &flow["recovered_checkouts"]
        ),
        (&json!(1), &json!(1), &json!(6_000), &json!(1)),
        "{flow}"
    );
    assert_eq!(flow["containment_rate"], Value::Null, "conversations are not a flow's");
    let csv = app
        .http
        .get(format!("{}/api/v1/analytics/days?{period}&format=csv", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..4], ["day", "messages_inbound", "messages_outbound", "delivered_rate"]);
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (mut outbound, mut conversions) = (0, 0);
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        outbound += cells[column("messages_outbound")].parse::<i64>().unwrap();
        conversions += cells[column("conversions")].parse::<i64>().unwrap();
    }
    assert_eq!((outbound, conversions), (11, 5));
    let (_, breakdown) = api(&app, "GET", &format!("/api/v1/analytics/breakdown?{period}"), None).await;
    assert_eq!(breakdown["flows"][0]["flow"], "cart_recovery", "{breakdown}");

    // Over the 7 days after t0: 1 of 11 texts unreachable (> 5%), 1 opt-out of 6 (> 1.3%).
    clock.set(t0 + chrono::Duration::days(1));
    let (_, alerts) = api(&app, "GET", "/api/v1/analytics/alerts", None).await;
    let metrics: Vec<&str> =
        alerts["alerts"].as_array().unwrap().iter().map(|a| a["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics, ["unreachable", "unsubscribe_rate"], "{alerts}");

    // The business metrics, named by Prometheus' conventions, with no number among the labels.
    let metrics = app.http.get(format!("{}/metrics", app.base_url)).send().await.unwrap().text().await.unwrap();
    for line in [
        "backtalk_link_requests_total{kind=\"person\"} 1",
        "backtalk_link_requests_total{kind=\"preview\"} 1",
        "backtalk_attributed_orders 5",
        "backtalk_attributed_revenue_dollars 310.00",
        "backtalk_escalations_total{reason=\"human_requested\"} 1",
        "backtalk_opt_outs_total 1",
        "backtalk_deliverability_alert{metric=\"unreachable\"} 1",
        "backtalk_messages_total{direction=\"in\"} 3",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing from:\n{metrics}");
    }
    assert!(!metrics.contains("206555"), "a phone number in /metrics");

    let (status, bad) = api(&app, "GET", "/api/v1/analytics/summary?from=yesterday", None).await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("from")));
}
on_both_backends!(the_summary_matches_the_hand_counted_figures);

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// The made-up history (written with its own ids) leaves the service room to write its rows:
/// a new customer's text is stored and answered after it, on PostgreSQL too (its identity
/// sequences are moved past the history's ids).
async fn the_demo_history_leaves_room_for_real_rows(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let plan = backtalk::analytics::history::Plan { customers: 50, days: 30, exchanges: 1.5, seed: 7 };
    backtalk::analytics::history::make(&app.db, plan, Utc::now(), |_| {}).await.unwrap();
    let (status, _) = app.post_inbound("+14155550142", "hi, do you ship to Canada?", &new_sid()).await;
    assert_eq!(status, 200);
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!(count(&app.db, "jobs where status = 'dead'").await, 0);
    let (status, summary) = api(&app, "GET", "/api/v1/analytics/summary", None).await;
    assert_eq!(status, 200);
    assert!(summary["conversions"].as_i64().unwrap() > 0, "{summary}");
}
on_both_backends!(the_demo_history_leaves_room_for_real_rows);

/// The refresher `serve` runs every minute keeps a roll-up of each of the last 90 days, counts
/// again a day a change (a late order) made out of date, and does not store over a change that
/// arrived while it counted. The roll-ups always give what the rows give.
async fn the_refresher_keeps_the_roll_ups_current(backend: Backend) {
    use backtalk::analytics::{counts, summary};
    use backtalk::store::analytics as rollups;
    use backtalk::store::analytics_period::Scope;

    // The service's own refresher runs on its clock's days, a year of no interest here: the
    // refresher under test is the one called below.
    let elsewhere = Arc::new(FixedClock::at(DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z").unwrap().to_utc()));
    let app = spawn_app(backend, TestOptions { clock: Some(elsewhere), ..TestOptions::default() }).await;
    let now = Utc::now();
    let plan = backtalk::analytics::history::Plan { customers: 60, days: 30, exchanges: 1.5, seed: 11 };
    backtalk::analytics::history::make(&app.db, plan, now, |_| {}).await.unwrap();
    backtalk::analytics::attribute_pending(&app.db, &Default::default()).await.unwrap();
    let hours = backtalk::escalation::hours::BusinessHours::from_config(&app.config.business_hours).unwrap();
    let (today, scope) = (now.date_naive(), Scope::default());
    // The roll-ups out of date, whatever their day.
    let out_of_date = |db: &backtalk::store::Db| {
        let db = db.clone();
        async move {
            let all = rollups::rollups_to_refresh(&db, today, today).await.unwrap();
            all.into_iter().filter(|r| r.changes > 0).collect::<Vec<_>>()
        }
    };
    let first = today - chrono::Duration::days(summary::KEPT_DAYS - 1);

    summary::refresh(&app.db, &hours, now).await.unwrap();
    let made = rollups::rollups(&app.db, first, today).await.unwrap();
    assert_eq!(made.len() as i64, summary::KEPT_DAYS, "a roll-up for each of the last 90 days");
    assert!(made.iter().all(|r| r.changes == 0));
    let from = (now - chrono::Duration::days(30)).date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    // What the rows give, a day at a time (a conversation counts once per UTC day).
    let by_days = || async {
        let mut total = counts::Counts::default();
        let mut day = from;
        while day < now {
            let next = day + chrono::Duration::days(1);
            total.add(&counts::count(&app.db, &hours, day, next, &scope, now).await.unwrap());
            day = next;
        }
        total
    };
    let rows = by_days().await;
    assert!(rows.conversions > 0 && rows.messages_outbound > 100, "the history counts: {rows:?}");
    assert_eq!(summary::counts_for(&app.db, &hours, from, now, &scope, now).await.unwrap(), rows);

    // A late order on a settled day, 20 days ago, for a customer the history texted.
    let ordered = now - chrono::Duration::days(20);
    let phone = backtalk::store::with_db!(&app.db, |p| {
        sqlx::query_scalar::<_, String>(
            "select c.phone from customers c join conversations v on v.customer_id = c.id
             join outbox o on o.conversation_id = v.id where o.sent_at < $1 and o.sent_at > $2 order by o.id limit 1",
        )
        .bind(ordered)
        .bind(ordered - chrono::Duration::hours(12))
        .fetch_one(p)
        .await
    })
    .unwrap();
    order(&app, "LATE-1", &phone, ordered, 123.0, json!({})).await;
    backtalk::analytics::attribute_pending(&app.db, &Default::default()).await.unwrap();
    let changed = out_of_date(&app.db).await;
    assert!(changed.iter().any(|r| r.day == ordered.format("%Y-%m-%d").to_string()), "{changed:?}");
    let rows = by_days().await;
    assert_eq!(summary::counts_for(&app.db, &hours, from, now, &scope, now).await.unwrap(), rows);
    // The summary counted the day again; a second change makes it out of date again.
    order(&app, "LATE-2", &phone, ordered, 7.0, json!({})).await;
    backtalk::analytics::attribute_pending(&app.db, &Default::default()).await.unwrap();
    let rows = by_days().await;
    summary::refresh(&app.db, &hours, now).await.unwrap();
    assert!(out_of_date(&app.db).await.is_empty());
    assert_eq!(summary::counts_for(&app.db, &hours, from, now, &scope, now).await.unwrap(), rows);

    // A roll-up counted while a change arrived is not stored over it.
    let day = ordered.date_naive();
    let seen = rollups::rollups(&app.db, day, day).await.unwrap()[0].changes;
    order(&app, "LATE-3", &phone, ordered, 9.0, json!({})).await;
    backtalk::analytics::attribute_pending(&app.db, &Default::default()).await.unwrap();
    assert!(!rollups::put_rollup(&app.db, day, "{}", now, seen).await.unwrap(), "a change came meanwhile");
    assert!(rollups::rollups(&app.db, day, day).await.unwrap()[0].changes > 0, "still out of date");
}
on_both_backends!(the_refresher_keeps_the_roll_ups_current);
