//! The HTTP error type: each variant says its status. Handlers return
//! `Result<_, http::Error>`; each area renders the error in its own format:
//!
//! - the JSON API as `{"error": "...", "field": "..."}` ([`json_errors`]),
//! - the reviewer console as a page ([`crate::http::console`]'s error layer),
//! - the webhooks and everything else as plain text (a provider reads only the status).
//!
//! [`Error::into_response`] writes the plain-text form and leaves an [`ErrorBody`] in the
//! response's extensions; an area's layer re-renders from it. Internal errors are logged
//! once, by [`log_errors`], never in a handler.

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed; `field` names the part that is wrong, when one is.
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    /// 401: no credentials, or wrong ones.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the credentials are fine but not for this (a missing or wrong signature, a
    /// stale CSRF token, the service token where a reviewer's is needed).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 409: the thing is in a state that refuses the request (claimed by someone else, closed).
    #[error("{0}")]
    Conflict(String),
    /// 500: our fault; details go to the log, not the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A 400 about no field in particular.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest { field: None, message: message.into() }
    }

    /// A 400 about `field`; the message names it, as in "`body` must be 1 to 1600 characters".
    pub fn bad_field(field: &str, message: impl std::fmt::Display) -> Self {
        Error::BadRequest { field: Some(field.to_string()), message: format!("`{field}` {message}") }
    }

    /// A 400 for a field that did not parse: "`to`: not a phone number".
    pub fn invalid_field(field: &str, error: impl std::fmt::Display) -> Self {
        Error::BadRequest { field: Some(field.to_string()), message: format!("`{field}`: {error}") }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What a client is told about an error, kept in the response's extensions so that each
/// area can render it in its own format.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub message: String,
    pub field: Option<String>,
}

/// The internal error text, carried to [`log_errors`] in the response extensions.
#[derive(Clone)]
struct InternalError(String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, internal) = match self {
            Error::Internal(e) => (ErrorBody { message: "internal error".into(), field: None }, Some(format!("{e:#}"))),
            Error::BadRequest { field, message } => (ErrorBody { message, field }, None),
            Error::Unauthorized(m) | Error::Forbidden(m) | Error::NotFound(m) | Error::Conflict(m) => {
                (ErrorBody { message: m, field: None }, None)
            }
        };
        let mut response = (status, body.message.clone()).into_response();
        response.extensions_mut().insert(body);
        if let Some(e) = internal {
            response.extensions_mut().insert(InternalError(e));
        }
        response
    }
}

/// The error a response carries, with the rest of the response: an [`Error`]'s body, or the
/// plain-text message of a rejection axum answered itself (a path or query that does not
/// parse, an oversized body). `None` for anything else.
pub async fn error_of(response: Response) -> Result<(axum::http::response::Parts, ErrorBody), Response> {
    if let Some(body) = response.extensions().get::<ErrorBody>().cloned() {
        return Ok((response.into_parts().0, body));
    }
    let plain_text = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(response.status().is_client_error() || response.status().is_server_error()) || !plain_text {
        return Err(response);
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    Ok((parts, ErrorBody { message: String::from_utf8_lossy(&text).trim().to_string(), field: None }))
}

/// The JSON API's error format: `{"error": message}`, plus `"field"` when one is named.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let (parts, body) = match error_of(next.run(request).await).await {
        Ok(error) => error,
        Err(response) => return response,
    };
    let mut json = serde_json::json!({ "error": body.message });
    if let Some(field) = body.field {
        json["field"] = field.into();
    }
    let mut rendered = (parts.status, Json(json)).into_response();
    // Keep the extensions (the internal error for the log) on the new response.
    *rendered.extensions_mut() = parts.extensions;
    rendered
}

/// Logs internal errors once, here, instead of in every handler.
pub async fn log_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if let Some(InternalError(e)) = response.extensions().get::<InternalError>() {
        tracing::error!(path = %path, error = %e, "request failed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_says_its_status() {
        assert_eq!(Error::bad_field("to", "is not a phone number").status(), 400);
        assert_eq!(Error::Unauthorized("missing bearer token".into()).status(), 401);
        assert_eq!(Error::Forbidden("no".into()).status(), 403);
        assert_eq!(Error::NotFound("no escalation 7".into()).status(), 404);
        assert_eq!(Error::Conflict("closed".into()).status(), 409);
        assert_eq!(Error::Internal(anyhow::anyhow!("disk full")).status(), 500);
    }

    #[test]
    fn an_internal_error_tells_the_client_nothing_of_its_cause() {
        let response = Error::Internal(anyhow::anyhow!("password=hunter2")).into_response();
        let body = response.extensions().get::<ErrorBody>().unwrap();
        assert_eq!(body.message, "internal error");
        assert!(response.extensions().get::<InternalError>().unwrap().0.contains("hunter2"));
    }

    #[test]
    fn a_bad_field_is_named_in_the_message_and_the_body() {
        let Error::BadRequest { field, message } = Error::bad_field("body", "must be 1 to 1600 characters") else {
            panic!("not a bad request");
        };
        assert_eq!(field.as_deref(), Some("body"));
        assert_eq!(message, "`body` must be 1 to 1600 characters");
    }
}
