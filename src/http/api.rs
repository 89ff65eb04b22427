//! The JSON API, bearer-token protected (the service token `api.token`, or a reviewer's own
//! token): queue a proactive text, read a number's consent ledger, record a reviewer's
//! decision about a possible opt-out; list, read, claim, answer, opt out and close
//! escalations (what the console does, for other tools); search conversations and read a
//! turn's audit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::domain::{MAX_BODY_CHARS, Phone};
use crate::pipeline::proactive::{ProactiveText, queue};
use crate::store::consent::{self, ReviewerDecision};
use crate::store::escalations;

/// `POST /api/v1/messages` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub to: String,
    pub body: String,
    pub subject: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Who is calling the API.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The service token (`api.token`): integrations (a shop backend queueing texts).
    Service,
    /// A reviewer's own API token (`backtalk reviewer token NAME`): actions are theirs.
    Reviewer(crate::review::Reviewer),
}

/// Checks `Authorization: Bearer <token>`: a reviewer's API token (looked up by SHA-256),
/// or the service token `api.token` (compared in constant time).
async fn authorized(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return Err(error(StatusCode::UNAUTHORIZED, "missing bearer token"));
    };
    match crate::store::reviewers::reviewer_for_api_token(&state.db, &crate::auth::token_hash(given)).await {
        Ok(Some((id, name))) => return Ok(Caller::Reviewer(crate::review::Reviewer { id, name })),
        Ok(None) => {}
        Err(e) => return Err(super::error::Error::Internal(e).into_response()),
    }
    let token = state.config.api.token.expose();
    if !token.is_empty() && bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return Ok(Caller::Service);
    }
    Err(error(StatusCode::UNAUTHORIZED, "wrong bearer token"))
}

/// The reviewer behind the call; the service token cannot claim or answer customers.
async fn reviewer(state: &AppState, headers: &HeaderMap) -> Result<crate::review::Reviewer, Response> {
    match authorized(state, headers).await? {
        Caller::Reviewer(r) => Ok(r),
        Caller::Service => Err(error(
            StatusCode::FORBIDDEN,
            "this action needs a reviewer's API token (backtalk reviewer token NAME), not the service token",
        )),
    }
}

/// `POST /api/v1/messages`: queue a proactive text; 202 with its outbox id. The sender
/// decides when (quiet hours, caps) and whether (consent) it goes out.
pub async fn post_message(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let message: NewMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let to = match Phone::parse(&message.to) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("`to`: {e}")),
    };
    if message.body.trim().is_empty() || message.body.chars().count() > MAX_BODY_CHARS {
        return error(StatusCode::BAD_REQUEST, format!("`body` must be 1 to {MAX_BODY_CHARS} characters"));
    }
    if message.subject.trim().is_empty() || message.subject.len() > 64 {
        return error(StatusCode::BAD_REQUEST, "`subject` must be 1 to 64 characters");
    }
    let text = ProactiveText { to, body: message.body, subject: message.subject.trim().to_string() };
    match queue(&state.db, &text, state.config.worker.max_attempts).await {
        Ok(id) => {
            state.waker.wake();
            (StatusCode::ACCEPTED, Json(serde_json::json!({ "outbox_id": id, "status": "queued" }))).into_response()
        }
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `POST /api/v1/consent/{phone}/decision` body: a reviewer's decision about a possible
/// opt-out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `opt_out` (it was one) or `not_opt_out` (lift the hold).
    pub decision: String,
    /// Who decided; recorded in the ledger as evidence.
    pub reviewer: String,
    /// Why, optionally; recorded with the decision.
    #[serde(default)]
    pub note: Option<String>,
}

fn path_phone(raw: &str) -> Result<Phone, Response> {
    Phone::parse(raw).map_err(|e| error(StatusCode::BAD_REQUEST, format!("phone in the path: {e}")))
}

/// `POST /api/v1/consent/{phone}/decision`: a reviewer decides a possible opt-out. Writes one
/// ledger event (source `reviewer`) and resolves the number's open `possible_opt_out`
/// escalations. Until this call a number on hold gets nothing proactive (§C1: revocation
/// "by any reasonable means", 47 CFR 64.1200(a)(10); a doubtful message is treated as one
/// until a person says otherwise).
pub async fn post_decision(
    State(state): State<AppState>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let phone = match path_phone(&phone) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let d: Decision = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let decision = match d.decision.as_str() {
        "opt_out" => ReviewerDecision::OptOut,
        "not_opt_out" => ReviewerDecision::NotOptOut,
        other => {
            return error(StatusCode::BAD_REQUEST, format!("`decision` must be opt_out or not_opt_out, not {other:?}"));
        }
    };
    let reviewer = d.reviewer.trim();
    if reviewer.is_empty() || reviewer.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "`reviewer` must be 1 to 100 characters");
    }
    let note = d.note.as_deref().map(str::trim).unwrap_or("");
    if note.len() > 1000 {
        return error(StatusCode::BAD_REQUEST, "`note` must be at most 1000 characters");
    }
    let evidence =
        if note.is_empty() { format!("reviewer {reviewer}") } else { format!("reviewer {reviewer}: {note}") };
    match consent::record_reviewer_decision(&state.db, phone.as_str(), decision, &evidence).await {
        Ok(outcome) => {
            tracing::info!(event = ?outcome.event_id, resolved = outcome.resolved_escalations, "reviewer consent decision");
            Json(outcome).into_response()
        }
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `GET /api/v1/consent/{phone}`: the current consent state and the number's ledger.
pub async fn get_consent(State(state): State<AppState>, Path(phone): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let phone = match path_phone(&phone) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match consent::ledger(&state.db, Some(phone.as_str())).await {
        Ok(events) => {
            let state = events.last().map(|e| e.kind.clone());
            Json(serde_json::json!({ "phone": phone.as_str(), "state": state, "events": events })).into_response()
        }
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `GET /api/v1/escalations` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationQuery {
    /// `open` (default) or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/escalations?status=open`: escalations, oldest first, each with its reasons,
/// priority, SLA due time and snapshot (`details`), and how many texts attached since.
pub async fn list_escalations(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<EscalationQuery>,
) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let status = q.status.as_deref().unwrap_or("open");
    if !matches!(status, "open" | "resolved") {
        return error(StatusCode::BAD_REQUEST, format!("`status` must be open or resolved, not {status:?}"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "`limit` must be 1 to 1000");
    }
    match escalations::list_escalations(&state.db, status, limit).await {
        Ok(rows) => Json(serde_json::json!({ "escalations": rows })).into_response(),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `POST /api/v1/escalations/{id}/close` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseEscalation {
    /// `resolved` (a person answered) or `handed_back` (the bot takes over again).
    pub resolution: escalations::Resolution,
    /// Who closed it: required with the service token; a reviewer's token names them.
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// A refused reviewer action as JSON: 404 for an unknown escalation, 409 otherwise.
fn refused(id: i64, r: &crate::review::Refused) -> Response {
    let status = if *r == crate::review::Refused::NotFound { StatusCode::NOT_FOUND } else { StatusCode::CONFLICT };
    error(status, r.message(id))
}

/// `POST /api/v1/escalations/{id}/close`: resolves an escalation or hands the conversation
/// back; either way the bot answers the conversation's next text. With a reviewer's token
/// the claim is enforced as in the console (409 while another reviewer holds it). 404 for
/// an unknown id, 409 when it is already closed.
pub async fn close_escalation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let caller = match authorized(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let close: CloseEscalation = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let outcome = match &caller {
        Caller::Reviewer(who) => crate::review::close(&state.db, who, id, close.resolution).await,
        Caller::Service => {
            let reviewer = close.reviewer.as_deref().unwrap_or("").trim();
            if reviewer.is_empty() || reviewer.len() > 100 {
                return error(StatusCode::BAD_REQUEST, "`reviewer` must be 1 to 100 characters");
            }
            escalations::close_and_release(&state.db, id, close.resolution, reviewer).await.map(|closed| match closed {
                escalations::Closed::Conversation(_) => Ok(()),
                escalations::Closed::AlreadyClosed => Err(crate::review::Refused::Closed),
                escalations::Closed::NotFound => Err(crate::review::Refused::NotFound),
            })
        }
    };
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(escalation = id, "escalation closed");
            Json(serde_json::json!({ "id": id, "status": "resolved", "resolution": close.resolution })).into_response()
        }
        Ok(Err(r)) => refused(id, &r),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `GET /api/v1/escalations/{id}`: the escalation with its snapshot, the conversation's
/// thread, the customer's consent state and who holds it.
pub async fn get_escalation(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let result = async {
        let Some(e) = escalations::escalation(&state.db, id).await? else {
            return Ok(error(StatusCode::NOT_FOUND, format!("no escalation {id}")));
        };
        let thread = crate::store::conversations::recent_messages(&state.db, e.conversation_id, i64::MAX, 50).await?;
        let thread: Vec<serde_json::Value> = thread
            .into_iter()
            .map(|m| serde_json::json!({"id": m.id, "direction": m.direction, "body": m.body, "created_at": m.created_at}))
            .collect();
        let consent = consent::latest_consent(&state.db, &e.phone).await?;
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
        anyhow::Ok(Json(serde_json::json!({
            "id": e.id, "conversation_id": e.conversation_id, "turn_id": e.turn_id, "phone": e.phone,
            "status": e.status, "reason": e.reason, "created_at": e.created_at, "assigned_to": e.assigned_name,
            "consent": consent, "details": details, "thread": thread,
        }))
        .into_response())
    }
    .await;
    result.unwrap_or_else(|e| super::error::Error::Internal(e).into_response())
}

/// `POST /api/v1/escalations/{id}/claim` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimEscalation {
    /// Take it from the reviewer who holds it.
    #[serde(default)]
    pub take_over: bool,
}

/// `POST /api/v1/escalations/{id}/claim`: the token's reviewer claims it (409 when another
/// holds it, unless `take_over`).
pub async fn claim_escalation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let who = match reviewer(&state, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let claim: ClaimEscalation = if body.is_empty() {
        ClaimEscalation::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
        }
    };
    match crate::review::claim(&state.db, &who, id, claim.take_over).await {
        Ok(Ok(())) => Json(serde_json::json!({ "id": id, "assigned_to": who.name })).into_response(),
        Ok(Err(r)) => refused(id, &r),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `POST /api/v1/escalations/{id}/reply` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub body: String,
}

/// `POST /api/v1/escalations/{id}/reply`: the token's reviewer answers the customer
/// through the outbox (consent checked again at send time); 202 with the outbox id.
pub async fn reply_to_escalation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let who = match reviewer(&state, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let reply: ReplyBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let text = reply.body.trim();
    if text.is_empty() || text.chars().count() > MAX_BODY_CHARS {
        return error(StatusCode::BAD_REQUEST, format!("`body` must be 1 to {MAX_BODY_CHARS} characters"));
    }
    match crate::review::reply(&state.db, &who, id, text, state.config.worker.max_attempts).await {
        Ok(Ok(outbox_id)) => {
            state.waker.wake();
            (StatusCode::ACCEPTED, Json(serde_json::json!({ "outbox_id": outbox_id, "status": "queued" })))
                .into_response()
        }
        Ok(Err(r)) => refused(id, &r),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `POST /api/v1/escalations/{id}/opt-out`: the token's reviewer records that the customer
/// asked to stop; the escalation is resolved.
pub async fn opt_out_escalation(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let who = match reviewer(&state, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    match crate::review::mark_opted_out(&state.db, &who, id).await {
        Ok(Ok(())) => Json(serde_json::json!({ "id": id, "consent": "opt_out" })).into_response(),
        Ok(Err(r)) => refused(id, &r),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `GET /api/v1/conversations` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    /// Words in a name or text, or phone digits.
    #[serde(default)]
    pub q: Option<String>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
}

/// `GET /api/v1/conversations?q=`: conversations, most recently active first.
pub async fn list_conversations(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<ConversationQuery>,
) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "`limit` must be 1 to 500");
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let query: String = q.q.unwrap_or_default().chars().take(100).collect();
    match crate::store::conversations::search_conversations(&state.db, &query, limit, offset).await {
        Ok((rows, total)) => Json(serde_json::json!({ "total": total, "conversations": rows })).into_response(),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// `GET /api/v1/conversations/{id}`: the thread, each inbound text with its turn's id.
pub async fn get_conversation(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    let result = async {
        let Some(c) = crate::store::conversations::find_conversation(&state.db, id).await? else {
            return Ok(error(StatusCode::NOT_FOUND, format!("no conversation {id}")));
        };
        let messages = crate::store::conversations::recent_messages(&state.db, id, i64::MAX, 500).await?;
        let turns = crate::store::turns::turns_by_message(&state.db, id).await?;
        let thread: Vec<serde_json::Value> = messages
            .into_iter()
            .map(|m| {
                let turn = turns.get(&m.id).map(|t| t.id);
                serde_json::json!({"id": m.id, "direction": m.direction, "body": m.body,
                                   "created_at": m.created_at, "turn_id": turn})
            })
            .collect();
        let owner = match c.state {
            crate::store::conversations::ConversationState::Bot => "bot",
            crate::store::conversations::ConversationState::Escalated => "escalated",
        };
        anyhow::Ok(
            Json(serde_json::json!({"id": c.id, "phone": c.phone, "customer_id": c.customer_id, "state": owner,
                                    "messages": thread}))
            .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| super::error::Error::Internal(e).into_response())
}

/// `GET /api/v1/turns/{id}`: the turn audit, its JSON columns parsed.
pub async fn get_turn(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers).await {
        return r;
    }
    match crate::store::turns::turn_audit(&state.db, id).await {
        Ok(Some(t)) => Json(t).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no turn {id}")),
        Err(e) => super::error::Error::Internal(e).into_response(),
    }
}

/// The OpenAPI 3.1 document of this API (`src/http/openapi.json`; a unit test keeps its
/// paths and the router's in step).
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`: the API's description; public, like any API reference.
pub async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
