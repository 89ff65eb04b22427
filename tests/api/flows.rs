//! Flows end to end over HTTP (issue 18, "Must show"): events posted to `POST /api/v1/events`
//! start runs, each wait is a job in the database queue, texts reach the fake Twilio under
//! consent and smart sending, and replies to a flow's text continue with its context.

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use backtalk::store::with_db;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::fakes::LlmBehaviour;
use crate::helpers::*;
use crate::on_both_backends;

/// Demo customers in Miami (area code 305: Florida, Eastern time), all opted in.
const ELYSSA: &str = "+13055550100";
/// A Miami number the store has never heard of: no consent in the ledger.
const STRANGER: &str = "+13055550199";

/// A Tuesday, 18:00 UTC (13:00 in Miami): inside every quiet-hours window of a 305 number.
fn weekday_afternoon() -> Arc<FixedClock> {
    Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2026, 12, 8, 18, 0, 0).unwrap()))
}

/// The abandoned-checkout flow of the issue, with a wait short enough for a test.
const CART_FLOW: &str = r#"name = "abandoned_checkout"
class = "promotional"
trigger = { event = "Checkout Started" }
exit = [{ event = "Order Completed", match = "checkout_id" }]
[[steps]]
wait = "2s"
[[steps]]
send = "Hi {{ customer.first_name }}, still thinking about {{ event.properties.items[0].title }}? Reply with any question about size or fit."
"#;

/// An appointment reminder: 24 h before the appointment, a menu.
const APPOINTMENT_FLOW: &str = r#"name = "appointment_reminder"
class = "transactional"
trigger = { event = "Appointment Booked" }
[[steps]]
wait = "24h before appointment_at"
[[steps]]
send = "Reminder: your fitting is tomorrow at {{ event.properties.time }}. Reply 1 to confirm, 2 to reschedule, or ask a question."
replies = [
  { match = "1", event = "Appointment Confirmed", text = "Thanks, you're confirmed for {{ event.properties.time }}." },
  { match = "2", handoff = true, text = "No problem: someone from our team will text you to find a new time." },
]
"#;

async fn app_with_flows(backend: Backend, flows: &[&str]) -> TestApp {
    let app = spawn_app(backend, TestOptions { clock: Some(weekday_afternoon()), ..Default::default() }).await;
    let dir = app.config.flows_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (n, flow) in flows.iter().enumerate() {
        std::fs::write(dir.join(format!("{n}.toml")), flow).unwrap();
    }
    app
}

async fn api_get(app: &TestApp, path: &str) -> Value {
    let response = app.http.get(format!("{}{path}", app.base_url)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.unwrap()
}

async fn post_event(app: &TestApp, event: Value) {
    let response = app
        .http
        .post(format!("{}/api/v1/events", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&event)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(status == 200 || status == 202, "{status}: {}", response.text().await.unwrap_or_default());
}

fn checkout(id: &str, phone: &str, checkout_id: &str) -> Value {
    json!({"id": id, "event": "Checkout Started", "phone": phone, "properties": {
        "checkout_id": checkout_id, "total": 14.99, "currency": "USD",
        "items": [{"sku": "ZO0000600006", "title": "Trainers - brown", "price": 14.99, "quantity": 1}]}})
}

/// `(status, reason)` of each run, oldest first.
async fn runs(app: &TestApp) -> Vec<(String, Option<String>)> {
    let newest_first = backtalk::store::flows::latest_runs(&app.db, None, None, 1000).await.unwrap();
    newest_first.into_iter().rev().map(|r| (r.status, r.reason)).collect()
}

/// `(status, error)` of every flow text in the outbox.
async fn flow_texts(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    with_db!(&app.db, |p| sqlx::query_as::<_, (String, Option<String>, String)>(
        "select status, error, to_phone from outbox where flow_run_id is not null order by id"
    )
    .fetch_all(p)
    .await)
    .unwrap()
}

async fn a_checkout_gets_one_text_after_the_wait_and_a_reply_about_its_item(backend: Backend) {
    let app = app_with_flows(backend, &[CART_FLOW]).await;
    post_event(&app, checkout("c-1", ELYSSA, "chk-1")).await;
    // The wait is a queued job: nothing goes before it ends.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(app.twilio.sent().is_empty(), "sent before the wait ended");
    // The API shows the run waiting before the send step.
    let flows = api_get(&app, "/api/v1/flows").await;
    assert_eq!(flows["flows"][0]["name"], "abandoned_checkout", "{flows}");
    assert_eq!(
        (flows["flows"][0]["steps"][1]["kind"].as_str(), flows["flows"][0]["steps"][1]["waiting"].as_u64()),
        (Some("send"), Some(1)),
        "{flows}"
    );
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ELYSSA);
    assert_eq!(
        sent[0].body,
        "Hi Elyssa, still thinking about Trainers - brown? Reply with any question about size or fit."
    );
    // The same event delivered again starts nothing new.
    post_event(&app, checkout("c-1", ELYSSA, "chk-1")).await;
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent().len(), 1, "exactly one text");
    assert_eq!(runs(&app).await, [("done".to_string(), None)]);

    // The reply is about the cart's item, not a search of the whole catalog.
    app.post_inbound(ELYSSA, "is it true to size?", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let answer = &sent[1].body;
    assert!(answer.contains("Trainers"), "the answer names the cart's item: {answer}");
    assert!(!answer.contains("Lace-ups"), "and no other product: {answer}");
}
on_both_backends!(a_checkout_gets_one_text_after_the_wait_and_a_reply_about_its_item);

async fn an_order_with_the_checkout_id_before_the_wait_ends_sends_nothing(backend: Backend) {
    let app = app_with_flows(backend, &[CART_FLOW]).await;
    post_event(&app, checkout("c-2", ELYSSA, "chk-2")).await;
    // Another cart of the same customer is not ended by this order.
    post_event(&app, checkout("c-3", "+13055550101", "chk-3")).await;
    let order = json!({"id": "o-2", "event": "Order Completed", "phone": ELYSSA, "properties": {
        "order_id": "W-2002", "checkout_id": "chk-2", "total": 14.99, "currency": "USD",
        "products": [{"sku": "ZO0000600006", "name": "Trainers - brown", "price": 14.99, "quantity": 1}]}});
    post_event(&app, order).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.wait_idle().await;
    let sent = app.twilio.sent();
    let sent_to: Vec<&str> = sent.iter().map(|s| s.to.as_str()).collect();
    let runs = runs(&app).await;
    assert_eq!(sent_to, ["+13055550101"], "only the cart with no order gets its reminder; runs: {runs:?}");
    assert!(runs.contains(&("exited".to_string(), Some("exit: Order Completed".to_string()))), "{runs:?}");
}
on_both_backends!(an_order_with_the_checkout_id_before_the_wait_ends_sends_nothing);

async fn no_marketing_text_without_consent_and_each_skip_has_its_reason(backend: Backend) {
    let app = app_with_flows(backend, &[CART_FLOW]).await;
    // Elyssa opts out; a stranger never opted in.
    app.post_inbound(ELYSSA, "STOP", &new_sid()).await;
    app.wait_idle().await;
    let confirmations = app.twilio.sent().len();
    post_event(&app, checkout("c-4", ELYSSA, "chk-4")).await;
    post_event(&app, checkout("c-5", STRANGER, "chk-5")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent().len(), confirmations, "no flow text went out");
    let runs = runs(&app).await;
    assert!(runs.contains(&("exited".to_string(), Some("opted out".to_string()))), "{runs:?}");
    // Both reasons are in the API: the run's, and the skipped text's.
    let api = api_get(&app, "/api/v1/flows/runs?flow=abandoned_checkout").await;
    // Two workers may take the two events at once, so the runs' ids (the API's order) can
    // come either way round: compare them sorted.
    let mut reasons: Vec<String> = api["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["status"], r["reason"], r["texts"][0]["reason"]))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        ["\"done\" null \"no marketing consent: the number has not opted in\"", "\"exited\" \"opted out\" null"],
        "{api}"
    );
    let texts = flow_texts(&app).await;
    assert_eq!(
        texts,
        [(
            "suppressed".to_string(),
            Some("no marketing consent: the number has not opted in".to_string()),
            STRANGER.to_string()
        )]
    );
}
on_both_backends!(no_marketing_text_without_consent_and_each_skip_has_its_reason);

async fn smart_sending_allows_one_promotional_text_a_day(backend: Backend) {
    let app = app_with_flows(backend, &[CART_FLOW]).await;
    post_event(&app, checkout("c-6", ELYSSA, "chk-6")).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    post_event(&app, checkout("c-7", ELYSSA, "chk-7")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent().len(), 1);
    let texts = flow_texts(&app).await;
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[1].0, "suppressed");
    assert!(texts[1].1.as_deref().unwrap().starts_with("smart sending"), "{texts:?}");
}
on_both_backends!(smart_sending_allows_one_promotional_text_a_day);

async fn an_appointment_reminder_answers_1_2_and_a_question(backend: Backend) {
    let app = app_with_flows(backend, &[APPOINTMENT_FLOW]).await;
    let now = weekday_afternoon();
    // Due 24 h before the appointment: two seconds from the clock's now.
    let at =
        (backtalk::clock::Clock::now(&*now) + chrono::Duration::hours(24) + chrono::Duration::seconds(2)).to_rfc3339();
    let customers =
        [("+13055550100", "1"), ("+13055550101", "2"), ("+13055550102", "is parking free?"), ("+13055550103", "3")];
    for (n, (phone, _)) in customers.iter().enumerate() {
        let event = json!({"id": format!("a-{n}"), "event": "Appointment Booked", "phone": phone,
            "properties": {"appointment_id": format!("apt-{n}"), "appointment_at": at, "time": "2:00 PM"}});
        post_event(&app, event).await;
    }
    let sent = app.twilio.wait_for_sent(4, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent.iter().all(|s| s.body.starts_with("Reminder: your fitting is tomorrow at 2:00 PM.")));
    // The texts recorded before the replies (the fake provider has them first).
    app.wait_idle_except_waits().await;
    for (phone, reply) in customers {
        app.post_inbound(phone, reply, &new_sid()).await;
    }
    let sent = app.twilio.wait_for_sent(8, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let answer = |phone: &str| app.twilio.sent_to(phone).last().map(|s| s.body.clone()).unwrap_or_default();
    assert_eq!(answer("+13055550100"), "Thanks, you're confirmed for 2:00 PM.");
    assert_eq!(answer("+13055550101"), "No problem: someone from our team will text you to find a new time.");
    let question = answer("+13055550102");
    assert!(!question.starts_with("Reminder"), "a question is answered, not given the menu: {question}");
    assert_eq!(sent.len(), 8);
    // A reply that looks like a choice but is none gets the menu again.
    assert!(answer("+13055550103").starts_with("Reminder: your fitting is tomorrow"), "{}", answer("+13055550103"));
    // "1" is an event for the customer (it can start or end flows), with the appointment's id.
    let confirmed =
        backtalk::store::commerce::recent_events(&app.db, None, Some("Appointment Confirmed"), 10).await.unwrap();
    assert_eq!(confirmed.len(), 1);
    let props: Value = serde_json::from_str(&confirmed[0].properties).unwrap();
    assert_eq!(props["appointment_id"], "apt-0");
    // "2" hands the thread to a person.
    let escalated = with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select c.phone from escalations e join conversations c on c.id = e.conversation_id where e.reason = 'action_requested'"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(escalated, ["+13055550101"]);
}
on_both_backends!(an_appointment_reminder_answers_1_2_and_a_question);

/// Every shipped flow in `flows/`, replayed by `flows simulate`'s code path over a week of a
/// store's events: each sends what its file says, to whom, when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_flows_each_send_their_text() {
    use backtalk::flows::simulate::{Options, What, simulate};
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (flows, errors) = backtalk::flows::file::load_dir(&repo.join("flows")).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let dir = tempfile::tempdir().unwrap();
    let item = json!([{"sku": "ZO0000600006", "title": "Trainers - brown", "price": 14.99, "quantity": 1}]);
    let events = [
        json!({"id": "1", "event": "Checkout Started", "phone": "+13055550100", "timestamp": "2026-12-08T15:00:00Z",
               "properties": {"checkout_id": "k1", "items": item}}),
        json!({"id": "2", "event": "Product Viewed", "phone": "+13055550101", "timestamp": "2026-12-08T15:00:00Z",
               "properties": {"sku": "ZO0000600006", "name": "Trainers - brown"}}),
        json!({"id": "3", "event": "Order Completed", "phone": "+13055550102", "timestamp": "2026-12-08T14:00:00Z",
               "properties": {"order_id": "W-1", "total": 14.99, "products": item}}),
        json!({"id": "4", "event": "Order Shipped", "phone": "+13055550102", "timestamp": "2026-12-08T15:00:00Z",
               "properties": {"order_id": "W-1", "tracking_url": "https://track.example/1"}}),
        json!({"id": "5", "event": "Order Out For Delivery", "phone": "+13055550102", "timestamp": "2026-12-09T13:00:00Z",
               "properties": {"order_id": "W-1"}}),
        json!({"id": "6", "event": "Order Delivered", "phone": "+13055550102", "timestamp": "2026-12-09T18:00:00Z",
               "properties": {"order_id": "W-1"}}),
        json!({"id": "7", "event": "Subscribed", "phone": "+13055550150", "timestamp": "2026-12-08T15:00:00Z"}),
        json!({"id": "8", "event": "Appointment Booked", "phone": "+13055550103", "timestamp": "2026-12-08T15:00:00Z",
               "properties": {"appointment_id": "a1", "appointment_at": "2026-12-10T19:00:00Z", "time": "2:00 PM"}}),
    ];
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events.iter().map(|e| e.to_string() + "\n").collect::<String>()).unwrap();
    let db = backtalk::store::Db::connect(&format!("sqlite://{}", dir.path().join("sim.db").display())).await.unwrap();
    let options = Options {
        events: file,
        demo: true,
        smart_sending: chrono::Duration::hours(24),
        until: None,
        sources: demo_step_sources(&db, dir.path(), dir.path().join("segments")).await,
    };
    let (lines, summary) = simulate(&db, backtalk::flows::set::FlowSet::fixed(flows), &options).await.unwrap();
    let sent: Vec<(String, String, String, String)> = lines
        .iter()
        .filter_map(|l| match &l.what {
            What::Sent { flow, text, .. } => {
                Some((l.at.to_rfc3339(), flow.clone(), l.phone.as_ref().unwrap().as_str().to_string(), text.clone()))
            }
            _ => None,
        })
        .collect();
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc().to_rfc3339();
    let expected = [
        (
            at("2026-12-08T15:00:00Z"),
            "shipping_updates",
            "+13055550102",
            "Your order W-1 is on its way: https://track.example/1.",
        ),
        (
            at("2026-12-08T15:00:00Z"),
            "welcome",
            "+13055550150",
            "Thanks for signing up for texts from us! Reply YES to confirm.",
        ),
        (
            at("2026-12-08T16:00:00Z"),
            "abandoned_checkout",
            "+13055550100",
            "Hi Elyssa, still thinking about Trainers - brown?",
        ),
        (at("2026-12-08T17:00:00Z"), "browse_abandonment", "+13055550101", "still looking at the Trainers - brown?"),
        (at("2026-12-09T13:00:00Z"), "shipping_updates", "+13055550102", "Your order W-1 is out for delivery today."),
        (at("2026-12-09T18:00:00Z"), "shipping_updates", "+13055550102", "Your order W-1 was delivered."),
        (
            at("2026-12-09T19:00:00Z"),
            "appointment_reminder",
            "+13055550103",
            "Reminder: your appointment is tomorrow at 2:00 PM.",
        ),
        (at("2026-12-12T18:00:00Z"), "post_purchase", "+13055550102", "Care tip: wash cold and dry flat"),
        // The complement from purchase history, written by the offline responder.
        (at("2026-12-16T18:00:00Z"), "post_purchase", "+13055550102", "To go with the"),
    ];
    assert_eq!(sent.len(), expected.len(), "{sent:#?}");
    for ((t, flow, phone, text), (want_t, want_flow, want_phone, want_text)) in sent.iter().zip(expected) {
        assert_eq!((t.as_str(), flow.as_str(), phone.as_str()), (want_t.as_str(), want_flow, want_phone), "{text}");
        assert!(text.contains(want_text), "{flow}: {text}");
    }
    assert_eq!((summary.skipped, summary.deferred, summary.exited), (0, 0, 0), "{lines:#?}");
}

async fn double_opt_in_yes_is_the_consent_nothing_promotional_before_it(backend: Backend) {
    let welcome = include_str!("../../flows/welcome.toml");
    let app = app_with_flows(backend, &[welcome, CART_FLOW]).await;
    post_event(&app, json!({"id": "s-1", "event": "Subscribed", "phone": STRANGER})).await;
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    assert!(sent[0].body.contains("Reply YES to confirm"), "{}", sent[0].body);
    // Before YES, a cart reminder is marketing to an unconfirmed number: skipped.
    post_event(&app, checkout("c-8", STRANGER, "chk-8")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.wait_idle().await;
    assert_eq!(app.twilio.sent().len(), 1);
    app.post_inbound(STRANGER, "Yes", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body, app.config.brand.opt_in_confirmation, "the opt-in confirmation with its disclosures");
    let ledger = backtalk::store::consent::ledger(&app.db, Some(&as_phone(STRANGER))).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!((ledger[0].kind.as_str(), ledger[0].source.as_str()), ("opt_in", "double_opt_in"));
    // Now the next cart gets its reminder.
    post_event(&app, checkout("c-9", STRANGER, "chk-9")).await;
    let sent = app.twilio.wait_for_sent(3, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 3);
    assert!(sent[2].body.contains("still thinking about Trainers - brown?"), "{}", sent[2].body);
}
on_both_backends!(double_opt_in_yes_is_the_consent_nothing_promotional_before_it);

/// The issue's random replay, smaller (`backtalk bench flows` runs 100,000): random NANP
/// numbers, consents, carts, conversions and parcel updates at random minutes of two weeks;
/// no text outside the recipient's window, without the consent its class needs, within 24 h
/// of another promotional text or over a state's cap; every deferred text sent or skipped
/// later, none left pending, none sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_replay_breaks_no_sending_rule() {
    let dir = tempfile::tempdir().unwrap();
    let db = backtalk::store::Db::connect(&format!("sqlite://{}", dir.path().join("sim.db").display())).await.unwrap();
    let (check, _) = backtalk::bench::flows::replay(&db, 1500, 7, &indicatif::ProgressBar::hidden()).await.unwrap();
    assert!(check.holds(), "{check:#?}");
    // The replay exercised every rule it checks.
    assert!(check.sent > 500 && check.deferred > 100, "{check:#?}");
    assert!(
        check.skipped.contains_key("smart sending") && check.skipped.contains_key("no marketing consent"),
        "{check:#?}"
    );
}

/// A transactional flow with an A/B test on its text (transactional, so smart sending does
/// not hold the second entry).
const AB_FLOW: &str = r#"name = "order_note"
class = "transactional"
trigger = { event = "Note Requested" }
[[steps]]
test = { name = "note_copy", metric = "reply_rate" }
variants = [
  { name = "short", send = "Your note is ready." },
  { name = "long", send = "Good news: the note you asked for is ready." },
]
"#;

async fn an_ab_arm_is_kept_on_re_entry_and_no_winner_before_500_per_arm(backend: Backend) {
    let app = app_with_flows(backend, &[AB_FLOW]).await;
    let phones: Vec<String> = (100..120).map(|n| format!("+1305555{n:04}")).collect();
    for round in 0..2 {
        for (n, phone) in phones.iter().enumerate() {
            let event = json!({"id": format!("n-{round}-{n}"), "event": "Note Requested", "phone": phone});
            post_event(&app, event).await;
        }
        app.twilio.wait_for_sent(phones.len() * (round + 1), Duration::from_secs(30)).await;
    }
    app.wait_idle().await;
    let mut arms = std::collections::HashMap::new();
    for phone in &phones {
        let texts: Vec<String> = app.twilio.sent_to(phone).into_iter().map(|s| s.body).collect();
        assert_eq!(texts.len(), 2, "{phone}: {texts:?}");
        assert_eq!(texts[0], texts[1], "{phone} changed arm on re-entry");
        *arms.entry(texts[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(arms.len(), 2, "both arms used: {arms:?}");
    let tests = api_get(&app, "/api/v1/flows/tests").await;
    let test = &tests["tests"][0];
    assert_eq!(test["test"], "note_copy");
    let recipients: u64 = test["arms"].as_array().unwrap().iter().map(|a| a["recipients"].as_u64().unwrap()).sum();
    assert_eq!(recipients, 40);
    assert_eq!(test["winner"], Value::Null, "{test}");
}
on_both_backends!(an_ab_arm_is_kept_on_re_entry_and_no_winner_before_500_per_arm);

/// The winner gate end to end on the simulation path, with orders as the metric: an arm
/// whose recipients all order has no winner at 450 recipients per arm, and wins once both
/// arms pass 500; from then on every customer gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ab_winner_gate_waits_for_500_per_arm() {
    use backtalk::flows::simulate::{What, simulate_events};
    let start = Utc.with_ymd_and_hms(2026, 12, 8, 14, 0, 0).unwrap();
    let events_for = |customers: std::ops::Range<usize>| {
        let mut events = Vec::new();
        for n in customers {
            let phone = format!("+1212{:07}", 2_000_000 + n);
            let at = start + chrono::Duration::seconds(20 * n as i64);
            let arm = backtalk::domain::ab::assign("note_copy", &phone, &[1, 1]);
            events.push(json!({"id": format!("n{n}"), "event": "Note Requested", "phone": phone,
                "timestamp": at.to_rfc3339(), "properties": {"sms_consent": "opted_in"}}));
            if arm == 1 {
                events.push(json!({"id": format!("o{n}"), "event": "Order Completed", "phone": phone,
                    "timestamp": (at + chrono::Duration::seconds(10)).to_rfc3339(),
                    "properties": {"order_id": format!("W{n}"), "total": 10.0}}));
            }
        }
        events
    };
    let run = |events: Vec<Value>| async move {
        let dir = tempfile::tempdir().unwrap();
        let db =
            backtalk::store::Db::connect(&format!("sqlite://{}", dir.path().join("ab.db").display())).await.unwrap();
        let parsed: Vec<_> =
            events.into_iter().flat_map(|e| backtalk::commerce::events::parse_request(e).unwrap()).collect();
        let (lines, _) = simulate_events(
            &db,
            backtalk::flows::set::FlowSet::fixed(vec![parsed_flow()]),
            parsed,
            chrono::Duration::hours(24),
            None,
            &Default::default(),
            &indicatif::ProgressBar::hidden(),
        )
        .await
        .unwrap();
        let winner = backtalk::store::ab::winner(&db, "note_copy").await.unwrap();
        let texts: Vec<String> = lines
            .iter()
            .filter_map(|l| if let What::Sent { text, .. } = &l.what { Some(text.clone()) } else { None })
            .collect();
        (winner, texts)
    };
    fn parsed_flow() -> backtalk::flows::file::Flow {
        let flow = AB_FLOW.replace("reply_rate", "conversion_rate");
        backtalk::flows::file::parse(std::path::Path::new("ab.toml"), &flow).unwrap()
    }
    // About 450 per arm: however clear, no winner.
    let (winner, texts) = run(events_for(0..900)).await;
    assert_eq!(winner, None);
    assert_eq!(texts.len(), 900);
    // Past 500 per arm: "long" (whose recipients all ordered) wins by the gate, and the
    // customers after that all get it.
    let (winner, texts) = run(events_for(0..1_300)).await;
    let (arm, reason, _) = winner.expect("a winner past 500 per arm");
    assert_eq!((arm.as_str(), reason.as_str()), ("long", "gate"));
    assert!(texts[1_250..].iter().all(|t| t.starts_with("Good news")), "after the winner, only its text");
}

/// Waits for a delivery, then a care text: the delivery arriving ends the wait at once.
const DELIVERY_FLOW: &str = r#"name = "after_delivery"
class = "transactional"
trigger = { event = "Parcel Sent" }
[[steps]]
wait_for = { event = "Parcel Arrived", match = "order_id", timeout = "4s" }
[[steps]]
send = "Your order {{ event.properties.order_id }} arrived: reply with any question about it."
"#;

/// A text, then a follow-up only if nobody answered within the wait.
const FOLLOW_UP_FLOW: &str = r#"name = "follow_up"
class = "transactional"
trigger = { event = "Quote Requested" }
[[steps]]
send = "Your quote is ready: reply to ask anything."
[[steps]]
wait_for = { reply = true, timeout = "6s" }
[[steps]]
send = "Still thinking about your quote? We're here if you have questions."
"#;

async fn a_wait_for_ends_on_its_event_times_out_or_sees_a_reply(backend: Backend) {
    let app = app_with_flows(backend, &[DELIVERY_FLOW, FOLLOW_UP_FLOW]).await;
    let (shipped, never) = ("+13055550101", "+13055550102");
    for (n, phone) in [shipped, never].iter().enumerate() {
        let e = json!({"id": format!("ship-{n}"), "event": "Parcel Sent", "phone": phone,
                       "properties": {"order_id": format!("W-7{n}")}});
        post_event(&app, e).await;
    }
    // A delivery of another order does not end the wait; the right one ends it at once.
    post_event(
        &app,
        json!({"id": "d-x", "event": "Parcel Arrived", "phone": shipped, "properties": {"order_id": "W-99"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    post_event(
        &app,
        json!({"id": "d-0", "event": "Parcel Arrived", "phone": shipped, "properties": {"order_id": "W-70"}}),
    )
    .await;
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(3)).await;
    assert_eq!(sent.len(), 1, "sent before the 4 s timeout: {sent:?}");
    assert_eq!(
        (sent[0].to.as_str(), sent[0].body.as_str()),
        (shipped, "Your order W-70 arrived: reply with any question about it.")
    );
    // Quotes: one customer answers the first text, the other does not.
    let (answers, silent) = ("+13055550103", "+13055550104");
    for (n, phone) in [answers, silent].iter().enumerate() {
        post_event(&app, json!({"id": format!("q-{n}"), "event": "Quote Requested", "phone": phone})).await;
    }
    app.twilio.wait_for_sent(3, Duration::from_secs(10)).await;
    // The texts recorded before the reply (see above); wait_idle also waits for the timeouts.
    app.wait_idle_except_waits().await;
    app.post_inbound(answers, "what does delivery cost?", &new_sid()).await;
    app.wait_idle().await;
    let runs = runs(&app).await;
    assert!(
        runs.contains(&(
            "exited".to_string(),
            Some("timed out waiting for \"Parcel Arrived\" for up to 4s".to_string())
        )),
        "{runs:?}"
    );
    assert!(runs.contains(&("exited".to_string(), Some("replied".to_string()))), "{runs:?}");
    assert!(app.twilio.sent_to(never).is_empty(), "no delivery, no text");
    let follow_ups: Vec<String> =
        app.twilio.sent().iter().filter(|s| s.body.starts_with("Still thinking")).map(|s| s.to.clone()).collect();
    assert_eq!(follow_ups, [silent], "only the customer who did not answer gets the follow-up");
}
on_both_backends!(a_wait_for_ends_on_its_event_times_out_or_sees_a_reply);

/// A compose step written by the configured model: the goal reaches it as the brand's
/// instruction with the customer's facts; a text the guard would not let a reply say, or one
/// the model hands to a person, is not sent and the run says why.
async fn a_compose_step_is_written_by_the_model_under_the_reply_guard(backend: Backend) {
    let app =
        spawn_app(backend, TestOptions { clock: Some(weekday_afternoon()), llm: true, ..Default::default() }).await;
    let dir = app.config.flows_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let flow = r#"name = "pairing"
class = "transactional"
trigger = { event = "Pairing Due" }
[[steps]]
compose = "Tell them how returns work."
"#;
    std::fs::write(dir.join("pairing.toml"), flow).unwrap();
    let llm = app.llm.as_ref().unwrap();
    let said = |text: &str, needs_human: bool| {
        LlmBehaviour::Reply(
            json!({"reply": text, "skus": [], "intent": "product", "confidence": 0.9, "needs_human": needs_human,
                   "reason": if needs_human { "not sure" } else { "" }})
            .to_string(),
        )
    };
    llm.push(said(
        "Hi Elyssa, you can return unworn items within 30 days of delivery. Reply with any question.",
        false,
    ));
    llm.push(said("Hi Abd, the Lace-ups - black are yours for $1.00 today.", false));
    llm.push(said("Hi, something goes with it.", true));
    let customers = ["+13055550100", "+13055550101", "+13055550102"];
    for (n, phone) in customers.iter().enumerate() {
        post_event(&app, json!({"id": format!("d-{n}"), "event": "Pairing Due", "phone": phone})).await;
        // One at a time, so the scripted answers meet the customers in order.
        wait_for("the run to end", Duration::from_secs(10), || async {
            backtalk::store::flows::latest_runs(&app.db, None, None, 10)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.status != "waiting")
                .count()
                > n
        })
        .await;
    }
    app.twilio.wait_for_sent(1, Duration::from_secs(5)).await;
    app.wait_idle().await;
    let sent = app.twilio.sent();
    assert_eq!(sent.len(), 1, "{sent:?} {:?} {:?}", runs(&app).await, flow_texts(&app).await);
    let disclosure = &app.config.brand.ai_disclosure;
    assert_eq!(
        (sent[0].to.as_str(), sent[0].body.clone()),
        (
            customers[0],
            format!(
                "{disclosure} Hi Elyssa, you can return unworn items within 30 days of delivery. Reply with any question."
            )
        )
    );
    let runs = runs(&app).await;
    assert_eq!(runs[0], ("done".to_string(), None));
    assert_eq!(runs[1].0, "exited");
    assert!(
        runs[1].1.as_deref().unwrap().starts_with("compose: the guard blocked the text: $1.00 is not a price"),
        "{runs:?}"
    );
    assert_eq!(runs[2], ("exited".to_string(), Some("compose: the writer asked for a person: not sure".to_string())));
    // The model was given the goal as the brand's instruction, with the customer's facts.
    let request = &llm.requests()[0];
    let system = request["messages"][0]["content"].as_str().unwrap();
    let user = request["messages"][1]["content"].as_str().unwrap();
    assert!(system.contains("writing a text the brand sends first"), "{system}");
    assert!(user.contains("GOAL (the brand's instruction") && user.contains("Tell them how returns work."));
    assert!(user.contains("Returns and refunds: You can return items within 30 days"), "{user}");
    assert!(user.contains("Customer: Elyssa") && !user.contains("CUSTOMER MESSAGE"), "{user}");
}
on_both_backends!(a_compose_step_is_written_by_the_model_under_the_reply_guard);

/// A branch on the reply: `wait_for` a reply that goes on, then the reply decides.
async fn a_branch_reads_the_reply_to_the_flows_text(backend: Backend) {
    let flow = r#"name = "fit_check"
class = "transactional"
trigger = { event = "Fit Check" }
[[steps]]
send = "Did your order fit? Reply YES or NO."
[[steps]]
wait_for = { reply = true, timeout = "6s", on_reply = "continue" }
[[steps]]
branch = [{ if = { reply = ["yes", "yep"] }, then = "glad" }, { if = { replied = true }, then = "end" }]
else = "nudge"
[[steps]]
id = "glad"
send = "Great to hear!"
[[steps]]
goto = "end"
[[steps]]
id = "nudge"
send = "Just checking: did your order fit?"
"#;
    let app = app_with_flows(backend, &[flow]).await;
    let (glad, asks, silent) = ("+13055550100", "+13055550101", "+13055550102");
    for (n, phone) in [glad, asks, silent].iter().enumerate() {
        post_event(&app, json!({"id": format!("f-{n}"), "event": "Fit Check", "phone": phone})).await;
    }
    app.twilio.wait_for_sent(3, Duration::from_secs(10)).await;
    app.wait_idle_except_waits().await;
    app.post_inbound(glad, "Yep!", &new_sid()).await;
    app.post_inbound(asks, "what sizes does it come in?", &new_sid()).await;
    app.wait_idle().await;
    let flow_bodies = |phone: &str| -> Vec<String> {
        app.twilio
            .sent_to(phone)
            .into_iter()
            .map(|s| s.body)
            .filter(|b| b.starts_with("Great") || b.starts_with("Just checking") || b.starts_with("Did your"))
            .collect()
    };
    assert_eq!(flow_bodies(glad), ["Did your order fit? Reply YES or NO.", "Great to hear!"]);
    assert_eq!(flow_bodies(asks), ["Did your order fit? Reply YES or NO."]);
    assert_eq!(flow_bodies(silent), ["Did your order fit? Reply YES or NO.", "Just checking: did your order fit?"]);
    assert!(runs(&app).await.iter().all(|(status, _)| status == "done"), "{:?}", runs(&app).await);
}
on_both_backends!(a_branch_reads_the_reply_to_the_flows_text);

/// `flows simulate` runs campaigns with the flows, on the same virtual clock and the same
/// rules: a campaign's texts go at their planned time, and a cart reminder due after it to
/// one of its recipients is stopped by smart sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_simulate_runs_campaigns_beside_the_flows() {
    use backtalk::flows::simulate::{Line, Options, What, simulate};
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    std::fs::create_dir_all(&segments).unwrap();
    std::fs::write(segments.join("miami.toml"), "name = \"miami\"\nconsent = \"opted_in\"\narea_codes = [\"305\"]\n")
        .unwrap();
    let campaign: backtalk::flows::campaign::CampaignSpec = toml::from_str(
        r#"name = "launch"
segment = "miami"
text = "Hi {{ customer.first_name }}, the winter sale starts today. Reply STOP to opt out."
send_at = "2026-12-08T16:00:00Z"
"#,
    )
    .unwrap();
    let events = json!({"id": "c1", "event": "Checkout Started", "phone": ELYSSA, "timestamp": "2026-12-08T15:30:00Z",
                        "properties": {"checkout_id": "k1", "items": [{"sku": "ZO0000600006", "title": "Trainers - brown"}]}});
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, format!("{events}\n")).unwrap();
    let db = backtalk::store::Db::connect(&format!("sqlite://{}", dir.path().join("sim.db").display())).await.unwrap();
    let mut sources = demo_step_sources(&db, dir.path(), segments).await;
    sources.campaigns = vec![campaign];
    let options =
        Options { events: file, demo: true, smart_sending: chrono::Duration::hours(24), until: None, sources };
    let cart = backtalk::flows::file::parse(std::path::Path::new("cart.toml"), &CART_FLOW.replace("2s", "1h")).unwrap();
    let (lines, _) = simulate(&db, backtalk::flows::set::FlowSet::fixed(vec![cart]), &options).await.unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-08T16:00:00Z").unwrap().to_utc();
    let campaign_texts: Vec<&Line> =
        lines.iter().filter(|l| matches!(&l.what, What::Sent { flow, .. } if flow == "campaign:launch")).collect();
    let members = 10;
    assert_eq!(campaign_texts.len(), members, "{lines:#?}");
    assert!(campaign_texts.iter().all(|l| l.at == at), "{campaign_texts:#?}");
    assert!(
        campaign_texts
            .iter()
            .any(|l| matches!(&l.what, What::Sent { text, .. } if text.starts_with("Hi Elyssa, the winter sale"))),
        "{campaign_texts:#?}"
    );
    let cart_lines: Vec<&What> = lines
        .iter()
        .map(|l| &l.what)
        .filter(|w| matches!(w, What::Sent { flow, .. } | What::Skipped { flow, .. } if flow == "abandoned_checkout"))
        .collect();
    assert!(
        matches!(cart_lines.as_slice(), [What::Skipped { reason, .. }] if reason.starts_with("smart sending")),
        "{cart_lines:#?}"
    );
}

/// An A/B test between a written text and a composed one: each customer gets the arm the
/// stable hash gives, the composed arm's text written for them under the guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ab_test_may_compare_a_composed_arm_with_a_text() {
    use backtalk::flows::simulate::{Options, What, simulate};
    let flow = r#"name = "returns_note"
class = "transactional"
trigger = { event = "Returns Note Due" }
[[steps]]
test = { name = "returns_copy", metric = "reply_rate" }
variants = [
  { name = "written", compose = "Tell them how returns work." },
  { name = "plain", send = "Returns are free within 30 days: reply with any question." },
]
"#;
    let flow = backtalk::flows::file::parse(std::path::Path::new("returns_note.toml"), flow).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let phones: Vec<String> = (100..110).map(|n| format!("+1305555{n:04}")).collect();
    let events: String = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            json!({"id": format!("d{i}"), "event": "Returns Note Due", "phone": phone,
                   "timestamp": "2026-12-08T15:00:00Z"})
            .to_string()
                + "\n"
        })
        .collect();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events).unwrap();
    let db = backtalk::store::Db::connect(&format!("sqlite://{}", dir.path().join("sim.db").display())).await.unwrap();
    let sources = demo_step_sources(&db, dir.path(), dir.path().join("segments")).await;
    let options =
        Options { events: file, demo: true, smart_sending: chrono::Duration::hours(24), until: None, sources };
    let (lines, _) = simulate(&db, backtalk::flows::set::FlowSet::fixed(vec![flow]), &options).await.unwrap();
    let mut arms = std::collections::BTreeMap::new();
    for line in &lines {
        if let What::Sent { text, .. } = &line.what {
            let phone = line.phone.as_ref().unwrap().as_str();
            let arm = backtalk::domain::ab::assign("returns_copy", phone, &[1, 1]);
            if arm == 0 {
                assert!(text.contains("Hi ") && text.contains("within 30 days of delivery"), "composed: {text}");
            } else {
                assert_eq!(text, "Returns are free within 30 days: reply with any question.");
            }
            *arms.entry(arm).or_insert(0) += 1;
        }
    }
    assert_eq!(arms.values().sum::<i32>(), phones.len() as i32, "{lines:#?}");
    assert_eq!(arms.len(), 2, "both arms were sent: {arms:?}");
}

/// A compose step's writer is not asked for a run that ends there anyway: a customer who
/// replied during the `wait_for` before it gets no text written (and none sent); one who did
/// not gets the written text.
async fn the_writer_is_not_asked_for_a_run_that_ends_before_its_compose_step(backend: Backend) {
    let app =
        spawn_app(backend, TestOptions { clock: Some(weekday_afternoon()), llm: true, ..Default::default() }).await;
    let dir = app.config.flows_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let flow = r#"name = "follow_up"
class = "transactional"
trigger = { event = "Follow Up Due" }
[[steps]]
send = "How did it go? Reply with any question."
[[steps]]
wait_for = { reply = true, timeout = "6s" }
[[steps]]
compose = "Tell them how returns work."
"#;
    std::fs::write(dir.join("follow_up.toml"), flow).unwrap();
    let llm = app.llm.as_ref().unwrap();
    llm.set_default(LlmBehaviour::Reply(
        json!({"reply": "Hi, you can return unworn items within 30 days of delivery.", "skus": [], "intent": "policy",
               "confidence": 0.9, "needs_human": false, "reason": ""})
        .to_string(),
    ));
    let (replies, silent) = ("+13055550100", "+13055550101");
    for (n, phone) in [replies, silent].iter().enumerate() {
        post_event(&app, json!({"id": format!("f-{n}"), "event": "Follow Up Due", "phone": phone})).await;
    }
    app.twilio.wait_for_sent(2, Duration::from_secs(10)).await;
    // The fake provider has the texts before the sender has recorded them: a reply stored
    // before its text's row would not count as a reply to it (a CI run saw it on a loaded
    // machine). wait_idle later also waits for the queued timeout.
    app.wait_idle_except_waits().await;
    app.post_inbound(replies, "it went fine thanks", &new_sid()).await;
    app.wait_idle().await;
    let asked_to_write = llm
        .requests()
        .iter()
        .filter(|r| r["messages"][1]["content"].as_str().is_some_and(|c| c.contains("GOAL (the brand's instruction")))
        .count();
    assert_eq!(asked_to_write, 1, "only the run that goes on reaches the writer");
    let runs = runs(&app).await;
    assert!(runs.contains(&("exited".to_string(), Some("replied".to_string()))), "{runs:?}");
    assert!(app.twilio.sent_to(silent).iter().any(|s| s.body.contains("within 30 days of delivery")));
}
on_both_backends!(the_writer_is_not_asked_for_a_run_that_ends_before_its_compose_step);
