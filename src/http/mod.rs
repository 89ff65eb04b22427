//! HTTP: axum routers, one per area, merged by [`router`]. Only this module touches axum
//! types.
//!
//! - [`webhooks`]: the SMS provider's inbound texts and delivery callbacks (plain-text errors);
//! - [`api`]: the JSON API under `/api/v1` (bearer tokens, JSON errors, `openapi.json`), with
//!   [`outbound_webhooks`] (endpoints and deliveries);
//! - [`console`]: the reviewer console under `/console` (sessions, CSRF, HTML pages);
//! - [`health`]: liveness, readiness and Prometheus metrics.
//!
//! Handlers are thin: [`extract`] carries authentication, sessions, CSRF and body parsing,
//! and every handler returns `Result<_, http::Error>` ([`error`]).

pub mod analytics;
pub mod api;
pub mod body_limit;
pub mod campaigns;
pub mod console;
pub mod error;
pub mod extract;
pub mod flows;
pub mod health;
pub mod links;
pub mod outbound_webhooks;
pub mod serve;
pub mod telnyx;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
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
    /// Signs the login form's CSRF token (`server_secrets.login_csrf`, shared by replicas).
    pub login_csrf_key: Arc<String>,
    /// What time it is (campaign planning, segment counts); a fixed clock in tests.
    pub clock: Arc<dyn crate::clock::Clock>,
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
    // A client that declares a body and stalls is cut off after `request_body_timeout_secs`
    // (issue 21: 200 such connections were held for 70 s and more).
    let body_timeout = std::time::Duration::from_secs(state.config.request_body_timeout_secs.max(1));
    Router::new()
        .merge(webhooks::router(state.config.max_webhook_body_bytes, state.config.shopify.max_body_bytes))
        .merge(api::router())
        .merge(console::router())
        .merge(health::router(state.clone()))
        .merge(links::router())
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
