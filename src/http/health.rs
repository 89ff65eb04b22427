//! Liveness, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use crate::store::{escalations, jobs};

/// `/healthz`, `/readyz` and `/metrics`; the last two behind `api.metrics_token` when it is
/// set (issue 21: they told anyone the database kind, the queue and the business figures).
pub fn router(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(state, metrics_token));
    Router::new().route("/healthz", get(healthz)).merge(guarded)
}

/// With `api.metrics_token` set, a request without `Authorization: Bearer <it>` gets 401.
async fn metrics_token(
    State(s): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let token = s.config.api.metrics_token.expose();
    if token.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::extract::bearer_token);
    if given.is_some_and(|g| super::extract::same(g, token)) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response()
    }
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
    if let Ok(t) = crate::store::analytics::totals(&s.db).await {
        business(&mut out, &t);
    }
    ([("content-type", "text/plain; version=0.0.4")], out)
}

/// The business figures (docs/analytics.md, "Prometheus"), named by Prometheus' conventions:
/// the `backtalk_` prefix, base units, `_total` on counters, no phone number or conversation
/// id among the labels (prometheus.io/docs/practices/naming). Counted from the database, so
/// they survive restarts and agree across replicas.
fn business(out: &mut String, t: &crate::store::analytics::Totals) {
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, i64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in rows {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    let labelled = |key: &str, rows: &[(String, i64)]| -> Vec<(String, i64)> {
        rows.iter().map(|(value, n)| (format!("{{{key}=\"{value}\"}}"), *n)).collect()
    };
    family(
        "backtalk_messages_total",
        "counter",
        "Texts stored, by direction (in, out).",
        labelled("direction", &t.messages),
    );
    family(
        "backtalk_outbox_texts",
        "gauge",
        "Outbound texts by their status now (a text moves from sent to delivered or failed).",
        labelled("status", &t.outbox),
    );
    let clicks: Vec<(String, i64)> = t
        .clicks
        .iter()
        .map(|(preview, n)| (if *preview == 1 { "preview" } else { "person" }.to_string(), *n))
        .collect();
    family(
        "backtalk_link_requests_total",
        "counter",
        "Requests for tracked links: a person's click, or a link-preview fetcher's.",
        labelled("kind", &clicks),
    );
    family(
        "backtalk_escalations_total",
        "counter",
        "Escalations to a person, by reason.",
        labelled("reason", &t.escalations),
    );
    family(
        "backtalk_opt_outs_total",
        "counter",
        "Opt-outs recorded in the consent ledger.",
        vec![(String::new(), t.opt_outs)],
    );
    family(
        "backtalk_attributed_orders",
        "gauge",
        "Orders attributed to a text now (a cancelled order leaves).",
        vec![(String::new(), t.attributed_orders)],
    );
    let alerts: Vec<(String, i64)> = crate::analytics::alerts::THRESHOLDS
        .iter()
        .map(|th| (format!("{{metric=\"{}\"}}", th.metric), i64::from(t.alerts.iter().any(|a| a == th.metric))))
        .collect();
    family(
        "backtalk_deliverability_alert",
        "gauge",
        "1 while the metric is over Klaviyo's threshold (7 days).",
        alerts,
    );
    out.push_str(&format!(
        "# HELP backtalk_attributed_revenue_dollars Revenue of the attributed orders, in the store's currency.\n\
         # TYPE backtalk_attributed_revenue_dollars gauge\nbacktalk_attributed_revenue_dollars {:.2}\n",
        t.attributed_revenue_cents as f64 / 100.0
    ));
}
