//! HTTP: axum routers for webhooks and health. Only this module touches axum types.
//!
//! The JSON API (`/api/v1`, described by `/api/v1/openapi.json`) and the reviewer console
//! (`/console`).

pub mod api;
pub mod console;
pub mod error;
pub mod health;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::catalog::SearchIndex;
use crate::config::Config;
use crate::jobs::Waker;
use crate::pipeline::ingest::IngestBatcher;
use crate::store::Db;

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// For readiness (document count).
    pub index: Arc<SearchIndex>,
    /// Wakes a worker when a text is stored.
    pub waker: Waker,
    pub metrics: Arc<Metrics>,
    /// Stores inbound texts with group commit.
    pub ingest: IngestBatcher,
    /// Console login attempts per client address.
    pub login_limiter: Arc<crate::auth::LoginLimiter>,
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// New inbound texts stored.
    pub inbound_accepted: AtomicU64,
    pub inbound_duplicate: AtomicU64,
    pub inbound_bad_signature: AtomicU64,
    pub inbound_bad_request: AtomicU64,
    pub status_callbacks: AtomicU64,
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_webhook_body_bytes;
    let webhooks = Router::new()
        .route("/webhooks/twilio", post(webhooks::twilio_inbound))
        .route("/webhooks/twilio/status", post(webhooks::twilio_status))
        .layer(DefaultBodyLimit::max(limit));
    Router::new()
        .merge(webhooks)
        .route("/api/v1/messages", post(api::post_message))
        .route("/api/v1/consent/{phone}", get(api::get_consent))
        .route("/api/v1/consent/{phone}/decision", post(api::post_decision))
        .route("/api/v1/escalations", get(api::list_escalations))
        .route("/console", get(console::get_queue))
        .route("/console/login", get(console::get_login).post(console::post_login))
        .route("/console/events", get(console::live::queue_events))
        .route("/console/assets/{name}", get(console::get_asset))
        .route("/console/conversations", get(console::browse::get_conversations))
        .route("/console/conversations/{id}", get(console::browse::get_conversation))
        .route("/console/customers/{id}", get(console::browse::get_customer))
        .route("/console/turns/{id}", get(console::browse::get_turn))
        .route("/console/logout", post(console::post_logout))
        .route("/console/escalations/{id}", get(console::get_escalation))
        .route("/console/escalations/{id}/claim", post(console::post_claim))
        .route("/console/escalations/{id}/close", post(console::post_close))
        .route("/console/escalations/{id}/reply", post(console::post_reply))
        .route("/console/escalations/{id}/opt-out", post(console::post_opt_out))
        .route("/console/escalations/{id}/not-opt-out", post(console::post_not_opt_out))
        .route("/api/v1/escalations/{id}", get(api::get_escalation))
        .route("/api/v1/escalations/{id}/claim", post(api::claim_escalation))
        .route("/api/v1/escalations/{id}/reply", post(api::reply_to_escalation))
        .route("/api/v1/escalations/{id}/opt-out", post(api::opt_out_escalation))
        .route("/api/v1/escalations/{id}/close", post(api::close_escalation))
        .route("/api/v1/conversations", get(api::list_conversations))
        .route("/api/v1/conversations/{id}", get(api::get_conversation))
        .route("/api/v1/turns/{id}", get(api::get_turn))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// Every `/api/v1` route of the router is in the OpenAPI document, and nothing else is.
    #[test]
    fn the_openapi_document_lists_every_api_route() {
        let doc: serde_json::Value = serde_json::from_str(super::api::OPENAPI).unwrap();
        let mut documented: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
        let mut routed: Vec<String> = include_str!("mod.rs")
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".route(\"/api/v1"))
            .map(|rest| format!("/api/v1{}", rest.split('"').next().unwrap()))
            .collect();
        documented.sort();
        routed.sort();
        routed.dedup();
        assert_eq!(documented, routed);
    }
}
