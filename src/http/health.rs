//! Liveness, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use crate::store::{escalations, jobs};

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and the index holds documents.
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let db = s.db.ping().await.is_ok();
    let docs = s.index.num_docs();
    let llm = if s.config.llm_configured() { "configured" } else { "offline responder" };
    let body = format!(
        "database: {} ({})\nindex: {docs} documents\nllm: {llm}\n",
        if db { "ok" } else { "down" },
        s.db.backend()
    );
    let status = if db && docs > 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, body)
}

/// Prometheus text format.
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let m = &s.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
    };
    counter("backtalk_inbound_accepted_total", "Inbound texts stored.", m.inbound_accepted.load(Ordering::Relaxed));
    counter(
        "backtalk_inbound_duplicate_total",
        "Inbound webhooks for an already stored message.",
        m.inbound_duplicate.load(Ordering::Relaxed),
    );
    counter(
        "backtalk_inbound_bad_signature_total",
        "Webhooks rejected for a missing or wrong signature.",
        m.inbound_bad_signature.load(Ordering::Relaxed),
    );
    counter(
        "backtalk_inbound_bad_request_total",
        "Webhooks rejected as malformed.",
        m.inbound_bad_request.load(Ordering::Relaxed),
    );
    counter(
        "backtalk_status_callbacks_total",
        "Delivery status callbacks received.",
        m.status_callbacks.load(Ordering::Relaxed),
    );
    for status in ["queued", "running", "dead"] {
        let n = jobs::count_jobs(&s.db, status).await.unwrap_or(-1);
        out.push_str(&format!("backtalk_jobs{{status=\"{status}\"}} {n}\n"));
    }
    let open = escalations::count_open_escalations(&s.db).await.unwrap_or(-1);
    out.push_str(&format!("# TYPE backtalk_escalations_open gauge\nbacktalk_escalations_open {open}\n"));
    ([("content-type", "text/plain; version=0.0.4")], out)
}
