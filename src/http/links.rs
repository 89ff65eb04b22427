//! `GET /l/{code}`: a tracked link (docs/analytics.md, "Tracked links"). Redirects (302) to the
//! link's target and records the click, marked as a preview fetcher's when it is one; an
//! unknown code is a plain 404 that says nothing about codes.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::warn;

use super::AppState;
use crate::domain::links::{is_preview, looks_like_code};
use crate::store::links as store;

/// `/l/{code}` (GET, and HEAD through axum's GET routing).
pub fn router() -> Router<AppState> {
    Router::new().route("/l/{code}", get(follow))
}

async fn follow(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not found.\n").into_response();
    if !looks_like_code(&code) {
        return not_found();
    }
    let (id, url) = match store::link_by_code(&state.db, &code).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_found(),
        Err(e) => {
            warn!(error = %e, "tracked link lookup failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.\n").into_response();
        }
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let preview = is_preview(user_agent, method == Method::HEAD);
    // The person still gets where they were going when the click cannot be recorded.
    if let Err(e) = store::record_click(&state.db, id, state.clock.now(), preview).await {
        warn!(error = %e, "tracked link click not recorded");
    }
    (StatusCode::FOUND, [(header::LOCATION, url), (header::CACHE_CONTROL, "no-store".to_string())]).into_response()
}
