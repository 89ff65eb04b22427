//! An escalation's page and what a reviewer does there: claim or take over, reply (the
//! bot's draft as it is, edited, or new words; through the outbox, so consent is checked
//! again at send time), mark the customer opted out, lift a consent hold, resolve, hand
//! back. The actions themselves are [`crate::escalation::review`]'s; a refusal (another reviewer holds
//! it, it is closed) shows the page again with why.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::{page, serde_value, span};
use crate::escalation::review::{self, Refused};
use crate::http::AppState;
use crate::http::error::Error;
use crate::http::extract::{CsrfForm, CsrfProtected, SignedIn};
use crate::store::escalations::{self, Resolution};
use crate::store::reviewers::SessionRow;

/// `GET /console/escalations/{id}`: everything a reviewer needs to answer.
pub async fn get_escalation(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    escalation_page(&state, id, &session, None, StatusCode::OK).await
}

/// The escalation's page, with `notice` (why an action was refused) above it.
async fn escalation_page(
    state: &AppState,
    id: i64,
    session: &SessionRow,
    notice: Option<&str>,
    status: StatusCode,
) -> Result<Response, Error> {
    let Some(e) = escalations::escalation(&state.db, id).await? else {
        return Err(Error::NotFound(format!("No escalation {id}.")));
    };
    let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
    let thread: Vec<serde_json::Value> =
        crate::store::conversations::recent_messages(&state.db, e.conversation_id, i64::MAX, 50)
            .await?
            .into_iter()
            .map(|m| serde_json::json!({"direction": m.direction, "body": m.body, "at": m.created_at.format("%Y-%m-%d %H:%M").to_string()}))
            .collect();
    let customer = crate::crm::customer_facts(&state.db, &e.phone, &[]).await?;
    let consent = crate::store::consent::latest_consent(&state.db, &e.phone).await?.map(|k| k.as_str());
    let orders: Vec<serde_json::Value> = customer
        .orders
        .iter()
        .map(|o| serde_json::json!({"id": o.id, "date": o.date, "status": o.status, "total": o.total.to_string()}))
        .collect();
    let products: Vec<serde_json::Value> = details["snapshot"]["products"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| serde_json::json!({"sku": p["sku"], "title": p["title"], "price": p["price"], "stock": p["stock"]}))
        .collect();
    let assignees: Vec<String> = crate::store::reviewers::accounts(&state.db)
        .await?
        .into_iter()
        .filter(|a| a.disabled_at.is_none())
        .map(|a| a.name)
        .collect();
    let teams = crate::store::reviewers::teams(&state.db).await?;
    let number = |v: &serde_json::Value| v.as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    let ctx = minijinja::context! {
        e => minijinja::context! {
            id => e.id, status => e.status.as_str(), assigned_name => e.assigned_name, assigned_team => e.assigned_team,
            conversation_id => e.conversation_id, turn_id => e.turn_id,
        },
        phone => e.phone.as_str(),
        customer_id => customer.id,
        reviewer => session.name.clone(), is_admin => session.role == "admin",
        csrf => session.csrf_token.clone(),
        notice,
        assignees,
        teams,
        customer_name => customer.name,
        consent,
        priority => details["priority"].as_str().unwrap_or("normal"),
        sla_due => details["sla_due"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|due| {
                let now = Utc::now();
                let due = due.with_timezone(&Utc);
                let relative = if due < now { format!("overdue by {}", span(now - due)) } else { format!("in {}", span(due - now)) };
                format!("{} UTC ({relative})", due.format("%Y-%m-%d %H:%M"))
            })
            .unwrap_or_default(),
        reasons => serde_value(&details["reasons"]),
        draft => details["draft"].as_str().unwrap_or(""),
        draft_segments => segment_summary(details["draft"].as_str().unwrap_or("")),
        gsm7_basic => crate::domain::segments::GSM7_BASIC,
        gsm7_extension => crate::domain::segments::GSM7_EXTENSION,
        findings => serde_value(&details["guard"]["findings"]),
        confidence => number(&details["confidence"]),
        sentiment => number(&details["sentiment"]),
        trend => number(&details["sentiment_trend"]),
        thread => serde_value(&thread),
        orders => serde_value(&orders),
        products => serde_value(&products),
    };
    page(status, "escalation.html", ctx)
}

/// "GSM-7: 42 septets, 1 segment": what the editor shows, as the live counter words it.
fn segment_summary(text: &str) -> String {
    let info = crate::domain::segments::count_segments(text);
    let (name, unit) = match info.encoding {
        crate::domain::segments::Encoding::Gsm7 => ("GSM-7", "septets"),
        crate::domain::segments::Encoding::Ucs2 => ("UCS-2", "UTF-16 units"),
    };
    let plural = if info.segments == 1 { "" } else { "s" };
    format!("{name}: {} {unit}, {} segment{plural}", info.units, info.segments)
}

/// Where an action lands: done, it redirects to `to`; refused, the escalation's page shows
/// why (409, or 404 when there is no such escalation).
async fn after(
    state: &AppState,
    id: i64,
    session: &SessionRow,
    outcome: Result<(), Refused>,
    to: &str,
) -> Result<Response, Error> {
    match outcome {
        Ok(()) => Ok(Redirect::to(to).into_response()),
        Err(Refused::NotFound) => Err(Error::NotFound(Refused::NotFound.message(id))),
        Err(refused) => escalation_page(state, id, session, Some(&refused.message(id)), StatusCode::CONFLICT).await,
    }
}

/// Implements [`CsrfProtected`] for a form with a `csrf` field.
macro_rules! csrf_protected {
    ($form:ty, $action:literal) => {
        impl CsrfProtected for $form {
            const ACTION: &'static str = $action;
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    };
}

/// `POST /console/escalations/{id}/claim` form.
#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    pub csrf: String,
    /// Set to take the escalation from the reviewer who holds it.
    #[serde(default)]
    pub take_over: Option<String>,
}
csrf_protected!(ClaimForm, "Claim");

/// `POST /console/escalations/{id}/claim`: claim it, or take it over explicitly.
pub async fn post_claim(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(signed_in, form): CsrfForm<ClaimForm>,
) -> Result<Response, Error> {
    let take_over = form.take_over.as_deref() == Some("true");
    let outcome = review::claim(&state.db, &signed_in.reviewer(), id, take_over).await?;
    after(&state, id, &signed_in.session, outcome, &format!("/console/escalations/{id}")).await
}

/// `POST /console/escalations/{id}/assign` form.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    pub csrf: String,
    /// `reviewer:NAME` or `team:NAME`.
    pub assignee: String,
}
csrf_protected!(AssignForm, "Assign");

/// `POST /console/escalations/{id}/assign`: hands the escalation to a colleague or a team,
/// who are told (docs/reviewers.md).
pub async fn post_assign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(signed_in, form): CsrfForm<AssignForm>,
) -> Result<Response, Error> {
    let Some(assignee) = review::Assignee::parse(&form.assignee) else {
        return Err(Error::bad_field("assignee", "must be reviewer:NAME or team:NAME"));
    };
    let outcome = review::assign(&state.db, &signed_in.reviewer(), id, &assignee).await?;
    if outcome.is_ok() {
        state.waker.wake();
    }
    after(&state, id, &signed_in.session, outcome, &format!("/console/escalations/{id}")).await
}

/// `POST /console/escalations/{id}/close` form.
#[derive(Debug, Deserialize)]
pub struct CloseForm {
    pub csrf: String,
    /// `resolved` or `handed_back`.
    pub resolution: String,
}
csrf_protected!(CloseForm, "Close");

/// `POST /console/escalations/{id}/close`: resolve it or hand the conversation back to the
/// bot. Refused (409) while another reviewer holds it.
pub async fn post_close(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(signed_in, form): CsrfForm<CloseForm>,
) -> Result<Response, Error> {
    let resolution = match form.resolution.as_str() {
        "resolved" => Resolution::Resolved,
        "handed_back" => Resolution::HandedBack,
        other => return Err(Error::bad_field("resolution", format!("must be resolved or handed_back, not {other:?}"))),
    };
    let outcome = review::close(&state.db, &signed_in.reviewer(), id, resolution).await?;
    after(&state, id, &signed_in.session, outcome, "/console").await
}

/// `POST /console/escalations/{id}/reply` form.
#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    pub csrf: String,
    pub body: String,
}
csrf_protected!(ReplyForm, "Reply");

/// `POST /console/escalations/{id}/reply`: sends the reviewer's text to the customer. The
/// conversation stays with the person until it is resolved or handed back.
pub async fn post_reply(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(signed_in, form): CsrfForm<ReplyForm>,
) -> Result<Response, Error> {
    let body = form.body.trim();
    if body.is_empty() || body.chars().count() > crate::domain::MAX_BODY_CHARS {
        let notice = format!("A reply is 1 to {} characters.", crate::domain::MAX_BODY_CHARS);
        return escalation_page(&state, id, &signed_in.session, Some(&notice), StatusCode::BAD_REQUEST).await;
    }
    let max_attempts = state.config.worker.max_attempts;
    let outcome = review::reply(&state.db, &signed_in.reviewer(), id, body, max_attempts).await?;
    if outcome.is_ok() {
        state.waker.wake();
    }
    after(&state, id, &signed_in.session, outcome.map(|_| ()), &format!("/console/escalations/{id}")).await
}

/// `POST /console/escalations/{id}/opt-out` form.
#[derive(Debug, Deserialize)]
pub struct OptOutForm {
    pub csrf: String,
}
csrf_protected!(OptOutForm, "Mark opted out");

/// `POST /console/escalations/{id}/opt-out`: the reviewer judges that the customer asked to
/// stop; see [`review::mark_opted_out`].
pub async fn post_opt_out(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(signed_in, _): CsrfForm<OptOutForm>,
) -> Result<Response, Error> {
    let outcome = review::mark_opted_out(&state.db, &signed_in.reviewer(), id).await?;
    after(&state, id, &signed_in.session, outcome, "/console").await
}

/// `POST /console/escalations/{id}/not-opt-out` form.
#[derive(Debug, Deserialize)]
pub struct NotOptOutForm {
    pub csrf: String,
}
csrf_protected!(NotOptOutForm, "Not an opt-out");

/// `POST /console/escalations/{id}/not-opt-out`: the message that put the number on hold
/// was not an opt-out; see [`review::not_an_opt_out`].
pub async fn post_not_opt_out(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm(signed_in, _): CsrfForm<NotOptOutForm>,
) -> Result<Response, Error> {
    let outcome = review::not_an_opt_out(&state.db, &signed_in.reviewer(), id).await?;
    after(&state, id, &signed_in.session, outcome, "/console").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_counts_segments_like_the_sender() {
        assert_eq!(segment_summary(""), "GSM-7: 0 septets, 0 segments");
        assert_eq!(segment_summary("Hi {you}"), "GSM-7: 10 septets, 1 segment");
        assert_eq!(segment_summary(&"a".repeat(161)), "GSM-7: 161 septets, 2 segments");
        assert_eq!(segment_summary("Thanks 🙂"), "UCS-2: 9 UTF-16 units, 1 segment");
    }
}
