//! Proactive texts through the JSON API: token auth, quiet hours, frequency caps, consent.

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use chrono::{TimeZone, Utc};

use crate::helpers::*;
use crate::on_both_backends;

/// A demo customer in Miami (area code 305: Florida, Eastern time).
const FLORIDA: &str = "+13055550100";

/// Today at `hour`:00 UTC: the sender's clock in these tests.
fn today_at(hour: u32) -> Arc<FixedClock> {
    let now = Utc::now();
    let t = Utc.from_utc_datetime(&now.date_naive().and_hms_opt(hour, 0, 0).unwrap());
    Arc::new(FixedClock::at(t))
}

async fn post_message(app: &TestApp, token: Option<&str>, json: serde_json::Value) -> (u16, serde_json::Value) {
    let mut request = app.http.post(format!("{}/api/v1/messages", app.base_url)).json(&json);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The `run_at_ms` of the send job of an outbox row.
async fn run_at_ms(app: &TestApp, outbox_id: i64) -> i64 {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>(
        "select run_at_ms from jobs where unique_key = $1"
    )
    .bind(format!("send:{outbox_id}"))
    .fetch_one(p)
    .await)
    .unwrap()
}

async fn the_api_needs_its_token_and_a_valid_message(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let ok = serde_json::json!({"to": FLORIDA, "body": "Your cart misses you", "subject": "cart"});
    assert_eq!(post_message(&app, None, ok.clone()).await.0, 401);
    assert_eq!(post_message(&app, Some("wrong"), ok).await.0, 401);
    let (status, body) =
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": "nope", "body": "x", "subject": "s"})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("`to`"), "{body}");
    assert_eq!(
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": FLORIDA, "body": " ", "subject": "s"})).await.0,
        400
    );
    assert_eq!(count(&app.db, "outbox").await, 0);
}
on_both_backends!(the_api_needs_its_token_and_a_valid_message);

async fn a_bad_body_is_a_json_400_that_names_the_field(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let cases = [
        (serde_json::json!({"to": "nope", "body": "x", "subject": "s"}), "to"),
        (serde_json::json!({"to": FLORIDA, "subject": "s"}), "body"),
        (serde_json::json!({"to": FLORIDA, "body": 7, "subject": "s"}), "body"),
        (serde_json::json!({"to": FLORIDA, "body": "x", "subject": "s", "colour": "red"}), "colour"),
        (serde_json::json!({"to": FLORIDA, "body": "x", "subject": ""}), "subject"),
    ];
    for (message, field) in cases {
        let (status, body) = post_message(&app, Some(API_TOKEN), message.clone()).await;
        assert_eq!(status, 400, "{message}");
        assert_eq!(body["field"], field, "{message} -> {body}");
        assert!(body["error"].as_str().unwrap().contains(&format!("`{field}`")), "{body}");
    }
    assert_eq!(count(&app.db, "outbox").await, 0);
    // A query or path that does not parse is a JSON 400 too, not axum's plain text.
    for path in ["/api/v1/escalations?limit=many", "/api/v1/escalations/abc"] {
        let r = app.http.get(format!("{}{path}", app.base_url)).bearer_auth(API_TOKEN).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().is_empty(), "{path}: {body}");
    }
}
on_both_backends!(a_bad_body_is_a_json_400_that_names_the_field);

async fn a_florida_number_gets_no_fourth_text_on_one_subject_within_24_hours(backend: Backend) {
    // 15:00 UTC is 10:00 or 11:00 in Miami: inside Florida's 8:00-20:00 all year.
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(15)), ..TestOptions::default() }).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let (status, body) = post_message(
            &app,
            Some(API_TOKEN),
            serde_json::json!({"to": FLORIDA, "body": format!("Cart reminder {i}"), "subject": "cart"}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["outbox_id"].as_i64().unwrap());
    }
    let (status, _) = post_message(
        &app,
        Some(API_TOKEN),
        serde_json::json!({"to": FLORIDA, "body": "Welcome!", "subject": "welcome"}),
    )
    .await;
    assert_eq!(status, 202);
    app.twilio.wait_for_sent(4, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent: Vec<String> = app.twilio.sent_to(FLORIDA).into_iter().map(|s| s.body).collect();
    assert_eq!(sent.len(), 4, "three on 'cart' and the one on 'welcome': {sent:?}");
    assert!(!sent.contains(&"Cart reminder 3".to_string()), "queued back to back, the fourth still waits: {sent:?}");
    // The fourth is deferred, not dropped: pending, its job due about a day later.
    let fourth = backtalk::store::outbox::outbox_row(&app.db, ids[3]).await.unwrap();
    assert_eq!(fourth.status.as_str(), "pending");
    let wait_h = (run_at_ms(&app, ids[3]).await - Utc::now().timestamp_millis()) as f64 / 3_600_000.0;
    assert!(wait_h > 8.0, "deferred by {wait_h:.1} h");
}
on_both_backends!(a_florida_number_gets_no_fourth_text_on_one_subject_within_24_hours);

async fn a_proactive_text_at_night_waits_for_the_morning(backend: Backend) {
    // 07:00 UTC is 2:00 or 3:00 in Miami.
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(7)), ..TestOptions::default() }).await;
    let (_, body) =
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": FLORIDA, "body": "Sale!", "subject": "sale"}))
            .await;
    let id = body["outbox_id"].as_i64().unwrap();
    let db = app.db.clone();
    wait_for("the send to be deferred", Duration::from_secs(10), || {
        let db = db.clone();
        async move {
            backtalk::store::jobs::count_jobs(&db, "queued").await.unwrap() == 1
                && backtalk::store::jobs::count_jobs(&db, "running").await.unwrap() == 0
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.twilio.requests().is_empty(), "nothing at night");
    // 8:00 in Miami is 12:00 or 13:00 UTC: five or six hours after the clock's 07:00.
    let wait_h = (run_at_ms(&app, id).await - Utc::now().timestamp_millis()) as f64 / 3_600_000.0;
    assert!((4.9..=6.1).contains(&wait_h), "deferred by {wait_h:.2} h");
}
on_both_backends!(a_proactive_text_at_night_waits_for_the_morning);

async fn nothing_proactive_reaches_a_number_that_opted_out_in_plain_words(backend: Backend) {
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(15)), ..TestOptions::default() }).await;
    app.post_inbound(FLORIDA, "please stop texting me", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(10)).await;
    let (status, body) =
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": FLORIDA, "body": "Sale!", "subject": "sale"}))
            .await;
    assert_eq!(status, 202);
    app.wait_idle().await;
    let row = backtalk::store::outbox::outbox_row(&app.db, body["outbox_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(row.status.as_str(), "suppressed");
    assert_eq!(app.twilio.sent_to(FLORIDA).len(), 1, "only the opt-out confirmation");
}
on_both_backends!(nothing_proactive_reaches_a_number_that_opted_out_in_plain_words);

async fn post_decision(app: &TestApp, phone: &str, json: serde_json::Value) -> (u16, serde_json::Value) {
    let response = app
        .http
        .post(format!("{}/api/v1/consent/{phone}/decision", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&json)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn a_possible_opt_out_holds_promotions_until_a_reviewer_decides(backend: Backend) {
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(15)), ..TestOptions::default() }).await;
    app.post_inbound(FLORIDA, "how do I stop these?", &new_sid()).await;
    app.wait_idle().await;
    let sale = serde_json::json!({"to": FLORIDA, "body": "Sale!", "subject": "sale"});
    let (_, held) = post_message(&app, Some(API_TOKEN), sale.clone()).await;
    app.wait_idle().await;
    let row = backtalk::store::outbox::outbox_row(&app.db, held["outbox_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(row.status.as_str(), "suppressed", "nothing promotional while on hold");
    let sent_before = app.twilio.sent_to(FLORIDA).len();

    // Bad decisions are refused and change nothing.
    let (status, body) =
        post_decision(&app, FLORIDA, serde_json::json!({"decision": "maybe", "reviewer": "ana"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(post_decision(&app, "nope", serde_json::json!({"decision": "opt_out", "reviewer": "ana"})).await.0, 400);
    let unauthorized = app
        .http
        .post(format!("{}/api/v1/consent/{FLORIDA}/decision", app.base_url))
        .json(&serde_json::json!({"decision": "not_opt_out", "reviewer": "ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    assert_eq!(
        backtalk::store::consent::latest_consent(&app.db, &as_phone(FLORIDA)).await.unwrap().map(|k| k.as_str()),
        Some("hold")
    );

    // The reviewer reads it as a question, not an opt-out: the hold lifts, the escalation closes.
    let (status, outcome) = post_decision(
        &app,
        FLORIDA,
        serde_json::json!({"decision": "not_opt_out", "reviewer": "ana", "note": "asked how the program works"}),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["state"], "hold_released");
    assert_eq!(outcome["resolved_escalations"], 1);
    let ledger = backtalk::store::consent::ledger(&app.db, Some(&as_phone(FLORIDA))).await.unwrap();
    let last = ledger.last().unwrap();
    assert_eq!((last.kind.as_str(), last.source.as_str()), ("hold_released", "reviewer"));
    assert_eq!(last.evidence_text.as_deref(), Some("reviewer ana: asked how the program works"));
    // Deciding again changes nothing.
    let (_, again) =
        post_decision(&app, FLORIDA, serde_json::json!({"decision": "not_opt_out", "reviewer": "ana"})).await;
    assert!(again["event_id"].is_null(), "{again}");

    let (_, sent) = post_message(&app, Some(API_TOKEN), sale).await;
    app.twilio.wait_for_sent(sent_before + 1, Duration::from_secs(10)).await;
    app.wait_idle().await;
    let row = backtalk::store::outbox::outbox_row(&app.db, sent["outbox_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(row.status.as_str(), "sent");

    // The consent view shows the whole story.
    let view: serde_json::Value = app
        .http
        .get(format!("{}/api/v1/consent/{FLORIDA}", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = view["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[kinds.len() - 2..], ["hold", "hold_released"], "{kinds:?}");
    assert_eq!(view["state"], "hold_released");

    // A later decision that it was an opt-out after all stops everything.
    let (_, out) = post_decision(&app, FLORIDA, serde_json::json!({"decision": "opt_out", "reviewer": "ben"})).await;
    assert_eq!(out["state"], "opt_out");
}
on_both_backends!(a_possible_opt_out_holds_promotions_until_a_reviewer_decides);
