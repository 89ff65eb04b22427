//! The queue of escalations (`GET /console`): high priority first, then by SLA due time,
//! filtered by state and reason, 50 rows a page; [`super::live`] keeps it current.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::{page, span};
use crate::domain::{EscalationReason, EscalationStatus};
use crate::http::AppState;
use crate::http::error::Error;
use crate::http::extract::SignedIn;
use crate::store::escalations;

/// `GET /console` (and the live queue's) filters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueFilter {
    /// `open` (default) or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// Only escalations with this reason code.
    #[serde(default)]
    pub reason: Option<String>,
    /// 1-based page of [`QUEUE_PAGE`] rows.
    #[serde(default)]
    pub page: Option<i64>,
}

/// Rows per page of the queue.
pub const QUEUE_PAGE: i64 = 50;

impl QueueFilter {
    fn status(&self) -> EscalationStatus {
        if self.status.as_deref() == Some(EscalationStatus::Resolved.as_str()) {
            EscalationStatus::Resolved
        } else {
            EscalationStatus::Open
        }
    }
    /// The reason filter, when it is a plain code (anything else shows everything).
    fn reason(&self) -> String {
        let r = self.reason.clone().unwrap_or_default();
        if r.chars().all(|c| c.is_ascii_lowercase() || c == '_') { r } else { String::new() }
    }
    fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 100_000)
    }
    /// The query string that selects this view (the live stream's URL reuses it).
    pub(super) fn query(&self) -> String {
        format!("status={}&reason={}&page={}", self.status(), self.reason(), self.page())
    }
}

/// The queue's rows and their page, as the template and the live stream render them.
pub(super) async fn queue_context(state: &AppState, filter: &QueueFilter) -> anyhow::Result<minijinja::Value> {
    let (status, reason, page) = (filter.status(), filter.reason(), filter.page());
    let found = escalations::queue(&state.db, status, &reason, QUEUE_PAGE, (page - 1) * QUEUE_PAGE).await?;
    let now = Utc::now();
    let items: Vec<serde_json::Value> = found
        .rows
        .into_iter()
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            let mut reasons: Vec<String> = details["reasons"]
                .as_array()
                .map(|rs| rs.iter().filter_map(|r| r["code"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            if reasons.is_empty() {
                reasons.push(
                    details["reason"].as_str().unwrap_or(EscalationReason::ProcessingFailed.as_str()).to_string(),
                );
            }
            let (sla, overdue) = match e.sla_due {
                Some(due) if due < now => (format!("overdue by {}", span(now - due)), true),
                Some(due) => (format!("in {}", span(due - now)), false),
                None => (String::new(), false),
            };
            let last = e.last_message.unwrap_or_default();
            let last: String = if last.chars().count() > 80 {
                format!("{}…", last.chars().take(79).collect::<String>())
            } else {
                last
            };
            serde_json::json!({
                "id": e.id,
                "conversation_id": e.conversation_id,
                "customer": e.customer_name.unwrap_or_else(|| e.phone.as_str().to_owned()),
                "priority": e.priority,
                "reasons": reasons,
                "sla": sla,
                "overdue": overdue,
                "age": span(now - e.created_at),
                "attached_messages": e.attached_messages,
                "assigned_name": e.assigned_name,
                "last_message": last,
            })
        })
        .collect();
    let pages = (found.total + QUEUE_PAGE - 1) / QUEUE_PAGE;
    Ok(minijinja::context! {
        status => status.as_str(), reason, page, pages, total => found.total,
        escalations => minijinja::Value::from(minijinja::value::Serde(&items)),
    })
}

/// `GET /console`: the queue, high priority first, then by SLA due time; it updates itself
/// through [`super::live::queue_events`] while open.
pub async fn get_queue(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, Error> {
    let started = std::time::Instant::now();
    let rows = queue_context(&state, &filter).await?;
    let all_reasons = escalations::reason_codes(&state.db, filter.status()).await?;
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token,
        all_reasons => minijinja::Value::from(minijinja::value::Serde(&all_reasons)), live_query => filter.query(),
        ..rows
    };
    let mut response = page(StatusCode::OK, "queue.html", ctx)?;
    // The server's own time for the page (queries and rendering), for the browser's
    // developer tools and `backtalk bench console`.
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("queue;dur={ms:.3}")) {
        response.headers_mut().insert("server-timing", v);
    }
    Ok(response)
}
