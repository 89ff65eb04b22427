//! The JSON API, bearer-token protected. For now: queue a proactive text.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::domain::{MAX_BODY_CHARS, Phone};
use crate::pipeline::proactive::{ProactiveText, queue};

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
