//! The HTTP error type: each variant says its status.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed; the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the signature is missing or wrong.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 500: our fault; details go to the log, not the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The internal error text, carried to [`log_errors`] in the response extensions.
#[derive(Clone)]
struct InternalError(String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::BadRequest(m) => (StatusCode::BAD_REQUEST, m).into_response(),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m).into_response(),
            Error::Internal(e) => {
                let mut r = (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
                r.extensions_mut().insert(InternalError(format!("{e:#}")));
                r
            }
        }
    }
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
