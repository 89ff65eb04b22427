//! Reading, not acting: every conversation (searchable), a conversation's whole thread with
//! a link from each answered text to its turn, a customer's page, and the turn audit ("why
//! did it say that?").

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{page, serde_value, when};
use crate::domain::Money;
use crate::http::AppState;
use crate::http::error::Error;
use crate::http::extract::SignedIn;
use crate::store::{consent, conversations, crm, escalations, turns};

/// Conversations per page.
const PER_PAGE: i64 = 50;
/// The most texts a conversation page shows (the newest).
const THREAD_LIMIT: i64 = 500;

/// `GET /console/conversations` query.
#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub page: Option<i64>,
}

/// `GET /console/conversations?q=`: all conversations, most recently active first,
/// filtered by name, phone digits or words in any text.
pub async fn get_conversations(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Query(search): Query<Search>,
) -> Result<Response, Error> {
    let q: String = search.q.unwrap_or_default().trim().chars().take(100).collect();
    let page_no = search.page.unwrap_or(1).clamp(1, 100_000);
    let (rows, total) = conversations::search_conversations(&state.db, &q, PER_PAGE, (page_no - 1) * PER_PAGE).await?;
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|c| {
            let mut v = serde_json::to_value(&c).unwrap_or_default();
            v["updated"] = when(c.updated_at).into();
            v
        })
        .collect();
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token, q, total, page => page_no,
        pages => (total + PER_PAGE - 1) / PER_PAGE,
        conversations => serde_value(&rows),
    };
    page(StatusCode::OK, "conversations.html", ctx)
}

/// `GET /console/flows`: each flow's steps with the runs waiting at each, the A/B tests with
/// their arms, and the latest runs with why each exited or was skipped.
pub async fn get_flows(State(state): State<AppState>, SignedIn { session, .. }: SignedIn) -> Result<Response, Error> {
    let loaded = crate::http::flows::load(&state)?;
    let flows = crate::http::flows::flows(&state, &loaded).await?;
    let tests = crate::http::flows::ab_tests(&state, &loaded.0).await?;
    let runs = crate::http::flows::runs(&state, None, None, 100).await?;
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token,
        flows => serde_value(&flows["flows"]), problems => serde_value(&flows["problems"]),
        tests => serde_value(&tests["tests"]), runs => serde_value(&runs["runs"]),
    };
    page(StatusCode::OK, "flows.html", ctx)
}

/// `GET /console/conversations/{id}`: the thread (each answered text links to its turn),
/// the escalations, the owner and consent state.
pub async fn get_conversation(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let Some(c) = conversations::find_conversation(&state.db, id).await? else {
        return Err(Error::NotFound("No such conversation.".into()));
    };
    let messages = conversations::recent_messages(&state.db, id, i64::MAX, THREAD_LIMIT).await?;
    let turns = turns::turns_by_message(&state.db, id).await?;
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let media = conversations::media_of(&state.db, &ids).await?;
    let thread: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let turn = turns.get(&m.id).map(|t| {
                    serde_json::json!({"id": t.id, "decision": t.decision, "confidence": format!("{:.2}", t.confidence)})
                });
                // Only web links: a provider's URL is shown as a link, nothing else.
                let files: Vec<_> = media
                    .get(&m.id)
                    .into_iter()
                    .flatten()
                    .filter(|f| f.url.starts_with("https://") || f.url.starts_with("http://"))
                    .collect();
                serde_json::json!({"direction": m.direction, "body": m.body, "at": when(m.created_at), "turn": turn,
                                   "media": files})
            })
            .collect();
    let escalations: Vec<serde_json::Value> = escalations::escalations_for_conversation(&state.db, id)
        .await?
        .into_iter()
        .map(|e| serde_json::json!({"id": e.id, "reason": e.reason, "status": e.status}))
        .collect();
    let customer = crm::customer_by_phone(&state.db, &c.phone).await?;
    let consent = consent::latest_consent(&state.db, &c.phone).await?.map(|k| k.as_str());
    let state_name = match c.state {
        conversations::ConversationState::Bot => "bot",
        conversations::ConversationState::Escalated => "escalated",
    };
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token, phone => c.phone.as_str(),
        customer_name => customer.as_ref().and_then(|c| c.name.clone()),
        customer_id => customer.map(|c| c.id), consent, state => state_name,
        earlier => messages.len() as i64 == THREAD_LIMIT,
        thread => serde_value(&thread),
        escalations => serde_value(&escalations),
    };
    page(StatusCode::OK, "conversation.html", ctx)
}

/// `GET /console/customers/{id}`: profile, orders with their lines, the consent ledger.
pub async fn get_customer(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let Some(c) = crm::customer_by_id(&state.db, id).await? else {
        return Err(Error::NotFound("No such customer.".into()));
    };
    let orders: Vec<serde_json::Value> = crm::orders_for_customer(&state.db, c.id, 100)
        .await?
        .into_iter()
        .map(|o| {
            let items: Vec<serde_json::Value> = o
                .items
                .iter()
                .map(|i| serde_json::json!({"sku": i.sku, "title": i.title, "quantity": i.quantity}))
                .collect();
            serde_json::json!({
                "id": o.external_id, "date": o.ordered_at.format("%Y-%m-%d").to_string(), "status": o.status,
                "total": Money::usd_cents(o.total_cents).to_string(), "items": items,
            })
        })
        .collect();
    let ledger: Vec<serde_json::Value> = consent::ledger(&state.db, Some(&c.phone))
            .await?
            .into_iter()
            .map(|e| serde_json::json!({"at": when(e.created_at), "kind": e.kind, "source": e.source, "evidence": e.evidence_text}))
            .collect();
    let consent = consent::latest_consent(&state.db, &c.phone).await?.map(|k| k.as_str());
    let conversation_id = conversations::conversation_by_phone(&state.db, &c.phone).await?.map(|c| c.id);
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token, consent, conversation_id,
        c => minijinja::context! { phone => c.phone.as_str(), name => c.name, email => c.email, timezone => c.timezone },
        orders => serde_value(&orders),
        ledger => serde_value(&ledger),
    };
    page(StatusCode::OK, "customer.html", ctx)
}

/// `GET /console/turns/{id}`: the turn audit. What the customer wrote, what the bot was
/// given (retrieval, prompt version, tokens), what it drafted, each claim the guard checked
/// and its verdict, the confidence factors, and what was sent.
pub async fn get_turn(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let Some(stored) = turns::turn_audit(&state.db, id).await? else {
        return Err(Error::NotFound("No such turn.".into()));
    };
    let t = &stored.audit;
    let guard = &t.guard;
    let findings = guard["findings"].as_array().cloned().unwrap_or_default();
    // A claim failed when a blocking finding names its words.
    let claims: Vec<serde_json::Value> = guard["claims"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let text = c["text"].as_str().unwrap_or("").to_string();
            let failed = !text.is_empty()
                && findings.iter().any(|f| f["detail"].as_str().is_some_and(|d| d.contains(text.as_str())));
            serde_json::json!({"text": text, "kind": c["kind"], "verdict": if failed { "not supported" } else { "supported" }})
        })
        .collect();
    let scores = &t.scores;
    let factors: Vec<serde_json::Value> = ["self_rating", "evidence", "guard", "intent", "recent", "value"]
        .iter()
        .filter_map(|k| {
            scores["confidence"][*k].as_f64().map(|v| {
                let name = if *k == "value" { "= confidence" } else { *k };
                serde_json::json!({"name": name, "value": format!("{v:.2}")})
            })
        })
        .collect();
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token,
        confidence => format!("{:.2}", t.confidence), sentiment => format!("{:.2}", t.sentiment),
        guard_verdict => guard["verdict"].as_str().unwrap_or("-").to_string(),
        retrieved => t.retrieved.pretty(), stage_ms => t.stage_ms.pretty(), dialogue => t.dialogue.pretty(),
        claims => serde_value(&claims),
        findings => serde_value(&findings),
        factors => serde_value(&factors),
        t => serde_value(&serde_json::json!({
            "id": stored.id, "conversation_id": t.conversation_id, "escalation_id": t.escalation_id,
            "created_at": when(stored.created_at), "inbound_body": stored.inbound_body, "decision": t.decision,
            "intent": t.intent, "draft": t.draft, "reply": t.reply, "error": t.error,
            "prompt_version": t.prompt_version, "model": t.model, "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
        })),
    };
    page(StatusCode::OK, "turn.html", ctx)
}
