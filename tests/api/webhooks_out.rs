//! Signed outbound webhooks end to end: texts posted to the real inbound webhook produce
//! events that reach a real HTTP receiver, which checks every signature with
//! `webhooks_out::verify`; retries keep the `webhook-id`, a 410 disables the endpoint, the
//! last failed attempt leaves a dead letter with its reason in the API.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use backtalk::config::{Secret, WebhookEndpointConfig, WebhooksConfig};
use backtalk::webhooks_out::{generate_secret, verify};
use serde_json::Value;

use crate::helpers::{API_TOKEN, Backend, CUSTOMER, TestApp, TestOptions, new_sid, spawn_app, wait_for};
use crate::on_both_backends;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    webhook_id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: String,
    at: Instant,
}

impl Received {
    /// The body as JSON.
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a json payload")
    }

    /// Checks the signature as a consumer would (docs/webhooks.md).
    fn verifies_with(&self, secret: &str) -> bool {
        let now = chrono::Utc::now().timestamp();
        verify(secret, &self.webhook_id, &self.timestamp, self.body.as_bytes(), &self.signature, now).is_ok()
    }
}

/// What the receiver answers on a path: scripted statuses first, then `then` (with an
/// optional `retry-after`).
#[derive(Default)]
struct Script {
    first: VecDeque<u16>,
    then: Option<(u16, Option<&'static str>)>,
}

#[derive(Default)]
struct ReceiverState {
    scripts: HashMap<String, Script>,
    requests: HashMap<String, Vec<Received>>,
}

/// A webhook consumer on `127.0.0.1:0` that records every POST by path.
struct Receiver {
    base_url: String,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let received = Received {
        webhook_id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let mut state = state.lock().unwrap();
    state.requests.entry(path.clone()).or_default().push(received);
    let script = state.scripts.entry(path).or_default();
    let (status, retry_after) = match script.first.pop_front() {
        Some(status) => (status, None),
        None => script.then.unwrap_or((200, None)),
    };
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(after) => (status, [("retry-after", after)]).into_response(),
        None => status.into_response(),
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let router = Router::new().route("/{*path}", post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { base_url, state, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    /// Answers `first` on `path` in turn, then `then`.
    fn script(&self, path: &str, first: &[u16], then: Option<(u16, Option<&'static str>)>) {
        let script = Script { first: first.iter().copied().collect(), then };
        self.state.lock().unwrap().scripts.insert(path.to_string(), script);
    }

    fn requests(&self, path: &str) -> Vec<Received> {
        self.state.lock().unwrap().requests.get(path).cloned().unwrap_or_default()
    }

    /// Waits until `path` has had at least `n` requests; returns them.
    async fn wait(&self, path: &str, n: usize) -> Vec<Received> {
        wait_for(&format!("{n} webhook requests on /{path}"), Duration::from_secs(20), || async {
            self.requests(path).len() >= n
        })
        .await;
        self.requests(path)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn endpoint(url: String, secret: &str, events: &[&str]) -> WebhookEndpointConfig {
    WebhookEndpointConfig {
        url,
        secret: Secret::new(secret),
        events: events.iter().map(|e| e.to_string()).collect(),
        description: String::new(),
    }
}

/// Webhooks with `endpoints` and a schedule of milliseconds, so retries run in a test.
fn webhooks(schedule: &str, endpoints: Vec<WebhookEndpointConfig>) -> Option<WebhooksConfig> {
    Some(WebhooksConfig { retry_schedule: schedule.into(), timeout_secs: 5, endpoints })
}

async fn api_get(app: &TestApp, path: &str) -> Value {
    let response = app.http.get(format!("{}{path}", app.base_url)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The endpoint with this URL, from `GET /api/v1/webhooks/endpoints`.
async fn endpoint_state(app: &TestApp, url: &str) -> Value {
    let all = api_get(app, "/api/v1/webhooks/endpoints").await;
    all["endpoints"].as_array().unwrap().iter().find(|e| e["url"] == url).cloned().expect("the endpoint is listed")
}

async fn a_stop_text_reaches_only_the_endpoints_subscribed_to_its_event(backend: Backend) {
    let receiver = Receiver::start().await;
    let (crm, escalations) = (generate_secret(), generate_secret());
    let endpoints = vec![
        endpoint(receiver.url("crm"), &crm, &["consent.opted_out", "consent.opted_in"]),
        endpoint(receiver.url("escalations"), &escalations, &["conversation.escalated"]),
    ];
    let options = TestOptions { webhooks: webhooks("0s, 200ms", endpoints), ..Default::default() };
    let app = spawn_app(backend, options).await;

    let texter = "+14155550177";
    assert_eq!(app.post_inbound(texter, "STOP", &new_sid()).await.0, 200);
    let got = receiver.wait("crm", 1).await;
    let event = &got[0];
    assert!(event.verifies_with(&crm), "signed with the endpoint's secret: {event:?}");
    assert!(!event.verifies_with(&escalations), "and not with another's");
    assert!(event.webhook_id.starts_with("msg_") && !event.webhook_id.contains('.'));
    assert_eq!(event.content_type, "application/json");
    let payload = event.json();
    assert_eq!(payload["type"], "consent.opted_out");
    assert_eq!(payload["data"]["phone"], texter);
    assert_eq!(payload["data"]["source"], "keyword");
    assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'), "{payload}");

    assert_eq!(app.post_inbound(CUSTOMER, "can I talk to a real person please", &new_sid()).await.0, 200);
    let got = receiver.wait("escalations", 1).await;
    app.wait_idle().await;
    for event in &got {
        assert!(event.verifies_with(&escalations));
        assert_eq!(event.json()["type"], "conversation.escalated", "nothing else reaches this endpoint");
    }
    let escalated = got[0].json();
    assert_eq!(escalated["data"]["phone"], CUSTOMER);
    assert_eq!(escalated["data"]["reason"], "human_requested");
    assert_eq!(receiver.requests("crm").len(), 1, "the escalation is not the crm endpoint's business");

    let deliveries = api_get(&app, "/api/v1/webhooks/deliveries?status=delivered").await;
    let deliveries = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let opt_out = deliveries.iter().find(|d| d["event_type"] == "consent.opted_out").expect("the opt-out delivery");
    assert_eq!(opt_out["webhook_id"], event.webhook_id.as_str());
    assert_eq!(opt_out["attempts"], 1);
    assert_eq!(opt_out["attempt_log"][0]["status_code"], 200);
    let crm_endpoint = endpoint_state(&app, &receiver.url("crm")).await;
    assert_eq!(crm_endpoint["enabled"], true);
    assert_eq!(crm_endpoint["delivered"], 1);
    assert_eq!(crm_endpoint["events"], serde_json::json!(["consent.opted_in", "consent.opted_out"]));
    assert!(!crm_endpoint.to_string().contains(&crm[6..]), "the secret is never shown");
}
on_both_backends!(a_stop_text_reaches_only_the_endpoints_subscribed_to_its_event);

async fn an_endpoint_that_fails_twice_gets_the_event_once_more_with_the_same_webhook_id(backend: Backend) {
    let receiver = Receiver::start().await;
    let secret = generate_secret();
    receiver.script("flaky", &[500, 500], None);
    let endpoints = vec![endpoint(receiver.url("flaky"), &secret, &["message.received"])];
    let options = TestOptions { webhooks: webhooks("0s, 300ms, 300ms, 300ms", endpoints), ..Default::default() };
    let app = spawn_app(backend, options).await;

    assert_eq!(app.post_inbound(CUSTOMER, "thanks!", &new_sid()).await.0, 200);
    receiver.wait("flaky", 3).await;
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = receiver.requests("flaky");
    assert_eq!(got.len(), 3, "two failures, then exactly one more attempt that succeeded");
    for attempt in &got {
        assert!(attempt.verifies_with(&secret), "every attempt is signed afresh: {attempt:?}");
        assert_eq!(attempt.webhook_id, got[0].webhook_id, "the same webhook-id on every retry");
        assert_eq!(attempt.body, got[0].body, "the same bytes on every retry");
    }
    for pair in got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(290), "the schedule's wait is kept");
    }
    let payload = got[0].json();
    assert_eq!(payload["type"], "message.received");
    assert_eq!(payload["data"]["body"], "thanks!");
    assert_eq!(payload["data"]["phone"], CUSTOMER);
    // On SQLite the batch reads the conversation only for such an event (store::ingest).
    let conversation: i64 =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar("select id from conversations where phone = $1")
            .bind(CUSTOMER)
            .fetch_one(p)
            .await)
        .unwrap();
    assert_eq!(payload["data"]["conversation_id"], conversation);

    let deliveries = api_get(&app, "/api/v1/webhooks/deliveries").await;
    let delivery = &deliveries["deliveries"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"], 3);
    let codes: Vec<i64> =
        delivery["attempt_log"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(delivery["attempt_log"][0]["error"], "endpoint answered 500");
}
on_both_backends!(an_endpoint_that_fails_twice_gets_the_event_once_more_with_the_same_webhook_id);

async fn a_410_disables_the_endpoint_until_it_is_enabled_again(backend: Backend) {
    let receiver = Receiver::start().await;
    let secret = generate_secret();
    receiver.script("gone", &[410], None);
    let endpoints = vec![
        endpoint(receiver.url("gone"), &secret, &["message.received"]),
        endpoint(receiver.url("ok"), &secret, &["*"]),
    ];
    let options = TestOptions { webhooks: webhooks("0s, 200ms, 200ms", endpoints), ..Default::default() };
    let app = spawn_app(backend, options).await;

    app.post_inbound(CUSTOMER, "thanks!", &new_sid()).await;
    receiver.wait("gone", 1).await;
    app.wait_idle().await;
    let gone = endpoint_state(&app, &receiver.url("gone")).await;
    assert_eq!(gone["enabled"], false, "{gone}");
    assert!(gone["disabled_reason"].as_str().unwrap().contains("410"), "{gone}");
    let dead = api_get(&app, &format!("/api/v1/webhooks/deliveries?endpoint={}&status=dead", gone["id"])).await;
    assert!(dead["deliveries"][0]["reason"].as_str().unwrap().contains("410"), "{dead}");
    assert_eq!(dead["deliveries"][0]["attempts"], 1, "a 410 is not retried");

    app.post_inbound(CUSTOMER, "thanks again", &new_sid()).await;
    wait_for("the other endpoint to get the second text", Duration::from_secs(20), || async {
        receiver.requests("ok").iter().any(|r| r.json()["data"]["body"] == "thanks again")
    })
    .await;
    app.wait_idle().await;
    let ok = receiver.requests("ok");
    let types: std::collections::BTreeSet<String> =
        ok.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types, ["message.received", "message.sent"].map(String::from).into(), "`*` gets every type");
    assert_eq!(receiver.requests("gone").len(), 1, "a disabled endpoint gets nothing");

    let enable = format!("{}/api/v1/webhooks/endpoints/{}/enable", app.base_url, gone["id"]);
    assert_eq!(app.http.post(&enable).bearer_auth(API_TOKEN).send().await.unwrap().status(), 200);
    let unknown = format!("{}/api/v1/webhooks/endpoints/9999/enable", app.base_url);
    assert_eq!(app.http.post(&unknown).bearer_auth(API_TOKEN).send().await.unwrap().status(), 404);
    assert_eq!(app.http.post(&enable).send().await.unwrap().status(), 401, "token auth like the rest of the api");
    app.post_inbound(CUSTOMER, "one more thing", &new_sid()).await;
    let back = receiver.wait("gone", 2).await;
    assert_eq!(back[1].json()["data"]["body"], "one more thing");
    assert!(back[1].verifies_with(&secret));
}
on_both_backends!(a_410_disables_the_endpoint_until_it_is_enabled_again);

async fn the_last_failed_attempt_leaves_a_dead_letter_with_its_reason(backend: Backend) {
    let receiver = Receiver::start().await;
    let secret = generate_secret();
    // Always busy, asking for a second's pause: the short schedule waits that long instead.
    receiver.script("down", &[], Some((503, Some("1"))));
    let endpoints = vec![endpoint(receiver.url("down"), &secret, &["consent.opted_out"])];
    let options = TestOptions { webhooks: webhooks("0s, 100ms, 100ms", endpoints), ..Default::default() };
    let app = spawn_app(backend, options).await;

    app.post_inbound("+14155550178", "stop", &new_sid()).await;
    let db = app.db.clone();
    wait_for("a dead webhook delivery", Duration::from_secs(20), || {
        let db = db.clone();
        async move { crate::helpers::count(&db, "webhook_deliveries where status = 'dead'").await == 1 }
    })
    .await;
    let got = receiver.requests("down");
    assert_eq!(got.len(), 3, "one attempt per schedule entry");
    for pair in got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(990), "retry-after is honoured");
    }
    let dead = api_get(&app, "/api/v1/webhooks/deliveries?status=dead").await;
    let delivery = &dead["deliveries"][0];
    assert_eq!(delivery["event_type"], "consent.opted_out");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    let reason = delivery["reason"].as_str().unwrap();
    assert!(reason.contains("gave up after 3 attempts") && reason.contains("503"), "{reason}");
    assert_eq!(delivery["attempt_log"].as_array().unwrap().len(), 3);
    let down = endpoint_state(&app, &receiver.url("down")).await;
    assert_eq!((down["dead"].as_i64(), down["enabled"].as_bool()), (Some(1), Some(true)), "{down}");
    let bad = app
        .http
        .get(format!("{}/api/v1/webhooks/deliveries?status=lost", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
on_both_backends!(the_last_failed_attempt_leaves_a_dead_letter_with_its_reason);

async fn a_failed_send_and_a_resolved_escalation_are_events_too(backend: Backend) {
    let receiver = Receiver::start().await;
    let secret = generate_secret();
    let events = ["message.failed", "escalation.resolved"];
    let endpoints = vec![endpoint(receiver.url("ops"), &secret, &events)];
    let options = TestOptions { webhooks: webhooks("0s, 200ms", endpoints), ..Default::default() };
    let app = spawn_app(backend, options).await;

    let texter = "+14155550179";
    // Twilio 21211: not a valid number; the reply fails and a person is asked to look.
    app.twilio.reject_number(texter, 21211);
    app.post_inbound(texter, "thanks!", &new_sid()).await;
    let failed = receiver.wait("ops", 1).await[0].json();
    assert_eq!(failed["type"], "message.failed");
    assert_eq!(failed["data"]["phone"], texter);
    assert!(failed["data"]["error"].as_str().unwrap().contains("21211"), "{failed}");
    app.wait_idle().await;

    let open = api_get(&app, "/api/v1/escalations").await;
    let id = open["escalations"][0]["id"].as_i64().expect("the failed send was escalated");
    let close = app
        .http
        .post(format!("{}/api/v1/escalations/{id}/close", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"resolution": "resolved", "reviewer": "ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(close.status(), 200);
    let got = receiver.wait("ops", 2).await;
    let resolved = got[1].json();
    assert_eq!(resolved["type"], "escalation.resolved");
    assert_eq!(resolved["data"]["escalation_id"], id);
    assert_eq!(resolved["data"]["phone"], texter);
    assert_eq!(
        (&resolved["data"]["resolution"], &resolved["data"]["resolved_by"]),
        (&"resolved".into(), &"ana".into())
    );
    assert!(got.iter().all(|r| r.verifies_with(&secret)));
}
on_both_backends!(a_failed_send_and_a_resolved_escalation_are_events_too);
