//! Fake outside services for the end-to-end tests: a Twilio REST API and an
//! OpenAI-compatible chat completions API, each a real HTTP server on
//! `127.0.0.1:0` that speaks the provider's wire format.
//!
//! # Layout
//! - [`FakeTwilio`] serves `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//!   checks Basic auth, records every request as a [`SentSms`] and can be told to fail.
//! - [`FakeLlm`] serves `POST /v1/chat/completions` and `GET /v1/models`, answering
//!   from a queue of scripted [`LlmBehaviour`]s and recording every request body.
//!
//! Both stop serving when dropped: the accept loop is aborted, so new connections are
//! refused. A keep-alive connection that a client opened earlier may still be answered,
//! because axum serves each connection on its own task.
//!
//! Each test binary uses only part of this API, so the public items carry
//! `#[allow(dead_code)]`.
//!
//! Over 600 lines: three fakes (Twilio, the chat LLM, the embeddings server), each a small
//! server with its recording and failure modes; they share `RunningServer` (the accept
//! loop and the shutdown on drop), which is why they live together.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How often [`FakeTwilio::wait_for_sent`] looks at the recorded sends.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The assistant content [`FakeLlm`] replies with until told otherwise.
const DEFAULT_LLM_REPLY: &str = r#"{"reply":"Happy to help!","confidence":0.9,"needs_human":false}"#;

/// The one model [`FakeLlm`] lists on `GET /v1/models`.
const FAKE_MODEL_ID: &str = "fake-chat-model";

/// A router served on an ephemeral loopback port until this value is dropped.
pub struct RunningServer {
    /// Where the server listens.
    addr: SocketAddr,
    /// The accept loop; aborted on drop.
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Binds `127.0.0.1:0` and serves `router` on a background task.
    pub async fn start(router: Router) -> Self {
        let listener =
            TcpListener::bind("127.0.0.1:0").await.expect("failed to bind a loopback port for a fake server");
        let addr = listener.local_addr().expect("failed to read the fake server's address");
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("fake server stopped with an error");
        });
        Self { addr, task }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Locks shared fake state; a panic in another test thread must not hide this test's result.
pub fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------

/// One request to the fake Twilio Messages endpoint, as the fake understood it.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The `To` parameter; empty when the request had none.
    pub to: String,
    /// The `From` parameter, when given.
    pub from: Option<String>,
    /// The `MessagingServiceSid` parameter, when given.
    pub messaging_service_sid: Option<String>,
    /// The `Body` parameter; empty when the request had none.
    pub body: String,
    /// The `StatusCallback` parameter, when given.
    pub status_callback: Option<String>,
    /// Every form parameter in the order sent, including ones not broken out above.
    pub form: Vec<(String, String)>,
    /// The HTTP status the fake answered with (201 on success).
    pub answered_status: u16,
    /// When the request arrived (a campaign's rate is measured from these).
    pub received: Instant,
}

impl SentSms {
    /// Picks the named fields out of a decoded form; `answered_status` is filled in later.
    fn from_form(form: Vec<(String, String)>) -> Self {
        let param = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        Self {
            to: param("To").unwrap_or_default(),
            from: param("From"),
            messaging_service_sid: param("MessagingServiceSid"),
            body: param("Body").unwrap_or_default(),
            status_callback: param("StatusCallback"),
            answered_status: 0,
            form,
            received: Instant::now(),
        }
    }

    fn succeeded(&self) -> bool {
        self.answered_status == StatusCode::CREATED.as_u16()
    }
}

/// A Twilio error the fake answers with instead of creating a message.
struct TwilioError {
    status: StatusCode,
    /// Twilio's error code, e.g. 20003; see <https://www.twilio.com/docs/api/errors>.
    code: u32,
    message: String,
}

impl TwilioError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// Error 20003, which Twilio returns for missing or wrong credentials.
    fn authenticate() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    /// The error for a failure injected with [`FakeTwilio::fail_next`].
    fn injected(status: StatusCode) -> Self {
        let reason = status.canonical_reason().unwrap_or("Error");
        let code = match status.as_u16() {
            401 => return Self::authenticate(),
            429 => 20429,
            500..=599 => 20500,
            other => 20000 + u32::from(other),
        };
        Self::new(status, code, reason)
    }
}

impl IntoResponse for TwilioError {
    /// Twilio's REST error body, see <https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions>.
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}

/// What the fake Twilio knows and has seen, shared with its handler.
struct TwilioState {
    account_sid: String,
    auth_token: String,
    /// Every request in arrival order, failed ones included.
    requests: Vec<SentSms>,
    /// Statuses for the next requests, set by `fail_next`.
    injected_failures: VecDeque<StatusCode>,
    /// Phone number → Twilio error code for every send to it.
    rejected_numbers: HashMap<String, u32>,
    /// Random per server so message SIDs differ across fakes as well as within one.
    sid_prefix: u64,
    messages_created: u64,
    /// How long each request waits before it is read and answered (`set_delay`).
    delay: Duration,
}

impl TwilioState {
    /// Decides how to answer one request, in the order Twilio would: credentials first,
    /// then the request itself.
    fn answer(&mut self, path_account_sid: &str, headers: &HeaderMap, sms: &SentSms) -> Result<Value, TwilioError> {
        let authorized = path_account_sid == self.account_sid
            && basic_auth(headers)
                .is_some_and(|(user, password)| user == self.account_sid && password == self.auth_token);
        if !authorized {
            return Err(TwilioError::authenticate());
        }
        if let Some(status) = self.injected_failures.pop_front() {
            return Err(TwilioError::injected(status));
        }
        if let Some(&code) = self.rejected_numbers.get(&sms.to) {
            return Err(TwilioError::new(StatusCode::BAD_REQUEST, code, "Attempt to send to unsubscribed recipient"));
        }
        validate_message_params(sms)?;
        Ok(self.create_message(sms))
    }

    /// The message resource Twilio returns with 201, see
    /// <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>.
    fn create_message(&mut self, sms: &SentSms) -> Value {
        self.messages_created += 1;
        let sid = format!("SM{:016x}{:016x}", self.sid_prefix, self.messages_created);
        let uri = format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", self.account_sid);
        let now = rfc2822_now();
        // Twilio answers "accepted" when a Messaging Service picks the sender later.
        let status = if sms.from.is_none() { "accepted" } else { "queued" };
        json!({
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": sms.to,
            "from": sms.from,
            "messaging_service_sid": sms.messaging_service_sid,
            "body": sms.body,
            "status": status,
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": null,
            "price": null,
            "price_unit": "USD",
            "error_code": null,
            "error_message": null,
            "uri": uri,
            "subresource_uris": { "media": uri.replace(".json", "/Media.json") },
        })
    }
}

/// Twilio's 400s for a message that lacks a recipient, a sender or content.
fn validate_message_params(sms: &SentSms) -> Result<(), TwilioError> {
    let missing = |code, message| Err(TwilioError::new(StatusCode::BAD_REQUEST, code, message));
    if sms.to.is_empty() {
        return missing(21604, "A 'To' phone number is required.");
    }
    if sms.from.is_none() && sms.messaging_service_sid.is_none() {
        return missing(21603, "A 'From' phone number is required.");
    }
    let has_media = sms.form.iter().any(|(key, _)| key == "MediaUrl");
    if sms.body.is_empty() && !has_media {
        return missing(21602, "Message body is required.");
    }
    Ok(())
}

/// The user and password of an `Authorization: Basic` header, if it is well formed.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A fake Twilio REST API that records messages instead of sending them.
#[allow(dead_code)]
pub struct FakeTwilio {
    server: RunningServer,
    state: Arc<Mutex<TwilioState>>,
}

#[allow(dead_code)]
impl FakeTwilio {
    /// Starts a fake that accepts only these credentials, on a free loopback port.
    pub async fn start(account_sid: &str, auth_token: &str) -> FakeTwilio {
        let state = Arc::new(Mutex::new(TwilioState {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            requests: Vec::new(),
            injected_failures: VecDeque::new(),
            rejected_numbers: HashMap::new(),
            sid_prefix: RandomState::new().hash_one(account_sid),
            messages_created: 0,
            delay: Duration::ZERO,
        }));
        let router = Router::new()
            .route("/2010-04-01/Accounts/{account_sid}/Messages.json", post(create_message))
            .route("/2010-04-01/Accounts/{account_sid}/Messages/{message}/Media/{media}", get(get_media))
            .with_state(Arc::clone(&state));
        let server = RunningServer::start(router).await;
        FakeTwilio { server, state }
    }

    /// The API root to configure in place of `https://api.twilio.com`, e.g. `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// Answers the next `n` authenticated requests with `status` and a Twilio error body
    /// (code 20429 for 429, 20500 for 5xx).
    pub fn fail_next(&self, n: usize, status: u16) {
        let status = StatusCode::from_u16(status).expect("fail_next needs a valid HTTP status");
        lock(&self.state).injected_failures.extend(std::iter::repeat_n(status, n));
    }

    /// Makes every request wait `delay` before it is read and answered, as a slow provider
    /// would (a sender's job then stays running that long).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Answers every send to `phone` with 400 and Twilio error `code` (e.g. 21610, unsubscribed).
    pub fn reject_number(&self, phone: &str, code: u32) {
        lock(&self.state).rejected_numbers.insert(phone.to_owned(), code);
    }

    /// The messages Twilio accepted (answered 201), in arrival order.
    pub fn sent(&self) -> Vec<SentSms> {
        let state = lock(&self.state);
        state.requests.iter().filter(|sms| sms.succeeded()).cloned().collect()
    }

    /// Every request received, failed ones included, in arrival order.
    pub fn requests(&self) -> Vec<SentSms> {
        lock(&self.state).requests.clone()
    }

    /// The accepted messages to `phone`, in arrival order.
    pub fn sent_to(&self, phone: &str) -> Vec<SentSms> {
        self.sent().into_iter().filter(|sms| sms.to == phone).collect()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passes, then returns
    /// the accepted messages either way.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentSms> {
        let deadline = Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if sent.len() >= n || Instant::now() >= deadline {
                return sent;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
async fn create_message(
    State(state): State<Arc<Mutex<TwilioState>>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = lock(&state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => {
            let error = TwilioError::new(StatusCode::BAD_REQUEST, 20001, "Invalid form body");
            return error.into_response();
        }
    };
    let mut sms = SentSms::from_form(form);
    let mut state = lock(&state);
    let response = match state.answer(&account_sid, &headers, &sms) {
        Ok(message) => (StatusCode::CREATED, Json(message)).into_response(),
        Err(error) => error.into_response(),
    };
    sms.answered_status = response.status().as_u16();
    state.requests.push(sms);
    response
}

/// A 1×1 PNG: what the fake keeps as every MMS picture (`Media/ME_BIG` is 2,000 bytes).
pub const PICTURE_PNG: [u8; 68] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0b, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0x0f, 0x04, 0x00, 0x09, 0xfb, 0x03, 0xfd, 0xfb, 0x5e, 0x6b, 0x2b, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// `GET …/Messages/{MM}/Media/{ME}`: an inbound MMS's file, behind the account's HTTP Basic
/// credentials as when the account enforces them (Twilio, "Media resource").
async fn get_media(
    State(state): State<Arc<Mutex<TwilioState>>>,
    Path((account_sid, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = lock(&state);
    let authorized = account_sid == state.account_sid
        && basic_auth(&headers)
            .is_some_and(|(user, password)| user == state.account_sid && password == state.auth_token);
    if !authorized {
        return TwilioError::authenticate().into_response();
    }
    let body = if media == "ME_BIG" { vec![0u8; 2000] } else { PICTURE_PNG.to_vec() };
    ([(header::CONTENT_TYPE, "image/png")], body).into_response()
}

/// The current time as Twilio writes dates, e.g. `Thu, 30 Jul 2015 20:12:31 +0000`.
fn rfc2822_now() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock is before 1970").as_secs();
    rfc2822(seconds)
}

/// Formats seconds since the Unix epoch as an RFC 2822 date in UTC.
fn rfc2822(unix_seconds: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_seconds / 86_400;
    let second_of_day = unix_seconds % 86_400;
    // Howard Hinnant's civil_from_days, http://howardhinnant.github.io/date_algorithms.html
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60,
    )
}

// ---------------------------------------------------------------------------
// OpenAI-compatible LLM
// ---------------------------------------------------------------------------

/// How [`FakeLlm`] answers one chat completion request.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmBehaviour {
    /// Answer 200 with this assistant message content.
    Reply(String),
    /// Answer with this HTTP status and an OpenAI-style error body.
    Status(u16),
    /// Wait this long, then answer 200 with this assistant message content.
    Delay(Duration, String),
    /// Answer 200 with exactly this body (a response in a non-standard shape).
    RawBody(String),
}

/// One chat completion request as received.
struct LlmRequest {
    body: Value,
    /// The key of an `Authorization: Bearer` header, if any.
    api_key: Option<String>,
}

/// What the fake LLM will answer and has seen, shared with its handlers.
struct LlmState {
    /// Scripted answers, used before `default`.
    queue: VecDeque<LlmBehaviour>,
    default: LlmBehaviour,
    requests: Vec<LlmRequest>,
    completions_created: u64,
    /// `response_format` types refused, with the status of the refusal (400 as OpenAI's
    /// API says; 500 as llama-cpp-python's server does).
    refused_formats: Vec<(String, u16)>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// A fake OpenAI-compatible chat completions API with scripted answers.
#[allow(dead_code)]
pub struct FakeLlm {
    server: RunningServer,
    state: Arc<Mutex<LlmState>>,
}

#[allow(dead_code)]
impl FakeLlm {
    /// Starts a fake that replies [`DEFAULT_LLM_REPLY`] until scripted otherwise.
    pub async fn start() -> FakeLlm {
        let state = Arc::new(Mutex::new(LlmState {
            queue: VecDeque::new(),
            default: LlmBehaviour::Reply(DEFAULT_LLM_REPLY.to_owned()),
            requests: Vec::new(),
            completions_created: 0,
            refused_formats: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
        }));
        let router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(list_models))
            .with_state(Arc::clone(&state));
        let server = RunningServer::start(router).await;
        FakeLlm { server, state }
    }

    /// The API base to configure in an OpenAI client, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Queues `behaviour` for one request, after those already queued.
    pub fn push(&self, behaviour: LlmBehaviour) {
        lock(&self.state).queue.push_back(behaviour);
    }

    /// Answers requests whose `response_format` has this type with a 400.
    pub fn refuse_response_format(&self, kind: &str) {
        lock(&self.state).refused_formats.push((kind.to_string(), 400));
    }

    /// Refuses requests whose `response_format` has this type with `status`.
    pub fn refuse_response_format_with(&self, kind: &str, status: u16) {
        lock(&self.state).refused_formats.push((kind.to_string(), status));
    }

    /// Sets how to answer once the queue is empty.
    pub fn set_default(&self, behaviour: LlmBehaviour) {
        lock(&self.state).default = behaviour;
    }

    /// The most chat completion requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.state).max_in_flight
    }

    /// Every chat completion request body received, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        let state = lock(&self.state);
        state.requests.iter().map(|request| request.body.clone()).collect()
    }

    /// The bearer key of every chat completion request, in the order of [`FakeLlm::requests`].
    pub fn api_keys(&self) -> Vec<Option<String>> {
        let state = lock(&self.state);
        state.requests.iter().map(|request| request.api_key.clone()).collect()
    }
}

/// `POST /v1/chat/completions`, see <https://platform.openai.com/docs/api-reference/chat/create>.
async fn chat_completions(State(state): State<Arc<Mutex<LlmState>>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return openai_error(StatusCode::BAD_REQUEST, "request body is not valid json");
    };
    if request["stream"] == json!(true) {
        return openai_error(StatusCode::BAD_REQUEST, "the fake llm does not stream");
    }
    let api_key = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let (behaviour, completion_number) = {
        let mut state = lock(&state);
        state.requests.push(LlmRequest { body: request.clone(), api_key });
        if let Some(kind) = request["response_format"]["type"].as_str()
            && let Some((_, status)) = state.refused_formats.iter().find(|(refused, _)| refused == kind)
        {
            let status = StatusCode::from_u16(*status).expect("a valid HTTP status");
            return openai_error(
                status,
                &format!("1 validation error: body.response_format.type: {kind} is not supported"),
            );
        }
        state.completions_created += 1;
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        let behaviour = match state.queue.pop_front() {
            Some(behaviour) => behaviour,
            None => state.default.clone(),
        };
        (behaviour, state.completions_created)
    };
    // Counted out on drop too: a client that times out drops this handler mid-delay.
    let _in_flight = InFlight(Arc::clone(&state));
    answer(&request, behaviour, completion_number).await
}

/// One request in flight at the fake LLM, until dropped.
struct InFlight(Arc<Mutex<LlmState>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0).in_flight -= 1;
    }
}

/// The response for one request, as `behaviour` says.
async fn answer(request: &Value, behaviour: LlmBehaviour, completion_number: u64) -> Response {
    let content = match behaviour {
        LlmBehaviour::Reply(content) => content,
        LlmBehaviour::Status(status) => {
            let status = StatusCode::from_u16(status).expect("LlmBehaviour::Status needs a valid HTTP status");
            return openai_error(status, "the fake llm was told to fail");
        }
        LlmBehaviour::Delay(delay, content) => {
            tokio::time::sleep(delay).await;
            content
        }
        LlmBehaviour::RawBody(body) => {
            return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
    };
    Json(chat_completion(request, completion_number, &content)).into_response()
}

/// A non-streaming chat completion object carrying `content` as the assistant's message.
fn chat_completion(request: &Value, completion_number: u64, content: &str) -> Value {
    let prompt_tokens = prompt_word_count(&request["messages"]);
    let completion_tokens = content.split_whitespace().count();
    json!({
        "id": format!("chatcmpl-{completion_number}"),
        "object": "chat.completion",
        "created": unix_now(),
        "model": request["model"].as_str().unwrap_or(FAKE_MODEL_ID),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
}

/// Counts the words of every message's text, whether `content` is a string or a list of parts.
fn prompt_word_count(messages: &Value) -> usize {
    let Some(messages) = messages.as_array() else {
        return 0;
    };
    let mut words = 0;
    for message in messages {
        match &message["content"] {
            Value::String(text) => words += text.split_whitespace().count(),
            Value::Array(parts) => {
                for part in parts {
                    if let Some(text) = part["text"].as_str() {
                        words += text.split_whitespace().count();
                    }
                }
            }
            _ => {}
        }
    }
    words
}

/// `GET /v1/models`, see <https://platform.openai.com/docs/api-reference/models/list>.
async fn list_models() -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": FAKE_MODEL_ID,
            "object": "model",
            "created": unix_now(),
            "owned_by": "backtalk-tests",
        }],
    }))
}

/// OpenAI's error body, see <https://platform.openai.com/docs/guides/error-codes>.
fn openai_error(status: StatusCode, message: &str) -> Response {
    let (error_type, code) = match status.as_u16() {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        429 => ("requests", json!("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    let body = json!({
        "error": { "message": message, "type": error_type, "param": null, "code": code },
    });
    (status, Json(body)).into_response()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock is before 1970").as_secs()
}

/// A fake OpenAI-compatible `/v1/embeddings` endpoint standing in for a model that knows
/// synonyms: each word is mapped to a canonical concept ("sneakers" and "trainers" are one),
/// and a text's vector counts its concepts in 64 hashed dimensions. Deterministic.
#[allow(dead_code)]
pub struct FakeEmbeddings {
    server: RunningServer,
    state: Arc<Mutex<EmbeddingsState>>,
}

#[derive(Default)]
struct EmbeddingsState {
    requests: usize,
    failing: bool,
}

/// Words the fake treats as one concept.
const SYNONYMS: &[(&str, &str)] = &[
    ("sneakers", "trainers"),
    ("sneaker", "trainers"),
    ("kicks", "trainers"),
    // A word only the embeddings bridge (Backtalk's own synonym table does not have it).
    ("plimsolls", "trainers"),
    ("trainer", "trainers"),
    ("purse", "bag"),
    ("handbag", "bag"),
];

fn fake_embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; 64];
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2) {
        let concept = SYNONYMS.iter().find(|(w, _)| *w == word).map_or(word, |(_, c)| c);
        let h = concept.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
        v[(h % 64) as usize] += 1.0;
    }
    if v.iter().all(|x| *x == 0.0) {
        v[0] = 1.0;
    }
    v
}

async fn embeddings(State(state): State<Arc<Mutex<EmbeddingsState>>>, Json(body): Json<Value>) -> Response {
    {
        let mut s = lock(&state);
        s.requests += 1;
        if s.failing {
            return (StatusCode::INTERNAL_SERVER_ERROR, "embedding model crashed").into_response();
        }
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => return (StatusCode::BAD_REQUEST, "input must be a string or a list").into_response(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_embedding(t)}))
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 0, "total_tokens": 0}}))
        .into_response()
}

#[allow(dead_code)]
impl FakeEmbeddings {
    pub async fn start() -> FakeEmbeddings {
        let state = Arc::new(Mutex::new(EmbeddingsState::default()));
        let router = Router::new().route("/v1/embeddings", post(embeddings)).with_state(Arc::clone(&state));
        FakeEmbeddings { server: RunningServer::start(router).await, state }
    }

    /// The API base, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// Makes every later request fail with a 500 (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        lock(&self.state).failing = failing;
    }
}
