//! The reviewer console (`/console`): server-rendered HTML, working without JavaScript.
//!
//! - [`session`]: log in and out. Sessions are cookies (`HttpOnly`, `SameSite=Strict`,
//!   `Secure` when `public_url` is https) holding a random token whose SHA-256 is stored;
//!   wrong passwords lock the account after `console.max_failed_logins`.
//! - [`queue`]: the queue of escalations, and [`live`] its server-sent updates.
//! - [`escalations`]: an escalation's page (thread, customer, consent, orders, draft,
//!   findings, scores) and what a reviewer does there: claim or take over, reply through
//!   the outbox, mark opted out, lift a consent hold, resolve, hand back.
//! - [`browse`]: conversations, customers and turn audits, read only.
//! - [`analytics`]: the dashboard of what the texts earned.
//!
//! Every page but the login needs a session ([`SignedIn`](super::extract::SignedIn)); every
//! form carries a CSRF token ([`CsrfForm`](super::extract::CsrfForm)). Errors are pages.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;

use super::AppState;
use super::error::{Error, error_of};

pub mod admin;
pub mod analytics;
pub mod browse;
pub mod campaigns;
mod charts;
pub mod escalations;
pub mod live;
pub mod queue;
pub mod session;

/// The console's routes; errors are rendered as pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue::get_queue))
        .route("/console/login", get(session::get_login).post(session::post_login))
        .route("/console/logout", post(session::post_logout))
        .route("/console/events", get(live::queue_events))
        .route("/console/assets/{name}", get(get_asset))
        .route("/console/conversations", get(browse::get_conversations))
        .route("/console/flows", get(browse::get_flows))
        .route("/console/analytics", get(analytics::get_analytics))
        .route("/console/analytics.csv", get(analytics::get_analytics_csv))
        .route("/console/campaigns", get(campaigns::get_campaigns).post(campaigns::post_create))
        .route("/console/campaigns/preview", post(campaigns::post_preview))
        .route("/console/campaigns/{id}", get(campaigns::get_campaign))
        .route("/console/campaigns/{id}/{action}", post(campaigns::post_action))
        .route("/console/conversations/{id}", get(browse::get_conversation))
        .route("/console/customers/{id}", get(browse::get_customer))
        .route("/console/turns/{id}", get(browse::get_turn))
        .route("/console/escalations/{id}", get(escalations::get_escalation))
        .route("/console/admin/reviewers", get(admin::get_reviewers))
        .route("/console/admin/reviewers/{action}", post(admin::post_reviewer))
        .route("/console/escalations/{id}/claim", post(escalations::post_claim))
        .route("/console/escalations/{id}/assign", post(escalations::post_assign))
        .route("/console/escalations/{id}/close", post(escalations::post_close))
        .route("/console/escalations/{id}/reply", post(escalations::post_reply))
        .route("/console/escalations/{id}/opt-out", post(escalations::post_opt_out))
        .route("/console/escalations/{id}/not-opt-out", post(escalations::post_not_opt_out))
        .layer(axum::middleware::from_fn(error_pages))
}

/// The console's templates, compiled once (minijinja escapes HTML in `.html` templates).
fn pages() -> &'static Environment<'static> {
    static PAGES: OnceLock<Environment<'static>> = OnceLock::new();
    PAGES.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("layout.html")),
            ("error.html", include_str!("error.html")),
            ("login.html", include_str!("login.html")),
            ("queue.html", include_str!("queue.html")),
            ("escalation.html", include_str!("escalation.html")),
            ("queue_rows.html", include_str!("queue_rows.html")),
            ("conversations.html", include_str!("conversations.html")),
            ("conversation.html", include_str!("conversation.html")),
            ("customer.html", include_str!("customer.html")),
            ("turn.html", include_str!("turn.html")),
            ("flows.html", include_str!("flows.html")),
            ("ab_test.html", include_str!("ab_test.html")),
            ("campaigns.html", include_str!("campaigns.html")),
            ("campaign.html", include_str!("campaign.html")),
            ("analytics.html", include_str!("analytics.html")),
            ("admin.html", include_str!("admin.html")),
        ] {
            env.add_template(name, source).expect("console templates compile");
        }
        env
    })
}

/// Renders template `name` to a string.
fn render_html(name: &str, ctx: minijinja::Value) -> anyhow::Result<String> {
    pages().get_template(name).and_then(|t| t.render(ctx)).map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))
}

/// Scripts and styles come only from `/console/assets`; no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A console page: rendered, never cached (it shows customer data), under the CSP.
fn page(status: StatusCode, name: &str, ctx: minijinja::Value) -> Result<Response, Error> {
    let mut response = (status, Html(render_html(name, ctx)?)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    Ok(response)
}

/// Renders an [`Error`] answered by a console handler (or an extractor) as a page.
async fn error_pages(request: Request, next: Next) -> Response {
    let (parts, body) = match error_of(next.run(request).await).await {
        Ok(error) => error,
        Err(response) => return response,
    };
    let ctx = minijinja::context! { status => parts.status.as_u16(), message => body.message.clone() };
    match page(parts.status, "error.html", ctx) {
        Ok(mut rendered) => {
            // Keep the extensions (the internal error for the log) on the new response.
            *rendered.extensions_mut() = parts.extensions;
            rendered
        }
        Err(_) => (parts.status, body.message).into_response(),
    }
}

/// `GET /console/assets/{name}`: the console's stylesheet and script, embedded in the
/// binary (no front-end build step).
pub async fn get_asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "console.css" => (include_str!("console.css"), "text/css; charset=utf-8"),
        "console.js" => (include_str!("console.js"), "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

/// "4 min", "3 h", "2 d": how long ago (or, for a negative span, how far ahead).
fn span(d: chrono::Duration) -> String {
    let m = d.num_minutes().abs();
    match m {
        0 => "under a minute".to_string(),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h", m / 60),
        _ => format!("{} d", m / 1440),
    }
}

/// A time as the console shows it: `2026-12-06 14:05`.
fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// A serialisable value as a template value.
fn serde_value<T: serde::Serialize>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}
