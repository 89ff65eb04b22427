//! The JSON API, bearer-token protected (the service token `api.token`, or a reviewer's own
//! token): queue a proactive text, read a number's consent ledger, record a reviewer's
//! decision about a possible opt-out; list, read, claim, answer, opt out and close
//! escalations (what the console does, for other tools); search conversations and read a
//! turn's audit; track events from a shop (`POST /api/v1/events`) and list them. Errors are JSON: `{"error": "...", "field": "..."}`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{Error, json_errors};
use super::extract::{ApiReviewer, Caller, JsonBody};
use super::{analytics, campaigns, outbound_webhooks};
use crate::commerce::events;
use crate::domain::{ConsentKind, EscalationStatus, MAX_BODY_CHARS, Phone};
use crate::escalation::review::{self, Refused};
use crate::pipeline::proactive::{ProactiveText, queue};
use crate::store::commerce as commerce_store;
use crate::store::consent::{self, ReviewerDecision};
use crate::store::{conversations, escalations, turns};

/// The API's routes (each listed in `openapi.json`; a unit test keeps the two in step).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages", post(post_message))
        .route("/api/v1/consent/{phone}", get(get_consent))
        .route("/api/v1/consent/{phone}/decision", post(post_decision))
        .route("/api/v1/escalations", get(list_escalations))
        .route("/api/v1/escalations/{id}", get(get_escalation))
        .route("/api/v1/escalations/{id}/claim", post(claim_escalation))
        .route("/api/v1/escalations/{id}/reply", post(reply_to_escalation))
        .route("/api/v1/escalations/{id}/opt-out", post(opt_out_escalation))
        .route("/api/v1/escalations/{id}/close", post(close_escalation))
        .route("/api/v1/escalations/{id}/assign", post(assign_escalation))
        .route("/api/v1/conversations", get(list_conversations))
        .route("/api/v1/conversations/{id}", get(get_conversation))
        .route("/api/v1/turns/{id}", get(get_turn))
        .route("/api/v1/events", post(post_events).get(list_events))
        .route("/api/v1/flows", get(list_flows))
        .route("/api/v1/flows/runs", get(list_flow_runs))
        .route("/api/v1/flows/tests", get(list_ab_tests))
        .route("/api/v1/segments", get(campaigns::list_segments))
        .route("/api/v1/segments/{name}", get(campaigns::get_segment).put(campaigns::put_segment))
        .route("/api/v1/segments/{name}", delete(campaigns::delete_segment))
        .route("/api/v1/campaigns", get(campaigns::list_campaigns).post(campaigns::create_campaign))
        .route("/api/v1/campaigns/dry-run", post(campaigns::dry_run))
        .route("/api/v1/campaigns/{id}", get(campaigns::get_campaign))
        .route("/api/v1/campaigns/{id}/pause", post(campaigns::pause))
        .route("/api/v1/campaigns/{id}/resume", post(campaigns::resume))
        .route("/api/v1/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/api/v1/webhooks/endpoints", get(outbound_webhooks::list_endpoints))
        .route("/api/v1/webhooks/endpoints/{id}/enable", post(outbound_webhooks::enable_endpoint))
        .route("/api/v1/webhooks/deliveries", get(outbound_webhooks::list_deliveries))
        .route("/api/v1/analytics/summary", get(analytics::get_summary))
        .route("/api/v1/analytics/days", get(analytics::get_days))
        .route("/api/v1/analytics/breakdown", get(analytics::get_breakdown))
        .route("/api/v1/analytics/alerts", get(analytics::get_alerts))
        .route("/api/v1/analytics/attributions", get(analytics::get_attributions))
        .route("/api/v1/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn(json_errors))
}

/// A handler's answer: JSON, or an [`Error`] rendered as JSON.
type ApiResult<T = Json<Value>> = Result<T, Error>;

/// A refused reviewer action: 404 for an unknown escalation, 409 otherwise.
fn refused(id: i64, r: Refused) -> Error {
    match r {
        Refused::NotFound => Error::NotFound(r.message(id)),
        _ => Error::Conflict(r.message(id)),
    }
}

/// A text field's length check: 1 to `max` characters once trimmed.
fn text_field<'a>(name: &str, value: &'a str, max: usize) -> Result<&'a str, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(Error::bad_field(name, format!("must be 1 to {max} characters")));
    }
    Ok(trimmed)
}

/// `POST /api/v1/messages` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub to: String,
    pub body: String,
    pub subject: String,
}

/// `POST /api/v1/messages`: queue a proactive text; 202 with its outbox id. The sender
/// decides when (quiet hours, caps) and whether (consent) it goes out.
pub async fn post_message(
    State(state): State<AppState>,
    _: Caller,
    JsonBody(message): JsonBody<NewMessage>,
) -> ApiResult<Response> {
    let to = Phone::parse(&message.to).map_err(|e| Error::invalid_field("to", e))?;
    if message.body.trim().is_empty() || message.body.chars().count() > MAX_BODY_CHARS {
        return Err(Error::bad_field("body", format!("must be 1 to {MAX_BODY_CHARS} characters")));
    }
    let subject = text_field("subject", &message.subject, 64)?.to_string();
    let id =
        queue(&state.db, &ProactiveText { to, body: message.body, subject }, state.config.worker.max_attempts).await?;
    state.waker.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({ "outbox_id": id, "status": "queued" }))).into_response())
}

/// `POST /api/v1/events`: track events from any shop or system (`commerce::events`): one,
/// an array, or `{"batch": [...]}`. All are checked first (400 naming the field, e.g.
/// `batch[2].phone`), then stored in one transaction, once per `id`.
pub async fn post_events(State(state): State<AppState>, _: Caller, JsonBody(body): JsonBody<Value>) -> ApiResult {
    let events = events::parse_request(body).map_err(|e| Error::bad_field(&e.field, e.message))?;
    let tracked = match events::track(&state.db, &events).await {
        Ok(tracked) => tracked,
        Err(events::TrackError::Invalid(e)) => return Err(Error::bad_field(&e.field, e.message)),
        Err(events::TrackError::Store(e)) => return Err(e.into()),
    };
    tracing::info!(accepted = tracked.accepted, duplicates = tracked.duplicates, "events tracked");
    Ok(Json(serde_json::to_value(tracked).map_err(anyhow::Error::from)?))
}

/// `GET /api/v1/events` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this customer's (Backtalk's customer id).
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// Only events with this name ("Customer Data Requested").
    #[serde(default)]
    pub name: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/events`: the latest events, newest first.
pub async fn list_events(State(state): State<AppState>, _: Caller, Query(q): Query<EventQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::bad_field("limit", "must be 1 to 1000"));
    }
    let rows = commerce_store::recent_events(&state.db, q.customer_id, q.name.as_deref(), limit).await?;
    let events: Vec<Value> = rows
        .into_iter()
        .map(|e| {
            let properties: Value = serde_json::from_str(&e.properties).unwrap_or(Value::Null);
            json!({"id": e.event_id, "event": e.name, "source": e.source, "customer_id": e.customer_id,
                   "properties": properties, "timestamp": e.occurred_at})
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

/// `GET /api/v1/flows`: the flows in `flows.dir` as the server runs them, each step with how
/// many runs wait at it, and the files left out for their problems.
pub async fn list_flows(State(state): State<AppState>, _: Caller) -> ApiResult {
    Ok(Json(super::flows::flows(&state, &super::flows::load(&state)?).await?))
}

/// `GET /api/v1/flows/tests`: every A/B test of the flows, each arm with its recipients,
/// replies, opt-outs and orders within 7 days, its rate on the test's metric and its win
/// probability, and the winner once called (docs/flows.md, "A/B tests").
pub async fn list_ab_tests(State(state): State<AppState>, _: Caller) -> ApiResult {
    Ok(Json(super::flows::ab_tests(&state, &super::flows::load(&state)?.0).await?))
}

/// `GET /api/v1/flows/runs` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRunQuery {
    pub flow: Option<String>,
    /// `waiting`, `done`, `exited` or `skipped`.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/flows/runs`: the latest runs, newest first, each with its reason (why it
/// exited or was skipped) and its texts with theirs (why the sender skipped one).
pub async fn list_flow_runs(State(state): State<AppState>, _: Caller, Query(q): Query<FlowRunQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::bad_field("limit", "must be 1 to 1000"));
    }
    if let Some(status) = q.status.as_deref()
        && !["waiting", "done", "exited", "skipped"].contains(&status)
    {
        return Err(Error::bad_field("status", "must be waiting, done, exited or skipped"));
    }
    Ok(Json(super::flows::runs(&state, q.flow.as_deref(), q.status.as_deref(), limit).await?))
}

/// `POST /api/v1/consent/{phone}/decision` body: a reviewer's decision about a possible
/// opt-out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `opt_out` (it was one) or `not_opt_out` (lift the hold).
    pub decision: String,
    /// Who decided; recorded in the ledger as evidence.
    pub reviewer: String,
    /// Why, optionally; recorded with the decision.
    #[serde(default)]
    pub note: Option<String>,
}

fn path_phone(raw: &str) -> Result<Phone, Error> {
    Phone::parse(raw).map_err(|e| Error::bad_request(format!("phone in the path: {e}")))
}

/// `POST /api/v1/consent/{phone}/decision`: a reviewer decides a possible opt-out. Writes one
/// ledger event (source `reviewer`) and resolves the number's open `possible_opt_out`
/// escalations. Until this call a number on hold gets nothing proactive (§C1: revocation
/// "by any reasonable means", 47 CFR 64.1200(a)(10); a doubtful message is treated as one
/// until a person says otherwise).
pub async fn post_decision(
    State(state): State<AppState>,
    _: Caller,
    Path(phone): Path<String>,
    JsonBody(d): JsonBody<Decision>,
) -> ApiResult {
    let phone = path_phone(&phone)?;
    let decision = match d.decision.as_str() {
        "opt_out" => ReviewerDecision::OptOut,
        "not_opt_out" => ReviewerDecision::NotOptOut,
        other => return Err(Error::bad_field("decision", format!("must be opt_out or not_opt_out, not {other:?}"))),
    };
    let reviewer = text_field("reviewer", &d.reviewer, 100)?;
    let note = d.note.as_deref().map(str::trim).unwrap_or("");
    if note.len() > 1000 {
        return Err(Error::bad_field("note", "must be at most 1000 characters"));
    }
    let evidence =
        if note.is_empty() { format!("reviewer {reviewer}") } else { format!("reviewer {reviewer}: {note}") };
    let outcome = consent::record_reviewer_decision(&state.db, &phone, decision, &evidence).await?;
    tracing::info!(event = ?outcome.event_id, resolved = outcome.resolved_escalations, "reviewer consent decision");
    Ok(Json(serde_json::to_value(outcome).map_err(anyhow::Error::from)?))
}

/// `GET /api/v1/consent/{phone}`: the current consent state and the number's ledger.
pub async fn get_consent(State(state): State<AppState>, _: Caller, Path(phone): Path<String>) -> ApiResult {
    let phone = path_phone(&phone)?;
    let events = consent::ledger(&state.db, Some(&phone)).await?;
    let current = events.last().map(|e| e.kind);
    Ok(Json(json!({ "phone": phone.as_str(), "state": current, "events": events })))
}

/// `GET /api/v1/escalations` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationQuery {
    /// `open` (default) or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/escalations?status=open`: escalations, oldest first, each with its reasons,
/// priority, SLA due time and snapshot (`details`), and how many texts attached since.
pub async fn list_escalations(State(state): State<AppState>, _: Caller, Query(q): Query<EscalationQuery>) -> ApiResult {
    let status = q.status.as_deref().unwrap_or(EscalationStatus::Open.as_str());
    let Ok(status) = status.parse::<EscalationStatus>() else {
        return Err(Error::bad_field("status", format!("must be open or resolved, not {status:?}")));
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::bad_field("limit", "must be 1 to 1000"));
    }
    let rows = escalations::list_escalations(&state.db, status, limit).await?;
    Ok(Json(json!({ "escalations": rows })))
}

/// `POST /api/v1/escalations/{id}/close` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseEscalation {
    /// `resolved` (a person answered) or `handed_back` (the bot takes over again).
    pub resolution: escalations::Resolution,
    /// Who closed it: required with the service token; a reviewer's token names them.
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// `POST /api/v1/escalations/{id}/close`: resolves an escalation or hands the conversation
/// back; either way the bot answers the conversation's next text. With a reviewer's token
/// the claim is enforced as in the console (409 while another reviewer holds it). 404 for
/// an unknown id, 409 when it is already closed.
pub async fn close_escalation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(close): JsonBody<CloseEscalation>,
) -> ApiResult {
    let outcome = match &caller {
        Caller::Reviewer(who) => review::close(&state.db, who, id, close.resolution).await?,
        Caller::Service => {
            let reviewer = text_field("reviewer", close.reviewer.as_deref().unwrap_or(""), 100)?;
            match escalations::close_and_release(&state.db, id, close.resolution, reviewer).await? {
                escalations::Closed::Conversation(_) => Ok(()),
                escalations::Closed::AlreadyClosed => Err(Refused::Closed),
                escalations::Closed::NotFound => Err(Refused::NotFound),
            }
        }
    };
    outcome.map_err(|r| refused(id, r))?;
    tracing::info!(escalation = id, "escalation closed");
    Ok(Json(json!({ "id": id, "status": EscalationStatus::Resolved, "resolution": close.resolution })))
}

/// `GET /api/v1/escalations/{id}`: the escalation with its snapshot, the conversation's
/// thread, the customer's consent state and who holds it.
pub async fn get_escalation(State(state): State<AppState>, _: Caller, Path(id): Path<i64>) -> ApiResult {
    let Some(e) = escalations::escalation(&state.db, id).await? else {
        return Err(Error::NotFound(format!("no escalation {id}")));
    };
    let thread: Vec<Value> = conversations::recent_messages(&state.db, e.conversation_id, i64::MAX, 50)
        .await?
        .into_iter()
        .map(|m| json!({"id": m.id, "direction": m.direction, "body": m.body, "created_at": m.created_at}))
        .collect();
    let consent = consent::latest_consent(&state.db, &e.phone).await?;
    let details: Value = serde_json::from_str(&e.details).unwrap_or_default();
    Ok(Json(json!({
        "id": e.id, "conversation_id": e.conversation_id, "turn_id": e.turn_id, "phone": e.phone,
        "status": e.status, "reason": e.reason, "created_at": e.created_at, "assigned_to": e.assigned_name,
        "consent": consent, "details": details, "thread": thread,
    })))
}

/// `POST /api/v1/escalations/{id}/claim` body (may be left out).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimEscalation {
    /// Take it from the reviewer who holds it.
    #[serde(default)]
    pub take_over: bool,
}

/// `POST /api/v1/escalations/{id}/claim`: the token's reviewer claims it (409 when another
/// holds it, unless `take_over`).
pub async fn claim_escalation(
    State(state): State<AppState>,
    ApiReviewer(who): ApiReviewer,
    Path(id): Path<i64>,
    JsonBody(claim): JsonBody<ClaimEscalation>,
) -> ApiResult {
    review::claim(&state.db, &who, id, claim.take_over).await?.map_err(|r| refused(id, r))?;
    Ok(Json(json!({ "id": id, "assigned_to": who.name })))
}

/// `POST /api/v1/escalations/{id}/assign` body: one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub reviewer: Option<String>,
    pub team: Option<String>,
}

/// `POST /api/v1/escalations/{id}/assign`: the token's reviewer assigns it to a reviewer or
/// a team, who are told (docs/reviewers.md); 409 for an unknown assignee or a closed one.
pub async fn assign_escalation(
    State(state): State<AppState>,
    ApiReviewer(who): ApiReviewer,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<AssignBody>,
) -> ApiResult {
    let assignee = review::Assignee::from_fields(body.reviewer.as_deref(), body.team.as_deref())
        .map_err(|why| Error::bad_field("reviewer", why))?;
    review::assign(&state.db, &who, id, &assignee).await?.map_err(|r| refused(id, r))?;
    state.waker.wake();
    Ok(Json(json!({ "id": id, "assignee": assignee.key() })))
}

/// `POST /api/v1/escalations/{id}/reply` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub body: String,
}

/// `POST /api/v1/escalations/{id}/reply`: the token's reviewer answers the customer
/// through the outbox (consent checked again at send time); 202 with the outbox id.
pub async fn reply_to_escalation(
    State(state): State<AppState>,
    ApiReviewer(who): ApiReviewer,
    Path(id): Path<i64>,
    JsonBody(reply): JsonBody<ReplyBody>,
) -> ApiResult<Response> {
    let text = text_field("body", &reply.body, MAX_BODY_CHARS)?;
    let max_attempts = state.config.worker.max_attempts;
    let outbox_id = review::reply(&state.db, &who, id, text, max_attempts).await?.map_err(|r| refused(id, r))?;
    state.waker.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({ "outbox_id": outbox_id, "status": "queued" }))).into_response())
}

/// `POST /api/v1/escalations/{id}/opt-out`: the token's reviewer records that the customer
/// asked to stop; the escalation is resolved.
pub async fn opt_out_escalation(
    State(state): State<AppState>,
    ApiReviewer(who): ApiReviewer,
    Path(id): Path<i64>,
) -> ApiResult {
    review::mark_opted_out(&state.db, &who, id).await?.map_err(|r| refused(id, r))?;
    Ok(Json(json!({ "id": id, "consent": ConsentKind::OptOut })))
}

/// `GET /api/v1/conversations` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    /// Words in a name or text, or phone digits.
    #[serde(default)]
    pub q: Option<String>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
}

/// `GET /api/v1/conversations?q=`: conversations, most recently active first.
pub async fn list_conversations(
    State(state): State<AppState>,
    _: Caller,
    Query(q): Query<ConversationQuery>,
) -> ApiResult {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::bad_field("limit", "must be 1 to 500"));
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let query: String = q.q.unwrap_or_default().chars().take(100).collect();
    let (rows, total) = conversations::search_conversations(&state.db, &query, limit, offset).await?;
    Ok(Json(json!({ "total": total, "conversations": rows })))
}

/// `GET /api/v1/conversations/{id}`: the thread, each inbound text with its turn's id.
pub async fn get_conversation(State(state): State<AppState>, _: Caller, Path(id): Path<i64>) -> ApiResult {
    let Some(c) = conversations::find_conversation(&state.db, id).await? else {
        return Err(Error::NotFound(format!("no conversation {id}")));
    };
    let messages = conversations::recent_messages(&state.db, id, i64::MAX, 500).await?;
    let turns = turns::turns_by_message(&state.db, id).await?;
    let thread: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let turn = turns.get(&m.id).map(|t| t.id);
            json!({"id": m.id, "direction": m.direction, "body": m.body, "created_at": m.created_at, "turn_id": turn})
        })
        .collect();
    let owner = match c.state {
        conversations::ConversationState::Bot => "bot",
        conversations::ConversationState::Escalated => "escalated",
    };
    Ok(Json(json!({"id": c.id, "phone": c.phone, "customer_id": c.customer_id, "state": owner, "messages": thread})))
}

/// `GET /api/v1/turns/{id}`: the turn audit, its JSON columns parsed.
pub async fn get_turn(
    State(state): State<AppState>,
    _: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<turns::StoredTurn>> {
    let Some(t) = turns::turn_audit(&state.db, id).await? else {
        return Err(Error::NotFound(format!("no turn {id}")));
    };
    Ok(Json(t))
}

/// The OpenAPI 3.1 document of this API (`src/http/openapi.json`; a unit test keeps its
/// paths and the router's in step).
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`: the API's description; public, like any API reference.
pub async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    /// Every `/api/v1` route of the router is in the OpenAPI document, and nothing else is.
    #[test]
    fn the_openapi_document_lists_every_api_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
        let mut routed: Vec<String> = include_str!("api.rs")
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
