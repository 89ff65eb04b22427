//! `GET /api/v1/analytics/*`: the summary of a period (all texts, or one flow's, campaign's
//! or A/B arm's), the same per day (JSON or CSV), each flow's and arm's figures, and the
//! deliverability alerts (docs/analytics.md).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::Error;
use super::extract::Caller;
use crate::analytics::{alerts, attribute_pending, counts, summary};
use crate::escalation::hours::BusinessHours;
use crate::flows::campaign::subject_of;
use crate::store::analytics_period::{self, Scope};

type ApiResult<T = Json<Value>> = Result<T, Error>;

/// The query of every analytics route.
#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    /// RFC 3339, or a date (its midnight UTC); default: midnight UTC 30 days before `to`.
    pub from: Option<String>,
    /// RFC 3339, or a date (its midnight UTC, excluded); default: now.
    pub to: Option<String>,
    pub flow: Option<String>,
    pub campaign: Option<String>,
    pub test: Option<String>,
    pub arm: Option<String>,
    /// `csv` for the per-day route.
    pub format: Option<String>,
}

/// The longest period one request may ask for.
const MAX_DAYS: i64 = 400;

fn instant(field: &str, text: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| Error::bad_field(field, "expected an RFC 3339 time or a date (YYYY-MM-DD)"))
}

impl PeriodQuery {
    /// `[from, to)`, checked.
    pub fn period(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
        let to = self.to.as_deref().map(|t| instant("to", t)).transpose()?.unwrap_or(now);
        // The default starts at a midnight: whole days are read from their roll-ups.
        let default_from = (to - Duration::days(30)).date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
        let from = self.from.as_deref().map(|f| instant("from", f)).transpose()?.unwrap_or(default_from);
        if from >= to {
            return Err(Error::bad_field("from", "must be before `to`"));
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(Error::bad_field("from", format!("a period is at most {MAX_DAYS} days")));
        }
        Ok((from, to))
    }

    /// The scope: `flow`, `campaign`, or `test` with `arm`; at most one.
    pub fn scope(&self) -> Result<Scope, Error> {
        let given = [self.flow.is_some(), self.campaign.is_some(), self.test.is_some() || self.arm.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(Error::bad_request("give at most one of flow, campaign, or test with arm"));
        }
        Ok(match (&self.flow, &self.campaign, &self.test, &self.arm) {
            (Some(flow), ..) => Scope { flow: Some(flow.clone()), ab: None },
            (_, Some(campaign), ..) => Scope { flow: Some(subject_of(campaign)), ab: None },
            (_, _, Some(test), Some(arm)) => Scope { flow: None, ab: Some((test.clone(), arm.clone())) },
            (_, _, None, None) => Scope::default(),
            _ => return Err(Error::bad_field("arm", "test and arm go together")),
        })
    }
}

pub(crate) fn hours(state: &AppState) -> BusinessHours {
    BusinessHours::from_config(&state.config.business_hours).unwrap_or_else(|_| BusinessHours::always_open())
}

/// Attributes the orders waiting for it (once per request: the other helpers count on it).
pub(crate) async fn attribute(state: &AppState) -> anyhow::Result<u64> {
    attribute_pending(&state.db, &state.config.attribution_windows()).await
}

/// Attributes the orders waiting for it, then counts `[from, to)` within `scope`.
pub(crate) async fn counted(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
) -> anyhow::Result<counts::Counts> {
    attribute(state).await?;
    summary::counts_for(&state.db, &hours(state), from, to, scope, state.clock.now()).await
}

/// `GET /api/v1/analytics/summary`.
pub async fn get_summary(State(state): State<AppState>, _: Caller, Query(q): Query<PeriodQuery>) -> ApiResult {
    let (from, to) = q.period(state.clock.now())?;
    let scope = q.scope()?;
    let c = counted(&state, from, to, &scope).await?;
    Ok(Json(summary::to_json(from, to, &c, &scope)))
}

/// Each UTC day of the period (the first and last may be partial): its summary. The caller
/// attributes pending orders first ([`attribute`]).
pub(crate) async fn daily(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
) -> anyhow::Result<Vec<Value>> {
    let (hours, now) = (hours(state), state.clock.now());
    let mut days = Vec::new();
    let mut start = from;
    while start < to {
        let next_midnight = (start.date_naive() + Duration::days(1)).and_time(chrono::NaiveTime::MIN).and_utc();
        let end = next_midnight.min(to);
        let c = summary::counts_for(&state.db, &hours, start, end, scope, now).await?;
        let mut row = summary::to_json(start, end, &c, scope);
        row["day"] = json!(start.date_naive().format("%Y-%m-%d").to_string());
        days.push(row);
        start = end;
    }
    Ok(days)
}

/// The columns of the per-day CSV: the day, then the summary's pinned figures.
pub const CSV_COLUMNS: &[&str] = &[
    "day",
    "messages_inbound",
    "messages_outbound",
    "delivered_rate",
    "reply_rate",
    "containment_rate",
    "escalation_rate",
    "resolution_rate",
    "first_response_seconds_p50",
    "opt_out_rate",
    "click_rate",
    "conversions",
    "attributed_revenue_cents",
    "recovered_checkouts",
];

/// The per-day rows as CSV (what a spreadsheet opens): an empty cell for a figure with
/// nothing to count.
pub fn days_csv(days: &[Value]) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS)?;
    for d in days {
        w.write_record(CSV_COLUMNS.iter().map(|k| match &d[*k] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }))?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// `GET /api/v1/analytics/days`: the summary of each day; `format=csv` for a spreadsheet.
pub async fn get_days(State(state): State<AppState>, _: Caller, Query(q): Query<PeriodQuery>) -> ApiResult<Response> {
    let (from, to) = q.period(state.clock.now())?;
    let scope = q.scope()?;
    attribute(&state).await?;
    let days = daily(&state, from, to, &scope).await?;
    match q.format.as_deref() {
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"backtalk-analytics.csv\""),
            ],
            days_csv(&days)?,
        )
            .into_response()),
        None | Some("json") => Ok(Json(json!({ "days": days })).into_response()),
        Some(_) => Err(Error::bad_field("format", "expected json or csv")),
    }
}

/// Every flow's, campaign's and A/B arm's summary for the period (the console's funnels). The
/// caller attributes pending orders first ([`attribute`]).
pub(crate) async fn breakdown(state: &AppState, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Value> {
    let (hours, now) = (hours(state), state.clock.now());
    let (flows, arms) = analytics_period::scopes(&state.db, from, to).await?;
    let mut flow_rows = Vec::new();
    let mut campaign_rows = Vec::new();
    for flow in flows {
        let scope = Scope { flow: Some(flow.clone()), ab: None };
        let c = summary::counts_for(&state.db, &hours, from, to, &scope, now).await?;
        let mut row = summary::to_json(from, to, &c, &scope);
        match flow.strip_prefix("campaign:") {
            Some(name) => {
                row["campaign"] = json!(name);
                campaign_rows.push(row);
            }
            None => {
                row["flow"] = json!(flow);
                flow_rows.push(row);
            }
        }
    }
    let mut arm_rows = Vec::new();
    for (test, arm) in arms {
        let scope = Scope { flow: None, ab: Some((test.clone(), arm.clone())) };
        let c = summary::counts_for(&state.db, &hours, from, to, &scope, now).await?;
        let mut row = summary::to_json(from, to, &c, &scope);
        row["test"] = json!(test);
        row["arm"] = json!(arm);
        arm_rows.push(row);
    }
    Ok(json!({ "flows": flow_rows, "campaigns": campaign_rows, "arms": arm_rows }))
}

/// `GET /api/v1/analytics/breakdown`: see [`breakdown`].
pub async fn get_breakdown(State(state): State<AppState>, _: Caller, Query(q): Query<PeriodQuery>) -> ApiResult {
    let (from, to) = q.period(state.clock.now())?;
    attribute(&state).await?;
    Ok(Json(breakdown(&state, from, to).await?))
}

/// The alerts of the 7 days to now, raised (and their webhook events sent) or cleared.
pub(crate) async fn current_alerts(state: &AppState) -> anyhow::Result<Vec<alerts::Alert>> {
    let now = state.clock.now();
    let c = counted(state, now - alerts::SPAN, now, &Scope::default()).await?;
    alerts::check(&state.db, &c, now).await
}

/// `GET /api/v1/analytics/alerts`.
pub async fn get_alerts(State(state): State<AppState>, _: Caller) -> ApiResult {
    let now = state.clock.now();
    let alerts = current_alerts(&state).await?;
    Ok(Json(json!({
        "from": (now - alerts::SPAN).to_rfc3339(), "to": now.to_rfc3339(), "alerts": alerts,
    })))
}

/// `GET /api/v1/analytics/attributions?from=&to=`: each attributed order of the period (at
/// most 1,000, newest first) with its text, conversation, touch, flow and arm: attribution
/// per message and conversation.
pub async fn get_attributions(State(state): State<AppState>, _: Caller, Query(q): Query<PeriodQuery>) -> ApiResult {
    let (from, to) = q.period(state.clock.now())?;
    attribute(&state).await?;
    let rows = crate::store::analytics::attributions(&state.db, from, to, 1_000).await?;
    Ok(Json(json!({ "attributions": rows })))
}
