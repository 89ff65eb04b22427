//! The JSON API's view of outbound webhooks (routed in [`super::api`]): the endpoints with
//! their state and delivery counts, deliveries with every attempt, and re-enabling an
//! endpoint that answered 410. Token auth like the rest of `/api/v1`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::Error;
use super::extract::Caller;
use crate::domain::DeliveryStatus;
use crate::store::webhook_events;

/// `GET /api/v1/webhooks/endpoints`: every endpoint ever configured (by URL), whether it is
/// still configured and enabled (or why not), its event types and its deliveries per status.
pub async fn list_endpoints(State(state): State<AppState>, _: Caller) -> Result<Json<Value>, Error> {
    let rows = webhook_events::list_endpoints(&state.db).await?;
    let endpoints: Vec<Value> = rows
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["events"] = json!(e.events());
            v
        })
        .collect();
    Ok(Json(json!({ "endpoints": endpoints })))
}

/// `GET /api/v1/webhooks/deliveries` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// One endpoint's deliveries.
    #[serde(default)]
    pub endpoint: Option<i64>,
    /// `pending`, `delivered`, `dead` or `skipped`.
    #[serde(default)]
    pub status: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/webhooks/deliveries?endpoint=&status=`: deliveries, newest first, each with
/// its event type, `webhook-id`, attempts (status code, error, time), next attempt and, for
/// a dead letter, the reason.
pub async fn list_deliveries(
    State(state): State<AppState>,
    _: Caller,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Value>, Error> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<DeliveryStatus>().map_err(|_| {
            Error::bad_field("status", format!("must be pending, delivered, dead or skipped, not {s:?}"))
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::bad_field("limit", "must be 1 to 1000"));
    }
    let rows = webhook_events::list_deliveries(&state.db, q.endpoint, status, limit).await?;
    let deliveries: Vec<Value> = rows
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            v["attempt_log"] = json!(d.attempt_log);
            v
        })
        .collect();
    Ok(Json(json!({ "deliveries": deliveries })))
}

/// `POST /api/v1/webhooks/endpoints/{id}/enable`: an endpoint disabled by a 410 gets events
/// again from now on (what it missed meanwhile is not resent). 404 for an unknown id.
pub async fn enable_endpoint(
    State(state): State<AppState>,
    _: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Error> {
    if !webhook_events::enable_endpoint(&state.db, id).await? {
        return Err(Error::NotFound(format!("no webhook endpoint {id}")));
    }
    tracing::info!(endpoint = id, "webhook endpoint enabled");
    Ok(Json(json!({ "id": id, "enabled": true })))
}
