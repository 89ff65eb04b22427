//! The webhooks' body caps, answered so that the sender reads the answer.
//!
//! A request whose declared `Content-Length` is over the cap gets 413 without being handled.
//! Answering at once and closing, as tower-http's limit does, races the sender: hyper reads
//! no more of the body, the connection closes with the rest of it unread, and the sender,
//! still writing, can see the connection reset instead of the 413 (a test under load saw
//! hyper's `IncompleteMessage`). So a body up to [`DRAIN_FACTOR`] times the cap is read to its
//! end and dropped first, within the server's request body timeout: the sender gets its 413
//! and the connection stays open. A larger one, or one whose sender waits for
//! `100 Continue`, is refused at once: nothing is worth reading there (RFC 9110 §15.5.14
//! lets the server close the connection).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// A body up to this many times the cap is read before the 413; a larger one is not.
const DRAIN_FACTOR: u64 = 4;

/// Refuses a request whose declared body is over `cap` bytes with 413, reading a body of up
/// to [`DRAIN_FACTOR`] times `cap` first. A body without a declared length (chunked) is
/// stopped at the cap by tower-http's limit inside this one.
pub async fn refuse_oversized(cap: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(declared) = declared.filter(|n| *n > cap as u64) else {
        return next.run(request).await;
    };
    let waits_to_send =
        request.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !waits_to_send && declared <= (cap as u64).saturating_mul(DRAIN_FACTOR) {
        drain(request.into_body()).await;
    }
    (StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is over the {cap}-byte limit")).into_response()
}

/// Reads `body` to its end, dropping it; stops at the first error (the body timeout).
async fn drain(body: Body) {
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        if chunk.is_err() {
            return;
        }
    }
}
