//! A fake Telnyx Messaging API speaking the real wire format (../shared/reference/
//! flows-webhooks-analytics.md §4.3-4.4): `POST /v2/messages` with a Bearer key and a JSON
//! body, answered `{"data": {message}}`, or `{"errors": [...]}` (40300 for a number that
//! replied STOP, as the messaging profile's block rule does); and the signing of webhooks with
//! an Ed25519 key, as Telnyx signs them.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use crate::fakes::{RunningServer, lock};

/// The API key the fake accepts.
pub const TELNYX_API_KEY: &str = "KEYtest0123456789";
/// Our Telnyx number in the tests.
pub const TELNYX_NUMBER: &str = "+13125550188";
/// The seed of the account's signing key (the RFC 8032 §7.1 TEST 1 secret, as the
/// reference's derived vector).
const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

/// One `POST /v2/messages` as the fake received it.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct TelnyxSent {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub webhook_url: Option<String>,
    /// `media_urls` (an MMS), and its `type`.
    pub media_urls: Vec<String>,
    pub kind: Option<String>,
    /// The HTTP status the fake answered.
    pub answered: u16,
}

#[derive(Default)]
struct FakeState {
    requests: Vec<TelnyxSent>,
    blocked: HashSet<String>,
    failures: VecDeque<StatusCode>,
    created: u64,
}

/// The fake API, and the account key that signs its webhooks.
pub struct FakeTelnyx {
    server: RunningServer,
    state: Arc<Mutex<FakeState>>,
}

#[allow(dead_code)]
impl FakeTelnyx {
    pub async fn start() -> FakeTelnyx {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let router = Router::new().route("/v2/messages", post(create_message)).with_state(Arc::clone(&state));
        FakeTelnyx { server: RunningServer::start(router).await, state }
    }

    /// The API root to configure in place of `https://api.telnyx.com`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// The account's public key, base64, as the portal shows it.
    pub fn public_key() -> String {
        BASE64.encode(SigningKey::from_bytes(&SEED).verifying_key().to_bytes())
    }

    /// `telnyx-signature-ed25519` for `body` at `timestamp`, as Telnyx makes it.
    pub fn sign(timestamp: i64, body: &str) -> String {
        let message = format!("{timestamp}|{body}");
        BASE64.encode(SigningKey::from_bytes(&SEED).sign(message.as_bytes()).to_bytes())
    }

    /// The number replied STOP: sends to it fail with 40300 from now on.
    pub fn block(&self, phone: &str) {
        lock(&self.state).blocked.insert(phone.to_owned());
    }

    /// Answers the next `n` requests with `status` (429 or 5xx).
    pub fn fail_next(&self, n: usize, status: u16) {
        let status = StatusCode::from_u16(status).expect("a valid status");
        lock(&self.state).failures.extend(std::iter::repeat_n(status, n));
    }

    /// Every request, answered or not.
    pub fn requests(&self) -> Vec<TelnyxSent> {
        lock(&self.state).requests.clone()
    }

    /// The texts accepted.
    pub fn sent(&self) -> Vec<TelnyxSent> {
        self.requests().into_iter().filter(|r| r.answered == 200).collect()
    }

    /// Waits until `n` texts were accepted; panics after `timeout`.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<TelnyxSent> {
        let deadline = Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            assert!(Instant::now() < deadline, "telnyx got {} texts, expected {n}: {sent:?}", sent.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn error(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    (status, Json(json!({"errors": [{"code": code, "title": title, "detail": detail}]}))).into_response()
}

async fn create_message(State(state): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, body: String) -> Response {
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(format!("Bearer {TELNYX_API_KEY}").as_str());
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "10009", "Authentication failed", "The API key is not valid");
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "10015", "Bad request", "The body is not JSON");
    };
    let field = |k: &str| request[k].as_str().map(String::from);
    let (Some(from), Some(to), Some(text)) = (field("from"), field("to"), field("text")) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "10005", "Invalid parameter", "from, to and text are required");
    };
    let mut state = lock(&state);
    state.created += 1;
    let id = format!("40317f5a-0000-4000-8000-{:012}", state.created);
    let mut sent = TelnyxSent {
        id: id.clone(),
        from: from.clone(),
        to: to.clone(),
        text: text.clone(),
        webhook_url: field("webhook_url"),
        media_urls: request["media_urls"]
            .as_array()
            .map(|urls| urls.iter().filter_map(|u| u.as_str().map(String::from)).collect())
            .unwrap_or_default(),
        kind: field("type"),
        answered: 200,
    };
    let response = if let Some(status) = state.failures.pop_front() {
        error(status, "10011", "Too many requests", "try again later")
    } else if state.blocked.contains(&to) {
        let detail = format!("Messages cannot be sent from '{from}' to '{to}' due to an existing block rule.");
        error(StatusCode::BAD_REQUEST, "40300", "Blocked due to STOP message", &detail)
    } else {
        let message = json!({"data": {
            "record_type": "message", "direction": "outbound", "id": id, "type": "SMS",
            "from": {"phone_number": from}, "to": [{"phone_number": to, "status": "queued"}],
            "text": text, "parts": 1, "encoding": "GSM-7", "errors": [],
            "webhook_url": request["webhook_url"],
        }});
        (StatusCode::OK, Json(message)).into_response()
    };
    sent.answered = response.status().as_u16();
    state.requests.push(sent);
    response
}
