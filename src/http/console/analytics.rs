//! `GET /console/analytics`: the dashboard (docs/analytics.md): the period's figures, the
//! deliverability alerts, trend lines per day, a funnel per flow and campaign, escalation
//! reasons and first responses in Chatwoot's buckets; `GET /console/analytics.csv` the days.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::charts::{bars, lines};
use super::{page, serde_value};
use crate::http::AppState;
use crate::http::analytics::{self as api, PeriodQuery};
use crate::http::error::Error;
use crate::http::extract::SignedIn;
use crate::store::analytics_period::Scope;

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn percent(v: &Value) -> String {
    v.as_f64().map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "–".into())
}

fn dollars(cents: &Value) -> String {
    format!("${:.2}", number(cents) / 100.0)
}

/// The tiles: a label, the figure, and what it counts.
fn tiles(s: &Value) -> Vec<Value> {
    let duration = |v: &Value| match v.as_i64() {
        Some(secs) if secs >= 3_600 => format!("{:.1} h", secs as f64 / 3_600.0),
        Some(secs) => format!("{} min", secs / 60),
        None => "–".into(),
    };
    [
        ("Attributed revenue", dollars(&s["attributed_revenue_cents"]), "orders attributed to a text"),
        ("Conversions", s["conversions"].to_string(), "attributed orders"),
        ("Recovered checkouts", s["recovered_checkouts"].to_string(), "abandoned carts that became orders"),
        ("Containment", percent(&s["containment_rate"]), "answered by the bot, no person"),
        ("Resolution", percent(&s["resolution_rate"]), "Intercom Fin's definition, 24 h"),
        ("Escalation", percent(&s["escalation_rate"]), "conversations handed to a person"),
        ("First response (median)", duration(&s["first_response_seconds_p50"]), "a person's first reply"),
        ("Texts out / in", format!("{} / {}", s["messages_outbound"], s["messages_inbound"]), "sent / received"),
        ("Delivered", percent(&s["delivered_rate"]), "of the texts sent"),
        ("Reply rate", percent(&s["reply_rate"]), "texts started answered within 24 h"),
        ("Click rate", percent(&s["click_rate"]), "people, not link previews"),
        ("Opt-out rate", percent(&s["opt_out_rate"]), "texts started followed by an opt-out"),
    ]
    .into_iter()
    .map(|(label, value, help)| json!({"label": label, "value": value, "help": help}))
    .collect()
}

/// A funnel row per flow or campaign: sent, delivered, clicked, replied, converted.
fn funnel(rows: &[Value], key: &str) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let sent = number(&r["messages_outbound"]);
            let started = number(&r["texts_started"]);
            let steps = [
                ("sent".to_string(), sent),
                ("delivered".to_string(), (number(&r["delivered_rate"]) * sent).round()),
                ("replied".to_string(), (number(&r["reply_rate"]) * started).round()),
                ("converted".to_string(), number(&r["conversions"])),
            ];
            let name = r[key].as_str().unwrap_or_default();
            json!({
                "name": name,
                "revenue": dollars(&r["attributed_revenue_cents"]),
                "click_rate": percent(&r["click_rate"]),
                "svg": bars(&format!("Funnel of {name}"), &steps),
            })
        })
        .collect()
}

/// `GET /console/analytics?from=&to=` (dates; default the last 30 days).
pub async fn get_analytics(
    State(state): State<AppState>,
    SignedIn { session, .. }: SignedIn,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, Error> {
    let (from, to) = q.period(state.clock.now())?;
    let scope = Scope::default();
    let counts = api::counted(&state, from, to, &scope).await?;
    let summary = crate::analytics::summary::to_json(from, to, &counts, &scope);
    // `counted` attributed the pending orders; the rest count on it.
    let days = api::daily(&state, from, to, &scope).await?;
    let breakdown = api::breakdown(&state, from, to).await?;
    let alerts = api::current_alerts(&state).await?;
    let labels: Vec<String> = days.iter().map(|d| d["day"].as_str().unwrap_or_default().to_string()).collect();
    let series = |key: &str| days.iter().map(|d| number(&d[key])).collect::<Vec<f64>>();
    let trend = lines(
        "Texts and conversions per day",
        &labels,
        &[
            ("Texts sent", series("messages_outbound")),
            ("Texts received", series("messages_inbound")),
            ("Conversions", series("conversions")),
        ],
    );
    let reasons: Vec<(String, f64)> = summary["escalations_by_reason"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.replace('_', " "), number(v))).collect())
        .unwrap_or_default();
    let histogram: Vec<(String, f64)> = ["0-1h", "1-4h", "4-8h", "8-24h", "24h+"]
        .iter()
        .map(|b| (b.to_string(), number(&summary["first_response_histogram"][*b])))
        .collect();
    let empty = Vec::new();
    let ctx = minijinja::context! {
        reviewer => session.name, is_admin => session.role == "admin", csrf => session.csrf_token,
        from => from.date_naive().to_string(), to => to.date_naive().to_string(),
        query => format!("from={}&to={}", from.date_naive(), to.date_naive()),
        tiles => serde_value(&tiles(&summary)),
        alerts => serde_value(&alerts),
        trend => minijinja::Value::from_safe_string(trend),
        reasons => minijinja::Value::from_safe_string(bars("Escalations by reason", &reasons)),
        histogram => minijinja::Value::from_safe_string(bars("First responses (Chatwoot's buckets)", &histogram)),
        flows => serde_value(&funnel(breakdown["flows"].as_array().unwrap_or(&empty), "flow")),
        campaigns => serde_value(&funnel(breakdown["campaigns"].as_array().unwrap_or(&empty), "campaign")),
        demo => crate::store::analytics::has_demo_history(&state.db).await?,
    };
    page(StatusCode::OK, "analytics.html", ctx)
}

/// `GET /console/analytics.csv?from=&to=`: the days of the period, for a spreadsheet.
pub async fn get_analytics_csv(
    State(state): State<AppState>,
    _: SignedIn,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, Error> {
    let (from, to) = q.period(state.clock.now())?;
    api::attribute(&state).await?;
    let days = api::daily(&state, from, to, &Scope::default()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"backtalk-analytics.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        api::days_csv(&days)?,
    )
        .into_response())
}
