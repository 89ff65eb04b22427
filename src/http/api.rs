//! The JSON API, bearer-token protected: queue a proactive text, read a number's consent
//! ledger, record a reviewer's decision about a possible opt-out, list escalations and close
//! them (resolved, or handed back to the bot).

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

/// Checks `Authorization: Bearer <api.token>` in constant time.
fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let token = state.config.api.token.expose();
    if token.is_empty() {
        return Err(error(StatusCode::FORBIDDEN, "the JSON API is disabled: set api.token (BACKTALK_API_TOKEN)"));
    }
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if bool::from(g.as_bytes().ct_eq(token.as_bytes())) => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")),
    }
}

/// `POST /api/v1/messages`: queue a proactive text; 202 with its outbox id. The sender
/// decides when (quiet hours, caps) and whether (consent) it goes out.
pub async fn post_message(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = authorized(&state, &headers) {
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
    if let Err(r) = authorized(&state, &headers) {
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
    if let Err(r) = authorized(&state, &headers) {
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
    if let Err(r) = authorized(&state, &headers) {
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
    /// Who closed it.
    pub reviewer: String,
}

/// `POST /api/v1/escalations/{id}/close`: a reviewer resolves an escalation or hands the
/// conversation back; either way the bot answers the conversation's next text. 404 for an
/// unknown id, 409 when it is already closed.
pub async fn close_escalation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return r;
    }
    let close: CloseEscalation = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let reviewer = close.reviewer.trim();
    if reviewer.is_empty() || reviewer.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "`reviewer` must be 1 to 100 characters");
    }
    match escalations::close_and_release(&state.db, id, close.resolution, reviewer).await {
        Ok(escalations::Closed::Conversation(conversation_id)) => {
            tracing::info!(escalation = id, conversation = conversation_id, "escalation closed");
            Json(serde_json::json!({ "id": id, "conversation_id": conversation_id, "status": "resolved",
                                     "resolution": close.resolution }))
            .into_response()
        }
        Ok(escalations::Closed::AlreadyClosed) => {
            error(StatusCode::CONFLICT, format!("escalation {id} is already closed"))
        }
        Ok(escalations::Closed::NotFound) => error(StatusCode::NOT_FOUND, format!("no escalation {id}")),
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
